"""Durations as recipes, scriptlet args and settings write them: a number of seconds, or ``500ms``,
``30s``, ``5m``, ``1h30m``, ``2d``. Pure, below every layer that reads one (it imports only ``errors``)."""

from __future__ import annotations

import math
import re

from framework0.errors import short_repr

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+")
_FORMS = "expected a duration like 500ms, 30s, 5m, 1h or a number of seconds"


def parse_duration(value: object) -> float:
    """Seconds as a finite float >= 0; raises ValueError with the accepted forms when ``value`` is not one.

    >>> parse_duration("1h30m"), parse_duration("500ms"), parse_duration(2)
    (5400.0, 0.5, 2.0)
    """
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {short_repr(value)}")
        seconds = float(value) if value == value and abs(value) < 1e300 else math.inf
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if _WHOLE.fullmatch(text):
            seconds = sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text))
        elif _NUMBER.fullmatch(text):
            seconds = float(text)
        elif text.startswith("-") and (_NUMBER.fullmatch(text[1:]) or _WHOLE.fullmatch(text[1:])):
            raise ValueError(f"a duration cannot be negative, got {short_repr(value)}")
    if seconds is None:
        raise ValueError(f"{_FORMS}, got {short_repr(value)}")
    if not math.isfinite(seconds):
        raise ValueError(f"a duration must be finite, got {short_repr(value)}")
    return seconds


def format_duration(seconds: float) -> str:
    """A short human form: ``850ms``, ``12.3s``, ``4m05s``, ``1h02m``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms" if seconds >= 0.001 else f"{seconds * 1e6:.0f}µs"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
