"""``include:``: other recipes whose params, defaults and steps are merged in."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from framework0 import RecipeError, load_recipe, load_recipe_text
from framework0.recipe.model import Recipe, RetryPolicy


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    return [str(d) for d in caught.value.diagnostics]


COMMON = """\
params:
  region: us
  batch: 10
defaults:
  timeout: 5m
  retry: {attempts: 3, delay: 2s}
steps:
  - name: common_step
    uses: hello_world
"""


@pytest.fixture
def merged(tmp_path: Path) -> Recipe:
    write(tmp_path, "common.yaml", COMMON)
    main = write(
        tmp_path,
        "main.yaml",
        """\
        include: [common.yaml]
        params:
          region: eu
        defaults:
          retry: {attempts: 4}
        steps:
          - name: main_step
            uses: hello_world
            args: {name: "{{ params.region }}"}
          - name: main_retry
            uses: hello_world
            retry: {attempts: 5}
        """,
    )
    return load_recipe(main)


def test_included_steps_come_first(merged: Recipe) -> None:
    assert [step.name for step in merged.steps] == ["common_step", "main_step", "main_retry"]


def test_included_params_are_merged_and_the_including_file_wins(merged: Recipe) -> None:
    assert {name: param.default for name, param in merged.params.items()} == {"region": "eu", "batch": 10}


def test_included_defaults_apply_to_every_step_with_retry_merged_key_by_key(merged: Recipe) -> None:
    assert {step.name: (step.retry, step.timeout) for step in merged.steps} == {
        "common_step": (RetryPolicy(attempts=4, delay=2.0), 300.0),
        "main_step": (RetryPolicy(attempts=4, delay=2.0), 300.0),
        "main_retry": (RetryPolicy(attempts=5, delay=2.0), 300.0),
    }


def test_included_steps_keep_their_own_file_in_their_span(merged: Recipe, tmp_path: Path) -> None:
    assert merged.step("common_step").span is not None
    assert str(merged.step("common_step").span) == f"{tmp_path / 'common.yaml'}:8:11"


def test_a_later_include_wins_over_an_earlier_one(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "params: {region: a, only_a: 1}\ndefaults: {timeout: 1m}\nsteps: []\n")
    write(tmp_path, "b.yaml", "params: {region: b}\ndefaults: {timeout: 2m}\nsteps: []\n")
    main = write(tmp_path, "main.yaml", "include: [a.yaml, b.yaml]\nsteps:\n  - {name: s, uses: hello_world}\n")
    recipe = load_recipe(main)
    assert {name: param.default for name, param in recipe.params.items()} == {"region": "b", "only_a": 1}
    assert recipe.step("s").timeout == 120.0


def test_an_included_file_needs_no_steps(tmp_path: Path) -> None:
    write(tmp_path, "params.yaml", "params: {region: eu}\n")
    write(tmp_path, "empty.yaml", "# nothing yet\n")
    main = write(
        tmp_path, "main.yaml", "include: [params.yaml, empty.yaml]\nsteps:\n  - {name: s, uses: hello_world}\n"
    )
    assert list(load_recipe(main).params) == ["region"]


def test_include_may_be_a_single_file_name(tmp_path: Path) -> None:
    write(tmp_path, "common.yaml", COMMON)
    main = write(tmp_path, "main.yaml", "include: common.yaml\nsteps: []\n")
    assert [step.name for step in load_recipe(main).steps] == ["common_step"]


def test_nested_includes_resolve_against_the_including_file(tmp_path: Path) -> None:
    write(tmp_path, "lib/inner.yaml", "params: {deep: 1}\nsteps:\n  - {name: inner, uses: hello_world}\n")
    write(tmp_path, "lib/outer.yaml", "include: [inner.yaml]\nsteps:\n  - {name: outer, uses: hello_world}\n")
    main = write(tmp_path, "main.yaml", "include: [lib/outer.yaml]\nsteps:\n  - {name: main, uses: hello_world}\n")
    recipe = load_recipe(main)
    assert [step.name for step in recipe.steps] == ["inner", "outer", "main"]
    assert list(recipe.params) == ["deep"]


def test_steps_may_depend_on_included_steps(tmp_path: Path) -> None:
    write(tmp_path, "common.yaml", COMMON)
    main = write(
        tmp_path,
        "main.yaml",
        "include: [common.yaml]\nsteps:\n  - {name: after, uses: hello_world, depends_on: [common_step]}\n",
    )
    assert load_recipe(main).step("after").upstream == ("common_step",)


def test_a_file_included_twice_is_merged_once(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", "steps:\n  - {name: base, uses: hello_world}\n")
    write(tmp_path, "left.yaml", "include: [base.yaml]\nsteps:\n  - {name: left, uses: hello_world}\n")
    write(tmp_path, "right.yaml", "include: [base.yaml]\nsteps:\n  - {name: right, uses: hello_world}\n")
    main = write(tmp_path, "main.yaml", "include: [left.yaml, right.yaml]\nsteps: []\n")
    assert [step.name for step in load_recipe(main).steps] == ["base", "left", "right"]


def test_an_include_cycle_is_an_error_naming_the_cycle(tmp_path: Path) -> None:
    main = write(tmp_path, "a.yaml", "include: [b.yaml]\nsteps:\n  - {name: a, uses: hello_world}\n")
    write(tmp_path, "b.yaml", "include: [a.yaml]\nsteps:\n  - {name: b, uses: hello_world}\n")
    assert errors_of(main) == [f"{tmp_path / 'b.yaml'}:1:11: include cycle: a.yaml -> b.yaml -> a.yaml"]


def test_a_recipe_including_itself_is_a_cycle(tmp_path: Path) -> None:
    main = write(tmp_path, "a.yaml", "include: a.yaml\nsteps: []\n")
    assert errors_of(main) == [f"{main}:1:10: include cycle: a.yaml -> a.yaml"]


def test_a_missing_include_is_an_error(tmp_path: Path) -> None:
    main = write(tmp_path, "main.yaml", "include: [nope.yaml]\nsteps: []\n")
    assert errors_of(main) == [
        f"{main}:1:11: included file 'nope.yaml' not found (looked for {str(tmp_path / 'nope.yaml')!r})"
    ]


def test_include_must_name_files(tmp_path: Path) -> None:
    main = write(tmp_path, "main.yaml", "include: [3]\nsteps: []\n")
    assert errors_of(main) == [f"{main}:1:10: 'include' must be a list of strings, got a list [3]"]


def test_errors_in_an_included_file_are_reported_with_its_path(tmp_path: Path) -> None:
    write(tmp_path, "common.yaml", "steps:\n  - name: broken\n    uses: hello_wrld\n")
    main = write(tmp_path, "main.yaml", "include: [common.yaml]\nsteps:\n  - {name: a, uses: hello_world, nmae: x}\n")
    assert errors_of(main) == [
        f"{tmp_path / 'common.yaml'}:3:11: unknown scriptlet 'hello_wrld' (did you mean 'hello_world'?); "
        "run 'f0 scriptlets list' to see them all",
        f"{main}:3:34: unknown key 'nmae' in a step (did you mean 'name'?)",
    ]


def test_bad_yaml_in_an_included_file_is_reported_with_its_path(tmp_path: Path) -> None:
    write(tmp_path, "common.yaml", "steps: [\n")
    main = write(tmp_path, "main.yaml", "include: [common.yaml]\nsteps: []\n")
    assert errors_of(main) == [f"{tmp_path / 'common.yaml'}:2:1: invalid YAML: did not find expected node content"]


def test_a_step_name_used_in_two_files_names_the_first_file(tmp_path: Path) -> None:
    write(tmp_path, "common.yaml", COMMON)
    main = write(
        tmp_path, "main.yaml", "include: [common.yaml]\nsteps:\n  - name: common_step\n    uses: hello_world\n"
    )
    assert errors_of(main) == [
        f"{main}:3:11: duplicate step name 'common_step' (first defined at {tmp_path / 'common.yaml'}:8:11)"
    ]


def test_the_content_hash_covers_included_files(tmp_path: Path) -> None:
    write(tmp_path, "common.yaml", COMMON)
    main = write(tmp_path, "main.yaml", "include: [common.yaml]\nsteps: []\n")
    before = load_recipe(main).content_hash
    write(tmp_path, "common.yaml", COMMON.replace("batch: 10", "batch: 11"))
    assert load_recipe(main).content_hash != before


def test_text_recipes_include_relative_to_base_dir(tmp_path: Path) -> None:
    write(tmp_path, "common.yaml", COMMON)
    recipe = load_recipe_text("include: [common.yaml]\nsteps: []\n", file="r.yaml", base_dir=tmp_path)
    assert [step.name for step in recipe.steps] == ["common_step"]
    assert recipe.path == tmp_path / "r.yaml"


def test_only_params_defaults_and_steps_are_merged(tmp_path: Path) -> None:
    write(tmp_path, "common.yaml", "test_meta: {test_id: COMMON}\nmax_parallel: 1\nsteps: []\n")
    main = write(
        tmp_path,
        "main.yaml",
        "test_meta: {test_id: MAIN}\ninclude: [common.yaml]\nsteps: [{name: a, uses: hello_world}]\n",
    )
    recipe = load_recipe(main)
    assert (recipe.test_id, recipe.max_parallel) == ("MAIN", None)


def include_chain(folder: Path, length: int) -> Path:
    """main.yaml includes f1.yaml, which includes f2.yaml, ... up to f{length}.yaml."""
    for number in range(1, length):
        write(folder, f"f{number}.yaml", f"include: [f{number + 1}.yaml]\n")
    write(folder, f"f{length}.yaml", "params: {deepest: 1}\n")
    return write(folder, "main.yaml", "include: [f1.yaml]\nsteps:\n  - {name: a, uses: hello_world}\n")


def test_an_include_chain_of_50_files_loads(tmp_path: Path) -> None:
    assert "deepest" in load_recipe(include_chain(tmp_path, 50)).params


def test_an_include_chain_deeper_than_50_is_an_error_at_the_include_that_goes_too_deep(tmp_path: Path) -> None:
    main = include_chain(tmp_path, 500)
    assert errors_of(main) == [
        f"{tmp_path / 'f50.yaml'}:1:11: include chain deeper than 50 files "
        "(main.yaml -> f1.yaml -> f2.yaml -> ... -> f50.yaml -> f51.yaml)"
    ]
