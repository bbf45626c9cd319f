"""A run's events, sent to the context server as they happen, so that viewers see the run live.

A bus subscriber whose handler is a queue put; a thread sends what queued up in batches. The
server records the run too, unless the runner records it in the server's own store (the server
then only passes the events on: a run has one writer). The server is not needed for the runner's
own record: when it cannot be reached the run goes on, and the publisher says so once.

Every event is sent, the run's context changes included even when the context lives on the
server: viewers of the run see them live, and a server that records the run records them as the
run's context (the named context's own history is another thing, kept by the context service).
"""

from __future__ import annotations

import queue
import sys
import threading
from typing import TYPE_CHECKING, Any

from framework0.errors import ServerError
from framework0.events.wire import to_wire

if TYPE_CHECKING:
    from framework0.client.http import ContextClient
    from framework0.events.types import Event

_STOP = object()
_BATCH = 500


class EventPublisher:
    """Posts ``run_id``'s events to the server; ``close()`` sends what is left and stops."""

    def __init__(self, client: ContextClient, run_id: str, *, shared_context: bool = False) -> None:
        self.client = client
        self.run_id = run_id
        #: the run's context lives on the server (its changes are sent all the same, as the run's)
        self.shared_context = shared_context
        self.failed: str | None = None
        self.sent = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="f0-event-publisher", daemon=True)
        self._thread.start()

    def handle(self, event: Event) -> None:
        """The bus handler: a queue put in the publishing thread."""
        self._queue.put(event)

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _work(self) -> None:
        stopping = False
        while not stopping:
            events = [self._queue.get()]
            while len(events) < _BATCH:
                try:
                    events.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in events:
                stopping = True
                events = [event for event in events if event is not _STOP]
            if not events or self.failed is not None:
                continue
            try:
                self.sent += self.client.post_events(self.run_id, [to_wire(event) for event in events])
            except ServerError as error:
                self.failed = str(error)
                print(f"warning: viewers will not see this run live: {error}", file=sys.stderr)
