"""Stopping a step's thread (engine/interrupt.py) leaves no process-wide lock held, even in a fork."""

from __future__ import annotations

import _imp
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from framework0.engine import interrupt
from framework0.engine.interrupt import settle, shield


def test_a_thread_settling_its_attempt_gives_back_an_import_lock_a_cancel_left_held():
    outcome: list[str] = []

    def attempt() -> None:
        _imp.acquire_lock()  # as a cancel landing just after importlib took the lock leaves it
        settle(threading.get_ident())
        try:
            _imp.release_lock()
        except RuntimeError:  # not held by this thread
            outcome.append("given back")
        else:
            outcome.append("still held")

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join(timeout=30)
    assert outcome == ["given back"]


def test_a_child_forked_while_another_thread_held_the_modules_lock_can_still_shield_and_settle():
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with interrupt._lock:  # as the thread sending cancels holds it, briefly, every 5 ms
            holding.set()
            done.wait(timeout=60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(timeout=30)
        pid = os.fork()
        if pid == 0:  # the child: that thread does not exist here, and nothing may wait for it
            code = 1
            try:
                with shield():
                    pass
                settle(threading.get_ident())
                code = 0
            finally:
                os._exit(code)
        deadline = time.monotonic() + 60
        while (ended := os.waitpid(pid, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        if ended == (0, 0):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        assert ended != (0, 0), "the child waited for a lock held by a thread of its parent"
        assert os.waitstatus_to_exitcode(ended[1]) == 0
    finally:
        done.set()
        holder.join(timeout=30)


#: Under coverage.py: a thread runs a new file's function while another holds the lock coverage's
#: tracer takes (in Python) for it; this thread, untraced, cancels it meanwhile. Prints whether the
#: thread was cancelled and whether a new thread can still run new code.
UNDER_COVERAGE = """
import json, sys, threading, time
from types import CodeType, FunctionType
import coverage
from framework0.engine.interrupt import CancelSignal, interrupt, settle

def never_run(name):  # a function whose file the tracer has not seen
    source, path = "def touch():\\n    return 1\\n", f"{sys.argv[1]}/{name}.py"
    code = next(c for c in compile(source, path, "exec").co_consts if isinstance(c, CodeType))
    return FunctionType(code, {})

lock = coverage.Coverage.current()._collector.data_lock  # coverage's own: no public way to it
sys.settrace(None)  # this thread sends the cancel, untraced: it never waits for that lock
outcome = []

def step():
    try:
        never_run("first")()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pass
        outcome.append("not cancelled")
    except CancelSignal:
        outcome.append("cancelled")
    finally:
        settle(threading.get_ident())

lock.acquire()
thread = threading.Thread(target=step)
thread.start()
while sys._current_frames()[thread.ident].f_code.co_name != "lock_data":
    time.sleep(0.01)
interrupt(thread.ident)  # while it waits for the lock, in coverage's code
time.sleep(0.2)
lock.release()
thread.join(60)
later = threading.Thread(target=never_run("later"), daemon=True)
later.start()
later.join(30)
print(json.dumps({"step": outcome, "new code runs": not later.is_alive()}), flush=True)
sys.stdout.flush()
import os; os._exit(0)
"""


def test_a_cancel_never_lands_in_coverages_tracer_where_it_would_leave_its_lock_held(tmp_path: Path):
    script, settings = tmp_path / "cancel.py", tmp_path / "coveragerc"
    script.write_text(textwrap.dedent(UNDER_COVERAGE))
    settings.write_text(f"[run]\nconcurrency = thread\ndata_file = {tmp_path}/coverage\n")
    done = subprocess.run(
        [sys.executable, "-m", "coverage", "run", f"--rcfile={settings}", str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"step": ["cancelled"], "new code runs": True}
