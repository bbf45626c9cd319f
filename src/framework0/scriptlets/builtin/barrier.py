"""The ``barrier`` built-in: wait until a number of steps (or items) have all arrived."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from framework0.durations import parse_duration
from framework0.scriptlets.base import BaseScriptlet

if TYPE_CHECKING:
    from framework0.context import Context


class BarrierScriptlet(BaseScriptlet):
    """Wait until a number of participants have arrived at a named barrier; return who arrived.

    Args: ``name``; ``parties``, how many must arrive (>= 1); ``timeout`` (seconds or a duration,
    default 5m); ``id``, this participant's name (default ``RUN/STEP``, or ``RUN/STEP[ITEM]`` for
    an item of a ``foreach`` step). Arriving adds the id to the context key ``barrier.NAME``, a
    list without duplicates, so an attempt retried does not count twice. Returns the list of
    participants once it holds ``parties`` of them. A barrier is used once: when it is full, later
    arrivals pass at once. Fails with ``WaitTimeout`` naming who had arrived; stops with
    ``StepCancelled`` when the step is cancelled. The participants must run at the same time,
    sharing one context: give them ``max_parallel`` room, on the local executor (the default).
    """

    class Params(BaseScriptlet.Params):
        name: str = Field(min_length=1, description="The barrier's name; participants are kept in 'barrier.NAME'.")
        parties: int = Field(ge=1, description="How many participants must arrive before all go on.")
        timeout: float = Field(
            default=300.0,
            ge=0,
            allow_inf_nan=False,
            description="How long to wait before failing: seconds, or a duration such as '30s', '5m'.",
        )
        id: str | None = Field(
            default=None,
            min_length=1,
            description="This participant's id; default 'RUN/STEP', or 'RUN/STEP[ITEM]' for a foreach item.",
        )

        @field_validator("timeout", mode="before")
        @classmethod
        def _duration(cls, value: Any) -> Any:
            return parse_duration(value) if isinstance(value, (str, int, float)) else value

        @field_validator("parties", mode="before")
        @classmethod
        def _not_bool(cls, value: Any) -> Any:
            if isinstance(value, bool):
                raise ValueError(f"expected a whole number >= 1, got {value!r}")
            return value

    def run(self, ctx: Context, params: Params) -> list[Any]:
        key = f"barrier.{params.name}"
        ctx.add(key, params.id if params.id is not None else _participant(ctx))
        arrived: list[Any] = ctx.wait_for(key, _Arrived(params.parties), timeout=params.timeout)
        return arrived


@dataclass(frozen=True, slots=True)
class _Arrived:
    """Whether enough participants are in the list; says so in WaitTimeout's message."""

    parties: int

    def __call__(self, value: Any) -> bool:
        return isinstance(value, list) and len(value) >= self.parties

    def __str__(self) -> str:
        return f"{self.parties} participant{'s' if self.parties != 1 else ''}"


def _participant(ctx: Context) -> str:
    step = f"{ctx.step}[{ctx.item}]" if ctx.item is not None else str(ctx.step)
    return f"{ctx.run_id}/{step}" if ctx.run_id is not None else step
