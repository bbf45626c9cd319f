"""Durations as recipes write them."""

from __future__ import annotations

import pytest

from framework0.durations import format_duration, parse_duration
from framework0.errors import short_repr


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("2d", 172800.0),
        ("1h30m", 5400.0),
        ("1m30s", 90.0),
        ("1h 30m", 5400.0),
        ("1.5h", 5400.0),
        (" 30s ", 30.0),
        ("2", 2.0),
        ("2.5", 2.5),
        ("0", 0.0),
        ("1e3", 1000.0),
    ],
)
def test_duration_strings(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("number", "seconds"), [(0, 0.0), (3, 3.0), (0.25, 0.25)])
def test_numbers_are_seconds(number: float, seconds: float) -> None:
    value = parse_duration(number)
    assert value == seconds and isinstance(value, float)


@pytest.mark.parametrize(
    "value", ["soon", "", "5 minutes", "1x", "h", "1.5.5s", "30S", "ms", "5m-", "inf", "nan", [], None, True]
)
def test_bad_durations_name_the_accepted_forms(value: object) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert str(caught.value) == f"expected a duration like 500ms, 30s, 5m, 1h or a number of seconds, got {value!r}"


@pytest.mark.parametrize("value", [-1, -0.5, "-1", "-5s", "-1h30m"])
def test_negative_durations_are_refused(value: object) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert str(caught.value) == f"a duration cannot be negative, got {value!r}"


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 10**400, "1e400", "9" * 400 + "h"])
def test_durations_must_be_finite(value: object) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert str(caught.value) == f"a duration must be finite, got {short_repr(value)}"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.85, "850ms"), (12.34, "12.3s"), (245, "4m05s"), (3720, "1h02m"), (0.0000005, "0µs")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
