"""Scriptlets the engine tests schedule. Counters live in files so that they work across processes."""

from __future__ import annotations

import importlib
import io
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from framework0 import BaseScriptlet, Context, StepCancelled


def noop() -> None:
    """Do nothing."""


def echo(value: Any) -> Any:
    return value


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def flaky(counter: str, failures: int, error: str = "ConnectionError") -> int:
    """Fail ``failures`` times (counted in the file ``counter``), then return the attempt number."""
    path = Path(counter)
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    if count <= failures:
        raise {"ConnectionError": ConnectionError, "ValueError": ValueError}[error](f"failure {count}")
    return count


def spin(seconds: float) -> str:
    """Busy-wait in Python (interruptible at any instruction)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    return "spun"


class _Collected:
    pass


def spin_in_a_weakref_callback(log: str, seconds: float) -> None:
    """Busy-wait inside a weakref callback, where Python swallows any exception (a cancel included)
    and prints it, then wait in the step's own code. ``log`` gets a line at each stage."""

    def note(line: str) -> None:
        with open(log, "a") as file:
            file.write(line + "\n")

    def callback(_: object) -> None:
        note("in callback")
        spin(seconds)

    target = _Collected()
    ref = weakref.ref(target, callback)
    try:
        del target  # the callback runs here, and the step's timeout finds it there
        note("callback over")
        spin(seconds)
    except StepCancelled:
        note("cancelled")
        raise
    finally:
        del ref


def _held_for(seconds: float, acquire: Callable[[], object], release: Callable[[], object]) -> None:
    """Return once a thread of its own holds a lock (taken with ``acquire``) for ``seconds``."""
    taken = threading.Event()

    def hold() -> None:
        acquire()
        taken.set()
        time.sleep(seconds)
        release()

    threading.Thread(target=hold, daemon=True).start()
    taken.wait()


def import_while_the_import_lock_is_held(folder: str, module: str, hold_s: float, seconds: float) -> None:
    """Import ``module`` (written into ``folder``) while another thread holds the interpreter's import
    lock for ``hold_s`` seconds, so that the import waits inside importlib's own code; then busy-wait."""
    import _imp
    import ctypes  # noqa: F401  (what stops a step imports it: imported now, it does not wait for the lock)

    Path(folder, f"{module}.py").write_text("VALUE = 1\n")
    sys.path.insert(0, folder)
    _held_for(hold_s, _imp.acquire_lock, _imp.release_lock)
    importlib.import_module(module)
    spin(seconds)


def import_in_a_new_thread(folder: str, module: str) -> bool:
    """Whether a new thread can import ``module`` (written into ``folder``) within 30 seconds."""
    Path(folder, f"{module}.py").write_text("VALUE = 2\n")
    sys.path.insert(0, folder)
    importer = threading.Thread(target=importlib.import_module, args=(module,), daemon=True)
    importer.start()
    importer.join(timeout=30)
    return not importer.is_alive()


#: a logger of its own, whose one handler the steps below share (within a process)
_HELD = logging.getLogger("engine_steps.held")
_HELD.propagate = False
_HELD.addHandler(logging.StreamHandler(io.StringIO()))


def log_while_the_handler_lock_is_held(hold_s: float, seconds: float) -> None:
    """Log while another thread holds the logging handler's lock for ``hold_s`` seconds, so that the
    call waits inside logging's own code; then busy-wait."""
    import ctypes  # noqa: F401  (what stops a step imports it: imported now, it does not wait)

    _held_for(hold_s, _HELD.handlers[0].acquire, _HELD.handlers[0].release)
    _HELD.warning("waited for the handler")
    spin(seconds)


def log_in_a_new_thread() -> bool:
    """Whether a new thread can log through that handler within 30 seconds."""
    logger = threading.Thread(target=_HELD.warning, args=("from a new thread",), daemon=True)
    logger.start()
    logger.join(timeout=30)
    return not logger.is_alive()


def block(seconds: float) -> str:
    """Wait inside one C call, which no exception can interrupt."""
    time.sleep(seconds)
    return "blocked"


def burn_cpu(seconds: float) -> int:
    deadline = time.thread_time() + seconds
    total = 0
    while time.thread_time() < deadline:
        total += 1
    return total


def allocate(megabytes: int, seconds: float) -> int:
    block_of_memory = bytearray(megabytes * 1024 * 1024)
    for index in range(0, len(block_of_memory), 4096):
        block_of_memory[index] = 1
    time.sleep(seconds)
    return len(block_of_memory)


def not_json() -> Any:
    return {1, 2, 3}


def write_context(key: str, value: Any, ctx: Context) -> None:
    ctx.set(key, value)


def read_context(key: str, ctx: Context) -> Any:
    return ctx.get(key)


def pid() -> int:
    return os.getpid()


class Lifecycle(BaseScriptlet):
    """Appends each lifecycle call to a file; optionally fails or waits to be stopped."""

    class Params(BaseScriptlet.Params):
        log: str
        fail: bool = False
        wait: float = 0.0
        started: str | None = None

    def validate(self, params: Params) -> None:
        self._append(params.log, "validate")

    def setup(self, ctx: Context) -> None:
        self._append(self.raw_args["log"], "setup")

    def run(self, ctx: Context, params: Params) -> str:
        self._append(params.log, "run")
        if params.started:
            Path(params.started).write_text("started")
        if params.wait:
            deadline = time.monotonic() + params.wait
            while time.monotonic() < deadline:
                time.sleep(0.01)
        if params.fail:
            raise RuntimeError("run failed")
        return "done"

    def teardown(self, ctx: Context, error: BaseException | None) -> None:
        self._append(self.raw_args["log"], f"teardown:{type(error).__name__ if error else None}")

    @staticmethod
    def _append(path: str, line: str) -> None:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def write_forever(ctx: Context) -> None:
    """Rewrite 200 keys as one batch, again and again, until stopped."""
    n = 0
    while True:
        n += 1
        ctx.update({f"k{i}": n for i in range(200)})


def wait_for_file(path: str, seconds: float = 60.0) -> str:
    """Return once the file ``path`` exists (a test creates it to let the step finish)."""
    deadline = time.monotonic() + seconds
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.01)
    return "released"


def say(lines: list[str]) -> None:
    """Print each line."""
    for line in lines:
        print(line)
