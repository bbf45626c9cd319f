"""The in-process event bus: the runner publishes each event once; subscribers receive it in order."""

from __future__ import annotations

import threading
from collections.abc import Callable

from framework0.events.types import Event

Handler = Callable[[Event], None]


class EventBus:
    """Synchronous publish/subscribe. Handlers run in the publishing thread and must be quick.

    >>> bus = EventBus()
    >>> seen = []
    >>> unsubscribe = bus.subscribe(seen.append)
    """

    def __init__(self) -> None:
        self._handlers: tuple[Handler, ...] = ()
        self._lock = threading.Lock()

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        """Add a handler; returns a function that removes it again."""
        with self._lock:
            self._handlers = (*self._handlers, handler)

        def unsubscribe() -> None:
            with self._lock:
                self._handlers = tuple(h for h in self._handlers if h is not handler)

        return unsubscribe

    @property
    def has_subscribers(self) -> bool:
        return bool(self._handlers)

    def publish(self, event: Event) -> None:
        """Deliver to every handler; a failing handler is logged and never stops the run."""
        for handler in self._handlers:
            try:
                handler(event)
            except Exception:
                import logging  # only on this rare path: importing logging costs a cold start ~5 ms

                logging.getLogger(__name__).exception("event handler %r failed on %s", handler, type(event).__name__)
