"""Stopping Python code running in another thread, by raising an exception inside it (CPython)."""

from __future__ import annotations


def raise_in_thread(thread_id: int, exception: type[BaseException]) -> None:
    """Raise ``exception`` in thread ``thread_id`` at its next Python instruction.

    A thread blocked in a C call (``time.sleep``, a socket read) sees it only when the call returns.
    """
    import ctypes  # only when a step is stopped

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exception))


def clear_pending(thread_id: int) -> None:
    """Withdraw an exception sent with ``raise_in_thread`` that the thread has not raised yet."""
    import ctypes

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
