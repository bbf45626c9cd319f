"""Several servers on one PostgreSQL act as one: each LISTENs for the versions the others commit.

A writer NOTIFYs ``"VERSION NAME"`` inside the transaction that commits a change (PostgreSQL
delivers it on commit, never for a rolled-back one). The listener hands each notice to the context
service, which reads the changes it has not seen from the store and publishes them to its own
subscribers. A notice only says "look": the store is the truth, so a lost or late notice delays a
change but cannot reorder or drop one (WebSocket subscribers fill any gap from the store).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from framework0.server.contexts import ContextService
from framework0.store.shared import CHANNEL

log = logging.getLogger(__name__)


class Listener:
    """A thread that LISTENs on its own PostgreSQL connection until ``close()``."""

    def __init__(self, contexts: ContextService) -> None:
        self.contexts = contexts
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="f0-listen", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        self._ready.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as error:  # the database went away: try again in a moment
                log.warning("LISTEN %s failed (%s); retrying", CHANNEL, error)
                self._stop.wait(1.0)

    def _listen(self) -> None:
        raw: Any = self.contexts.store.engine.raw_connection()
        try:
            connection = raw.driver_connection
            connection.autocommit = True
            connection.execute(f"LISTEN {CHANNEL}")
            self._ready.set()
            while not self._stop.is_set():
                for notice in connection.notifies(timeout=0.5):
                    version, _, name = notice.payload.partition(" ")
                    if version.isdigit() and name:
                        self.contexts.notice(name, int(version))
        finally:
            raw.invalidate()  # a LISTENing connection must not go back to the pool
