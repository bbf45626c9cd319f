"""The recipe's JSON Schema, for editors (``f0 schema``); built from the loader's own key lists."""

from __future__ import annotations

from typing import Any

from framework0.recipe.model import PARAM_TYPES, TRIGGERS
from framework0.recipe.reading import DEFAULT_KEYS, META_KEYS, PARAM_KEYS, RETRY_KEYS, STEP_KEYS, TOP_KEYS

DURATION: dict[str, Any] = {
    "description": "seconds, or a string like 500ms, 30s, 5m, 1h",
    "anyOf": [
        {"type": "number", "minimum": 0},
        {
            "type": "string",
            "pattern": r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d)\s*)+$|^\s*(\d+(\.\d+)?([eE][+-]?\d+)?|\.\d+)\s*$",
        },
    ],
}
STRINGS: dict[str, Any] = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
TEMPLATE_OR: dict[str, Any] = {"description": "a value or a {{ template }}"}

RETRY: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 1, "description": "attempts"},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "attempts": {"type": "integer", "minimum": 1},
                "delay": DURATION,
                "backoff": {"type": "number", "minimum": 1},
                "max_delay": DURATION,
                "jitter": {"type": "number", "minimum": 0, "maximum": 1},
                "retry_on": STRINGS,
            },
        },
    ]
}
STEP_PROPERTIES: dict[str, Any] = {
    "idx": {"type": "integer", "description": "orders steps for display and for sequential: true"},
    "name": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_-]*$"},
    "description": {"type": "string"},
    "uses": {"type": "string", "description": "a registered scriptlet (f0 scriptlets list)"},
    "module": {"type": "string", "description": "an importable module (with function)"},
    "function": {"type": "string", "description": "a BaseScriptlet subclass or a function in module"},
    "args": {"type": "object", "description": "the scriptlet's args"},
    "with": {"type": "object", "description": "alias of args"},
    "foreach": {"anyOf": [{"type": "array"}, {"type": "string"}], "description": "one run per item, as {{ item }}"},
    "depends_on": STRINGS,
    "when": {"anyOf": [{"type": "boolean"}, {"type": "string"}]},
    "retry": RETRY,
    "timeout": DURATION,
    "continue_on_error": {"type": "boolean"},
    "cache": {"type": "boolean"},
    "trigger": {"enum": list(TRIGGERS)},
}


def recipe_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of the recipe language."""
    step = {
        "type": "object",
        "additionalProperties": False,
        "properties": STEP_PROPERTIES,
        "required": ["name"],
        "oneOf": [{"required": ["uses"]}, {"required": ["module", "function"]}],
    }
    # Like the loader: a mapping is a param's long form when it uses a param key, else it is a default.
    param: dict[str, Any] = {
        "anyOf": [
            {"type": ["string", "number", "boolean", "array", "null"]},
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": list(PARAM_TYPES)},
                    "default": {},
                    "description": {"type": "string"},
                    "choices": {"type": "array"},
                    "required": {"type": "boolean"},
                },
            },
            {
                "type": "object",
                "description": "a mapping default",
                "not": {"anyOf": [{"required": [key]} for key in PARAM_KEYS]},
            },
        ]
    }
    meta: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "test_id": {"type": ["string", "number"]},
            "description": {"type": "string"},
            "tags": STRINGS,
            "owner": {"type": "string"},
        },
    }
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Framework0 recipe",
        "type": "object",
        "additionalProperties": False,
        "required": ["steps"],
        "properties": {
            "test_meta": meta,
            "meta": meta,
            "params": {"type": "object", "additionalProperties": param},
            "sequential": {"type": "boolean"},
            "max_parallel": {"type": "integer", "minimum": 1},
            "timeout": DURATION,
            "defaults": {
                "type": "object",
                "additionalProperties": False,
                "properties": {key: STEP_PROPERTIES[key] for key in DEFAULT_KEYS},
            },
            "include": STRINGS,
            "steps": {"type": "array", "minItems": 1, "items": step},
        },
    }
    # The schema and the loader must know the same keys.
    assert set(schema["properties"]) == set(TOP_KEYS)
    assert set(STEP_PROPERTIES) == set(STEP_KEYS)
    assert set(meta["properties"]) == set(META_KEYS)
    assert set(RETRY["anyOf"][1]["properties"]) == set(RETRY_KEYS)
    assert set(param["anyOf"][1]["properties"]) == set(PARAM_KEYS)
    return schema
