"""Stopping Python code running in another thread, by raising StepCancelled inside it (CPython).

The exception arrives at the thread's next Python instruction, wherever that is, so code that must
not be torn in half (a context change) runs inside ``shield()``: a cancel aimed at a shielded
thread waits until the shield ends. A thread blocked in a C call (``time.sleep``, a socket read)
sees the exception only when the call returns.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from framework0.errors import StepCancelled

# Re-entrant: the signal may be raised (and CancelSignal created) while its thread holds the lock.
_lock = threading.RLock()
_depth: dict[int, int] = {}  # thread -> how many shields it is inside
_sent: set[int] = set()  # threads sent a CancelSignal that they have not raised yet
_deferred: set[int] = set()  # threads to interrupt as soon as their shield ends


class CancelSignal(StepCancelled):
    """The StepCancelled raised into a thread; it is created in that thread when it is raised."""

    def __init__(self) -> None:
        super().__init__("cancelled")
        with _lock:
            _sent.discard(threading.get_ident())


def interrupt(thread_id: int) -> None:
    """Raise StepCancelled in thread ``thread_id`` now, or when it leaves its shield."""
    with _lock:
        if _depth.get(thread_id):
            _deferred.add(thread_id)
        else:
            _sent.add(thread_id)
            _set_async_exc(thread_id, CancelSignal)


def settle(thread_id: int) -> None:
    """The thread's attempt is over: withdraw a cancel it has not raised yet, forget a deferred one."""
    with _lock:
        if thread_id in _sent:
            _sent.discard(thread_id)
            _set_async_exc(thread_id, None)
        _deferred.discard(thread_id)


@contextmanager
def shield() -> Iterator[None]:
    """Run the body to its end even if the thread is cancelled meanwhile; the cancel comes after."""
    me = threading.get_ident()
    before = _depth.get(me, 0)
    try:
        with _lock:
            _depth[me] = before + 1
            if me in _sent:  # sent a moment ago and still pending: hold it until the body is done
                _sent.discard(me)
                _set_async_exc(me, None)
                _deferred.add(me)
    except BaseException:  # a signal sent just before landed while entering: leave as we came
        with _lock:
            if _depth.get(me, 0) > before:
                _depth[me] = before
                if not before:
                    del _depth[me]
        raise
    try:
        yield
    finally:
        with _lock:
            depth = _depth.pop(me) - 1
            if depth:
                _depth[me] = depth
            fire = not depth and me in _deferred
            if fire:
                _deferred.discard(me)
        if fire:
            raise StepCancelled("cancelled")


def _set_async_exc(thread_id: int, exception: type[BaseException] | None) -> None:
    import ctypes  # only when a step is stopped

    target = ctypes.py_object(exception) if exception is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), target)
