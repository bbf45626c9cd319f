"""Events and the in-process bus."""

from framework0.events.bus import EventBus, Handler
from framework0.events.types import (
    AttemptFinished,
    AttemptStarted,
    ContextChanged,
    ErrorInfo,
    Event,
    LogLines,
    Notice,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)

__all__ = [
    "AttemptFinished",
    "AttemptStarted",
    "ContextChanged",
    "ErrorInfo",
    "Event",
    "EventBus",
    "Handler",
    "LogLines",
    "Notice",
    "RunFinished",
    "RunStarted",
    "StepFinished",
    "StepStarted",
]
