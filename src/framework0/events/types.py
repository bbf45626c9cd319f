"""The events the runner publishes on the bus: one immutable value (a NamedTuple) per thing that happened."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

if TYPE_CHECKING:
    from framework0.context.changes import Change


class ErrorInfo(NamedTuple):
    """A step's error as it is stored and shown: the exception's type name and message."""

    type: str
    message: str
    #: the formatted traceback, shown with --debug (not part of the run result's JSON)
    traceback: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message}


class RunStarted(NamedTuple):
    run_id: str
    test_id: str | None
    recipe_path: str | None
    steps: tuple[str, ...]
    params: dict[str, Any]
    at: float
    graph: dict[str, Any] | None = None  # {"steps": [{"name", "scriptlet", "upstream"}]}: what to draw


class RunFinished(NamedTuple):
    run_id: str
    status: str
    at: float
    duration_s: float
    error: ErrorInfo | None


class StepStarted(NamedTuple):
    run_id: str
    step: str
    at: float


class StepFinished(NamedTuple):
    """A step reached its final status: succeeded, failed, skipped, cached, cancelled or pending."""

    run_id: str
    step: str
    status: str
    at: float
    duration_s: float
    attempts: int
    error: ErrorInfo | None
    output: Any = None
    started_at: float | None = None
    finished_at: float | None = None
    cpu_s: float = 0.0
    peak_rss_bytes: int = 0
    items: int | None = None
    #: why it was skipped, cached, restored from an earlier session or run again
    reason: str | None = None
    #: for ``cache: true`` steps, the content hash of its inputs and what it was computed from
    cache_key: str | None = None
    cache_inputs: dict[str, Any] | None = None


class AttemptStarted(NamedTuple):
    run_id: str
    step: str
    attempt: int
    item: int | None
    at: float


class AttemptFinished(NamedTuple):
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
    output: Any = None


class LogLines(NamedTuple):
    """Text a step attempt wrote (stdout, stderr, logging) or the framework wrote about it."""

    run_id: str
    step: str
    attempt: int
    item: int | None
    stream: str  # stdout, stderr, log or framework
    text: str
    at: float


class ContextChanged(NamedTuple):
    """One atomic change of the context: a new version, and the keys it changed.

    ``context`` names the context server's shared context it changed (None: the run's own context).
    """

    run_id: str
    changes: tuple[Change, ...]
    context: str | None = None


class Notice(NamedTuple):
    """Something the user of a run should hear that is not a step's progress: the store failed,
    Ctrl-C is being handled, a setting trades safety for speed. ``level`` is ``note``, ``warning``,
    ``error`` or ``interrupted``. Shown by the progress display; never stored nor sent to a server."""

    run_id: str
    level: str
    text: str
    at: float


Event: TypeAlias = (
    "RunStarted | RunFinished | StepStarted | StepFinished | AttemptStarted | AttemptFinished | ContextChanged"
    " | LogLines | Notice"
)
