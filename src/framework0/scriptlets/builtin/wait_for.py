"""The ``wait_for`` built-in: wait until a context key meets a condition, waking on every change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from framework0.context.deltas import same_value
from framework0.durations import parse_duration
from framework0.scriptlets.base import BaseScriptlet

if TYPE_CHECKING:
    from framework0.context import Context

_CONDITIONS = ("equals", "not_equals", "at_least", "at_most", "exists", "contains")


class WaitForScriptlet(BaseScriptlet):
    """Wait until a context key meets a condition, then return its value.

    Args: ``key``, and exactly one condition: ``equals`` (a value), ``not_equals`` (the key exists
    with another value), ``at_least`` / ``at_most`` (a number), ``exists`` (true: any value; false:
    until the key is absent) or ``contains`` (an item of a list, or a substring of a string);
    ``timeout`` (seconds or a duration, default 5m). Returns the value that met the condition
    (``null`` for ``exists: false``). Every change to the context, from any step, wakes it; it
    fails with ``WaitTimeout`` naming the key, the condition and the last value seen, and stops
    with ``StepCancelled`` when the step is cancelled. Use the local executor (the default): under
    ``process`` a step sees the context as of its start, and ``inline`` runs one step at a time.
    """

    class Params(BaseScriptlet.Params):
        key: str = Field(min_length=1, description="The context key to watch.")
        equals: Any = Field(default=None, description="Wait until the key has this value.")
        not_equals: Any = Field(default=None, description="Wait until the key exists with another value than this.")
        at_least: int | float | None = Field(
            default=None, allow_inf_nan=False, description="Wait until the key is a number >= this."
        )
        at_most: int | float | None = Field(
            default=None, allow_inf_nan=False, description="Wait until the key is a number <= this."
        )
        exists: bool | None = Field(
            default=None, description="true: wait until the key exists; false: until it does not."
        )
        contains: Any = Field(
            default=None, description="Wait until the key is a list holding this item, or a string holding this text."
        )
        timeout: float = Field(
            default=300.0,
            ge=0,
            allow_inf_nan=False,
            description="How long to wait before failing: seconds, or a duration such as '30s', '5m'.",
        )

        @field_validator("timeout", mode="before")
        @classmethod
        def _duration(cls, value: Any) -> Any:
            return parse_duration(value) if isinstance(value, (str, int, float)) else value

        @field_validator("at_least", "at_most", mode="before")
        @classmethod
        def _number(cls, value: Any) -> Any:
            if isinstance(value, bool):
                raise ValueError(f"expected a number, got {value!r}")
            return value

        @model_validator(mode="after")
        def _one_condition(self) -> WaitForScriptlet.Params:
            given = [name for name in _CONDITIONS if name in self.model_fields_set]
            if len(given) != 1:
                named = f" (got {', '.join(given)})" if given else ""
                raise ValueError(f"give exactly one condition of {', '.join(_CONDITIONS)}{named}")
            if getattr(self, given[0]) is None and given[0] in ("exists", "at_least", "at_most"):
                raise ValueError(f"{given[0]!r} cannot be null")
            return self

    def run(self, ctx: Context, params: Params) -> Any:
        if params.exists is False:
            ctx.wait_for_absent(params.key, timeout=params.timeout)
            return None
        if params.exists:
            return ctx.wait_for(params.key, timeout=params.timeout)
        if "equals" in params.model_fields_set:
            return ctx.wait_for(params.key, params.equals, timeout=params.timeout)
        name = next(name for name in _CONDITIONS if name in params.model_fields_set)
        return ctx.wait_for(params.key, _Condition(name, getattr(params, name)), timeout=params.timeout)


@dataclass(frozen=True, slots=True)
class _Condition:
    """A test of a value that says what it tests, for WaitTimeout's message ("at least 3")."""

    name: str
    operand: Any

    def __call__(self, value: Any) -> bool:
        if self.name == "not_equals":
            return not same_value(value, self.operand)
        if self.name == "contains":
            if isinstance(value, str):
                return isinstance(self.operand, str) and self.operand in value
            return isinstance(value, list) and any(same_value(item, self.operand) for item in value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return bool(value >= self.operand) if self.name == "at_least" else bool(value <= self.operand)

    def __str__(self) -> str:
        return f"{self.name.replace('_', ' ')} {self.operand!r}"
