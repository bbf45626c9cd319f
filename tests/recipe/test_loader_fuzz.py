"""Property tests: whatever recipe-shaped data or text the loader is given, it fails only with RecipeError."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework0.errors import ParamError, RecipeError
from framework0.recipe.loader import (
    META_KEYS,
    PARAM_KEYS,
    RETRY_KEYS,
    STEP_KEYS,
    TOP_KEYS,
    load_recipe_text,
)
from framework0.recipe.model import Recipe

VALID = """\
test_meta: {test_id: FUZZ-1, description: fuzz, tags: [a]}
params:
  region: us
  batch: {type: int, default: 100, choices: [10, 100]}
  files: [a.txt, b.txt]
sequential: false
max_parallel: 4
timeout: 1h
defaults:
  retry: {attempts: 3, delay: 2s, backoff: 2.0, max_delay: 1m}
  timeout: 5m
steps:
  - idx: 1
    name: first
    uses: hello_world
    args: {name: "{{ params.region }}"}
  - name: second
    module: scriptlets.steps.hello_world
    function: HelloWorldScriptlet
    foreach: "{{ params.files }}"
    with: {name: "{{ item }}-{{ index }}"}
    depends_on: [first]
    when: "params.batch > 1"
    retry: {attempts: 5, retry_on: [ValueError]}
    trigger: always
  - name: third
    uses: sleep
    args: {seconds: 500ms}
    timeout: 30s
    continue_on_error: true
    cache: true
  - name: check
    uses: assert
    args: {that: ["steps.second.status == 'succeeded'", "{{ ctx.greeted }}"]}
"""

JUNK_KEYS = ["nmae", "step", "x", "", "0", "args ", "Name", "<<"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=2**70),
    st.sampled_from([10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "",
            "hello_world",
            "sleep",
            "shell",
            "assert",
            "first",
            "second",
            "30s",
            "1h30m",
            "soon",
            "always",
            "int",
            "{{ params.region }}",
            "{{ steps.first.output }}",
            "{{ steps.nope.output }}",
            "{{ item }}",
            "{{ ctx.x }}",
            "{{ a + }}",
            "{% for %}",
            "params.batch > 1",
            "scriptlets.steps.hello_world",
            "HelloWorldScriptlet",
            "os.path",
            "no.such.module",
            "common.yaml",
            "../x.yaml",
            "\x00",
            "a\x00b.yaml",
            "1e400",
            "-5s",
        ]
    ),
    st.text(max_size=12),
)


def keyed(keys: tuple[str, ...], values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from([*keys, *JUNK_KEYS]), values, max_size=len(keys) + 1)


def values(depth: int) -> st.SearchStrategy[Any]:
    if depth <= 0:
        return SCALARS
    inner = values(depth - 1)
    return st.one_of(
        SCALARS,
        st.lists(inner, max_size=3),
        keyed(RETRY_KEYS, inner),
        keyed(PARAM_KEYS, inner),
        keyed(META_KEYS, inner),
    )


VALUES = values(2)
JUNK_STEP = keyed(
    STEP_KEYS, st.one_of(VALUES, keyed(RETRY_KEYS, SCALARS), st.dictionaries(st.text(max_size=5), VALUES))
)


def sometimes_junk(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a value that fits the key (so that some recipes are valid), once in a while anything."""
    return st.integers(min_value=0, max_value=24).flatmap(lambda n: VALUES if n == 0 else good)


NAMES = ["a", "b", "c", "d", "first", "a-1"]
TEMPLATES = st.sampled_from(
    [
        "{{ params.region }}",
        "x-{{ params.batch }}",
        "{{ steps.a.output }}",
        "{{ steps['b'].status }}",
        "{{ steps.c.output | length }}",
        "{{ item }}",
        "{{ index }}",
        "{{ ctx.key }}",
        "{{ run.id }} {{ recipe.test_id }}",
        "{% for x in range(3) %}{{ x }}{% endfor %}",
        "{{ nope }}",
        "{{ params.nope }}",
        "{{ steps.zz.output }}",
        "{{ a + }}",
        "{{ steps[params.region] }}",
        "line one\n{{ params.region }\n",
    ]
)
RETRY = st.one_of(
    st.integers(min_value=0, max_value=5),
    st.fixed_dictionaries(
        {},
        optional={
            "attempts": sometimes_junk(st.integers(min_value=1, max_value=5)),
            "delay": sometimes_junk(st.sampled_from(["1s", "500ms", 2, 0.5])),
            "backoff": sometimes_junk(st.floats(min_value=1, max_value=4)),
            "max_delay": sometimes_junk(st.sampled_from(["1m", 30])),
            "jitter": sometimes_junk(st.floats(min_value=0, max_value=1)),
            "retry_on": sometimes_junk(st.lists(st.sampled_from(["ValueError", "OSError"]), max_size=2)),
        },
    ),
)
STEP = st.fixed_dictionaries(
    {"name": sometimes_junk(st.sampled_from(NAMES))},
    optional={
        "idx": sometimes_junk(st.integers(min_value=0, max_value=5)),
        "uses": sometimes_junk(st.sampled_from(["hello_world", "sleep", "assert", "set_context", "shell", "hello"])),
        "module": st.sampled_from(["scriptlets.steps.hello_world", "os.path", "no_such_module"]),
        "function": st.sampled_from(["HelloWorldScriptlet", "join", "nope"]),
        "args": sometimes_junk(
            st.dictionaries(
                st.sampled_from(["name", "seconds", "that", "values", "cmd", "nmae"]),
                st.one_of(TEMPLATES, SCALARS, st.lists(st.one_of(TEMPLATES, SCALARS), max_size=2)),
                max_size=3,
            )
        ),
        "foreach": sometimes_junk(st.one_of(TEMPLATES, st.lists(st.one_of(TEMPLATES, SCALARS), max_size=3))),
        "depends_on": sometimes_junk(st.lists(st.sampled_from([*NAMES, "zz"]), max_size=3)),
        "when": sometimes_junk(
            st.one_of(st.booleans(), TEMPLATES, st.sampled_from(["params.batch > 1", "x ==", "item"]))
        ),
        "retry": sometimes_junk(RETRY),
        "timeout": sometimes_junk(st.sampled_from(["30s", "1h30m", 5, "soon", "-1s"])),
        "continue_on_error": sometimes_junk(st.booleans()),
        "cache": sometimes_junk(st.booleans()),
        "trigger": sometimes_junk(st.sampled_from(["always", "on_success", "allways"])),
    },
)
PARAMS = st.dictionaries(
    st.sampled_from(["region", "batch", "files", "n"]),
    st.one_of(
        SCALARS,
        st.fixed_dictionaries(
            {},
            optional={
                "type": sometimes_junk(
                    st.sampled_from(["str", "int", "float", "bool", "list", "dict", "any", "integer"])
                ),
                "default": VALUES,
                "description": sometimes_junk(st.text(max_size=5)),
                "choices": sometimes_junk(st.lists(SCALARS, max_size=3)),
                "required": sometimes_junk(st.booleans()),
            },
        ),
    ),
)
RECIPES = st.fixed_dictionaries(
    {"steps": st.one_of(st.lists(STEP, max_size=6), st.lists(JUNK_STEP, max_size=3), VALUES)},
    optional={
        "test_meta": sometimes_junk(
            st.fixed_dictionaries({}, optional={"test_id": st.text(max_size=5), "tags": st.lists(st.text(max_size=3))})
        ),
        "params": sometimes_junk(PARAMS),
        "sequential": sometimes_junk(st.booleans()),
        "max_parallel": sometimes_junk(st.integers(min_value=1, max_value=8)),
        "timeout": sometimes_junk(st.sampled_from(["1h", 10, "5m"])),
        "defaults": sometimes_junk(
            st.fixed_dictionaries(
                {},
                optional={
                    "retry": RETRY,
                    "timeout": sometimes_junk(st.sampled_from(["5m", 1])),
                    "continue_on_error": sometimes_junk(st.booleans()),
                    "cache": sometimes_junk(st.booleans()),
                },
            )
        ),
        "include": sometimes_junk(st.just([])),
    },
)
# Random top-level keys too, in random order.
LOOSE = keyed(TOP_KEYS, st.one_of(VALUES, st.lists(JUNK_STEP, max_size=3)))

CHARS = st.one_of(st.sampled_from(":-[]{}&*!|>'\"#%@`,?<=~. \n\t0123456789aé\x00\ufeff"), st.characters())


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = VALID
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "duplicate_line"]))
        if op == "insert":
            text = text[:at] + draw(CHARS) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + 1 :]
        elif op == "replace":
            text = text[:at] + draw(CHARS) + text[at + 1 :]
        else:
            lines = text.splitlines(keepends=True)
            line = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            text = "".join([*lines[: line + 1], lines[line], *lines[line + 1 :]])
    return text


def load_or_recipe_error(text: str, base_dir: Path | None = None) -> None:
    """Load ``text``: a Recipe or a RecipeError whose diagnostics are sorted and well placed."""
    try:
        recipe = load_recipe_text(text, file="fuzz.yaml", base_dir=base_dir)
    except RecipeError as error:
        assert error.diagnostics, "a RecipeError must say what is wrong"
        spans = [(d.span.file, d.span.line, d.span.col, d.message) for d in error.diagnostics]
        assert spans == sorted(spans)
        for diagnostic in error.diagnostics:
            assert diagnostic.span.line >= 1 and diagnostic.span.col >= 1
            assert diagnostic.message and "\n" not in diagnostic.message.strip("\n")
    else:
        assert isinstance(recipe, Recipe)
        names = [step.name for step in recipe.steps]
        assert len(names) == len(set(names))
        for step in recipe.steps:
            assert set(step.depends_on) <= set(step.upstream) <= set(names) - {step.name}
            assert list(step.upstream[: len(step.depends_on)]) == list(dict.fromkeys(step.depends_on))


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RECIPES)
def test_random_recipe_data_raises_only_recipe_error(data: dict[str, Any]) -> None:
    load_or_recipe_error(dump(data))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LOOSE)
def test_random_top_level_keys_raise_only_recipe_error(data: dict[str, Any]) -> None:
    load_or_recipe_error(dump(data))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RECIPES, RECIPES, st.sampled_from(["inc.yaml", ["inc.yaml"], ["inc.yaml", "inc.yaml"], ["fuzz.yaml"]]))
def test_random_included_recipes_raise_only_recipe_error(main: dict[str, Any], inc: dict[str, Any], how: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "inc.yaml").write_text(dump({**inc, "include": ["fuzz.yaml"]} if how == ["fuzz.yaml"] else inc))
        (Path(folder) / "fuzz.yaml").write_text(dump({**main, "include": how}))
        load_or_recipe_error(dump({**main, "include": how}), base_dir=Path(folder))


@settings(max_examples=200, deadline=None)
@given(mutated())
def test_mutated_valid_recipe_raises_only_recipe_error(text: str) -> None:
    load_or_recipe_error(text)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["region", "batch", "files", "regoin", "x"]), SCALARS, max_size=3))
def test_random_param_overrides_raise_only_param_error(overrides: dict[str, Any]) -> None:
    from framework0.recipe.params import resolve_params

    recipe = load_recipe_text(VALID, file="fuzz.yaml")
    for from_text in (False, True):
        texts = {key: str(value) for key, value in overrides.items()} if from_text else overrides
        try:
            resolve_params(recipe.params, texts, from_text=from_text)
        except ParamError as error:
            assert str(error)


def test_the_valid_recipe_loads() -> None:
    recipe = load_recipe_text(VALID, file="fuzz.yaml")
    assert [step.name for step in recipe.steps] == ["first", "second", "third", "check"]


# One token repeated many times: nesting that only shows at hundreds of levels (a long sum, an
# attribute chain, nested blocks or brackets), which the strategies above never reach.
REPEATED_TOKENS = [
    "1+",
    "x.",
    ".x",
    "(",
    "[",
    "{",
    "not ",
    "-",
    "|abs",
    "{{",
    "}}",
    "{%",
    "%}",
    "~",
    " and ",
    "steps.a.",
]
BALANCED = [
    ("(", ")"),
    ("[", "]"),
    ("{'k': ", "}"),
    ("{% if true %}", "{% endif %}"),
    ("{% for i in [1] %}", "{% endfor %}"),
    ("{% macro m() %}", "{% endmacro %}"),
    ("dict(a=", ")"),
]
COUNTS = st.one_of(st.integers(min_value=1, max_value=1500), st.sampled_from([16, 17, 49, 50, 51, 70, 250, 1000]))


@st.composite
def repeated_token_templates(draw: st.DrawFn) -> str:
    count = draw(COUNTS)
    if draw(st.booleans()):
        opener, closer = draw(st.sampled_from(BALANCED))
        inner = opener * count + "1" + closer * count
    else:
        token = draw(st.sampled_from(REPEATED_TOKENS))
        inner = token * count + draw(st.sampled_from(["1", "x", "", "}}", "%}"]))
    head, tail = draw(st.sampled_from([("{{ ", " }}"), ("", ""), ("{% if ", " %}y{% endif %}"), ("a {{ ", " }} b")]))
    return head + inner + tail


def recipe_with_template(where: str, template: str) -> dict[str, Any]:
    step: dict[str, Any] = {"name": "c", "uses": "hello_world"}
    if where == "args":
        step["args"] = {"name": template}
    elif where == "when":
        step["when"] = template
    elif where == "foreach":
        step["foreach"] = template
    else:
        step = {"name": "c", "uses": "assert", "args": {"that": [template] if where == "that-list" else template}}
    return {"params": {"region": "eu"}, "steps": [{"name": "a", "uses": "hello_world"}, step]}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(repeated_token_templates(), st.sampled_from(["args", "when", "foreach", "that", "that-list"]))
def test_a_token_repeated_many_times_in_a_template_raises_only_recipe_error(template: str, where: str) -> None:
    load_or_recipe_error(dump(recipe_with_template(where, template)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(repeated_token_templates())
def test_a_token_repeated_many_times_fails_to_render_only_with_template_error(template: str) -> None:
    from framework0.errors import TemplateError
    from framework0.recipe.templates import evaluate, render

    namespace = {"x": {"x": 1}, "params": {}, "steps": {"a": {"output": 1, "status": "succeeded"}}}
    for run in (render, evaluate):
        try:
            run(template, namespace)
        except TemplateError:
            pass


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(["- ", "[", "{a: ", "? "]), st.integers(min_value=1, max_value=3000))
def test_yaml_nesting_repeated_many_times_raises_only_recipe_error(token: str, count: int) -> None:
    load_or_recipe_error("steps:\n  - name: a\n    uses: hello_world\n    args: {name: " + token * count + "x}\n")
