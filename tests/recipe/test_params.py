"""The param helpers: type inference, checking values, reading ``-p KEY=VALUE`` text."""

from __future__ import annotations

from typing import Any

import pytest

from framework0 import ParamError
from framework0.recipe.model import Param
from framework0.recipe.params import check_value, coerce_text, infer_type, parse_assignments, resolve_params


@pytest.mark.parametrize(
    ("value", "kind"),
    [(True, "bool"), (3, "int"), (2.5, "float"), ("x", "str"), ([1], "list"), ({"a": 1}, "dict"), (None, "any")],
)
def test_infer_type(value: Any, kind: str) -> None:
    assert infer_type(value) == kind


def test_a_bool_is_not_an_int() -> None:
    with pytest.raises(ParamError, match=r"^param 'n' must be an int, got True$"):
        check_value(Param("n", "int"), True)


def test_an_int_is_a_fine_float_and_becomes_one() -> None:
    value = check_value(Param("x", "float"), 2)
    assert value == 2.0 and isinstance(value, float)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 10**400])
def test_a_float_must_be_finite(value: Any) -> None:
    with pytest.raises(ParamError):
        check_value(Param("x", "float"), value)


def test_any_accepts_anything() -> None:
    assert check_value(Param("x", "any"), {"a": [1]}) == {"a": [1]}


def test_choices_are_checked_after_the_type() -> None:
    param = Param("env", "str", choices=("dev", "prod"))
    assert check_value(param, "dev") == "dev"
    with pytest.raises(ParamError, match=r"^param 'env' must be one of 'dev', 'prod', got 'qa'$"):
        check_value(param, "qa")


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("str", " keep spaces ", " keep spaces "),
        ("int", "50", 50),
        ("int", " 7 ", 7),
        ("float", "1.5", 1.5),
        ("float", "1e3", 1000.0),
        ("bool", "True", True),
        ("bool", "off", False),
        ("list", "[1, 2]", [1, 2]),
        ("list", "[a, b]", ["a", "b"]),
        ("dict", '{"a": 1}', {"a": 1}),
        ("dict", "{a: 1}", {"a": 1}),
        ("any", "12", 12),
        ("any", "[1]", [1]),
        ("any", "plain text", "plain text"),
    ],
)
def test_coerce_text(kind: str, text: str, value: Any) -> None:
    assert coerce_text(Param("p", kind), text) == value


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("int", "1.5", "param 'p' must be an int, got '1.5'"),
        ("float", "inf", "param 'p' must be a float, got 'inf'"),
        ("bool", "2", "param 'p' must be a bool (true/false), got '2'"),
        ("list", "{}", "param 'p' must be a list (JSON, like [\"a\", \"b\"]), got '{}'"),
        ("list", "[2024-01-01]", "param 'p' must be a list (JSON, like [\"a\", \"b\"]), got '[2024-01-01]'"),
        ("dict", "a=1", "param 'p' must be a dict (JSON, like {\"key\": \"value\"}), got 'a=1'"),
    ],
)
def test_coerce_text_refuses(kind: str, text: str, message: str) -> None:
    with pytest.raises(ParamError) as caught:
        coerce_text(Param("p", kind), text)
    assert str(caught.value) == message


def test_parse_assignments_splits_at_the_first_equals_sign() -> None:
    assert parse_assignments(["region=eu", "query=a=b", "empty="]) == {"region": "eu", "query": "a=b", "empty": ""}


def test_parse_assignments_needs_key_equals_value() -> None:
    with pytest.raises(ParamError, match=r"^params are given as KEY=VALUE, got 'region'$"):
        parse_assignments(["region"])


def test_resolve_params_gives_defaults_then_overrides() -> None:
    declared = {"a": Param("a", "int", 1), "b": Param("b", "str", "x")}
    assert resolve_params(declared, {"b": "y"}) == {"a": 1, "b": "y"}


def test_resolve_params_without_declared_params_names_none() -> None:
    with pytest.raises(ParamError, match=r"^unknown param 'x'; the recipe's params are: none$"):
        resolve_params({}, {"x": 1})
