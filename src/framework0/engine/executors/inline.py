"""The inline executor: each attempt runs in the scheduler's own thread, one at a time.

For debugging (a breakpoint in a step just works) and as the simplest executor in tests. It cannot
stop a running attempt: step timeouts are reported once the attempt returns, and Ctrl-C reaches the
step itself, which then ends as cancelled.
"""

from __future__ import annotations

from collections.abc import Callable

from framework0.config import DEFAULT_MAX_LOG_BYTES
from framework0.context import ContextState
from framework0.engine.attempt import AttemptTask, run_in_this_thread
from framework0.engine.capture import OutputCapture
from framework0.engine.executors.base import Executor, Notify, cpu_slots
from framework0.engine.monitor import ResourceMonitor
from framework0.events.types import LogLines


class InlineExecutor(Executor):
    """Runs each submitted attempt to its end before ``submit`` returns."""

    name = "inline"
    runs_in_caller = True

    def __init__(self) -> None:
        self._monitor = ResourceMonitor()
        self._context: ContextState | None = None
        self._notify: Notify | None = None
        self._capture: OutputCapture | None = None

    def start(
        self,
        *,
        workers: int | None,
        context: ContextState,
        notify: Notify,
        log_here: Callable[[LogLines], None] | None = None,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
    ) -> int:
        self._context, self._notify = context, notify
        self._capture = OutputCapture.notifying(log_here or notify, limit=max_log_bytes)
        self._capture.install()
        self._monitor.start()
        return cpu_slots(workers)  # how many the runner hands over at once; each runs as it is submitted

    def submit(self, task: AttemptTask) -> None:
        assert self._context is not None and self._notify is not None
        run_in_this_thread(task, self._context, self._monitor, self._notify, self._capture)

    def cancel(self, key: int) -> None:
        """Nothing runs by the time the runner could ask."""

    def resume(self) -> None:
        """Nothing is queued, so nothing was held."""

    def withdraw(self, key: int) -> None:
        """Nothing waits: every task runs when submitted."""

    def abandon(self, key: int) -> None:
        """Nothing runs by the time the runner could ask."""

    def shutdown(self) -> None:
        self._monitor.stop()
        if self._capture is not None:
            self._capture.uninstall()
            self._capture = None
