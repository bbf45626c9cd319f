"""Stopping Python code running in another thread, by raising StepCancelled inside it (CPython).

The exception arrives at the thread's next Python instruction, wherever that is, so code that must
not be torn in half (a context change) runs inside ``shield()``: a cancel aimed at a shielded
thread waits until the shield ends. A thread blocked in a C call (``time.sleep``, a socket read)
sees the exception only when the call returns.

Two kinds of code must never see the exception; a cancel aimed at them is sent later, by a thread
of this module's own:

- Code that takes a process-wide lock: the import system's and logging's. Raised there, say just
  after importlib took the interpreter's import lock, the exception would leave the lock held, and
  every later import in the process would wait for ever, out of reach of any signal. A thread whose
  innermost frame is in that code is cancelled once it has left it (an import running a module's
  own code is cancelled there, as usual).
- Code where Python cannot let an exception out (a weakref callback, ``__del__``): Python swallows
  it and hands it to ``sys.unraisablehook``, which would print it and lose the cancel. Wrapped, the
  hook prints nothing for a cancel and has it sent again.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from framework0.errors import StepCancelled

# Re-entrant: the signal may be raised (and CancelSignal created) while its thread holds the lock.
_lock = threading.RLock()
_depth: dict[int, int] = {}  # thread -> how many shields it is inside
_sent: set[int] = set()  # threads sent a CancelSignal that they have not raised yet
_deferred: set[int] = set()  # threads to interrupt as soon as their shield ends
_owed: set[int] = set()  # threads to interrupt again soon: in critical code, or their cancel was swallowed
_again: queue.SimpleQueue[int] = queue.SimpleQueue()  # to the thread that sends those
_sender: threading.Thread | None = None


class CancelSignal(StepCancelled):
    """The StepCancelled raised into a thread; it is created in that thread when it is raised."""

    def __init__(self) -> None:
        super().__init__("cancelled")
        with _lock:
            _sent.discard(threading.get_ident())


def interrupt(thread_id: int) -> None:
    """Raise StepCancelled in thread ``thread_id`` now, or when it leaves its shield."""
    with _lock:
        _watch_unraisable()
        if _depth.get(thread_id):
            _deferred.add(thread_id)
        elif _in_critical_code(thread_id):
            _owed.add(thread_id)
            _again.put(thread_id)
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
        _owed.discard(thread_id)


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


def _watch_unraisable() -> None:
    """Once per process (under ``_lock``): the hook for swallowed cancels, and the thread sending later."""
    global _again, _sender
    if not getattr(sys.unraisablehook, "_framework0", False):
        previous = sys.unraisablehook

        def hook(unraisable: sys.UnraisableHookArgs) -> None:
            if not isinstance(unraisable.exc_value, CancelSignal):
                previous(unraisable)
                return
            me = threading.get_ident()
            while True:
                try:
                    with _lock:
                        _owed.add(me)
                    # Last, and in C: the other thread sends the cancel once this thread is back in
                    # its own code (sent from here, it would be raised inside this hook).
                    _again.put(me)
                    return
                except CancelSignal:  # sent again before the hook was over: swallowed again
                    continue

        hook._framework0 = True  # type: ignore[attr-defined]
        sys.unraisablehook = hook
    if _sender is None or not _sender.is_alive():  # none yet, or this process is a fork
        _again = queue.SimpleQueue()
        _sender = threading.Thread(target=_send_again, args=(_again,), name="f0-cancel-again", daemon=True)
        _sender.start()


def _send_again(again: queue.SimpleQueue[int]) -> None:
    while True:
        thread_id = again.get()
        with _lock:  # unless its attempt ended meanwhile (settle): then the cancel is no longer wanted
            if thread_id in _owed:
                _owed.discard(thread_id)
                interrupt(thread_id)
        if thread_id in _owed:  # still in critical code: look again shortly
            time.sleep(0.005)


def _in_critical_code(thread_id: int) -> bool:
    """Whether the thread runs code that takes a process-wide lock and must not be torn between taking
    it and its ``try``: the import system's (importlib, frozen into CPython) or logging's."""
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return False
    file = frame.f_code.co_filename
    return file.startswith("<frozen importlib") or file == getattr(sys.modules.get("logging"), "__file__", None)


def _set_async_exc(thread_id: int, exception: type[BaseException] | None) -> None:
    import ctypes  # only when a step is stopped

    target = ctypes.py_object(exception) if exception is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), target)
