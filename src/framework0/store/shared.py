"""The context server's named contexts in the store: their keys, versions and change history.

The server's writer calls these inside one transaction per group of writes (``transaction``,
``lock``, ``write``); readers call the rest. SQLite and PostgreSQL run the same statements; only
locking differs (a row lock on PostgreSQL, the database write lock on SQLite).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from framework0.errors import StoreError
from framework0.store import failures
from framework0.store.codec import dumps
from framework0.store.database import Store, describe_error
from framework0.store.schema import shared_changes, shared_contexts, shared_keys

#: the PostgreSQL channel a server announces committed changes on: payload "VERSION NAME"
CHANNEL = "framework0_contexts"


@dataclass(frozen=True, slots=True)
class ContextRow:
    """A named context as stored: its version, the oldest version its history holds, its rules."""

    name: str
    version: int
    oldest: int
    strategies: dict[str, str]
    created_at: float


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One stored change: its version, when, who wrote it, and each key's old and new value."""

    version: int
    at: float
    source: dict[str, Any]
    write_id: str | None
    changes: list[list[Any]]  # [[key, op, old, new], ...]; op: create (the key was absent), set, delete


class SharedContexts:
    """Reads and writes the named contexts of one store (thread-safe: one connection per call)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine
        self.dialect = store.dialect
        self._probes = _Probes(store) if self.dialect == "postgresql" else None

    def close(self) -> None:
        """Close the connections kept for reading versions."""
        if self._probes is not None:
            self._probes.close()

    # -- the writer's transaction -----------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back (and StoreError) on failure."""
        try:
            with self.engine.begin() as connection:
                yield connection
        except sa.exc.SQLAlchemyError as error:
            raise StoreError(describe_error(error, self.store.url)) from error

    def lock(self, connection: Connection, names: Sequence[str], *, write: bool = True) -> dict[str, ContextRow]:
        """Take the write lock on these contexts (those that exist) and read their rows
        (``write=False``: only read them, as a group that writes nothing does)."""
        if not write:
            query = sa.select(shared_contexts).where(shared_contexts.c.name.in_(names))
            return {row.name: _context_row(row) for row in connection.execute(query)}
        if self.dialect == "sqlite":
            # the first write of a SQLite transaction takes the database's write lock: do it first,
            # so that what is read next cannot change before commit
            connection.execute(
                shared_contexts.update()
                .where(shared_contexts.c.name.in_(names))
                .values(version=shared_contexts.c.version)
            )
            query = sa.select(shared_contexts).where(shared_contexts.c.name.in_(names))
        else:
            query = (
                sa.select(shared_contexts)
                .where(shared_contexts.c.name.in_(names))
                .order_by(shared_contexts.c.name)  # one lock order: two servers cannot deadlock
                .with_for_update()
            )
        return {row.name: _context_row(row) for row in connection.execute(query)}

    def create(self, connection: Connection, name: str, strategies: dict[str, str], at: float) -> ContextRow:
        """Insert a new, empty context (the caller holds the lock and knows it is absent)."""
        row = ContextRow(name, 0, 0, dict(strategies), at)
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        statement = insert(shared_contexts).on_conflict_do_nothing(index_elements=["name"])
        connection.execute(
            statement, {"name": name, "version": 0, "oldest": 0, "strategies": dumps(strategies), "created_at": at}
        )
        if self.dialect == "postgresql":  # another server may have made it first: take its row, locked
            return self.lock(connection, [name])[name]
        return row

    def keys(self, connection: Connection, name: str) -> dict[str, tuple[Any, int]]:
        """Every key of a context with its value and version."""
        query = sa.select(shared_keys.c.key, shared_keys.c.value, shared_keys.c.version).where(
            shared_keys.c.context == name
        )
        return {key: (json.loads(value), version) for key, value, version in connection.execute(query)}

    def written(self, connection: Connection, name: str, write_ids: Iterable[str]) -> dict[str, int]:
        """The versions that writes with these idempotency keys already made."""
        ids = list(write_ids)
        if not ids:
            return {}
        query = sa.select(shared_changes.c.write_id, shared_changes.c.version).where(
            shared_changes.c.context == name, shared_changes.c.write_id.in_(ids)
        )
        return {write_id: version for write_id, version in connection.execute(query)}

    def write(
        self,
        connection: Connection,
        *,
        changes: list[dict[str, Any]],
        upserts: list[dict[str, Any]],
        deletes: list[dict[str, Any]],
        versions: dict[str, int],
    ) -> None:
        """Write a group of changes: their history rows, the keys they set or deleted, the new versions."""
        if changes:
            connection.execute(shared_changes.insert(), changes)
        if deletes:
            connection.execute(
                shared_keys.delete().where(
                    shared_keys.c.context == sa.bindparam("c"), shared_keys.c.key == sa.bindparam("k")
                ),
                deletes,
            )
        if upserts:
            if self.dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
            statement = insert(shared_keys)
            statement = statement.on_conflict_do_update(
                index_elements=["context", "key"],
                set_={"value": statement.excluded.value, "version": statement.excluded.version},
            )
            connection.execute(statement, upserts)
        if versions:
            connection.execute(
                shared_contexts.update()
                .where(shared_contexts.c.name == sa.bindparam("n"))
                .values(version=sa.bindparam("v")),
                [{"n": name, "v": version} for name, version in versions.items()],
            )

    def announce(self, connection: Connection, versions: dict[str, int]) -> None:
        """Tell the other servers (PostgreSQL NOTIFY, delivered on commit) which versions now exist."""
        if self.dialect != "postgresql":
            return
        for name, version in versions.items():
            connection.execute(sa.select(sa.func.pg_notify(CHANNEL, f"{version} {name}")))

    def set_strategies(self, connection: Connection, name: str, strategies: dict[str, str]) -> None:
        connection.execute(
            shared_contexts.update().where(shared_contexts.c.name == name).values(strategies=dumps(strategies))
        )

    # -- reading ----------------------------------------------------------------------------------

    def get(self, name: str) -> ContextRow | None:
        with self._read() as connection:
            row = connection.execute(sa.select(shared_contexts).where(shared_contexts.c.name == name)).first()
        return None if row is None else _context_row(row)

    def version(self, name: str) -> int | None:
        """The context's committed version (None: no such context): one indexed read, and on
        PostgreSQL one round trip (see ``_Probes``)."""
        if self._probes is not None:
            return self._probes.version(name)
        with self._read() as connection:
            found = connection.execute(
                sa.select(shared_contexts.c.version).where(shared_contexts.c.name == name)
            ).scalar()
        return None if found is None else int(found)

    def key(self, name: str, key: str) -> tuple[int, tuple[Any, int] | None] | None:
        """The context's version and one key's value and version (None: absent), read together
        (one statement: one snapshot); None when there is no such context."""
        query = (
            sa.select(shared_contexts.c.version, shared_keys.c.value, shared_keys.c.version.label("key_version"))
            .select_from(
                shared_contexts.outerjoin(
                    shared_keys, sa.and_(shared_keys.c.context == shared_contexts.c.name, shared_keys.c.key == key)
                )
            )
            .where(shared_contexts.c.name == name)
        )
        with self._read() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return int(row.version), (None if row.value is None else (json.loads(row.value), int(row.key_version)))

    def snapshot(
        self, name: str, connection: Connection | None = None
    ) -> tuple[ContextRow, dict[str, tuple[Any, int]]] | None:
        """A context's row and all its keys as of one moment (one statement: one snapshot, even
        while another server commits); None when there is no such context."""
        query = (
            sa.select(
                shared_contexts,
                shared_keys.c.key,
                shared_keys.c.value,
                shared_keys.c.version.label("key_version"),
            )
            .select_from(shared_contexts.outerjoin(shared_keys, shared_keys.c.context == shared_contexts.c.name))
            .where(shared_contexts.c.name == name)
        )
        if connection is not None:
            rows = connection.execute(query).all()
        else:
            with self._read() as own:
                rows = own.execute(query).all()
        if not rows:
            return None
        keys = {row.key: (json.loads(row.value), int(row.key_version)) for row in rows if row.key is not None}
        return _context_row(rows[0]), keys

    def list_contexts(self) -> list[ContextRow]:
        with self._read() as connection:
            rows = connection.execute(sa.select(shared_contexts).order_by(shared_contexts.c.name)).all()
        return [_context_row(row) for row in rows]

    def changes(
        self,
        name: str,
        *,
        after: int = 0,
        upto: int | None = None,
        limit: int | None = None,
        connection: Connection | None = None,
    ) -> list[ChangeRow]:
        """The changes with ``after < version <= upto``, oldest first."""
        query = (
            sa.select(
                shared_changes.c.version,
                shared_changes.c.at,
                shared_changes.c.source,
                shared_changes.c.write_id,
                shared_changes.c.changes,
            )
            .where(shared_changes.c.context == name, shared_changes.c.version > after)
            .order_by(shared_changes.c.version)
        )
        if upto is not None:
            query = query.where(shared_changes.c.version <= upto)
        if limit is not None:
            query = query.limit(limit)
        if connection is not None:
            rows = connection.execute(query).all()
        else:
            with self._read() as own:
                rows = own.execute(query).all()
        return [ChangeRow(v, at, json.loads(source), wid, json.loads(changes)) for v, at, source, wid, changes in rows]

    def trim(self, name: str, keep: int) -> int:
        """Drop the history older than the last ``keep`` versions; returns the new oldest version."""
        with self.transaction() as connection:
            row = self.lock(connection, [name]).get(name)
            if row is None:
                return 0
            oldest = max(row.oldest, row.version - keep)
            if oldest > row.oldest:
                connection.execute(
                    shared_changes.delete().where(shared_changes.c.context == name, shared_changes.c.version <= oldest)
                )
                connection.execute(shared_contexts.update().where(shared_contexts.c.name == name).values(oldest=oldest))
            return oldest

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except sa.exc.SQLAlchemyError as error:
            raise StoreError(describe_error(error, self.store.url)) from error


class _Probes:
    """A few autocommit PostgreSQL connections kept aside for reading a context's version before
    every read: one round trip each (a pooled connection costs three: the pool's ping, the query,
    the reset), about 0.1 ms instead of 1 ms on a local database. At most ``SIZE`` at once (readers
    wait for one), apart from the engine's pool so that they never starve the writer."""

    SIZE = 4
    QUERY = "SELECT version FROM shared_contexts WHERE name = %s"

    def __init__(self, store: Store) -> None:
        self.store = store
        self.free: list[Any] = []
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(self.SIZE)

    def version(self, name: str) -> int | None:
        with self.slots:
            with self.lock:
                connection = self.free.pop() if self.free else None
            for attempt in range(2):  # a kept connection may have died (a database restart): once more on a new one
                reused = connection is not None
                try:
                    if connection is None:
                        connection = self._connect()
                    row = connection.execute(self.QUERY, (name,)).fetchone()
                except Exception as error:
                    if connection is not None:
                        _close_quietly(connection)
                        connection = None
                    if reused and attempt == 0:
                        continue
                    raise StoreError(describe_error(error, self.store.url)) from error
                with self.lock:
                    self.free.append(connection)
                return None if row is None else int(row[0])
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect(self) -> Any:
        pooled = self.store.engine.raw_connection()
        connection = pooled.driver_connection
        pooled.detach()  # from now on outside the pool (its slot is free again); closed by close()
        assert connection is not None
        connection.autocommit = True
        return connection

    def close(self) -> None:
        with self.lock:
            free, self.free = self.free, []
        for connection in free:
            _close_quietly(connection)


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:
        pass


def failure_kind(error: BaseException) -> str:
    """``full`` (no space left), ``read-only`` or ``unavailable``: how a failed write is answered."""
    kind = failures.failure_kind(error)
    return "unavailable" if kind is None or kind == "locked" else kind


def _context_row(row: Any) -> ContextRow:
    return ContextRow(row.name, int(row.version), int(row.oldest), json.loads(row.strategies), float(row.created_at))
