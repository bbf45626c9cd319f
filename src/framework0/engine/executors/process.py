"""The process executor: attempts run in a pool of worker processes started with ``spawn``.

Each worker gets the context as the attempt starts (``framework0.context.relay``); its atomic
changes (increments, set additions, compare-and-set) go to the parent over its pipe and are made
there, on the run's state, while the step waits for the answer; its plain writes come back with
the next atomic change or the outcome. (When the run's context lives on a context server, the
worker reads and writes it there directly.)
What an attempt prints or logs is captured in the worker and sent to the parent as it is written
(batched, every 50 ms at most, and always before the outcome); the parent shows the printed lines
on its own stdout and stderr, so a run's output goes where the runner's goes.
Stopping: the worker is asked first (the attempt's cancel event is set and ``StepCancelled`` is
raised in it, so teardown runs); if it does not stop within the grace period its whole process
group is killed (on Windows the process itself) and a fresh worker takes its slot. A worker that
dies (a crash, ``os._exit``, the OOM killer) fails the attempt it was running with ``WorkerLost``,
and a fresh worker takes its slot (the runner tries the attempt again).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from framework0.context import CancelToken
from framework0.context.relay import Answer, Answers, ContextView, Relayed, answer, apply_batches
from framework0.engine.attempt import AttemptOutcome, AttemptTask, error_info, run_detached
from framework0.engine.capture import OutputCapture, show_lines
from framework0.engine.executors.base import QueuedExecutor, cpu_slots
from framework0.engine.interrupt import interrupt, settle
from framework0.engine.monitor import ResourceMonitor
from framework0.errors import ContextError, ExecutorError, StepCancelled, WorkerLost
from framework0.events.types import LogLines

_LINES_EVERY = 0.05  # how long a worker gathers log lines before sending them
_CATCH_UP_S = 10.0  # how long the runner waits to see a worker's writes to the context server


class _Sender:
    """A worker's side of the pipe: messages from any thread, log lines batched by a thread of its
    own (never the attempt's, so a cancel raised in the attempt cannot tear a message in half)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._lines: queue.SimpleQueue[tuple[LogLines, bool]] = queue.SimpleQueue()
        self._wake = threading.Event()
        threading.Thread(target=self._send_lines, name="f0-log-sender", daemon=True).start()

    def send(self, message: tuple[str, Any]) -> None:
        with self._lock:
            self._conn.send(message)

    def add(self, lines: LogLines, echo: bool) -> None:
        self._lines.put((lines, echo))
        self._wake.set()

    def flush(self) -> None:
        """Send the lines gathered so far (the attempt's outcome must come after them)."""
        with self._lock:
            batch = []
            while True:
                try:
                    batch.append(self._lines.get_nowait())
                except queue.Empty:
                    break
            if batch:
                with contextlib.suppress(OSError):  # the parent is gone: nobody to tell
                    self._conn.send(("lines", batch))

    def _send_lines(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(_LINES_EVERY)
            self._wake.clear()
            self.flush()


def _worker_main(conn: Connection, max_log: int) -> None:
    """The body of a worker process: run tasks one at a time, listen for cancel requests meanwhile."""
    if hasattr(os, "setsid"):
        os.setsid()  # its own process group, so that a kill reaches the processes a step started
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides what Ctrl-C stops
    main = threading.get_ident()
    monitor = ResourceMonitor()
    monitor.start()
    tasks: queue.SimpleQueue[AttemptTask | None] = queue.SimpleQueue()
    lock = threading.Lock()
    running: dict[str, Any] = {"key": None, "event": None}
    early: set[int] = set()

    answers = Answers()

    def listen() -> None:
        while True:
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                # The runner is gone without saying "stop" (a crash, kill -9): end now, with what
                # this worker started, rather than finish an attempt nobody will record (a shell
                # step's command dies with this process: its lifeline).
                answers.close("the runner went away")
                if hasattr(os, "killpg") and os.getpgid(0) == os.getpid():
                    os.killpg(0, signal.SIGKILL)  # this worker's group: itself and what its steps started
                os._exit(1)
            if kind == "answer":
                answers.deliver(*payload)
            elif kind == "task":
                tasks.put(payload)
            elif kind == "cancel":
                with lock:
                    if running["key"] == payload:
                        running["event"].set()
                        interrupt(main)
                    else:
                        early.add(payload)  # arrived before its task started
            else:
                answers.close("the runner stopped this worker")
                tasks.put(None)
                return

    def relay(relayed: Relayed) -> Callable[[], Answer]:
        ticket, wait = answers.open()
        sender.send(("relay", (ticket, relayed)))
        return wait

    threading.Thread(target=listen, name="f0-listen", daemon=True).start()
    sender = _Sender(conn)
    capture = OutputCapture(sender.add, echo=False, limit=max_log)
    capture.install()
    sender.send(("ready", None))  # booted: from now on a task starts as soon as it arrives
    while True:
        task = tasks.get()
        if task is None:
            break
        event = CancelToken()
        with lock:
            running["key"], running["event"] = task.key, event
            cancelled_early = task.key in early
            early.discard(task.key)
        try:
            if cancelled_early:
                raise StepCancelled("cancelled")
            outcome = run_detached(task, monitor, event, capture, relay=relay)
        except StepCancelled as error:
            info, types = error_info(error)
            outcome = AttemptOutcome(task.key, ok=False, error=info, error_types=types)
        while True:
            try:
                with lock:
                    running["key"] = None
                    settle(main)
                break
            except StepCancelled:
                continue
        sender.flush()
        sender.send(("outcome", outcome))
    monitor.stop()


_MAX_BOOT_FAILURES = 3


class _Slot:
    __slots__ = ("process", "conn", "current", "retired", "ready", "sending")

    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.ready = False
        self.current: int | None = None
        self.retired = False
        self.sending = threading.Lock()  # tasks, cancels and answers go from several threads

    def send(self, message: tuple[str, Any]) -> None:
        with self.sending:
            self.conn.send(message)


class ProcessExecutor(QueuedExecutor[_Slot]):
    """Worker processes, ``spawn``-started on every platform; the context travels by value."""

    name = "process"
    queue_depth = 64

    def __init__(self) -> None:
        super().__init__()
        self._mp = multiprocessing.get_context("spawn")
        self._idle: deque[_Slot] = deque()
        self._slots: list[_Slot] = []
        self._boot_failures = 0
        self._closing = False

    def _start_workers(self, workers: int | None, log_here: Callable[[LogLines], None] | None) -> int:
        self._closing = False
        self._slots, self._boot_failures = [], 0
        self._idle.clear()
        slots = cpu_slots(workers)
        for _ in range(slots):
            self._spawn()
        return slots

    def _spawn(self) -> None:
        parent, child = self._mp.Pipe()
        process = self._mp.Process(target=_worker_main, args=(child, self._max_log), name="f0-worker", daemon=True)
        process.start()
        child.close()
        slot = _Slot(process, parent)
        with self._lock:
            self._slots.append(slot)
        threading.Thread(target=self._read, args=(slot,), name="f0-reader", daemon=True).start()

    def _claim(self, task: AttemptTask) -> _Slot | None:
        if not self._idle:
            return None
        slot = self._idle.popleft()
        slot.current = task.key
        return slot

    def _launch(self, task: AttemptTask, slot: _Slot) -> None:
        task.shared_at = self._context.shared_at()  # on a context server: the worker writes there
        if task.shared_at is None:
            task.context_view = ContextView.of(self._context)  # the context as the attempt starts
        self._notify((task.key, time.time()))  # before the outcome can possibly arrive
        try:
            slot.send(("task", task))
        except Exception as error:  # an arg that cannot be pickled, or a dead pipe
            self._lost(task.key, ExecutorError(f"cannot send step {task.step!r} to a worker: {error}"))

    def _release(self, slot: _Slot) -> None:
        slot.current = None
        if not slot.retired:
            self._idle.append(slot)

    def _read(self, slot: _Slot) -> None:
        while True:
            try:
                kind, payload = slot.conn.recv()
            except (EOFError, OSError):
                break
            except TypeError:
                # stop() closed the connection while this read was under way (multiprocessing then
                # reads from a handle of None): the worker is gone and its end is stop()'s to handle
                if slot.conn.closed:
                    break
                raise
            if kind == "lines":  # what an attempt wrote, before its outcome
                for lines, echo in payload:
                    if echo:
                        show_lines(lines)
                    self._notify(lines)
            elif kind == "relay":  # an atomic context change: made here, on the run's state, and answered
                self._answer(slot, *payload)
            elif kind == "ready":  # a worker takes tasks once it has booted, so timeouts exclude its start-up
                with self._lock:
                    slot.ready = True
                    self._boot_failures = 0
                    if not slot.retired:
                        self._idle.append(slot)
                self._dispatch()
            else:
                self._outcome(payload)
        slot.process.join(timeout=5)
        with self._lock:
            key, retired = slot.current, slot.retired
            slot.retired = True
            if slot in self._idle:
                self._idle.remove(slot)
        if retired or self._closing:
            return
        if key is not None:
            self._lost(
                key, WorkerLost(f"the worker process died (exit code {slot.process.exitcode}) during the attempt")
            )
        if not slot.ready:
            self._boot_failures += 1
            if self._boot_failures >= _MAX_BOOT_FAILURES:
                self._break(
                    ExecutorError(
                        f"worker processes exit before they are ready (exit code {slot.process.exitcode}); a script "
                        "that calls framework0.run with the process executor needs an `if __name__ == '__main__':` "
                        "guard"
                    )
                )
                return
        self._spawn()

    def _outcome(self, outcome: AttemptOutcome) -> None:
        if self._ended(outcome) is None:
            return  # given up on: what it did is not the run's
        if outcome.context_operations:
            # Applied here, before the next task's view is taken, rather than by the runner.
            apply_batches(self._context, outcome.context_operations)
            outcome.context_operations = None
        elif outcome.context_version is not None:
            self._context.catch_up(outcome.context_version, _CATCH_UP_S)  # the next step sees its writes
        self._report(outcome)

    def _answer(self, slot: _Slot, ticket: int, relayed: Relayed) -> None:
        if slot.current is None:  # given up on: what it writes now is not the run's
            reply = Answer(error=(ContextError, "the runner no longer waits for this attempt"))
        else:
            try:
                reply = answer(self._context, relayed)
            except Exception as error:  # never leave the step waiting
                reply = Answer(error=(ContextError, f"the runner could not apply the change: {error}"))
        with contextlib.suppress(OSError):  # the worker died meanwhile: its reader sees that
            slot.send(("answer", (ticket, reply)))

    def _cancel_running(self, key: int, slot: _Slot) -> None:
        with contextlib.suppress(OSError):
            slot.send(("cancel", key))

    def _abandon_running(self, key: int, slot: _Slot) -> None:
        with self._lock:
            slot.retired = True
            slot.current = None
        _kill(slot.process)
        if not self._closing:
            self._spawn()

    def _stop_workers(self) -> None:
        self._closing = True
        with self._lock:
            slots = list(self._slots)
        for slot in slots:
            with contextlib.suppress(OSError):
                slot.send(("stop", None))
        for slot in slots:
            slot.process.join(timeout=2)
            if slot.process.is_alive():
                _kill(slot.process)
            slot.conn.close()


def _kill(process: Any) -> None:
    """Kill a worker and, on POSIX, every process in its group (what its step started)."""
    pid = process.pid
    if pid is None:
        return
    if hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        process.kill()
    process.join(timeout=5)
