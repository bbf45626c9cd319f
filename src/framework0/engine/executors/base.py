"""The Executor interface: where attempts run. The runner decides what runs; executors only run it.

An executor receives ``AttemptTask`` values and runs each through ``execute_attempt`` wherever it
likes (a thread, a process, a cluster). It reports through one callback, ``notify``, from any
thread: ``(key, started_at)`` when an attempt starts, then its ``AttemptOutcome``; and, in between,
the ``LogLines`` the attempt writes (``framework0.engine.capture``). An executor that
runs attempts away from the run's context state gives each a snapshot as it starts and applies
the attempt's writes to the state itself, before it reports the outcome.

At most ``workers`` attempts run at once (without a number, as many as the executor has room for:
the CPUs here, or a cluster's worker threads; ``start`` says how many). An executor with
``queue_depth > 0`` accepts that many tasks beyond its free workers and starts them in order as
workers free up, so that its workers go from one task to the next without waiting for the
scheduler. Two rules keep that invisible: a queued task withdrawn before it starts is reported by
an outcome with ``started=False`` and no start notice; and after an attempt fails, no queued task
starts until the runner, having decided what the failure means (retry, go on, or stop and
withdraw), calls ``resume()`` for it. (An executor whose queue lives in another scheduler, Dask's,
holds what it still has, but what it already handed over may start meanwhile; the runner then gets
its start notice and treats it as a task that started before its withdrawal arrived.)
``QueuedExecutor`` keeps these rules once; an executor built on it only claims a free worker,
launches a task on it, and cancels or abandons what runs there.

An attempt whose worker was lost (its process died, its machine went away) is reported failed with
a ``WorkerLost`` error; the runner tries it again on another worker, counted as a new attempt,
whatever the step's retry policy says.
"""

from __future__ import annotations

import abc
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from framework0.config import DEFAULT_MAX_LOG_BYTES
from framework0.context import ContextState
from framework0.engine.attempt import AttemptOutcome, AttemptTask, error_info
from framework0.errors import ExecutorError
from framework0.events.types import LogLines

W = TypeVar("W")

AttemptStart = tuple[int, float]
"""``(key, started_at)``: the attempt ``key`` started at that time (epoch seconds)."""

Notify = Callable[[AttemptStart | AttemptOutcome | LogLines], None]


def cpu_slots(workers: int | None) -> int:
    """``workers``, or one per CPU of this machine: the size of a pool in this machine."""
    return max(1, workers or os.cpu_count() or 1)


class Executor(abc.ABC):
    """Runs attempts; one instance serves one run at a time."""

    #: the name ``--executor`` knows it by
    name: str = ""
    #: how many tasks the runner may submit beyond ``workers`` (they wait, in order, for a worker)
    queue_depth: int = 0
    #: whether ``run_here`` may be used: the runner calls it when exactly one attempt can run and
    #: nothing else is running or waiting, so handing it to another thread would only add latency
    can_run_here: bool = False
    #: whether ``submit`` runs the task in the calling (the scheduler's) thread before it returns
    runs_in_caller: bool = False

    @abc.abstractmethod
    def start(
        self,
        *,
        workers: int | None,
        context: ContextState,
        notify: Notify,
        log_here: Callable[[LogLines], None] | None = None,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
    ) -> int:
        """Prepare ``workers`` slots (None: as many as the executor has room for) and return how many
        attempts can run at once; reports go to ``notify``; in-process tasks use ``context``.

        ``log_here`` takes the log lines of attempts run in the scheduler's own thread (``run_here``,
        or every attempt of the inline executor) as they are written, in the thread writing them
        (the scheduler's, or one the step started, such as ``shell``'s pipe readers): the
        scheduler cannot take them from ``notify`` until the attempt ends. Default: ``notify``.
        ``max_log_bytes`` caps what one attempt may log (``Config.max_log_bytes``)."""

    @abc.abstractmethod
    def submit(self, task: AttemptTask) -> None:
        """Run ``task`` as soon as a worker is free; report its start, then its outcome, once each."""

    def run_here(self, task: AttemptTask) -> None:
        """Run ``task`` in the calling thread, reporting its start and outcome before returning."""
        raise ExecutorError(f"the {self.name} executor cannot run attempts in the scheduler's thread")

    @abc.abstractmethod
    def cancel(self, key: int) -> None:
        """Stop running attempt ``key``: it should end soon with a StepCancelled error after its
        teardown. Does nothing if the attempt already ended."""

    @abc.abstractmethod
    def resume(self) -> None:
        """The runner has handled one failed outcome; queued tasks may start again once every
        failure reported so far has been handled. (Executors without a queue need not hold.)"""

    @abc.abstractmethod
    def withdraw(self, key: int) -> None:
        """Drop attempt ``key`` if it has not started (reported by an outcome with ``started=False``);
        an attempt that has started goes on."""

    @abc.abstractmethod
    def abandon(self, key: int) -> None:
        """Give up on attempt ``key`` that did not stop when asked: free its slot by the executor's
        strongest means (kill a process, replace a thread). Its outcome, if any, is not delivered."""

    @abc.abstractmethod
    def shutdown(self) -> None:
        """Release workers; attempts still running are abandoned."""


class QueuedExecutor(Executor, Generic[W]):
    """The queue policy, once: what waits for a worker, the hold after a failure, withdrawals.

    A subclass says what a worker ``W`` is and how to use one: ``_start_workers`` and
    ``_stop_workers``; ``_claim`` (under ``_lock``: a free worker for a task, or None); ``_launch``
    (hand the task to that worker); ``_cancel_running`` and ``_abandon_running``. When an attempt
    ends it calls ``_ended`` then ``_report`` with its outcome (or ``_ended_then_next``, to run the
    next waiting task on the same worker), or ``_lost`` if it failed for the executor's reasons;
    ``_release`` (under ``_lock``) gives a worker back as its attempt ends; ``_break`` fails every
    waiting and later task when no worker can ever run one.

    The base keeps the tasks that wait for a worker, in order (``queue_depth`` of them beyond the
    free workers), and those handed to a worker (``_launched``) until their outcome. A withdrawn
    task still waiting is dropped here; one already handed over goes to ``_withdraw_launched``. A
    failed outcome holds the queue until the runner's ``resume()`` for it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: deque[AttemptTask] = deque()
        self._launched: dict[int, W] = {}  # handed to a worker, no outcome reported yet
        self._holds = 0  # failures reported and not yet handled by the runner
        self._broken: ExecutorError | None = None  # nothing can run: every task fails with this
        self._context: ContextState
        self._notify: Notify
        self._max_log = DEFAULT_MAX_LOG_BYTES  # what one attempt may log; set by start()

    # -- what the runner calls ---------------------------------------------------------------------

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
        self._max_log = max_log_bytes
        with self._lock:
            self._pending.clear()
            self._launched.clear()
            self._holds, self._broken = 0, None
        return self._start_workers(workers, log_here)

    def submit(self, task: AttemptTask) -> None:
        worker: W | None = None
        with self._lock:
            broken = self._broken
            if broken is not None:
                self._holds += 1
            elif self._pending or self._holds or (worker := self._claim(task)) is None:
                self._pending.append(task)  # started by whoever frees a worker or resumes the queue
            else:
                self._launched[task.key] = worker
        if worker is not None:
            self._launch(task, worker)
        elif broken is not None:
            self._tell_failed(task.key, broken)

    def resume(self) -> None:
        with self._lock:
            self._holds = max(0, self._holds - 1)
        self._dispatch()

    def withdraw(self, key: int) -> None:
        with self._lock:
            waiting = next((task for task in self._pending if task.key == key), None)
            if waiting is not None:
                self._pending.remove(waiting)
            worker = self._launched.get(key)
        if waiting is not None:
            self._notify(AttemptOutcome(key, ok=False, started=False))
        elif worker is not None:
            self._withdraw_launched(key, worker)

    def cancel(self, key: int) -> None:
        with self._lock:
            worker = self._launched.get(key)
        if worker is not None:
            self._cancel_running(key, worker)

    def abandon(self, key: int) -> None:
        with self._lock:
            worker = self._launched.pop(key, None)
        if worker is not None:
            self._abandon_running(key, worker)
            self._dispatch()

    def shutdown(self) -> None:
        with self._lock:
            self._pending.clear()
            self._holds = 0
        self._stop_workers()
        with self._lock:
            self._launched.clear()

    # -- for subclasses ----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Hand waiting tasks to free workers, in order, unless a failure holds the queue. Call it
        after freeing a worker or lifting a hold (a task that arrives then starts at once)."""
        if not self._pending:  # read without the lock: whoever adds a task after this sees the worker
            return
        launches: list[tuple[AttemptTask, W]] = []
        with self._lock:
            while self._pending and not self._holds:
                worker = self._claim(self._pending[0])
                if worker is None:
                    break
                task = self._pending.popleft()
                self._launched[task.key] = worker
                launches.append((task, worker))
        for task, worker in launches:
            self._launch(task, worker)

    def _ended(self, outcome: AttemptOutcome) -> W | None:
        """Attempt ``outcome.key`` ended: its worker (given back), or None if it was given up on
        (its outcome is not to be reported). A failure holds the queue from now on."""
        with self._lock:
            worker = self._launched.pop(outcome.key, None)
            if worker is not None:
                self._release(worker)
                if not outcome.ok and outcome.started:
                    self._holds += 1
        return worker

    def _ended_then_next(self, outcome: AttemptOutcome) -> tuple[bool, AttemptTask | None]:
        """``_ended`` for a worker that goes on by itself: whether to report the outcome, and the next
        waiting task, now this worker's (``_assign``), or None with the worker given back. The
        worker reports the outcome, then runs that task: no hand-over through ``_launch``."""
        with self._lock:
            worker = self._launched.pop(outcome.key, None)
            if worker is None:
                return False, None
            if not outcome.ok and outcome.started:
                self._holds += 1
            elif self._pending:
                task = self._pending.popleft()
                self._launched[task.key] = worker
                self._assign(task, worker)
                return True, task
            self._release(worker)
        return True, None

    def _report(self, outcome: AttemptOutcome) -> None:
        """Report the outcome of an attempt ``_ended`` returned a worker for; start what may start."""
        self._notify(outcome)
        self._dispatch()

    def _lost(self, key: int, error: ExecutorError) -> W | None:
        """Attempt ``key``, handed to a worker, failed by ``error``, not by the step: its worker
        (given back), or None if it was given up on or withdrawn (reported already)."""
        with self._lock:
            worker = self._launched.pop(key, None)
            if worker is None:
                return None
            self._release(worker)
            self._holds += 1
        self._tell_failed(key, error)
        self._dispatch()
        return worker

    def _tell_failed(self, key: int, error: ExecutorError) -> None:
        """Report attempt ``key`` started (the runner ignores a second notice) and failed by ``error``;
        the caller has counted the hold."""
        self._notify((key, time.time()))
        info, types = error_info(error)
        self._notify(AttemptOutcome(key, ok=False, error=info, error_types=types))

    def _break(self, error: ExecutorError) -> None:
        """Nothing can run any more: fail every waiting task, and every one submitted from now on."""
        with self._lock:
            self._broken = error
            waiting = list(self._pending)
            self._pending.clear()
            self._holds += len(waiting)
        for task in waiting:
            self._tell_failed(task.key, error)

    @abc.abstractmethod
    def _start_workers(self, workers: int | None, log_here: Callable[[LogLines], None] | None) -> int:
        """Start the workers (``start``'s ``workers``); how many attempts can run at once."""

    @abc.abstractmethod
    def _stop_workers(self) -> None:
        """Stop the workers; attempts still running are abandoned."""

    @abc.abstractmethod
    def _claim(self, task: AttemptTask) -> W | None:
        """Under ``_lock``: take a free worker for ``task``, or None if none is free."""

    @abc.abstractmethod
    def _launch(self, task: AttemptTask, worker: W) -> None:
        """Run ``task`` on ``worker`` (claimed for it); report its start when it starts."""

    def _assign(self, task: AttemptTask, worker: W) -> None:
        """Under ``_lock``: ``worker`` takes ``task`` in ``_ended_then_next`` (note what ``_claim`` notes)."""

    def _release(self, worker: W) -> None:
        """Under ``_lock``: ``worker``'s attempt ended; it is free again (if it is still alive)."""

    @abc.abstractmethod
    def _cancel_running(self, key: int, worker: W) -> None:
        """Ask attempt ``key`` on ``worker`` to stop (``cancel``)."""

    @abc.abstractmethod
    def _abandon_running(self, key: int, worker: W) -> None:
        """Free ``worker`` from attempt ``key`` by the strongest means (``abandon``)."""

    def _withdraw_launched(self, key: int, worker: W) -> None:
        """Attempt ``key`` was handed to ``worker`` and may not have started: it goes on (the
        default), or, if it never starts, is reported by ``_ended`` and ``_report`` with
        ``started=False``."""
