"""The recipes of RECIPES.md section 1, and what each step key becomes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from framework0 import load_recipe, load_recipe_text
from framework0.recipe.model import Recipe, RetryPolicy, Step
from framework0.scriptlets.builtin.hello_world import HelloWorldScriptlet

QUICK_START = """\
# example_recipe.yaml
test_meta:
  test_id: QUICK-001
  description: "Quick start example"
steps:
  - idx: 1
    name: hello_world
    module: scriptlets.steps.hello_world
    function: HelloWorldScriptlet
"""

FULL = """\
test_meta:                 # alias: meta. test_id and description are shown in every report.
  test_id: ETL-001
  description: Nightly export
  tags: [nightly]
params:                    # run inputs; override with  f0 run r.yaml -p region=eu -p batch=50
  region: us               # short form: the default (its type is inferred from it)
  batch:                   # long form
    type: int
    default: 100
    description: rows per request
sequential: false          # true: every step also waits for the step before it (idx, else list order)
max_parallel: 8            # at most this many steps at once (default: number of CPUs)
timeout: 1h                # the whole run
defaults:                  # merged into every step
  retry: {attempts: 3, delay: 2s, backoff: 2.0, max_delay: 1m}
  timeout: 5m
include: [common.yaml]     # recipes whose params/defaults/steps are merged in (relative to this file)
steps:
  - idx: 1                 # optional; orders steps for display and for sequential: true
    name: list_files       # unique in the recipe: letters, digits, _ and -, starting with a letter
    uses: shell            # a registered scriptlet, by name ...
    args: {cmd: "ls data/{{ params.region }}"}     # alias: with
  - name: load
    module: mypkg.loaders  # ... or an importable module and ...
    function: load_file    # ... a BaseScriptlet subclass or a plain function in it
    foreach: "{{ steps.list_files.output.stdout.split() }}"   # one run per item, as {{ item }}
    args: {path: "{{ item }}", batch: "{{ params.batch }}"}
    depends_on: [list_files]      # optional here: a template that reads steps.X adds the edge itself
    when: "{{ params.region != 'none' }}"
    retry: {attempts: 5, delay: 1s, backoff: 2, retry_on: [ConnectionError]}
    timeout: 30s
    continue_on_error: false
    cache: true            # reuse the output of an earlier run with the same code, args and inputs
"""


def load(text: str) -> Recipe:
    return load_recipe_text(textwrap.dedent(text), file="r.yaml")


def one_step(step: str, head: str = "") -> Step:
    recipe = load(head + "steps:\n" + textwrap.indent(textwrap.dedent(step), "  "))
    assert len(recipe.steps) == 1
    return recipe.steps[0]


# -- the recipes of RECIPES.md ----------------------------------------------------------------------------


def test_the_quick_start_recipe_loads_with_no_other_file_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "example_recipe.yaml"
    path.write_text(QUICK_START)
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe("example_recipe.yaml")
    assert (recipe.test_id, recipe.description) == ("QUICK-001", "Quick start example")
    (step,) = recipe.steps
    assert (step.idx, step.name, step.args, step.upstream) == (1, "hello_world", {}, ())
    assert step.scriptlet.scriptlet is HelloWorldScriptlet


def test_the_full_recipe_loads_as_documented(tmp_path: Path) -> None:
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "loaders.py").write_text("def load_file(path: str, batch: int) -> int:\n    return batch\n")
    (tmp_path / "common.yaml").write_text("params: {env: prod}\nsteps: []\n")
    (tmp_path / "r.yaml").write_text(FULL)
    recipe = load_recipe(tmp_path / "r.yaml")
    assert (recipe.test_id, recipe.description, recipe.tags) == ("ETL-001", "Nightly export", ("nightly",))
    assert {name: (p.type, p.default) for name, p in recipe.params.items()} == {
        "env": ("str", "prod"),
        "region": ("str", "us"),
        "batch": ("int", 100),
    }
    assert (recipe.sequential, recipe.max_parallel, recipe.timeout) == (False, 8, 3600.0)
    listing, load_step = recipe.steps
    assert (listing.idx, listing.scriptlet.name, listing.templated_args) == (1, "shell", frozenset({"cmd"}))
    assert (listing.retry, listing.timeout) == (RetryPolicy(attempts=3, delay=2.0, backoff=2.0, max_delay=60.0), 300.0)
    assert load_step.upstream == ("list_files",)
    assert load_step.templated_args == frozenset({"path", "batch"})
    assert load_step.retry == RetryPolicy(
        attempts=5, delay=1.0, backoff=2.0, max_delay=60.0, retry_on=("ConnectionError",)
    )
    assert (load_step.timeout, load_step.continue_on_error, load_step.cache) == (30.0, False, True)
    assert load_step.when == "{{ params.region != 'none' }}"
    assert load_step.foreach == "{{ steps.list_files.output.stdout.split() }}"


# -- defaults ----------------------------------------------------------------------------------------------


def test_defaults_are_merged_into_every_step() -> None:
    step = one_step(
        "- {name: a, uses: hello_world}\n", "defaults: {timeout: 5m, continue_on_error: true, cache: true}\n"
    )
    assert (step.timeout, step.continue_on_error, step.cache) == (300.0, True, True)


def test_a_step_value_wins_over_the_default() -> None:
    head = "defaults: {timeout: 5m, continue_on_error: true}\n"
    step = one_step("- {name: a, uses: hello_world, timeout: 30s, continue_on_error: false}\n", head)
    assert (step.timeout, step.continue_on_error) == (30.0, False)


def test_retry_is_merged_key_by_key() -> None:
    head = "defaults:\n  retry: {attempts: 3, delay: 2s}\n"
    step = one_step("- {name: a, uses: hello_world, retry: {attempts: 5}}\n", head)
    assert (step.retry.attempts, step.retry.delay) == (5, 2.0)


def test_a_bare_number_of_attempts_is_merged_too() -> None:
    head = "defaults:\n  retry: {attempts: 3, delay: 2s}\n"
    step = one_step("- {name: a, uses: hello_world, retry: 2}\n", head)
    assert step.retry == RetryPolicy(attempts=2, delay=2.0)


def test_default_retry_alone_applies() -> None:
    step = one_step("- {name: a, uses: hello_world}\n", "defaults: {retry: 4}\n")
    assert step.retry == RetryPolicy(attempts=4)


def test_without_retry_a_step_is_tried_once() -> None:
    assert one_step("- {name: a, uses: hello_world}\n").retry == RetryPolicy()


def test_every_retry_key_is_read() -> None:
    step = one_step(
        "- {name: a, uses: hello_world, retry: {attempts: 2, delay: 500ms, backoff: 3, max_delay: 1m, "
        "jitter: 0, retry_on: OSError}}\n"
    )
    assert step.retry == RetryPolicy(
        attempts=2, delay=0.5, backoff=3.0, max_delay=60.0, jitter=0.0, retry_on=("OSError",)
    )


def test_an_error_in_defaults_is_reported_once_for_all_steps() -> None:
    from framework0 import RecipeError

    text = "defaults: {timeout: soon}\nsteps:\n  - {name: a, uses: hello_world}\n  - {name: b, uses: hello_world}\n"
    with pytest.raises(RecipeError) as caught:
        load(text)
    assert [str(d) for d in caught.value.diagnostics] == [
        "r.yaml:1:21: defaults.timeout: expected a duration like 500ms, 30s, 5m, 1h or a number of seconds, got 'soon'"
    ]


# -- aliases, trigger, when, foreach ----------------------------------------------------------------------------


def test_meta_is_an_alias_of_test_meta() -> None:
    recipe = load("meta: {test_id: 42, description: d, owner: me}\nsteps: [{name: s, uses: hello_world}]\n")
    assert (recipe.test_id, recipe.description) == ("42", "d")


def test_with_is_an_alias_of_args() -> None:
    assert one_step("- {name: a, uses: hello_world, with: {name: you}}\n").args == {"name": "you"}


def test_empty_args_are_no_args() -> None:
    assert one_step("- name: a\n  uses: hello_world\n  args:\n").args == {}


def test_trigger_defaults_to_on_success() -> None:
    assert one_step("- {name: a, uses: hello_world}\n").trigger == "on_success"


def test_trigger_always_is_kept() -> None:
    assert one_step("- {name: a, uses: hello_world, trigger: always}\n").trigger == "always"


@pytest.mark.parametrize(
    ("when", "kept"),
    [
        ("false", False),
        ("true", True),
        ('"params.n > 1"', "params.n > 1"),
        ("'{{ params.n > 1 }}'", "{{ params.n > 1 }}"),
    ],
)
def test_when_forms(when: str, kept: object) -> None:
    step = one_step(f"- {{name: a, uses: hello_world, when: {when}}}\n", "params: {n: 2}\n")
    assert step.when == kept


def test_foreach_may_be_a_list() -> None:
    step = one_step("- {name: a, uses: hello_world, foreach: [x, y], args: {name: '{{ item }}'}}\n")
    assert (step.foreach, step.templated_args) == (["x", "y"], frozenset({"name"}))


def test_foreach_may_be_a_template() -> None:
    step = one_step("- {name: a, uses: hello_world, foreach: '{{ params.f }}'}\n", "params: {f: [1, 2]}\n")
    assert step.foreach == "{{ params.f }}"


def test_uses_and_module_resolve_to_the_same_builtin() -> None:
    recipe = load(
        """\
        steps:
          - {name: a, uses: hello_world}
          - {name: b, module: scriptlets.steps.hello_world, function: HelloWorldScriptlet}
          - {name: c, module: framework0.scriptlets.builtin.hello_world, function: HelloWorldScriptlet}
        """
    )
    assert {step.scriptlet.scriptlet for step in recipe.steps} == {HelloWorldScriptlet}


def test_a_plain_function_in_a_module_next_to_the_recipe_is_a_scriptlet(tmp_path: Path) -> None:
    (tmp_path / "f0_test_steps_add.py").write_text("def add(a: int, b: int = 1) -> int:\n    return a + b\n")
    (tmp_path / "r.yaml").write_text(
        "steps:\n  - {name: add, module: f0_test_steps_add, function: add, args: {a: 2}}\n"
    )
    step = load_recipe(tmp_path / "r.yaml").steps[0]
    assert (step.scriptlet.name, step.scriptlet.ref) == ("add", "f0_test_steps_add:add")


def test_step_span_points_at_its_name() -> None:
    step = one_step("- idx: 1\n  name: a\n  uses: hello_world\n")
    assert str(step.span) == "r.yaml:3:11"


def test_a_step_description_is_kept() -> None:
    assert one_step("- {name: a, uses: hello_world, description: says hi}\n").description == "says hi"
