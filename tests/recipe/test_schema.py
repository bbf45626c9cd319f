"""The recipe JSON Schema (``f0 schema``): a valid schema that agrees with the loader."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

import pytest
import yaml

from framework0 import RecipeError, load_recipe_text
from framework0.durations import parse_duration
from framework0.recipe.schema import recipe_schema

jsonschema: Any
try:  # the real validator when it is installed; else the small one below, for the keywords the schema uses
    jsonschema = importlib.import_module("jsonschema")
except ImportError:  # pragma: no cover - depends on the environment
    jsonschema = None

KEYWORDS: dict[str, type | tuple[type, ...]] = {
    "$schema": str,
    "title": str,
    "description": str,
    "type": (str, list),
    "properties": dict,
    "additionalProperties": (bool, dict),
    "required": list,
    "anyOf": list,
    "oneOf": list,
    "not": dict,
    "enum": list,
    "items": dict,
    "pattern": str,
    "minimum": (int, float),
    "maximum": (int, float),
    "minItems": int,
}
TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}


def check_schema(schema: Any, where: str = "#") -> None:
    """Every keyword is one this file knows, with a value of the right shape."""
    assert isinstance(schema, dict), where
    for key, value in schema.items():
        assert key in KEYWORDS, f"{where}: unexpected keyword {key!r}"
        assert isinstance(value, KEYWORDS[key]), f"{where}/{key}"
    kinds = schema.get("type", [])
    assert set([kinds] if isinstance(kinds, str) else kinds) <= TYPES, where
    for key in ("anyOf", "oneOf"):
        assert schema.get(key, [None]), f"{where}/{key} is empty"
        for index, sub in enumerate(schema.get(key, [])):
            check_schema(sub, f"{where}/{key}/{index}")
    for name, sub in schema.get("properties", {}).items():
        check_schema(sub, f"{where}/properties/{name}")
    for key in ("items", "not"):
        if key in schema:
            check_schema(schema[key], f"{where}/{key}")
    if isinstance(schema.get("additionalProperties"), dict):
        check_schema(schema["additionalProperties"], f"{where}/additionalProperties")
    if "pattern" in schema:
        re.compile(schema["pattern"])


def fits_type(value: Any, kind: str) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int)
        and not isinstance(value, bool)
        or (isinstance(value, float) and value.is_integer()),
        "number": number,
        "boolean": isinstance(value, bool),
        "null": value is None,
    }[kind]


def is_valid(value: Any, schema: dict[str, Any]) -> bool:
    """JSON Schema validation, for the keywords in KEYWORDS."""
    if jsonschema is not None:
        return bool(jsonschema.Draft202012Validator(schema).is_valid(value))
    return _valid(value, schema)


def _valid(value: Any, schema: dict[str, Any]) -> bool:
    if "type" in schema:
        kinds = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(fits_type(value, kind) for kind in kinds):
            return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "anyOf" in schema and not any(_valid(value, sub) for sub in schema["anyOf"]):
        return False
    if "oneOf" in schema and sum(_valid(value, sub) for sub in schema["oneOf"]) != 1:
        return False
    if "not" in schema and _valid(value, schema["not"]):
        return False
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        return False
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and "minimum" in schema and value < schema["minimum"]:
        return False
    if number and "maximum" in schema and value > schema["maximum"]:
        return False
    if isinstance(value, list) and "items" in schema and not all(_valid(item, schema["items"]) for item in value):
        return False
    if isinstance(value, list) and len(value) < schema.get("minItems", 0):
        return False
    if isinstance(value, dict):
        if not set(schema.get("required", [])) <= set(value):
            return False
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                if not _valid(item, properties[key]):
                    return False
            elif extra is False or (isinstance(extra, dict) and not _valid(item, extra)):
                return False
    return True


VALID = {
    "quick start": """\
        test_meta:
          test_id: QUICK-001
          description: "Quick start example"
        steps:
          - idx: 1
            name: hello_world
            module: scriptlets.steps.hello_world
            function: HelloWorldScriptlet
        """,
    "every key": """\
        meta: {test_id: 7, description: d, tags: [a, b], owner: me}
        params:
          region: us
          batch: {type: int, default: 100, description: rows, choices: [10, 100], required: false}
          db: {host: localhost, port: 5432}
          files: [a, b]
          nothing: ~
        sequential: true
        max_parallel: 4
        timeout: 1h30m
        defaults:
          retry: {attempts: 3, delay: 500ms, backoff: 2.0, max_delay: 1m, jitter: 0.1, retry_on: [OSError]}
          timeout: 5m
          continue_on_error: false
          cache: true
        steps:
          - idx: 1
            name: first-step
            description: greets
            uses: hello_world
            with: {name: "{{ params.region }}"}
            retry: 2
            timeout: 30
            trigger: always
            when: true
          - name: second
            uses: hello_world
            args: {name: "{{ item }}"}
            foreach: "{{ params.files }}"
            depends_on: first-step
            when: "params.batch > 10"
            continue_on_error: true
            cache: false
            trigger: on_success
        """,
}

INVALID = {
    "unknown top-level key": "stpes: []\nsteps: [{name: a, uses: hello_world}]\n",
    "no steps": "test_meta: {test_id: X}\n",
    "an empty list of steps": "steps: []\n",
    "unknown step key": "steps:\n  - {name: a, uses: hello_world, nmae: x}\n",
    "uses and module": "steps:\n  - {name: a, uses: hello_world, module: m, function: f}\n",
    "neither uses nor module": "steps:\n  - {name: a}\n",
    "module without function": "steps:\n  - {name: a, module: m}\n",
    "no name": "steps:\n  - {uses: hello_world}\n",
    "bad name": "steps:\n  - {name: 1st, uses: hello_world}\n",
    "zero attempts": "steps:\n  - {name: a, uses: hello_world, retry: {attempts: 0}}\n",
    "unknown retry key": "steps:\n  - {name: a, uses: hello_world, retry: {dela: 1s}}\n",
    "bad duration": "steps:\n  - {name: a, uses: hello_world, timeout: soon}\n",
    "negative duration": "timeout: -1\nsteps: [{name: a, uses: hello_world}]\n",
    "unknown trigger": "steps:\n  - {name: a, uses: hello_world, trigger: allways}\n",
    "max_parallel zero": "max_parallel: 0\nsteps: [{name: a, uses: hello_world}]\n",
    "sequential not a boolean": "sequential: 3\nsteps: [{name: a, uses: hello_world}]\n",
    "unknown param type": "params: {n: {type: integer}}\nsteps: [{name: a, uses: hello_world}]\n",
    "unknown param key in long form": "params: {n: {type: int, defualt: 3}}\nsteps: [{name: a, uses: hello_world}]\n",
    "unknown defaults key": "defaults: {timout: 1m}\nsteps: [{name: a, uses: hello_world}]\n",
    "unknown meta key": "test_meta: {test_di: X}\nsteps: [{name: a, uses: hello_world}]\n",
}


def data(text: str) -> Any:
    import textwrap

    return yaml.safe_load(textwrap.dedent(text))


def test_the_schema_is_json() -> None:
    schema = recipe_schema()
    assert json.loads(json.dumps(schema)) == schema


def test_the_schema_is_draft_2020_12_and_requires_steps() -> None:
    schema = recipe_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert (schema["type"], schema["required"], schema["additionalProperties"]) == ("object", ["steps"], False)


def test_the_schema_uses_only_known_keywords_correctly() -> None:
    check_schema(recipe_schema())


@pytest.mark.skipif(jsonschema is None, reason="jsonschema is not installed")
def test_the_schema_is_valid_for_its_metaschema() -> None:  # pragma: no cover - depends on the environment
    assert jsonschema is not None
    jsonschema.Draft202012Validator.check_schema(recipe_schema())


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_recipes_fit_the_schema_and_load(name: str) -> None:
    assert is_valid(data(VALID[name]), recipe_schema())
    import textwrap

    load_recipe_text(textwrap.dedent(VALID[name]), file="r.yaml")


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_recipes_fail_the_schema_and_the_loader(name: str) -> None:
    assert not is_valid(data(INVALID[name]), recipe_schema())
    with pytest.raises(RecipeError):
        load_recipe_text(INVALID[name], file="r.yaml")


@pytest.mark.parametrize(
    "value", ["500ms", "30s", "5m", "1h", "2d", "1h30m", "1h 30m", " 30s ", "1.5h", "2", "0.5", "1e3", ".5"]
)
def test_the_duration_pattern_accepts_what_the_loader_accepts(value: str) -> None:
    parse_duration(value)
    assert is_valid(value, recipe_schema()["properties"]["timeout"])


@pytest.mark.parametrize("value", ["soon", "", "5 minutes", "1x", "30S", "ms", "-5s", "5m-", "inf"])
def test_the_duration_pattern_refuses_what_the_loader_refuses(value: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)
    assert not is_valid(value, recipe_schema()["properties"]["timeout"])


def test_the_schema_knows_the_same_keys_as_the_loader() -> None:
    from framework0.recipe.loader import DEFAULT_KEYS, STEP_KEYS, TOP_KEYS

    schema = recipe_schema()
    step = schema["properties"]["steps"]["items"]
    assert list(schema["properties"]) == list(TOP_KEYS)
    assert list(step["properties"]) == list(STEP_KEYS)
    assert list(schema["properties"]["defaults"]["properties"]) == list(DEFAULT_KEYS)
