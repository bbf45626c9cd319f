"""The hub: one subscriber of the server's event bus that fans its events out to WebSocket
connections. Each connection has a bounded queue: a viewer that reads too slowly is disconnected
with a reason instead of stalling the server. The protocol that fills and drains the queues is
``framework0.server.websocket``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import TYPE_CHECKING, Any

from framework0.events.types import ContextChanged
from framework0.events.wire import to_wire

if TYPE_CHECKING:
    from fastapi import WebSocket

    from framework0.events.types import Event


class Connection:
    """One WebSocket: what it subscribed to, the last version it was sent, and its queue."""

    def __init__(self, websocket: WebSocket, limit: int) -> None:
        self.websocket = websocket
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(limit)
        self.contexts: dict[str, int] = {}  # name -> the last version sent (or about to be)
        self.runs: set[str] = set()
        self.dropped: str | None = None  # why the hub gave up on it

    def offer(self, item: tuple[str, Any]) -> None:
        if self.dropped is not None:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped = (
                f"slow subscriber: more than {self.queue.maxsize} messages waiting; "
                "reconnect and subscribe from the last version you saw"
            )
            # wake the sender so that it closes the connection
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.get_nowait()
                self.queue.put_nowait(("drop", None))


class Hub:
    """Fans the bus's events out to WebSocket connections (in the server's event loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.connections: set[Connection] = set()
        self.by_context: dict[str, set[Connection]] = {}
        self.by_run: dict[str, set[Connection]] = {}
        self._lock = threading.Lock()
        self._pending: list[Event] = []  # published, not yet handed to the event loop
        self._scheduled = False

    def handle(self, event: Event) -> None:
        """The bus handler (any thread): hand the event to the event loop."""
        if not self.connections:
            return
        if type(event) is ContextChanged and event.context is not None and not self.by_context.get(event.context):
            return  # nobody here follows that context: do not wake the event loop
        with self._lock:
            self._pending.append(event)
            if self._scheduled:
                return
            self._scheduled = True
        self.loop.call_soon_threadsafe(self._dispatch_pending)

    def _dispatch_pending(self) -> None:
        """Hand out what the bus published since the last call: a group commit's changes to one
        context go to each subscriber as one queue item."""
        with self._lock:
            events, self._pending = self._pending, []
            self._scheduled = False
        batch: list[ContextChanged] = []
        for event in events:
            if type(event) is ContextChanged and event.context is not None:
                if batch and batch[-1].context != event.context:
                    self._offer_changes(batch)
                    batch = []
                batch.append(event)
                continue
            if batch:
                self._offer_changes(batch)
                batch = []
            self._dispatch(event)
        if batch:
            self._offer_changes(batch)

    def _offer_changes(self, events: list[ContextChanged]) -> None:
        for connection in self.by_context.get(events[0].context or "", ()):
            connection.offer(("changes", events))

    def _dispatch(self, event: Event) -> None:
        run_id = getattr(event, "run_id", None)
        targets = self.by_run.get("*", set()) | self.by_run.get(run_id or "", set())
        if targets:
            wire = to_wire(event)
            for connection in targets:
                connection.offer(("event", wire))

    def forget(self, connection: Connection) -> None:
        self.connections.discard(connection)
        for subscribers in (*self.by_context.values(), *self.by_run.values()):
            subscribers.discard(connection)
