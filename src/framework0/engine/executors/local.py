"""The local executor: attempts run on a pool of threads in this process (the default).

Stopping a thread: the attempt's cancel token is set (``ctx.cancelled`` / ``ctx.wait`` and the
built-ins honour it, and ``shell`` kills its process group) and ``StepCancelled`` is raised inside
the thread at its next Python instruction. A thread blocked inside a C call cannot be interrupted:
after the grace period the runner abandons it, its slot goes to a new thread, and it is left to
finish in the background as a daemon. Use ``--executor process`` where that is not acceptable.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from framework0.context import CancelToken, ChangeSource, Context, ContextState
from framework0.engine.attempt import (
    NODE,
    AttemptOutcome,
    AttemptTask,
    error_info,
    execute_attempt,
    run_in_this_thread,
)
from framework0.engine.capture import OutputCapture
from framework0.engine.executors.base import Executor, Notify, cpu_slots
from framework0.engine.interrupt import interrupt, settle
from framework0.engine.monitor import ResourceMonitor
from framework0.errors import StepCancelled
from framework0.events.types import LogLines


class _Worker:
    __slots__ = ("thread", "current", "cancelled", "abandoned")

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.current: int | None = None
        self.cancelled: CancelToken | None = None
        self.abandoned = False


class LocalExecutor(Executor):
    """Threads in this process, fed from one FIFO queue; the context state is shared directly."""

    name = "local"
    shares_context = True
    queue_depth = 256
    can_run_here = True

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[AttemptTask | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._by_key: dict[int, _Worker] = {}
        self._withdrawn: set[int] = set()
        self._holds = 0  # failures reported and not yet handled by the runner
        self._open = threading.Event()
        self._open.set()
        self._monitor = ResourceMonitor()
        self._context: ContextState | None = None
        self._notify: Notify | None = None
        self._capture: OutputCapture | None = None
        self._capture_here: OutputCapture | None = None  # for run_here

    def start(
        self,
        *,
        workers: int | None,
        context: ContextState,
        notify: Notify,
        log_here: Callable[[LogLines], None] | None = None,
    ) -> int:
        self._context, self._notify = context, notify
        self._capture = OutputCapture.notifying(notify)
        self._capture_here = OutputCapture.notifying(log_here) if log_here is not None else self._capture
        self._capture.install()
        self._monitor.start()
        slots = cpu_slots(workers)
        for _ in range(slots):
            self._spawn()
        return slots

    def _spawn(self) -> None:
        worker = _Worker()
        worker.thread = threading.Thread(target=self._work, args=(worker,), name="f0-worker", daemon=True)
        self._workers.append(worker)
        worker.thread.start()

    def submit(self, task: AttemptTask) -> None:
        self._tasks.put(task)

    def run_here(self, task: AttemptTask) -> None:
        assert self._context is not None and self._notify is not None
        run_in_this_thread(task, self._context, self._monitor, self._notify, self._capture_here)

    def _work(self, worker: _Worker) -> None:
        assert self._context is not None and self._notify is not None
        state, notify, monitor, tasks, lock = self._context, self._notify, self._monitor, self._tasks, self._lock
        capture = self._capture
        while not worker.abandoned:
            if self._holds:
                self._open.wait()
            task = tasks.get()
            if task is None:
                return
            while self._holds and not worker.abandoned:  # a failure came in while this worker waited
                self._open.wait()
            cancelled = CancelToken()
            with lock:
                if task.key in self._withdrawn:
                    self._withdrawn.discard(task.key)
                    withdrawn = True
                else:
                    withdrawn = False
                    worker.current, worker.cancelled = task.key, cancelled
                    self._by_key[task.key] = worker
            if withdrawn:
                notify(AttemptOutcome(task.key, ok=False, started=False))
                continue
            try:
                notify((task.key, time.time()))
                context = Context(state, ChangeSource(NODE, task.step, task.attempt, task.item), cancelled=cancelled)
                outcome = execute_attempt(task, context, monitor, capture=capture)
            except StepCancelled as error:  # landed outside the attempt's own handlers
                info, types = error_info(error)
                outcome = AttemptOutcome(task.key, ok=False, error=info, error_types=types)
            self._finish(worker, task.key)
            if not worker.abandoned:
                if not outcome.ok:
                    self._hold()
                notify(outcome)

    def _finish(self, worker: _Worker, key: int) -> None:
        # A StepCancelled aimed at this attempt may still be pending; once ``current`` is cleared
        # under the lock no new one can be aimed, and the pending one is withdrawn.
        while True:
            try:
                with self._lock:
                    worker.current = None
                    self._by_key.pop(key, None)
                    if worker.thread is not None and worker.thread.ident is not None:
                        settle(worker.thread.ident)
                return
            except StepCancelled:
                continue

    def _hold(self) -> None:
        with self._lock:
            self._holds += 1
            self._open.clear()

    def resume(self) -> None:
        with self._lock:
            self._holds = max(0, self._holds - 1)
            if not self._holds:
                self._open.set()

    def withdraw(self, key: int) -> None:
        with self._lock:
            if key not in self._by_key:
                self._withdrawn.add(key)  # still queued: the worker that takes it skips it

    def cancel(self, key: int) -> None:
        with self._lock:
            worker = self._by_key.get(key)
            if worker is None or worker.current != key or worker.thread is None:
                return
            if worker.cancelled is not None:
                worker.cancelled.set()
            if worker.thread.ident is not None:
                interrupt(worker.thread.ident)

    def abandon(self, key: int) -> None:
        with self._lock:
            worker = self._by_key.pop(key, None)
            if worker is None:
                return
            worker.abandoned = True
            self._workers.remove(worker)
        self._spawn()

    def shutdown(self) -> None:
        with self._lock:  # a worker held by a failure the run never handled must still see its sentinel
            self._holds = 0
            self._open.set()
        for _ in self._workers:
            self._tasks.put(None)
        for worker in list(self._workers):
            if worker.thread is not None and worker.current is None:
                worker.thread.join(timeout=1)
        self._monitor.stop()
        if self._capture is not None:
            self._capture.uninstall()
            self._capture = self._capture_here = None
