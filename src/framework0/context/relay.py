"""A run's context as an attempt in another process sees it: reads from a view taken as the
attempt starts, writes relayed to the run's own state, which applies them as operations.

Plain writes (``set``, ``update``, ``delete``) are kept here and sent on with the next atomic
change, or with the attempt's outcome. An atomic change (an increment, a set addition or removal,
a compare-and-set, ``Context.change``) is a request the run's state resolves against its current
values, never a value computed here from a stale view: so increments are never lost, a
compare-and-set against a version that has moved on raises ContextConflict in the step, and the
step gets the true new value back. The transport is injected (``Relay``): a pipe for the process
executor, Dask events for the dask executor; ``answer`` is what the runner's side does with it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from framework0.context.changes import Change, ChangeSource, Operation
from framework0.context.merge import ChangeRequest
from framework0.context.state import ContextState
from framework0.errors import ContextConflict, ContextError

Batch = tuple[ChangeSource, list[Operation]]


@dataclass(frozen=True, slots=True)
class ContextView:
    """The context as an attempt elsewhere starts with: data, each key's version, the version."""

    data: Mapping[str, Any]
    key_versions: Mapping[str, int]
    version: int

    @classmethod
    def of(cls, state: ContextState) -> ContextView:
        data, key_versions, version = state.snapshot_versions()
        return cls(data, key_versions, version)


@dataclass(frozen=True, slots=True)
class Relayed:
    """What an attempt elsewhere asks the run's state to do, in order: apply its plain ``batches``
    written since the last relay, then ``request`` (if any); and send back ``keys``' values."""

    source: ChangeSource
    batches: list[Batch]
    request: ChangeRequest | None
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    """The run's state's answer: the changes the request made, the current value and version of
    each key asked about (None: absent), the context's version, or why the request failed."""

    changes: list[Change] = field(default_factory=list)
    current: Mapping[str, tuple[Any, int] | None] = field(default_factory=dict)
    version: int = 0
    #: a stale compare-and-set: key -> (expected, current)
    conflicts: Mapping[str, tuple[int, int]] | None = None
    #: another error, raised in the step as this class with this message
    error: tuple[type[Exception], str] | None = None

    def raise_error(self) -> None:
        if self.conflicts is not None:
            raise ContextConflict(dict(self.conflicts))
        if self.error is not None:
            kind, message = self.error
            try:
                failure = kind(message)
            except Exception:  # a class that wants other arguments
                failure = ContextError(message)
            raise failure


Relay = Callable[[Relayed], Callable[[], Answer]]
"""Sends a relayed change (never torn in half: it runs shielded) and returns the wait for its answer."""


def answer(state: ContextState, relayed: Relayed) -> Answer:
    """Apply ``relayed`` to the run's ``state``: its batches, then its request; the answer."""
    for source, batch in relayed.batches:
        state.apply(batch, source)
    changes: list[Change] = []
    try:
        if relayed.request is not None:
            changes = state.apply_request(relayed.request, relayed.source)
    except ContextConflict as error:
        version, current = state.entries(relayed.keys)
        return Answer(current=current, version=version, conflicts=error.conflicts)
    except ContextError as error:
        version, current = state.entries(relayed.keys)
        return Answer(current=current, version=version, error=(type(error), str(error)))
    version, current = state.entries(relayed.keys)
    return Answer(changes, current, version)


def apply_batches(state: ContextState, batches: Iterable[Batch]) -> None:
    """Apply an attempt's last plain writes, sent with its outcome."""
    for source, batch in batches:
        state.apply(batch, source)


class RelayedState(ContextState):
    """The context of an attempt away from the run's state: reads from ``view``; plain writes kept
    until the next relay or the outcome (``drain``); atomic changes relayed and waited for."""

    def __init__(
        self,
        view: ContextView | None,
        relay: Relay,
        *,
        shield: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        super().__init__(view.data if view is not None else None, shield=shield)
        if view is not None:
            self._key_versions = dict(view.key_versions)
            self._version = view.version
        self._relay = relay
        self._pending: list[Batch] = []
        self._unsettled: set[str] = set()  # written here: only the run's state knows their version

    def apply(self, operations: Iterable[Operation], source: ChangeSource) -> list[Change]:
        batch = list(operations)
        now = time.time()
        applied: list[Change] = []
        with self.shield(), self._lock:
            for operation in batch:
                old = self._data.get(operation.key)
                if operation.op == "delete":
                    if operation.key not in self._data:
                        continue
                    del self._data[operation.key]
                else:
                    self._data[operation.key] = operation.value
                self._unsettled.add(operation.key)
                applied.append(Change(self._version, operation.key, operation.op, old, operation.value, now, source))
            if applied:
                self._pending.append((source, batch))
                self._changes.extend(applied)
                self._batches += 1
        if applied and self._waiters:
            self._wake_waiters()
        return applied

    def apply_request(self, request: ChangeRequest, source: ChangeSource) -> list[Change]:
        keys = {*request.set, *request.delete, *request.increment, *request.add, *request.remove, *request.expected}
        result = self._send(source, request, keys)
        result.raise_error()
        with self._lock:
            self._changes.extend(result.changes)
        return result.changes

    def key_version(self, key: str) -> int:
        if key in self._unsettled:  # its version is the one the run's state gave the write
            self._send(None, None, {key})
        return super().key_version(key)

    def drain(self) -> list[Batch]:
        """The plain writes not relayed yet, to send with the outcome."""
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def _send(self, source: ChangeSource | None, request: ChangeRequest | None, keys: set[str]) -> Answer:
        with self.shield():
            with self._lock:
                pending, self._pending = self._pending, []
            for batch_source, batch in pending:
                keys.update(operation.key for operation in batch)
                source = source or batch_source
            if source is None:  # nothing to send: a key_version after a write that changed nothing
                source = ChangeSource("")
            wait = self._relay(Relayed(source, pending, request, tuple(sorted(keys))))
        result = wait()
        with self._lock:
            rewritten = {operation.key for _, batch in self._pending for operation in batch}
            for key, entry in result.current.items():
                if key in rewritten:
                    continue  # written here again meanwhile (by another thread of the step)
                self._unsettled.discard(key)
                if entry is None:
                    self._data.pop(key, None)
                    self._key_versions.pop(key, None)
                else:
                    self._data[key], self._key_versions[key] = entry
            self._version = max(self._version, result.version)
            self._batches += 1
        if self._waiters:
            self._wake_waiters()
        return result


class Answers:
    """The worker's side of a relay: numbered requests and the waits for their answers, which
    another thread delivers (``deliver``) as they come back."""

    def __init__(self, *, poll: float = 0.1, timeout: float | None = None) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[threading.Event, list[Answer]]] = {}
        self._tickets = itertools.count(1)
        self._gone: str | None = None
        self._poll = poll
        self._timeout = timeout

    def open(self) -> tuple[int, Callable[[], Answer]]:
        """A new ticket and the wait for its answer: it returns once ``deliver`` has it, looking
        every ``poll`` seconds (so a cancel raised into the waiting thread lands)."""
        done, box = threading.Event(), list[Answer]()
        with self._lock:
            ticket = next(self._tickets)
            if self._gone is None:
                self._waiting[ticket] = (done, box)
            else:
                box.append(Answer(error=(ContextError, self._gone)))
                done.set()

        def wait() -> Answer:
            deadline = None if self._timeout is None else time.monotonic() + self._timeout
            while not done.wait(self._poll):
                if deadline is not None and time.monotonic() > deadline:
                    with self._lock:
                        self._waiting.pop(ticket, None)
                    message = f"the runner did not answer a context change in {self._timeout:g}s"
                    return Answer(error=(ContextError, message))
            return box[0]

        return ticket, wait

    def deliver(self, ticket: int, answer: Answer) -> None:
        with self._lock:
            entry = self._waiting.pop(ticket, None)
        if entry is not None:
            entry[1].append(answer)
            entry[0].set()

    def close(self, why: str) -> None:
        """No answer will come (the runner went away): every wait, now and later, fails with ``why``."""
        with self._lock:
            self._gone = why
            waiting, self._waiting = self._waiting, {}
        for done, box in waiting.values():
            box.append(Answer(error=(ContextError, why)))
            done.set()
