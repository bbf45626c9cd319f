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


# --- non-finite numbers: JSON has no NaN or infinity, so no param may hold one ---


@pytest.mark.parametrize(
    ("kind", "text", "number"),
    [
        ("list", "[1e999]", "1e999"),
        ("list", "[[1, -1e999]]", "-1e999"),
        ("dict", '{"k": {"j": 1E400}}', "1E400"),
        ("any", "1e999", "1e999"),
        ("any", "[1, -1e999]", "-1e999"),
        ("any", '{"a": 1e400}', "1e400"),
        ("list", "[.inf]", "inf"),
        ("list", "[a, [.nan]]", "nan"),
        ("dict", "{a: -.inf}", "-inf"),
    ],
)
def test_a_non_finite_number_in_a_param_text_is_refused(kind: str, text: str, number: str) -> None:
    with pytest.raises(ParamError) as caught:
        coerce_text(Param("p", kind), text)
    assert str(caught.value) == f"param 'p' holds {number}, which is not a finite number (JSON has no NaN or infinity)"


@pytest.mark.parametrize(
    ("kind", "value"),
    [("any", float("inf")), ("list", [1, [float("nan")]]), ("dict", {"a": {"b": -float("inf")}}), ("any", [[-1e999]])],
)
def test_a_non_finite_number_in_a_param_value_is_refused(kind: str, value: Any) -> None:
    with pytest.raises(ParamError, match=r"^param 'p' holds -?(inf|nan), which is not a finite number"):
        check_value(Param("p", kind), value)


def test_a_param_nested_deeper_than_64_levels_is_refused() -> None:
    assert coerce_text(Param("p", "list"), "[" * 64 + "]" * 64) == eval("[" * 64 + "]" * 64)
    for text in ("[" * 65 + "]" * 65, "[" * 100_000 + "]" * 100_000):
        with pytest.raises(ParamError) as caught:
            coerce_text(Param("p", "list"), text)
        assert str(caught.value) == "param 'p' is nested deeper than 64 levels"


# --- messages show a value cut short, never the whole of a huge one ---


def test_a_huge_param_text_is_cut_in_the_message() -> None:
    with pytest.raises(ParamError) as caught:
        coerce_text(Param("p", "int"), "1." + "1" * 100_000)
    assert str(caught.value) == "param 'p' must be an int, got '1." + "1" * 54 + "..."


def test_a_huge_int_value_is_described_not_printed() -> None:
    with pytest.raises(ParamError) as caught:
        check_value(Param("p", "str"), 10**100_000)
    assert str(caught.value) == "param 'p' must be a string, got an integer of 100001 digits"


def test_a_long_param_value_is_cut_in_the_choices_message() -> None:
    with pytest.raises(ParamError) as caught:
        check_value(Param("p", "list", choices=([1],)), list(range(100_000)))
    assert str(caught.value) == "param 'p' must be one of [1], got [0, 1, 2, 3, 4, 5, ...]"


def test_an_int_param_text_longer_than_python_reads_says_so() -> None:
    with pytest.raises(ParamError) as caught:
        coerce_text(Param("p", "int"), "1" * 100_000)
    assert str(caught.value) == "param 'p' is an integer of 100000 digits; at most 4300 are allowed"
    assert coerce_text(Param("p", "int"), "9" * 4300) == int("9" * 4300)


def test_a_long_non_finite_number_is_cut_in_the_message() -> None:
    with pytest.raises(ParamError) as caught:
        coerce_text(Param("p", "list"), "[" + "9" * 100_000 + "e999]")
    assert str(caught.value) == (
        "param 'p' holds " + "9" * 37 + "..., which is not a finite number (JSON has no NaN or infinity)"
    )
