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
    """Applies batches of operations atomically; each changed key gets the next version.

    ``on_change`` (if given) is called with each batch of changes after it is applied, outside
    the lock, in the order the batches were applied.
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

    def apply(self, operations: Iterable[Operation], source: ChangeSource) -> list[Change]:
        """Apply all operations as one batch; deleting an absent key records nothing."""
        now = time.time()
        applied: list[Change] = []
        with self.shield(), self._notify_lock:
            with self._lock:
                for operation in operations:
                    old = self._data.get(operation.key, _MISSING)
                    if operation.op == "delete":
                        if old is _MISSING:
                            continue
                        del self._data[operation.key]
                        new: Any = None
                    else:
                        new = operation.value
                        self._data[operation.key] = new
                    self._version += 1
                    change = Change(
                        version=self._version,
                        key=operation.key,
                        op=operation.op,
                        old=None if old is _MISSING else old,
                        new=new,
                        at=now,
                        source=source,
                    )
                    self._changes.append(change)
                    applied.append(change)
            if applied and self.on_change is not None:
                self.on_change(applied)
        return applied

    def history(self, key: str | None = None) -> list[Change]:
        with self._lock:
            if key is None:
                return list(self._changes)
            return [change for change in self._changes if change.key == key]
