"""Context changes and their sources: pure values, recorded once per key written."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from framework0.errors import ContextError

DELETED: Any = None
"""The ``new`` value of a change that deleted its key (``op`` says ``delete``)."""


@dataclass(frozen=True, slots=True)
class ChangeSource:
    """Who made a change: the step and attempt (None outside a step) and the machine."""

    node: str
    step: str | None = None
    attempt: int | None = None
    item: int | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One key's change: its context version (shared by every key of one batch), old and new value,
    when, and from where."""

    version: int
    key: str
    op: str  # "set" or "delete"
    old: Any
    new: Any
    at: float
    source: ChangeSource
    #: which batch of its step attempt this was (1, 2, ...): with the run id, the idempotency key
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "key": self.key,
            "op": self.op,
            "old": self.old,
            "new": self.new,
            "at": self.at,
            "step": self.source.step,
            "attempt": self.source.attempt,
            "item": self.source.item,
            "node": self.source.node,
        }


@dataclass(frozen=True, slots=True)
class Operation:
    """A requested write, before it is applied: ``set`` a value or ``delete`` a key."""

    op: str
    key: str
    value: Any = None


_MAX_INT_BITS = 14_000  # about 4,200 digits: Python refuses to print longer ints as text


def copy_value(value: Any) -> Any:
    """A private copy of a stored JSON value, so that changing it cannot change the context."""
    if isinstance(value, (dict, list)):
        return json.loads(json.dumps(value))
    return value


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise ContextError(f"context keys are non-empty strings, not {key!r}")
    return key


def to_json_value(key: str, value: Any) -> Any:
    """Return a JSON-normalised copy of ``value`` (tuples become lists), or raise ContextError."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ContextError(
            f"context value for {key!r} is not JSON (float): {value!r} is not a finite number; "
            "store strings, numbers, booleans, None, lists and dicts"
        )
    if value is None or isinstance(value, (str, bool, float)):
        return value
    if isinstance(value, int) and value.bit_length() <= _MAX_INT_BITS:
        return value
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ContextError(
            f"context value for {key!r} is not JSON ({type(value).__name__}): {error}; "
            "store strings, numbers, booleans, None, lists and dicts"
        ) from None
