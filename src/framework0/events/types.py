"""The events the runner publishes on the bus: one frozen value per thing that happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from framework0.context.changes import Change


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A step's error as it is stored and shown: the exception's type name and message."""

    type: str
    message: str
    #: the formatted traceback, shown with --debug (not part of the run result's JSON)
    traceback: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message}


@dataclass(frozen=True, slots=True)
class RunStarted:
    run_id: str
    test_id: str | None
    recipe_path: str | None
    steps: tuple[str, ...]
    params: dict[str, Any]
    at: float


@dataclass(frozen=True, slots=True)
class RunFinished:
    run_id: str
    status: str
    at: float
    duration_s: float
    error: ErrorInfo | None


@dataclass(frozen=True, slots=True)
class StepStarted:
    run_id: str
    step: str
    at: float


@dataclass(frozen=True, slots=True)
class StepFinished:
    """A step reached its final status: succeeded, failed, skipped, cached or cancelled."""

    run_id: str
    step: str
    status: str
    at: float
    duration_s: float
    attempts: int
    error: ErrorInfo | None


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    run_id: str
    step: str
    attempt: int
    item: int | None
    at: float


@dataclass(frozen=True, slots=True)
class AttemptFinished:
    """One try of a step (or of one foreach item) ended, with its resource figures."""

    run_id: str
    step: str
    attempt: int
    item: int | None
    status: str
    at: float
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    error: ErrorInfo | None
    will_retry_in_s: float | None


@dataclass(frozen=True, slots=True)
class ContextChanged:
    run_id: str
    change: Change


Event: TypeAlias = (
    "RunStarted | RunFinished | StepStarted | StepFinished | AttemptStarted | AttemptFinished | ContextChanged"
)
