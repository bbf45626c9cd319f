"""The run result of RECIPES.md section 5, as Python objects and as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from framework0.events.types import ErrorInfo

RUN_STATUSES = ("succeeded", "failed", "cancelled")
STEP_STATUSES = ("succeeded", "failed", "skipped", "cached", "cancelled", "pending")


def iso(timestamp: float | None) -> str | None:
    """An epoch time as ISO 8601 in UTC, or None."""
    if timestamp is None:
        return None
    from datetime import datetime, timezone

    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="milliseconds")


@dataclass(slots=True)
class StepResult:
    """What became of one step."""

    name: str
    status: str = "pending"
    attempts: int = 0
    output: Any = None
    error: ErrorInfo | None = None
    started_at: float | None = None
    finished_at: float | None = None
    cpu_s: float = 0.0
    peak_rss_bytes: int = 0
    items: int | None = None
    reason: str | None = None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round(self.finished_at - self.started_at, 6)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "attempts": self.attempts,
            "output": self.output,
            "error": self.error.to_dict() if self.error else None,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration_s": self.duration_s,
            "cpu_s": round(self.cpu_s, 6),
            "peak_rss_bytes": self.peak_rss_bytes,
            "items": self.items,
        }


@dataclass(slots=True)
class RunResult:
    """A whole run: status, times, every step's result and the final context."""

    run_id: str
    test_id: str | None
    recipe_path: str | None
    status: str
    started_at: float
    finished_at: float
    steps: dict[str, StepResult] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    error: ErrorInfo | None = None
    #: when this session began: later than ``started_at`` for a resumed run, None when not known
    session_started_at: float | None = None
    #: the recipe package the run came from (``f0 run PKG``): its ``path``, manifest ``digest`` and
    #: ``entry`` (the recipe inside); None for a recipe run from its own file
    package: dict[str, str] | None = None

    @property
    def duration_s(self) -> float:
        """From the run's first start to its end (every session of a resumed run, and between)."""
        return round(self.finished_at - self.started_at, 6)

    @property
    def session_duration_s(self) -> float:
        """This session's time: the same as ``duration_s`` unless the run was resumed."""
        start = self.started_at if self.session_started_at is None else self.session_started_at
        return round(self.finished_at - start, 6)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "recipe": {"test_id": self.test_id, "path": self.recipe_path},
            "package": self.package,
            "status": self.status,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration_s": self.duration_s,
            "error": self.error.to_dict() if self.error else None,
            "params": self.params,
            "steps": {name: step.to_dict() for name, step in self.steps.items()},
            "context": self.context,
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)


def run_status(
    steps: dict[str, StepResult], tolerated: set[str], *, interrupted: bool, run_error: ErrorInfo | None
) -> tuple[str, ErrorInfo | None]:
    """A run's status and error from its steps': cancelled when interrupted, failed when the run
    itself failed (a timeout) or a step failed or was cancelled without ``continue_on_error``."""
    if interrupted:
        return "cancelled", run_error
    failed = [name for name, step in steps.items() if step.status in ("failed", "cancelled") and name not in tolerated]
    failed.sort(key=lambda name: steps[name].status != "failed")  # a failure explains more than a cancel
    if run_error is not None:
        return "failed", run_error
    if not failed:
        return "succeeded", None
    first = steps[failed[0]].error
    if first is None:
        return "failed", ErrorInfo("StepFailed", f"step {failed[0]!r} {steps[failed[0]].status}")
    return "failed", ErrorInfo("StepFailed", f"step {failed[0]!r} failed: {first.type}: {first.message}")
