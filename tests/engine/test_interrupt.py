"""Stopping a step's thread (engine/interrupt.py) leaves no process-wide lock held, even in a fork."""

from __future__ import annotations

import _imp
import os
import signal
import threading
import time

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
