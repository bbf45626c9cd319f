"""The ``sleep`` built-in: wait a number of seconds or a duration, waking early when cancelled."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from framework0.durations import parse_duration
from framework0.errors import StepCancelled
from framework0.scriptlets.base import BaseScriptlet

if TYPE_CHECKING:
    from framework0.context import Context

# Event.wait with a huge timeout overflows on some platforms, so long sleeps wait in slices.
_SLICE = 3600.0


class SleepScriptlet(BaseScriptlet):
    """Wait for a while; cancelling the step wakes it at once.

    Args: ``seconds``, a number >= 0 or a duration string (``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"``).
    Returns ``None``. If the step is cancelled while waiting it stops with ``StepCancelled``.
    """

    class Params(BaseScriptlet.Params):
        seconds: float = Field(
            ge=0,
            allow_inf_nan=False,
            description="How long to wait: seconds, or a duration such as '500ms', '30s', '5m', '1h'.",
        )

        @field_validator("seconds", mode="before")
        @classmethod
        def _duration(cls, value: Any) -> Any:
            return parse_duration(value) if isinstance(value, (str, int, float)) else value

    def run(self, ctx: Context, params: Params) -> None:
        deadline = time.monotonic() + params.seconds
        remaining = params.seconds
        while remaining > 0:
            if ctx.wait(min(remaining, _SLICE)):
                raise StepCancelled("cancelled while sleeping")
            remaining = deadline - time.monotonic()
        if ctx.cancelled:
            raise StepCancelled("cancelled while sleeping")
