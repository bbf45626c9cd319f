"""The Executor interface: where attempts run. The runner decides what runs; executors only run it.

An executor receives ``AttemptTask`` values, runs each through ``execute_attempt`` wherever it
likes (a thread, a process, a cluster) and hands every ``AttemptOutcome`` to ``deliver``, from any
thread. The runner never submits more tasks than ``max_parallel``, so an executor need not queue.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from framework0.context import ContextState
from framework0.engine.attempt import AttemptOutcome, AttemptTask

Deliver = Callable[[AttemptOutcome], None]


class Executor(abc.ABC):
    """Runs attempts; one instance serves one run at a time."""

    #: the name ``--executor`` knows it by
    name: str = ""
    #: whether tasks run in this process and share the runner's context state directly
    shares_context: bool = True
    #: whether ``run_here`` may be used: the runner calls it when exactly one attempt can run and
    #: nothing else is running or waiting, so handing it to another thread would only add latency
    can_run_here: bool = False

    @abc.abstractmethod
    def start(self, *, workers: int, context: ContextState, deliver: Deliver) -> None:
        """Prepare ``workers`` slots; outcomes go to ``deliver``; in-process tasks use ``context``."""

    @abc.abstractmethod
    def submit(self, task: AttemptTask) -> None:
        """Start running ``task`` now; its outcome is delivered exactly once unless abandoned."""

    def run_here(self, task: AttemptTask) -> None:
        """Run ``task`` in the calling thread and deliver its outcome before returning."""
        raise NotImplementedError(f"the {self.name} executor cannot run attempts in the scheduler's thread")

    @abc.abstractmethod
    def cancel(self, key: int) -> None:
        """Ask the running attempt ``key`` to stop: it should end soon with a StepCancelled error,
        running its teardown. Does nothing if the attempt already ended."""

    @abc.abstractmethod
    def abandon(self, key: int) -> None:
        """Give up on attempt ``key`` that did not stop when asked: free its slot by the executor's
        strongest means (kill a process, replace a thread). Its outcome, if any, is not delivered."""

    @abc.abstractmethod
    def shutdown(self) -> None:
        """Release workers; attempts still running are abandoned."""
