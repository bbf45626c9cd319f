"""The context's state in memory: data, version and change history, safe to share between threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from framework0.context.changes import Change, ChangeSource, Operation

_MISSING = object()


class ContextState:
    """Applies batches of operations atomically; each batch that changes something gets the next
    version (as in etcd), and every key it changed carries that version.

    ``on_change`` (if given) is called with each batch of changes after it is applied, outside
    the lock, in the order the batches were applied. Each batch from a step attempt is numbered
    (``Change.seq``: 1, 2, ... per step, attempt and item): with the run id that is the write's
    idempotency key. ``replay`` holds the batches an attempt wrote before its runner died; when the
    attempt runs again, writing the same batch again records nothing new.
    """

    def __init__(
        self,
        initial: Mapping[str, Any] | None = None,
        *,
        on_change: Callable[[list[Change]], None] | None = None,
        shield: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        self._data: dict[str, Any] = dict(initial or {})
        self._version = 0
        self._changes: list[Change] = []
        self._seq: dict[tuple[str | None, int | None, int | None], int] = {}
        #: by (step, attempt, item): the batches that attempt already wrote, in order, as (op, key, value)
        self.replay: dict[tuple[str | None, int | None, int | None], list[list[tuple[str, str, Any]]]] = {}
        self._lock = threading.Lock()
        self._notify_lock = threading.Lock()
        self.on_change = on_change
        #: wraps each change so that a step being stopped cannot tear it half-applied
        self.shield = shield

    @property
    def version(self) -> int:
        return self._version

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def contains(self, key: str) -> bool:
        return key in self._data

    def snapshot(self) -> dict[str, Any]:
        """A shallow copy of the data (values are JSON and never mutated in place)."""
        with self._lock:
            return dict(self._data)

    def restore(self, data: Mapping[str, Any], version: int, history: Iterable[Change]) -> None:
        """Start from a stored state (a resumed run): its data, version and history."""
        with self._lock:
            self._data = dict(data)
            self._version = version
            self._changes = list(history)
            for change in self._changes:
                source = change.source
                unit = (source.step, source.attempt, source.item)
                if change.seq > self._seq.get(unit, 0):
                    self._seq[unit] = change.seq

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
                for operation in batch:
                    old = self._data.get(operation.key, _MISSING)
                    if operation.op == "delete":
                        if old is _MISSING:
                            continue
                        del self._data[operation.key]
                        new: Any = None
                    else:
                        new = operation.value
                        self._data[operation.key] = new
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
            if applied and self.on_change is not None:
                self.on_change(applied)
        return applied

    def _replayed(self, batch: list[Operation], source: ChangeSource) -> bool:
        """Whether ``batch`` repeats the next batch this attempt wrote before its runner died."""
        if not self.replay:
            return False
        unit = (source.step, source.attempt, source.item)
        earlier = self.replay.get(unit)
        if not earlier:
            return False
        if earlier[0] != [(op.op, op.key, op.value) for op in batch]:
            del self.replay[unit]  # it went another way this time: what follows is new
            return False
        earlier.pop(0)
        return True

    def history(self, key: str | None = None) -> list[Change]:
        with self._lock:
            if key is None:
                return list(self._changes)
            return [change for change in self._changes if change.key == key]
