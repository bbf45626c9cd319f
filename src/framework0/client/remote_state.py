"""A run's context kept on a context server (``f0 run --context-server URL --context NAME``).

Writes go to the server as atomic changes and return once it acknowledged them (durable there);
reads come from a local copy the server keeps current over a WebSocket, so a step sees what
every other runner on the same context wrote, live. Each write carries an idempotency key (run,
step, attempt, item, write number): a write retried after a lost connection is recorded once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from framework0.client.http import ContextClient
from framework0.client.subscribe import Subscription
from framework0.context.changes import Change, ChangeSource, Operation
from framework0.context.merge import ChangeRequest
from framework0.context.state import ContextState, SharedAt
from framework0.errors import HistoryGone, ServerError

#: how long a write waits for its own change to come back over the WebSocket before reading it
ECHO_TIMEOUT_S = 10.0


class RemoteContextState(ContextState):
    """The ContextState of a run whose context lives on a server, under ``name``."""

    def __init__(
        self,
        client: ContextClient,
        name: str,
        *,
        run_id: str | None = None,
        on_change: Callable[[list[Change]], None] | None = None,
        shield: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        super().__init__(on_change=on_change, shield=shield, run_id=run_id)
        self.client = client
        self.name = name
        version, data = client.read(name)
        self._data = data
        self._version = version
        self._subscription = Subscription(client.url, name, token=client.token, since=version, on_change=self._received)

    def close(self) -> None:
        self._subscription.close()

    def shared_at(self) -> SharedAt:
        return SharedAt(self.client.url, self.name, self.client.token, self.run_id)

    def catch_up(self, version: int, timeout: float) -> None:
        if not self.wait_until(lambda state: state.version >= version, timeout):
            self._catch_up()

    @classmethod
    def open(
        cls, at: SharedAt, *, shield: Callable[[], AbstractContextManager[object]] = nullcontext
    ) -> RemoteContextState:
        """The state ``at`` names, opened from another process (a worker of the run)."""
        client = ContextClient(at.url, at.token)
        try:
            return cls(client, at.name, run_id=at.run_id, shield=shield)
        except BaseException:
            client.close()
            raise

    # -- writes: to the server ----------------------------------------------------------------------

    def apply(self, operations: Iterable[Operation], source: ChangeSource) -> list[Change]:
        batch = list(operations)
        with self.shield():
            if self._replayed(batch, source):
                return []
            last: dict[str, Operation] = {}
            for operation in batch:  # one change per key: the last operation on it wins
                last.pop(operation.key, None)
                last[operation.key] = operation
            request = ChangeRequest(
                set={key: op.value for key, op in last.items() if op.op == "set"},
                delete=tuple(key for key, op in last.items() if op.op == "delete"),
            )
            if request.is_empty():
                return []
            return self._send(request, source)

    def apply_request(self, request: ChangeRequest, source: ChangeSource) -> list[Change]:
        with self.shield():
            return self._send(request, source)

    def key_version(self, key: str) -> int:
        known = self._key_versions.get(key)
        if known is not None:
            return known
        found = self.client.get(self.name, key)
        return 0 if found is None else found[1]

    def _send(self, request: ChangeRequest, source: ChangeSource) -> list[Change]:
        unit = (source.step, source.attempt, source.item)
        with self._lock:
            seq = self._seq.get(unit, 0) + 1
            self._seq[unit] = seq
        wire_source = {
            key: value
            for key, value in (
                ("node", source.node),
                ("run", self.run_id),
                ("step", source.step),
                ("attempt", source.attempt),
                ("item", source.item),
            )
            if value is not None
        }
        write_id = "/".join(str(part) for part in (self.run_id, *unit, seq))
        before = self._version
        version = self.client.change(self.name, request, source=wire_source, write_id=write_id)
        if version <= before:
            return []  # nothing changed (say, deleting an absent key)
        if not self.wait_until(lambda state: state.version >= version, ECHO_TIMEOUT_S):
            self._catch_up()
        mine: list[Change] = []
        with self._lock:
            for change in reversed(self._changes):
                if change.version < version:
                    break
                if change.version == version:
                    mine.append(change)
        return mine[::-1]

    def _catch_up(self) -> None:
        """The WebSocket is late or down: read what it has not delivered from the server's history."""
        try:
            entries = self.client.history(self.name, since=self._version)
        except (ServerError, HistoryGone):
            return
        grouped: dict[int, dict[str, Any]] = {}
        for entry in entries:
            change = grouped.setdefault(
                entry["version"],
                {"version": entry["version"], "at": entry["at"], "source": entry["source"], "changes": []},
            )
            change["changes"].append(entry)
        for version in sorted(grouped):
            self._received(grouped[version])

    # -- reads: the server's changes, as they come -------------------------------------------------

    def _received(self, change: dict[str, Any]) -> None:
        """Apply one change the server sent (in version order; one already seen is ignored)."""
        version = int(change["version"])
        got = change.get("source") or {}
        attempt, item = got.get("attempt"), got.get("item")
        source = ChangeSource(
            node=str(got.get("node") or "?"),
            step=got.get("step") if isinstance(got.get("step"), str) else None,
            attempt=attempt if isinstance(attempt, int) else None,
            item=item if isinstance(item, int) else None,
        )
        at = float(change.get("at") or time.time())
        applied: list[Change] = []
        with self._notify_lock:
            with self._lock:
                if version <= self._version:
                    return
                for entry in change["changes"]:
                    key, op = entry["key"], "delete" if entry["op"] == "delete" else "set"
                    if op == "delete":
                        self._data.pop(key, None)
                        self._key_versions.pop(key, None)
                    else:
                        self._data[key] = entry["new"]
                        self._key_versions[key] = version
                    # seq: the version, so each change is one row where the run is recorded
                    applied.append(Change(version, key, op, entry.get("old"), entry.get("new"), at, source, version))
                self._changes.extend(applied)
                self._version = version
                self._batches += 1
            if applied and self.on_change is not None:
                self.on_change(applied)
            self._wake_waiters()
