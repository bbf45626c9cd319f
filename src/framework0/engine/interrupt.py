"""Stopping Python code running in another thread, by raising StepCancelled inside it (CPython).

The exception arrives at the thread's next Python instruction, wherever that is, so code that must
not be torn in half (a context change) runs inside ``shield()``: a cancel aimed at a shielded
thread waits until the shield ends. A thread blocked in a C call (``time.sleep``, a socket read)
sees the exception only when the call returns.

Two kinds of code must never see the exception; a cancel aimed at them is sent later, by a thread
of this module's own:

- Code that takes a process-wide lock: the import system's, logging's, coverage.py's tracer's.
  Raised there, say just after importlib took the interpreter's import lock, the exception would
  leave the lock held, and every later import in the process would wait for ever, out of reach of
  any signal. A thread whose innermost frame is in that code is cancelled once it has left it (an
  import running a module's own code is cancelled there, as usual).
- Code where Python cannot let an exception out (a weakref callback, ``__del__``): Python swallows
  it and hands it to ``sys.unraisablehook``, which would print it and lose the cancel. Wrapped, the
  hook prints nothing for a cancel and has it sent again.
"""

from __future__ import annotations

import _imp
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import CodeType, ModuleType

from framework0.errors import StepCancelled

# Re-entrant: the signal may be raised (and CancelSignal created) while its thread holds the lock.
_lock = threading.RLock()
_depth: dict[int, int] = {}  # thread -> how many shields it is inside
_sent: set[int] = set()  # threads sent a CancelSignal that they have not raised yet
_deferred: set[int] = set()  # threads to interrupt as soon as their shield ends
_owed: set[int] = set()  # threads to interrupt again soon: in critical code, or their cancel was swallowed
_again: queue.SimpleQueue[int] = queue.SimpleQueue()  # to the thread that sends those
_sender: threading.Thread | None = None
#: packages whose Python code takes a process-wide lock: logging's module and handler locks, and the
#: data lock that coverage.py's tracer takes, in Python, when a thread first runs a file (users measure
#: their steps with pytest-cov too); importlib, frozen into CPython, is checked by its file name
_CRITICAL_PACKAGES = ("logging", "coverage")
_hook_code: set[CodeType] = set()  # the code of the unraisable hook (one code object, however often made)


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
    """The thread's attempt is over: withdraw a cancel it has not raised yet, forget a deferred one;
    called in that thread, give back the import lock if a cancel left it held."""
    with _lock:
        if thread_id in _sent:
            _sent.discard(thread_id)
            _set_async_exc(thread_id, None)
        _deferred.discard(thread_id)
        _owed.discard(thread_id)
    if thread_id == threading.get_ident():
        _give_back_the_import_lock()


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
            # No cancel is sent to a thread inside this hook (see _in_critical_code), but one sent a
            # moment before it came in may still land here: then it is owed as well.
            try:
                if not isinstance(unraisable.exc_value, CancelSignal):
                    previous(unraisable)
                    return
            except CancelSignal:
                pass
            while True:
                try:
                    with _lock:
                        _owed.add(threading.get_ident())
                    _again.put(threading.get_ident())
                    return
                except CancelSignal:
                    continue

        hook._framework0 = True  # type: ignore[attr-defined]
        _hook_code.add(hook.__code__)
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
    it and its ``try`` (the import system's or a package of ``_CRITICAL_PACKAGES``), or the hook above."""
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return False
    file = frame.f_code.co_filename
    if file.startswith("<frozen importlib"):
        return True
    for name in _CRITICAL_PACKAGES:
        package = sys.modules.get(name)
        if package is not None and file.startswith(_folder_of(package)):
            return True
    while frame is not None:
        if frame.f_code in _hook_code:
            return True
        frame = frame.f_back
    return False


def _folder_of(package: ModuleType) -> str:
    return os.path.dirname(package.__file__ or "") + os.sep


def _give_back_the_import_lock() -> None:
    """Release the interpreter's import lock if this thread holds it. Between attempts it never should;
    it does if a cancel landed just after importlib took the lock, which a thread that entered importlib
    between ``_in_critical_code`` and the send can still see."""
    while _imp.lock_held():
        try:
            _imp.release_lock()
        except RuntimeError:  # another thread holds it
            return


def _set_async_exc(thread_id: int, exception: type[BaseException] | None) -> None:
    import ctypes  # only when a step is stopped

    target = ctypes.py_object(exception) if exception is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), target)


def _after_fork_in_child() -> None:
    """A child forked by a step has one thread, the one that forked: it keeps that thread's shields and
    nothing else, and a fresh lock (another thread may have held the old one at the fork)."""
    global _lock, _again, _sender
    me = threading.get_ident()
    _lock = threading.RLock()
    depth = _depth.get(me)
    _depth.clear()
    if depth:
        _depth[me] = depth
    if me in _sent:  # the parent's cancel, aimed at the parent's attempt
        _set_async_exc(me, None)
    _sent.clear()
    _deferred.clear()
    _owed.clear()
    _again, _sender = queue.SimpleQueue(), None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
