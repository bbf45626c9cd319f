"""What runs inside a Dask worker process for the dask executor: attempts, and the runner's requests.

An attempt tells its runner what happens through Dask's structured events (``log_event`` on the
run's topic, forwarded by the scheduler to the runner's client, in order per worker): its start
(``s``), what it prints (``l``, batched every 50 ms), the atomic context changes it asks the
runner to make (``r``, waited for: the runner answers through ``deliver``) and its outcome (``o``,
after its last lines). The Dask task itself returns nothing, so a result never has to be fetched.
Requests come back through ``Client.run``: answers to ``r`` (``deliver``), stop an attempt
(``cancel``), stop all of a run's attempts (``cancel_all``), kill this worker and what its steps
started (``abandon``), and whether a scriptlet can be imported here (``can_import``). This module
imports Dask only inside functions that run on a worker, so the package needs no Dask to be
imported.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from framework0.context import CancelToken
from framework0.context.relay import Answer, Answers, Relayed
from framework0.engine.attempt import AttemptOutcome, AttemptTask, error_info, run_detached
from framework0.engine.capture import OutputCapture, install
from framework0.engine.interrupt import interrupt, settle, shield
from framework0.engine.monitor import ResourceMonitor
from framework0.errors import ExecutorError, StepCancelled
from framework0.events.types import LogLines
from framework0.scriptlets.base import BaseScriptlet
from framework0.scriptlets.registry import import_ref

_LINES_EVERY = 0.05  # how long printed lines are gathered before they are sent

_lock = threading.Lock()
_running: dict[tuple[str, int], tuple[int, CancelToken]] = {}  # (topic, key) -> (thread, cancel token)
_withdrawn: set[tuple[str, int]] = set()  # (topic, key) the runner withdrew before it started here
_started: set[tuple[str, int]] = set()  # (topic, key) that started here, running or over
_over: dict[str, None] = {}  # the topics of runs that ended, newest last: their tasks never start
_OVER_KEPT = 10_000
_shipped: dict[str, type[BaseScriptlet]] = {}  # scriptlets that came by value, by digest
_state: dict[str, Any] = {}  # this process's resource monitor and line sender, made on first use
#: a runner that went away answers no relayed context change: give up on it after this long
_ANSWER_TIMEOUT_S = 600.0
_answers = Answers(timeout=_ANSWER_TIMEOUT_S)  # the atomic context changes waiting for their runner


def dask_setup(worker: Any) -> None:
    """A Dask preload for the workers of a cluster the runner starts: Ctrl-C in the runner's
    terminal is the runner's to handle, so the workers leave its process group."""
    if hasattr(os, "setsid"):
        with contextlib.suppress(OSError):
            os.setsid()


class _Lines:
    """Sends the lines attempts print, per topic, batched by a thread of its own (never the
    attempt's, which a cancel may interrupt mid-send)."""

    def __init__(self, worker: Any) -> None:
        self._worker = worker
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[str, LogLines, bool]] = queue.SimpleQueue()
        self._wake = threading.Event()
        threading.Thread(target=self._loop, name="f0-dask-lines", daemon=True).start()

    def deliver(self, topic: str) -> Any:
        def add(lines: LogLines, echo: bool) -> None:
            self._queue.put((topic, lines, echo))
            self._wake.set()

        return add

    def flush(self) -> None:
        """Send every line gathered so far, before the outcome that follows them."""
        with self._lock:
            batches: dict[str, list[tuple[LogLines, bool]]] = {}
            while True:
                try:
                    topic, lines, echo = self._queue.get_nowait()
                except queue.Empty:
                    break
                batches.setdefault(topic, []).append((lines, echo))
            for topic, batch in batches.items():
                self._worker.log_event(topic, {"l": pickle.dumps(batch)})

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(_LINES_EVERY)
            self._wake.clear()
            self.flush()


def _worker_state(worker: Any) -> tuple[ResourceMonitor, _Lines]:
    with _lock:
        if not _state:
            monitor = ResourceMonitor()
            monitor.start()
            install()  # stdout/stderr proxies: text a task thread prints goes to its attempt's log
            _state.update(monitor=monitor, lines=_Lines(worker))
        return _state["monitor"], _state["lines"]


def _load(shipped: bytes) -> type[BaseScriptlet]:
    digest = hashlib.sha256(shipped).hexdigest()
    scriptlet = _shipped.get(digest)
    if scriptlet is None:
        import cloudpickle

        scriptlet = cloudpickle.loads(shipped)
        _shipped[digest] = scriptlet
    return scriptlet


def run_attempt(topic: str, task: AttemptTask, shipped: bytes | None, max_log: int) -> None:
    """The Dask task of one attempt: report its start, run it, report its lines and outcome."""
    from distributed import get_worker

    worker = get_worker()
    monitor, lines = _worker_state(worker)
    thread, cancelled = threading.get_ident(), CancelToken()
    with _lock:
        if (topic, task.key) in _withdrawn or topic in _over:
            _withdrawn.discard((topic, task.key))
            return  # the runner withdrew it and was told it never ran, or its run is over
        _running[(topic, task.key)] = (thread, cancelled)
        _started.add((topic, task.key))
    try:
        try:
            worker.log_event(topic, {"s": task.key, "t": time.time(), "w": worker.address, "p": os.getpid()})
            try:
                scriptlet = _load(shipped) if shipped is not None else None
            except Exception as error:  # the class came by value and cannot be rebuilt here
                raise ExecutorError(
                    f"step {task.step!r} was sent to the Dask worker by value, which cannot load it: "
                    f"{type(error).__name__}: {error}"
                ) from None
            capture = OutputCapture(lines.deliver(topic), echo=False, limit=max_log)
            folder = _RunFolder(task.workdir, cancelled)
            if folder.missing:
                note = (
                    f"this Dask worker ({worker.address}) has no folder {task.workdir} (the runner's): "
                    f"relative paths resolve in the worker's folder {os.getcwd()}; "
                    "share the folder with the workers or use absolute paths"
                )
                lines.deliver(topic)(
                    LogLines("", task.step, task.attempt, task.item, "framework", note, time.time()), True
                )

            def relay(relayed: Relayed) -> Callable[[], Answer]:
                ticket, wait = _answers.open()
                worker.log_event(topic, {"r": pickle.dumps((task.key, ticket, worker.address, relayed))})
                return wait

            with folder:
                outcome = run_detached(task, monitor, cancelled, capture, scriptlet, relay)
        except (StepCancelled, Exception) as error:  # whatever went wrong, the runner hears of it
            info, types = error_info(error)
            outcome = AttemptOutcome(task.key, ok=False, error=info, error_types=types)
    finally:
        while True:  # a cancel aimed at this attempt must land here, never in Dask's own code
            try:
                with _lock:
                    _running.pop((topic, task.key), None)
                    settle(thread)
                break
            except StepCancelled:
                continue
    lines.flush()
    worker.log_event(topic, {"o": pickle.dumps(outcome)})


_folders = threading.Lock()
_folder: dict[str, Any] = {"path": None, "users": 0, "home": None}  # the process's run folder lease


class _RunFolder:
    """Runs an attempt in the runner's folder ``workdir`` when this worker has it (a shared file
    system): the working directory is the whole process's, so attempts of runs in other folders
    wait until the attempts in the current one end (each waits for a free slot anyway; a cluster
    serving one runner at a time never waits). Back to the worker's own folder when none runs."""

    def __init__(self, workdir: str | None, cancelled: CancelToken) -> None:
        self.path = os.path.realpath(workdir) if workdir else None
        self.missing = self.path is not None and not os.path.isdir(self.path)
        self._cancelled = cancelled
        self._entered = False

    def __enter__(self) -> None:
        if self.path is None or self.missing:
            return
        while True:
            with shield(), _folders:  # never torn in half by a cancel
                if not _folder["users"] or _folder["path"] == self.path:
                    if not _folder["users"]:
                        _folder["home"] = os.getcwd()
                        if os.path.realpath(_folder["home"]) != self.path:
                            os.chdir(self.path)
                        _folder["path"] = self.path
                    _folder["users"] += 1
                    self._entered = True
                    return
            if self._cancelled.wait(0.1):
                raise StepCancelled("cancelled while waiting for another run's steps to leave this worker")

    def __exit__(self, *exc: object) -> None:
        while True:  # a cancel landing here must not keep the folder taken
            try:
                with shield(), _folders:
                    if not self._entered:
                        return
                    self._entered = False
                    _folder["users"] -= 1
                    if not _folder["users"]:
                        if os.getcwd() != _folder["home"]:
                            with contextlib.suppress(OSError):
                                os.chdir(_folder["home"])
                        _folder["path"] = None
                return
            except StepCancelled:
                continue


def deliver(answers: list[tuple[int, bytes]]) -> None:
    """The runner's answers to atomic context changes that attempts here relayed (``r`` events)."""
    for ticket, answer in answers:
        _answers.deliver(ticket, pickle.loads(answer))


def cancel(topic: str, keys: list[int]) -> int:
    """Ask attempts ``keys`` of the run on ``topic`` to stop (each ends with StepCancelled after its
    teardown); how many of them were running here."""
    stopped = 0
    with _lock:
        for key in keys:
            running = _running.get((topic, key))
            if running is not None:
                thread, cancelled = running
                cancelled.set()
                interrupt(thread)
                stopped += 1
    return stopped


def withdraw(topic: str, keys: list[int]) -> list[int]:
    """Make sure attempts ``keys`` of the run on ``topic`` never start here; return those that
    already have (they go on, and their start notices say so)."""
    with _lock:
        started = [key for key in keys if (topic, key) in _started]
        _withdrawn.update((topic, key) for key in keys if (topic, key) not in _started)
    return started


def forget(topic: str) -> None:
    """The run on ``topic`` is over: drop what this worker remembers of it, and never start one of
    its tasks (one Dask still had queued here when the runner withdrew it and let it go)."""
    with _lock:
        _over[topic] = None
        while len(_over) > _OVER_KEPT:
            del _over[next(iter(_over))]
        _withdrawn.difference_update({entry for entry in _withdrawn if entry[0] == topic})
        _started.difference_update({entry for entry in _started if entry[0] == topic})


def cancel_all(topic: str) -> int:
    """Ask every attempt of the run on ``topic`` still running here to stop; how many there were."""
    with _lock:
        keys = [key for owner, key in _running if owner == topic]
    return cancel(topic, keys)


async def abandon() -> None:
    """Kill this worker process and every process its steps started (the strongest means: a thread
    stuck in a C call cannot be stopped otherwise); a nanny starts a fresh worker. A coroutine, so
    that ``Client.run(..., wait=False)`` answers before the process goes."""
    import asyncio

    import psutil

    await asyncio.sleep(0.05)
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()
    if hasattr(os, "killpg") and os.getpgrp() == os.getpid():  # a group of its own: what left it too
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(75)


def can_import(ref: str, search_path: tuple[str, ...]) -> str | None:
    """None if the scriptlet ``ref`` can be imported here, else why not."""
    try:
        import_ref(ref, search_path)
    except BaseException as error:  # noqa: B036 - whatever the import did, the answer is "no"
        return f"{type(error).__name__}: {error}"
    return None
