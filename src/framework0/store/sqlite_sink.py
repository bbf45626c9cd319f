"""Writing runs to SQLite with the standard library's sqlite3: the default store's hot path.

SQLAlchemy takes ~120 ms to import, nearly a small run's whole budget, so a run on the default
store writes through sqlite3 with statements built from ``columns`` (the same tables, keys and
write modes as the SQLAlchemy sink; the contract tests run both). Reading, migrating and every
other database go through SQLAlchemy.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from framework0.errors import StoreError
from framework0.store.columns import COLUMNS, KEYS, TABLE_ORDER, WRITE_MODE
from framework0.store.failures import describe
from framework0.store.migrate import head, upgrade_sqlite
from framework0.store.schema_values import NO_ITEM

Batch = dict[str, list[Any]]  # per table: rows as dicts, or as tuples in column order

BUSY_TIMEOUT_MS = 60_000

#: SQLite's ``synchronous`` levels; FULL (the default here) makes every commit durable
SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")


def synchronous_level(value: str) -> str:
    """``value`` as a ``PRAGMA synchronous`` level; StoreError for anything else."""
    level = value.strip().upper()
    if level not in SYNCHRONOUS_LEVELS:
        raise StoreError(f"SQLite synchronous mode {value!r} is not one of {', '.join(SYNCHRONOUS_LEVELS)}")
    return level


def _statement(table: str) -> str:
    columns = COLUMNS[table]
    names = ", ".join(columns)
    values = ", ".join(f":{column}" for column in columns)
    mode = WRITE_MODE[table]
    if mode == "ignore":
        return f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({values})"
    if mode == "insert":
        return f"INSERT INTO {table} ({names}) VALUES ({values})"
    keys = KEYS[table]
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column not in keys)
    return f"INSERT INTO {table} ({names}) VALUES ({values}) ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"


STATEMENTS = {table: _statement(table) for table in TABLE_ORDER}


def _positional(table: str) -> str:
    """The same statement with ``?`` placeholders, for rows given as tuples in column order."""
    statement = _statement(table)
    return statement.replace(", ".join(f":{column}" for column in COLUMNS[table]), ", ".join("?" * len(COLUMNS[table])))


#: rows as tuples in column order (what the writer makes: cheaper to build and to bind than dicts)
POSITIONAL = {table: _positional(table) for table in TABLE_ORDER}


CACHE_WRITES = (
    "SELECT v.item, v.changes FROM context_versions v JOIN attempts a ON a.run_id = v.run_id "
    "AND a.step = v.step AND a.item = v.item AND a.attempt = v.attempt "
    "WHERE v.run_id = ? AND v.step = ? AND a.status = 'succeeded' AND a.session = "
    "(SELECT MAX(session) FROM sessions WHERE run_id = ? AND started_at <= ?) ORDER BY v.version"
)


class SqliteSink:
    """Writes batches to one SQLite file in WAL mode; every batch is one transaction."""

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self.synchronous = synchronous_level(synchronous)
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not _at_head(path):
                upgrade_sqlite(path)
            self._connection = sqlite3.connect(
                str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self._connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute(f"PRAGMA synchronous = {self.synchronous}")
        except (sqlite3.Error, OSError) as error:
            raise StoreError(describe(error, path)) from error

    def write(self, batch: Batch) -> None:
        """Write every row of ``batch`` in one transaction (all or nothing)."""
        connection = self._connection
        with self._lock:
            try:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    for table in TABLE_ORDER:
                        rows = batch.get(table)
                        if not rows:
                            continue
                        connection.executemany(STATEMENTS[table] if type(rows[0]) is dict else POSITIONAL[table], rows)
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                raise StoreError(describe(error, self.path)) from error

    def cache_get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            try:
                row = self._connection.execute(
                    "SELECT key, run_id, step, output, created_at, inputs FROM cache WHERE key = ?", (key,)
                ).fetchone()
            except sqlite3.Error as error:
                raise StoreError(describe(error, self.path)) from error
        return None if row is None else dict(zip(COLUMNS["cache"], row, strict=True))

    def cache_candidates(self, step: str) -> list[dict[str, Any]]:
        """The newest cache entries of steps named ``step`` (for explaining a miss)."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT key, run_id, step, output, created_at, inputs FROM cache WHERE step = ? "
                "ORDER BY created_at DESC LIMIT 20",
                (step,),
            ).fetchall()
        return [dict(zip(COLUMNS["cache"], row, strict=True)) for row in rows]

    def cache_writes(
        self, run_id: str, step: str, created_at: float
    ) -> list[tuple[int | None, list[list[Any]]]] | None:
        """The context writes of ``step``'s attempts that succeeded in the session of run ``run_id``
        that made a cache entry at ``created_at``, oldest first, as ``(item, [[op, key, value], ...])``
        batches; None when that run is no longer stored."""
        with self._lock:
            try:
                if self._connection.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
                    return None
                rows = self._connection.execute(CACHE_WRITES, (run_id, step, run_id, created_at)).fetchall()
            except sqlite3.Error as error:
                raise StoreError(describe(error, self.path)) from error
        return [(None if item == NO_ITEM else item, json.loads(changes)) for item, changes in rows]

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def _at_head(path: Path) -> bool:
    """Whether the file exists and its schema is the one this code writes (no SQLAlchemy needed)."""
    if not path.exists():
        return False
    connection = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
    try:  # (an unreadable file raises here: the caller says why)
        versioned = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone()
        # without the table it is a new (or empty) file: the migrations create the tables
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone() if versioned else None
    finally:
        connection.close()
    return row is not None and row[0] == head()
