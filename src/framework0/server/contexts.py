"""The named contexts a server holds: compare-and-set writes, group commit, reads and history.

One writer thread owns every write. Writes that arrive together are resolved in arrival order
against the current keys and committed in one transaction (group commit); each is acknowledged
only after that commit, so an acknowledged write survives a crash. The writer keeps each context's
committed keys in memory for reads; several servers on one PostgreSQL stay correct because the
writer locks the context's row and catches up on versions another server wrote before resolving,
and reads are linearizable: a read checks the context's stored version first and answers from
memory only when the copy is that recent (``read``), unless this server is the store's only
writer (``OnlyWriter``: SQLite). Every committed change is published on the server's event bus as
a ``ContextChanged``.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from framework0.context.changes import Change, ChangeSource
from framework0.context.merge import ChangeRequest, Resolution, Strategies, resolve
from framework0.errors import ContextConflict, ContextError, ContextExists, HistoryGone, StoreError, UnknownVersion
from framework0.events import EventBus
from framework0.events.types import ContextChanged
from framework0.store.codec import dumps
from framework0.store.database import Store
from framework0.store.shared import ChangeRow, ContextRow, SharedContexts
from framework0.store.url import sqlite_path

log = logging.getLogger(__name__)

Done = Callable[[Any], None]  # called once with the result, or with the exception

MAX_BATCH = 2000  # writes committed in one transaction at most

#: a stored change entry's op ("create": the key was absent) as a context Change's op
_BUS_OP = {"create": "set", "set": "set", "delete": "delete"}


@dataclass(slots=True)
class _Context:
    """A context's committed state, as the writer last saw it in the store."""

    name: str
    version: int
    oldest: int
    strategies: Strategies
    created_at: float
    keys: dict[str, tuple[Any, int]]


@dataclass(slots=True)
class _Write:
    name: str
    request: ChangeRequest
    source: dict[str, Any]
    write_id: str | None
    done: Done


@dataclass(slots=True)
class _Create:
    name: str
    strategies: Strategies
    replace: bool  # True: set the rules of a context that may exist; False: create, refuse if it exists
    done: Done


@dataclass(slots=True)
class _Load:
    name: str
    done: Done


@dataclass(slots=True)
class _Notice:
    """Another server committed ``version`` of ``name`` (PostgreSQL NOTIFY)."""

    name: str
    version: int


@dataclass(slots=True)
class _Pending:
    """What one group commit changes in one context, before it is committed."""

    context: _Context
    version: int
    keys: dict[str, tuple[Any, int] | None] = field(default_factory=dict)  # None: deleted
    created: bool = False
    strategies: Strategies | None = None

    def read(self, key: str) -> tuple[Any, int] | None:
        if key in self.keys:
            return self.keys[key]
        return self.context.keys.get(key)


class OnlyWriter:
    """Whether this server is the only one writing its store's contexts (then its copy in memory is
    always current and reads need no store round trip).

    Never on PostgreSQL (several servers share it). On SQLite, one server process writes: the one
    that holds an exclusive lock on ``DATABASE.server.lock`` (``flock``, released by the kernel
    when the process ends, even by kill -9). A second server on the same file reads through the
    store and refuses writes, with a message, until the first one ends and it takes the lock over.
    An in-memory database has one process by nature; where the lock cannot be taken (not POSIX, a
    folder it cannot write) the server writes and checks every read against the store."""

    def __init__(self, store: Store) -> None:
        self.path: str | None = None
        self.held = False
        self.file: Any = None
        if store.dialect != "sqlite":
            return
        database = sqlite_path(store.url)
        if database is None:
            self.held = True
        elif os.name == "posix":
            self.path = f"{database}.server.lock"

    def refusal(self, prepare: Callable[[], None] | None = None) -> str | None:
        """Why this server may not write now (another server holds the lock), or None; takes the
        lock when it is free, calling ``prepare`` first once it is taken (before ``held`` is set)."""
        if self.held or self.path is None or self._claim(prepare):
            return None
        return (
            f"another f0 serve writes this SQLite store ({self.path} is locked): SQLite serves one "
            f"server process; stop the other one, or serve several from PostgreSQL"
        )

    def _claim(self, prepare: Callable[[], None] | None) -> bool:
        import fcntl

        assert self.path is not None
        try:
            if self.file is None:
                self.file = open(self.path, "a")  # held until release()
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as error:  # cannot lock here: write, and read through the store
            log.warning("cannot lock %s (%s): reads check the store", self.path, error)
            self.path = None
            return False
        if prepare is not None:
            prepare()
        self.held = True
        return True

    def release(self) -> None:
        if self.file is not None:
            self.file.close()  # closing the file releases the flock
            self.file = None
        self.held = self.held and self.path is None  # an in-memory database stays held


class ContextService:
    """The server's named contexts. ``start()`` before use, ``close()`` at the end."""

    def __init__(self, store: Store, bus: EventBus, *, node: str, keep_history: int | None = None) -> None:
        self.store = store
        self.tables = SharedContexts(store)
        self.bus = bus
        self.node = node
        self.keep_history = keep_history
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._contexts: dict[str, _Context] = {}
        self._lock = threading.Lock()  # guards _contexts for readers; only the writer changes it
        self._thread: threading.Thread | None = None
        self.writer = OnlyWriter(store)
        self.commits = 0  # transactions committed (the group commit's effect shows as writes / commits)
        self.writes = 0

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        refusal = self.writer.refusal()
        if refusal is not None:
            log.warning("%s; this server reads, and refuses writes until then", refusal)
        self._thread = threading.Thread(target=self._loop, name="f0-context-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None
        self.writer.release()
        self.tables.close()

    @property
    def only_writer(self) -> bool:
        """Whether no other process writes this store's contexts: the copy in memory is then
        always current, and reads need no store round trip (see ``OnlyWriter``)."""
        return self.writer.held

    @property
    def alive(self) -> bool:
        """Whether the writer thread runs (a server whose writer stopped is not healthy)."""
        return self._thread is not None and self._thread.is_alive()

    # -- requests (any thread) --------------------------------------------------------------------

    def submit(
        self, name: str, request: ChangeRequest, source: Mapping[str, Any], write_id: str | None, done: Done
    ) -> None:
        """Queue one atomic change; ``done`` gets its version, or ContextConflict / StoreError."""
        self._queue.put(_Write(name, request, dict(source), write_id, done))

    def submit_create(self, name: str, strategies: Strategies, done: Done, *, replace: bool = False) -> None:
        """Queue the creation of a context with its merge rules; ``done`` gets its ContextRow."""
        self._queue.put(_Create(name, strategies, replace, done))

    def submit_load(self, name: str, done: Done) -> None:
        """Queue loading a context into memory; ``done`` gets True (False: no such context)."""
        self._queue.put(_Load(name, done))

    def notice(self, name: str, version: int) -> None:
        """Another server committed ``version`` of ``name``: catch up and publish it."""
        self._queue.put(_Notice(name, version))

    # -- reads (any thread) -----------------------------------------------------------------------

    def cached(self, name: str) -> bool:
        return name in self._contexts

    def behind(self, name: str) -> bool:
        """Whether the store holds a version of ``name`` newer than the copy in memory (blocking:
        one indexed read; never, for the store's only writer)."""
        if self.writer.held:
            return False
        stored = self.tables.version(name)
        with self._lock:
            context = self._contexts.get(name)
            return stored is not None and (context is None or context.version < stored)

    def held(self, name: str) -> bool:
        """Whether ``read`` and ``read_key`` answer ``name`` from memory at once (no blocking)."""
        return self.writer.held and name in self._contexts

    def current(self, name: str) -> tuple[int, dict[str, Any]] | None:
        """The context's version and data, or None when it is not loaded (see ``submit_load``)."""
        with self._lock:
            context = self._contexts.get(name)
            if context is None:
                return None
            return context.version, {key: value for key, (value, _) in context.keys.items()}

    def key(self, name: str, key: str) -> tuple[Any, int] | None:
        with self._lock:
            context = self._contexts.get(name)
            return None if context is None else context.keys.get(key)

    def describe(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            context = self._contexts.get(name)
            if context is None:
                return None
            return {
                "name": name,
                "version": context.version,
                "oldest": context.oldest,
                "keys": len(context.keys),
                "strategies": context.strategies.to_dict(),
                "created_at": context.created_at,
            }

    def read(self, name: str) -> tuple[int, dict[str, Any]] | None:
        """The context's version and data, as committed when this is called (None: no such context).

        Linearizable across servers: the context's stored version is read first (one indexed
        SELECT); the copy in memory answers only when it is at least that version, else the
        store does (one statement, one snapshot) and the writer catches the copy up. A server
        that is its store's only writer answers from memory (``only_writer``). Blocking: call
        it from a worker thread."""
        if self.only_writer:
            with self._lock:
                context = self._contexts.get(name)
                if context is not None:
                    return context.version, {key: value for key, (value, _) in context.keys.items()}
        stored = self.tables.version(name)
        if stored is None:
            return None
        with self._lock:
            context = self._contexts.get(name)
            if context is not None and context.version >= stored:
                return context.version, {key: value for key, (value, _) in context.keys.items()}
        snapshot = self.tables.snapshot(name)
        if snapshot is None:
            return None
        row, keys = snapshot
        self.notice(name, row.version)  # the copy is behind (the other server's notice is late)
        return row.version, {key: value for key, (value, _) in keys.items()}

    def read_key(self, name: str, key: str) -> tuple[Any, int] | None:
        """One key's value and version as committed when this is called (None: no such key or
        context); linearizable as ``read``, and blocking too."""
        if self.only_writer:
            with self._lock:
                context = self._contexts.get(name)
                if context is not None:
                    return context.keys.get(key)
        stored = self.tables.version(name)
        if stored is None:
            return None
        with self._lock:
            context = self._contexts.get(name)
            if context is not None and context.version >= stored:
                return context.keys.get(key)
        found = self.tables.key(name, key)
        if found is None:
            return None
        version, entry = found
        self.notice(name, version)
        return entry

    def at(self, name: str, version: int) -> dict[str, Any]:
        """The context's data as it was at ``version`` (undoing the changes made since)."""
        found = self.read(name)
        current, data = found if found is not None else (0, {})
        oldest = self.oldest(name)
        if version > current:
            raise UnknownVersion(f"context {name!r} is at version {current}; version {version} does not exist yet")
        if version < oldest:
            raise HistoryGone.since(name, version, oldest)
        rows = self.tables.changes(name, after=version, upto=current)
        if version < current and (not rows or rows[0].version != version + 1):  # trimmed meanwhile
            raise HistoryGone.since(name, version, rows[0].version - 1 if rows else current)
        for row in reversed(rows):
            for key, op, old, _new in reversed(row.changes):
                if op == "create":
                    data.pop(key, None)
                else:
                    data[key] = old
        return data

    def history(self, name: str, *, since: int = 0, key: str | None = None, limit: int = 10_000) -> list[ChangeRow]:
        """The changes after version ``since``, oldest first (HistoryGone if they are no longer held)."""
        with self._lock:
            context = self._contexts.get(name)
            oldest = 0 if context is None else context.oldest
        if since < oldest:
            raise HistoryGone.since(name, since, oldest)
        rows = self.tables.changes(name, after=since, limit=limit)
        if rows and rows[0].version != since + 1:  # trimmed while this was read
            raise HistoryGone.since(name, since, rows[0].version - 1)
        if key is not None:
            rows = [
                ChangeRow(r.version, r.at, r.source, r.write_id, [c for c in r.changes if c[0] == key])
                for r in rows
                if any(c[0] == key for c in r.changes)
            ]
        return rows

    def oldest(self, name: str) -> int:
        with self._lock:
            context = self._contexts.get(name)
            return 0 if context is None else context.oldest

    # -- the writer thread ------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                self._process(batch)
            except Exception as error:  # never lose the thread: answer every waiter
                for item in batch:
                    if not isinstance(item, _Notice):
                        _settle(item.done, error)
            if stop:
                return

    def _process(self, batch: list[Any]) -> None:
        if not self.writer.held and any(isinstance(item, (_Write, _Create)) for item in batch):
            refusal = self.writer.refusal(prepare=self._take_over)
            if refusal is not None:
                for item in batch:
                    if isinstance(item, (_Write, _Create)):
                        _settle(item.done, StoreError(refusal))
                batch = [item for item in batch if not isinstance(item, (_Write, _Create))]
                if not batch:
                    return
        names = sorted({item.name for item in batch})
        answers: list[tuple[Done, Any]] = []
        published: list[ContextChanged] = []
        try:
            with self.tables.transaction() as connection:
                writes = any(isinstance(item, (_Write, _Create)) for item in batch)
                rows = self.tables.lock(connection, names, write=writes)
                pending: dict[str, _Pending] = {}
                for name in names:
                    row = rows.get(name)
                    if row is not None:
                        published.extend(self._catch_up(connection, row))
                        context = self._contexts[name]
                        pending[name] = _Pending(context, context.version)
                written: dict[str, dict[str, int]] = {}
                for name in names:
                    ids = [i.write_id for i in batch if isinstance(i, _Write) and i.name == name and i.write_id]
                    if ids and name in pending:
                        written[name] = self.tables.written(connection, name, ids)
                changes: list[dict[str, Any]] = []
                now = time.time()
                for item in batch:
                    if isinstance(item, _Notice):
                        continue
                    if isinstance(item, _Load):
                        answers.append((item.done, item.name in pending))
                        continue
                    work = pending.get(item.name)
                    if isinstance(item, _Create):
                        answers.append((item.done, self._create(connection, item, work, pending, now)))
                        continue
                    if work is None:
                        work = self._new(connection, item.name, {}, now, pending, published)
                    answers.append(
                        (item.done, self._resolve(item, work, written.setdefault(item.name, {}), changes, now))
                    )
                upserts: list[dict[str, Any]] = []
                deletes: list[dict[str, Any]] = []
                versions: dict[str, int] = {}
                for name, work in pending.items():
                    if work.version != work.context.version:
                        versions[name] = work.version
                    for key, entry in work.keys.items():
                        if entry is None:
                            deletes.append({"c": name, "k": key})
                        else:
                            upserts.append({"context": name, "key": key, "value": dumps(entry[0]), "version": entry[1]})
                self.tables.write(connection, changes=changes, upserts=upserts, deletes=deletes, versions=versions)
                self.tables.announce(connection, versions)
        except StoreError as error:
            for item in batch:
                if not isinstance(item, _Notice):
                    _settle(item.done, error)
            self._publish(published)
            return
        self.commits += 1
        self.writes += len(changes)
        with self._lock:
            for name, work in pending.items():
                context = work.context
                if work.created:
                    self._contexts[name] = context
                for key, entry in work.keys.items():
                    if entry is None:
                        context.keys.pop(key, None)
                    else:
                        context.keys[key] = entry
                context.version = work.version
                if work.strategies is not None:
                    context.strategies = work.strategies
        published.extend(self._events(changes))
        self._publish(published)
        _answer(answers)
        if self.keep_history is not None:
            self._trim(versions)

    def _take_over(self) -> None:
        """The other server on this SQLite store ended and this one is its only writer now: forget
        the copies in memory (read again from the store as they are needed)."""
        with self._lock:
            self._contexts.clear()
        log.warning("this server now writes its SQLite store (the other server ended)")

    def _catch_up(self, connection: Any, row: ContextRow) -> list[ContextChanged]:
        """Bring the cached context up to the stored row (another server may have written since)."""
        context = self._contexts.get(row.name)
        if context is not None and context.version == row.version:
            context.oldest = row.oldest
            return []
        if context is None or context.version > row.version or row.version - context.version > 1000:
            # the row and its keys in one snapshot: unlocked (a notice, a load), another server
            # may commit between two statements
            snapshot = self.tables.snapshot(row.name, connection)
            if snapshot is not None:
                row, keys = snapshot
            else:
                keys = self.tables.keys(connection, row.name)
            fresh = _Context(row.name, row.version, row.oldest, Strategies(row.strategies), row.created_at, keys)
            with self._lock:
                self._contexts[row.name] = fresh
            return []
        rows = self.tables.changes(row.name, after=context.version, upto=row.version, connection=connection)
        with self._lock:
            for change in rows:
                for key, op, _old, new in change.changes:
                    if op == "delete":
                        context.keys.pop(key, None)
                    else:
                        context.keys[key] = (new, change.version)
            context.version = row.version
            context.oldest = row.oldest
            context.strategies = Strategies(row.strategies)
        return [_event(row.name, change) for change in rows]

    def _new(
        self,
        connection: Any,
        name: str,
        rules: dict[str, str],
        now: float,
        pending: dict[str, _Pending],
        published: list[ContextChanged],
    ) -> _Pending:
        """Create a context absent when the group began (on PostgreSQL another server may have
        created, even written, it since: then it is that one, caught up)."""
        row = self.tables.create(connection, name, rules, now)
        if row.version == 0 and row.strategies == rules:
            work = pending[name] = _Pending(_empty(row), row.version, created=True)
            return work
        published.extend(self._catch_up(connection, row))
        context = self._contexts[name]
        work = pending[name] = _Pending(context, context.version)
        return work

    def _create(
        self, connection: Any, item: _Create, work: _Pending | None, pending: dict[str, _Pending], now: float
    ) -> Any:
        rules = item.strategies.to_dict()
        if work is None:
            work = self._new(connection, item.name, rules, now, pending, [])
            if work.created:
                return _row(work)
        current = work.strategies or work.context.strategies
        if current == item.strategies:
            return _row(work)
        if not item.replace:
            return ContextExists(
                f"context {item.name!r} already exists with rules {current.to_dict()}; "
                f"PUT /api/v1/contexts/{item.name}/strategies to change them"
            )
        self.tables.set_strategies(connection, item.name, rules)
        work.strategies = item.strategies
        return _row(work)

    def _resolve(
        self, item: _Write, work: _Pending, written: dict[str, int], changes: list[dict[str, Any]], now: float
    ) -> Any:
        if item.write_id and item.write_id in written:
            return written[item.write_id]  # the same write again (a retry): acknowledged once, written once
        try:
            resolution: Resolution = resolve(item.request, work.read, work.strategies or work.context.strategies)
        except ContextError as error:
            return error
        if resolution.conflicts:
            return ContextConflict({c.key: (c.expected, c.current) for c in resolution.conflicts})
        entries: list[list[Any]] = []
        version = work.version + 1
        for operation in resolution.operations:
            before = work.read(operation.key)
            if operation.op == "delete":
                if before is None:
                    continue
                work.keys[operation.key] = None
                entries.append([operation.key, "delete", before[0], None])
            else:
                work.keys[operation.key] = (operation.value, version)
                if before is None:
                    entries.append([operation.key, "create", None, operation.value])
                else:
                    entries.append([operation.key, "set", before[0], operation.value])
        if not entries:
            return work.version
        work.version = version
        if item.write_id:
            written[item.write_id] = version
        changes.append(
            {
                "context": item.name,
                "version": version,
                "at": now,
                "source": dumps(item.source),
                "write_id": item.write_id,
                "changes": dumps(entries),
                # for publishing, not stored:
                "_source": item.source,
                "_entries": entries,
            }
        )
        return version

    def _events(self, changes: list[dict[str, Any]]) -> list[ContextChanged]:
        events = []
        for row in changes:
            change = ChangeRow(row["version"], row["at"], row.pop("_source"), row["write_id"], row.pop("_entries"))
            events.append(_event(row["context"], change))
        return events

    def _publish(self, events: list[ContextChanged]) -> None:
        for event in events:
            self.bus.publish(event)

    def _trim(self, versions: dict[str, int]) -> None:
        keep = self.keep_history
        assert keep is not None
        for name, version in versions.items():
            context = self._contexts.get(name)
            if context is not None and version - context.oldest > keep + max(100, keep // 10):
                try:
                    oldest = self.tables.trim(name, keep)
                except StoreError:
                    continue  # the history stays longer; the next commit tries again
                with self._lock:
                    context.oldest = oldest


class LoopDone:
    """A ``Done`` that answers in an asyncio event loop: the writer wakes each loop once per
    group commit for all its answers, not once per write."""

    __slots__ = ("callback", "loop")

    def __init__(self, loop: Any, callback: Callable[[Any], None]) -> None:
        self.loop = loop
        self.callback = callback

    def __call__(self, answer: Any) -> None:
        self.loop.call_soon_threadsafe(self.callback, answer)


def _answer(answers: list[tuple[Done, Any]]) -> None:
    by_loop: dict[Any, list[tuple[Callable[[Any], None], Any]]] = {}
    for done, answer in answers:
        if type(done) is LoopDone:
            by_loop.setdefault(done.loop, []).append((done.callback, answer))
        else:
            _settle(done, answer)
    for loop, calls in by_loop.items():
        try:
            loop.call_soon_threadsafe(_call_all, calls)
        except RuntimeError:
            pass  # the loop closed: its server is stopping


def _call_all(calls: list[tuple[Callable[[Any], None], Any]]) -> None:
    for callback, answer in calls:
        _settle(callback, answer)


def _settle(done: Done, answer: Any) -> None:
    try:
        done(answer)
    except Exception:  # a waiter that went away (a closed connection) must not stop the writer
        pass


def _empty(row: ContextRow) -> _Context:
    return _Context(row.name, row.version, row.oldest, Strategies(row.strategies), row.created_at, {})


def _row(work: _Pending) -> ContextRow:
    context = work.context
    rules = (work.strategies or context.strategies).to_dict()
    return ContextRow(context.name, work.version, context.oldest, rules, context.created_at)


def source_of(source: Mapping[str, Any]) -> ChangeSource:
    """The ChangeSource a stored source dict describes."""
    attempt, item = source.get("attempt"), source.get("item")
    return ChangeSource(
        node=str(source.get("node") or ""),
        step=source.get("step") if isinstance(source.get("step"), str) else None,
        attempt=attempt if isinstance(attempt, int) else None,
        item=item if isinstance(item, int) else None,
    )


def _event(name: str, row: ChangeRow) -> ContextChanged:
    source = source_of(row.source)
    changes = tuple(
        Change(version=row.version, key=key, op=_BUS_OP[op], old=old, new=new, at=row.at, source=source)
        for key, op, old, new in row.changes
    )
    run = row.source.get("run")
    return ContextChanged(run if isinstance(run, str) else "", changes, name)
