"""The context's state in memory: data, version and change history, safe to share between threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from framework0.context.changes import Change, ChangeSource, Operation
from framework0.context.merge import ChangeRequest, Strategies, resolve
from framework0.errors import ContextConflict

_MISSING = object()


@dataclass(frozen=True, slots=True)
class SharedAt:
    """Where a context shared through a context server lives, so that a worker process elsewhere
    can read and write it directly: the server's URL and token, the context's name, the run."""

    url: str
    name: str
    token: str | None
    run_id: str | None


_POLL = 0.1  # how often wait_until looks at ``cancelled``


class ContextState:
    """Applies batches of operations atomically; each batch that changes something gets the next
    version (as in etcd), and every key it changed carries that version.

    ``on_change`` (if given) is called with each batch of changes after it is applied, outside
    the lock, in the order the batches were applied. Each batch from a step attempt is numbered
    (``Change.seq``: 1, 2, ... per step, attempt and item): with the run id that is the write's
    idempotency key. ``replay`` holds the batches an attempt wrote before its runner died; when the
    attempt runs again, writing the same batch again records nothing new.

    ``apply_request`` resolves a ``ChangeRequest`` (increments, set additions, versions expected)
    under ``strategies`` and applies it the same way; ``wait_until`` blocks until the data passes
    a test. ``run_id`` names the run this state belongs to, when there is one.
    """

    def __init__(
        self,
        initial: Mapping[str, Any] | None = None,
        *,
        on_change: Callable[[list[Change]], None] | None = None,
        shield: Callable[[], AbstractContextManager[object]] = nullcontext,
        strategies: Strategies | None = None,
        run_id: str | None = None,
    ) -> None:
        self._data: dict[str, Any] = dict(initial or {})
        self._version = 0
        #: by key: the version of the batch that last wrote it (keys given as ``initial`` have none)
        self._key_versions: dict[str, int] = {}
        self._changes: list[Change] = []
        self._seq: dict[tuple[str | None, int | None, int | None], int] = {}
        #: by (step, attempt, item): the batches that attempt already wrote, in order, as (op, key, value)
        self.replay: dict[tuple[str | None, int | None, int | None], list[list[tuple[str, str, Any]]]] = {}
        self._lock = threading.Lock()
        # Held by every writer from first read to last on_change: batches are applied and reported
        # one at a time, in order. Reentrant, so that apply_request can resolve and apply under it.
        self._notify_lock = threading.RLock()
        # wait_until sleeps on this; each applied batch (and restore) counts one more _batches
        self._changed = threading.Condition(threading.Lock())
        self._batches = 0
        self._waiters = 0
        self.on_change = on_change
        #: wraps each change so that a step being stopped cannot tear it half-applied
        self.shield = shield
        #: how a change request lands on each key (see ``framework0.context.merge``)
        self.strategies = strategies if strategies is not None else Strategies()
        self.run_id = run_id

    @property
    def version(self) -> int:
        return self._version

    def held(self) -> AbstractContextManager[Any]:
        """While held, no change is applied or reported (``on_change``): what a caller reads then
        and what it starts listening to meet without a gap."""
        return self._notify_lock

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def contains(self, key: str) -> bool:
        return key in self._data

    def key_version(self, key: str) -> int:
        """The version of the batch that last wrote ``key``; 0 when it does not exist."""
        return self._key_versions.get(key, 0)

    def snapshot(self) -> dict[str, Any]:
        """A shallow copy of the data (values are JSON and never mutated in place)."""
        with self._lock:
            return dict(self._data)

    def snapshot_versions(self) -> tuple[dict[str, Any], dict[str, int], int]:
        """The data, each key's version and the context's version, all of one moment (copies)."""
        with self._lock:
            return dict(self._data), dict(self._key_versions), self._version

    def entries(self, keys: Iterable[str]) -> tuple[int, dict[str, tuple[Any, int] | None]]:
        """The context's version and, for each of ``keys``, its value and version (None: absent),
        all of one moment."""
        with self._lock:
            found = {key: self._data.get(key, _MISSING) for key in keys}
            return self._version, {
                key: None if value is _MISSING else (value, self._key_versions.get(key, 0))
                for key, value in found.items()
            }

    def restore(self, data: Mapping[str, Any], version: int, history: Iterable[Change]) -> None:
        """Start from a stored state (a resumed run): its data, version and history."""
        with self._lock:
            self._data = dict(data)
            self._version = version
            self._changes = list(history)
            key_versions: dict[str, int] = {}
            for change in self._changes:
                source = change.source
                unit = (source.step, source.attempt, source.item)
                if change.seq > self._seq.get(unit, 0):
                    self._seq[unit] = change.seq
                if change.op == "delete":
                    key_versions.pop(change.key, None)
                else:
                    key_versions[change.key] = change.version
            self._key_versions = {key: key_versions[key] for key in self._data if key in key_versions}
            self._batches += 1
        self._wake_waiters()

    def apply(self, operations: Iterable[Operation], source: ChangeSource) -> list[Change]:
        """Apply all operations as one batch; deleting an absent key records nothing."""
        now = time.time()
        applied: list[Change] = []
        with self.shield(), self._notify_lock:
            with self._lock:
                batch = list(operations)
                if self._replayed(batch, source):
                    return []
                version = self._version + 1
                unit = (source.step, source.attempt, source.item)
                seq = self._seq.get(unit, 0) + 1
                key_versions = self._key_versions
                for operation in batch:
                    old = self._data.get(operation.key, _MISSING)
                    if operation.op == "delete":
                        if old is _MISSING:
                            continue
                        del self._data[operation.key]
                        key_versions.pop(operation.key, None)
                        new: Any = None
                    else:
                        new = operation.value
                        self._data[operation.key] = new
                        key_versions[operation.key] = version
                    change = Change(
                        version=version,
                        key=operation.key,
                        op=operation.op,
                        old=None if old is _MISSING else old,
                        new=new,
                        at=now,
                        source=source,
                        seq=seq,
                    )
                    self._changes.append(change)
                    applied.append(change)
                if applied:
                    self._version = version
                    self._seq[unit] = seq
                    self._batches += 1
            if applied:
                if self.on_change is not None:
                    self.on_change(applied)
                if self._waiters:
                    self._wake_waiters()
        return applied

    def apply_request(self, request: ChangeRequest, source: ChangeSource) -> list[Change]:
        """Resolve ``request`` against the current data under ``strategies`` and apply the result as
        one batch, like ``apply``; no other batch comes between the reading and the writing.

        A stale expected version raises ContextConflict and writes nothing. A request an attempt
        run again after a crash repeats is recorded once, even when its increments now come to
        other values.
        """
        with self.shield(), self._notify_lock:
            with self._lock:
                resolution = resolve(request, self._read, self.strategies)
            if resolution.conflicts:
                raise ContextConflict({c.key: (c.expected, c.current) for c in resolution.conflicts})
            batch = list(resolution.operations)
            if self._replayed(batch, source, loose=request.increment.keys()):
                return []
            return self.apply(batch, source)

    def _read(self, key: str) -> tuple[Any, int] | None:
        value = self._data.get(key, _MISSING)
        return None if value is _MISSING else (value, self._key_versions.get(key, 0))

    def _replayed(self, batch: list[Operation], source: ChangeSource, loose: Collection[str] = ()) -> bool:
        """Whether ``batch`` repeats the next batch this attempt wrote before its runner died (for
        the ``loose`` keys, writing the same key is enough: an increment's value moves on)."""
        if not self.replay:
            return False
        unit = (source.step, source.attempt, source.item)
        earlier = self.replay.get(unit)
        if not earlier:
            return False
        if not _same_batch(earlier[0], batch, loose):
            del self.replay[unit]  # it went another way this time: what follows is new
            return False
        earlier.pop(0)
        return True

    def wait_until(
        self,
        predicate: Callable[[ContextState], bool],
        timeout: float | None,
        cancelled: Callable[[], bool] | None = None,
    ) -> bool:
        """Block until ``predicate(self)`` is true: it is tested at once, then after each batch
        applied (from any thread) and after ``restore``. False when ``timeout`` seconds pass
        first (None: no limit), or when ``cancelled()`` turns true (looked at every 0.1 s).

        The predicate runs without any lock held: it may read the state (``get``, ``snapshot``)
        but must not write to it.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            self._waiters += 1
        try:
            while True:
                seen = self._batches
                if predicate(self):
                    return True
                with self._changed:
                    while self._batches == seen:
                        if cancelled is not None and cancelled():
                            return False
                        pause = None if deadline is None else deadline - time.monotonic()
                        if pause is not None and pause <= 0:
                            return False
                        if cancelled is not None:
                            pause = _POLL if pause is None else min(pause, _POLL)
                        self._changed.wait(pause)
        finally:
            with self._changed:
                self._waiters -= 1

    def shared_at(self) -> SharedAt | None:
        """Where workers in other processes can reach this state directly (None: only through the
        runner, which applies their writes)."""
        return None

    def catch_up(self, version: int, timeout: float) -> None:
        """Return once this state has seen ``version`` (written elsewhere, by a worker), or after
        ``timeout`` seconds."""
        self.wait_until(lambda state: state.version >= version, timeout)

    def _wake_waiters(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def history(self, key: str | None = None) -> list[Change]:
        with self._lock:
            if key is None:
                return list(self._changes)
            return [change for change in self._changes if change.key == key]


def _same_batch(earlier: list[tuple[str, str, Any]], batch: list[Operation], loose: Collection[str]) -> bool:
    if len(earlier) != len(batch):
        return False
    for (op, key, value), operation in zip(earlier, batch, strict=True):
        if op != operation.op or key != operation.key:
            return False
        if value != operation.value and key not in loose:
            return False
    return True
