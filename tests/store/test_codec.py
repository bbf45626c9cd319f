"""The store's JSON text is what ``json.dumps(value, separators=(",", ":"), default=str)`` writes,
byte for byte: compact, ASCII only, anything else as its ``str()`` (stored data never changes form)."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

import pytest

from framework0.store.codec import dumps

VALUES: list[Any] = [
    None,
    True,
    0,
    -7,
    2**70,  # past 64 bits
    1.5,
    1e16,
    -0.0,
    math.inf,
    math.nan,
    "",
    "plain",
    'quotes " and \\ backslash\n\ttabs',
    "accents é, CJK 漢字, emoji 🙂",
    [],
    {},
    [1, [2, [3, {"deep": [None]}]]],
    {"b": 1, "a": 2},  # insertion order kept, not sorted
    {1: "int key", False: "bool key", None: "none key", 2.5: "float key"},
    ("a", "tuple"),
    Path("/a/path"),
    datetime.datetime(2026, 12, 7, 9, 30),
    {"nested": {"set": {1}}},  # a set is not JSON: its str()
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_the_stored_text_is_compact_ascii_json_with_str_for_the_rest(value: Any):
    assert dumps(value) == json.dumps(value, separators=(",", ":"), default=str)


def test_no_output_is_null():
    assert dumps(None) == "null"


def test_non_ascii_is_escaped():
    assert dumps({"name": "café"}) == '{"name":"caf\\u00e9"}'


def test_a_value_that_contains_itself_is_refused():
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises((ValueError, RecursionError)):
        dumps(looped)
