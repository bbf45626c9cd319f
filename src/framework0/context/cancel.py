"""A cancel flag a step can poll or wait on, cheap to create (one per attempt)."""

from __future__ import annotations

import threading

_CREATE = threading.Lock()


class CancelToken:
    """Set once by the runner; ``wait`` builds its ``threading.Event`` only when someone waits."""

    __slots__ = ("_set", "_event")

    def __init__(self) -> None:
        self._set = False
        self._event: threading.Event | None = None

    def set(self) -> None:
        self._set = True
        event = self._event
        if event is not None:
            event.set()

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set or ``timeout`` passes; True if set."""
        if self._event is None:
            with _CREATE:  # two first waiters must share one event
                if self._event is None:
                    self._event = threading.Event()
        # Checked after the event exists: a set() that saw no event has already set the flag.
        if self._set:
            return True
        return self._event.wait(timeout)
