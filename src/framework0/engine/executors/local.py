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

from framework0.context import CancelToken, ChangeSource, Context
from framework0.engine.attempt import (
    NODE,
    AttemptOutcome,
    AttemptTask,
    error_info,
    execute_attempt,
    run_in_this_thread,
)
from framework0.engine.capture import OutputCapture
from framework0.engine.executors.base import QueuedExecutor, cpu_slots
from framework0.engine.interrupt import interrupt, settle
from framework0.engine.monitor import ResourceMonitor
from framework0.errors import StepCancelled
from framework0.events.types import LogLines


class _Worker:
    __slots__ = ("thread", "tasks", "current", "cancelled")

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.tasks: queue.SimpleQueue[AttemptTask | None] = queue.SimpleQueue()  # one at a time
        self.current: int | None = None
        self.cancelled: CancelToken | None = None


class LocalExecutor(QueuedExecutor[_Worker]):
    """Threads in this process, each given one task at a time; the context state is shared directly."""

    name = "local"
    queue_depth = 256
    can_run_here = True

    def __init__(self) -> None:
        super().__init__()
        self._workers: list[_Worker] = []
        self._idle: list[_Worker] = []
        self._monitor = ResourceMonitor()
        self._capture: OutputCapture | None = None
        self._capture_here: OutputCapture | None = None  # for run_here

    def _start_workers(self, workers: int | None, log_here: Callable[[LogLines], None] | None) -> int:
        self._capture = OutputCapture.notifying(self._notify, limit=self._max_log)
        self._capture_here = (
            OutputCapture.notifying(log_here, limit=self._max_log) if log_here is not None else self._capture
        )
        self._capture.install()
        self._monitor.start()
        slots = cpu_slots(workers)
        for _ in range(slots):
            self._spawn()
        return slots

    def _spawn(self) -> None:
        worker = _Worker()
        worker.thread = threading.Thread(target=self._work, args=(worker,), name="f0-worker", daemon=True)
        with self._lock:
            self._workers.append(worker)
            self._idle.append(worker)
        worker.thread.start()

    def run_here(self, task: AttemptTask) -> None:
        run_in_this_thread(task, self._context, self._monitor, self._notify, self._capture_here)

    def _claim(self, task: AttemptTask) -> _Worker | None:
        if not self._idle:
            return None
        worker = self._idle.pop()
        self._assign(task, worker)
        return worker

    def _assign(self, task: AttemptTask, worker: _Worker) -> None:
        # Set under the lock, as ``_cancel_running`` reads them, and before the thread runs the task.
        worker.current, worker.cancelled = task.key, CancelToken()

    def _launch(self, task: AttemptTask, worker: _Worker) -> None:
        worker.tasks.put(task)

    def _release(self, worker: _Worker) -> None:
        self._idle.append(worker)

    def _work(self, worker: _Worker) -> None:
        state, notify, monitor, capture = self._context, self._notify, self._monitor, self._capture
        task = worker.tasks.get()
        while task is not None:
            try:
                notify((task.key, time.time()))
                context = Context(
                    state, ChangeSource(NODE, task.step, task.attempt, task.item), cancelled=worker.cancelled
                )
                outcome = execute_attempt(task, context, monitor, capture=capture)
            except StepCancelled as error:  # landed outside the attempt's own handlers
                info, types = error_info(error)
                outcome = AttemptOutcome(task.key, ok=False, error=info, error_types=types)
            self._settle(worker)
            reported, task = self._ended_then_next(outcome)
            if not reported:
                return  # abandoned: its slot went to a new thread
            notify(outcome)
            if task is None:  # free again (or held by this failure until the runner resumes)
                task = worker.tasks.get()

    def _settle(self, worker: _Worker) -> None:
        # A StepCancelled aimed at this attempt may still be pending; once ``current`` is cleared
        # under the lock no new one can be aimed, and the pending one is withdrawn.
        while True:
            try:
                with self._lock:
                    worker.current = None
                    if worker.thread is not None and worker.thread.ident is not None:
                        settle(worker.thread.ident)
                return
            except StepCancelled:
                continue

    def _cancel_running(self, key: int, worker: _Worker) -> None:
        with self._lock:
            if worker.current != key or worker.thread is None:
                return
            if worker.cancelled is not None:
                worker.cancelled.set()
            if worker.thread.ident is not None and worker.tasks.empty():  # its thread took the task
                interrupt(worker.thread.ident)

    def _abandon_running(self, key: int, worker: _Worker) -> None:
        with self._lock:
            self._workers.remove(worker)  # its thread ends when its attempt does, if ever
        self._spawn()

    def _stop_workers(self) -> None:
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.tasks.put(None)
        for worker in workers:
            if worker.thread is not None and worker.current is None:
                worker.thread.join(timeout=1)
        with self._lock:
            self._workers.clear()
            self._idle.clear()
        self._monitor.stop()
        if self._capture is not None:
            self._capture.uninstall()
            self._capture = self._capture_here = None
