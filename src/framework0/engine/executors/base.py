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

An attempt whose worker was lost (its process died, its machine went away) is reported failed with
a ``WorkerLost`` error; the runner tries it again on another worker, counted as a new attempt,
whatever the step's retry policy says.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable

from framework0.context import ContextState
from framework0.engine.attempt import AttemptOutcome, AttemptTask
from framework0.errors import ExecutorError
from framework0.events.types import LogLines

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
    #: whether tasks run in this process and share the runner's context state directly
    shares_context: bool = True
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
    ) -> int:
        """Prepare ``workers`` slots (None: as many as the executor has room for) and return how many
        attempts can run at once; reports go to ``notify``; in-process tasks use ``context``.

        ``log_here`` takes the log lines of attempts run in the scheduler's own thread (``run_here``,
        or every attempt of the inline executor) as they are written, in the thread writing them
        (the scheduler's, or one the step started, such as ``shell``'s pipe readers): the
        scheduler cannot take them from ``notify`` until the attempt ends. Default: ``notify``."""

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
