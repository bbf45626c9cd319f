"""The run store: every run, step, attempt, log line and context change, durable.

``open_sink`` gives what a run writes through (sqlite3 directly for a SQLite file, SQLAlchemy for
any other URL); ``open_store`` gives the whole store over SQLAlchemy (history, resume, cleaning).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from framework0.store.url import DEFAULT_PATH, shown, sqlite_path, store_url

if TYPE_CHECKING:
    from framework0.store.database import Store

__all__ = ["RunSink", "open_sink", "open_store", "require_store", "store_url"]


class RunSink(Protocol):
    """What a run needs from the store while it runs."""

    url: str

    def write(self, batch: dict[str, list[Any]]) -> None: ...

    def cache_get(self, key: str) -> dict[str, Any] | None: ...

    def cache_candidates(self, step: str) -> list[dict[str, Any]]: ...

    def cache_writes(
        self, run_id: str, step: str, created_at: float
    ) -> list[tuple[int | None, list[list[Any]]]] | None: ...

    def close(self) -> None: ...


def open_sink(url: str | None = None, *, durability: str = "full", origin: str = "--store") -> RunSink:
    """Open the store a run writes to: ``url`` or the default SQLite file. ``durability`` is
    ``full`` (a committed step survives a power cut) or ``fast`` (SQLite synchronous=NORMAL,
    PostgreSQL synchronous_commit=off: a crash of the machine may lose the last steps recorded)."""
    resolved = store_url(url, origin=origin)
    path = sqlite_path(resolved)
    if path is not None and "?" not in resolved:
        from framework0.store.sqlite_sink import SqliteSink

        sink = SqliteSink(path, synchronous="FULL" if durability == "full" else "NORMAL")
        sink.url = resolved
        return sink
    if path is not None:
        return open_store(resolved, synchronous="FULL" if durability == "full" else "NORMAL")
    return open_store(resolved, synchronous="on" if durability == "full" else "off")


def open_store(
    url: str | None = None, *, synchronous: str | None = None, create: bool = True, origin: str = "--store"
) -> Store:
    """Open the whole store (SQLAlchemy): ``url`` or the default SQLite file; ``origin`` names where
    ``url`` came from (``--store``, ``F0_STORE``) for the messages.

    With ``create=False`` (commands that only read runs) a store that does not exist is never
    created, not even its folder: StoreNotFound says where it was looked for."""
    from framework0.store.database import Store

    resolved = require_store(url, origin=origin) if not create else store_url(url, origin=origin)
    return Store(resolved, synchronous=synchronous)


def require_store(url: str | None = None, *, origin: str = "--store") -> str:
    """The URL of the store ``url`` (or the default) names, once it is known to exist: a SQLite file
    with framework0's tables, or a PostgreSQL database with them. Creates nothing; StoreNotFound
    (exit 2) when there is no such store."""
    resolved = store_url(url, origin=origin)
    origin = origin if url else "default"
    hint = (
        "run a recipe here first, or pass --store"
        if origin == "default"
        else f"check the URL, or run a recipe with this {origin} first"
    )
    path = sqlite_path(resolved)
    if path is not None:
        if not path.is_file() or not _sqlite_has_store(path):
            from framework0.errors import StoreNotFound

            where = DEFAULT_PATH if origin == "default" else path
            raise StoreNotFound(f"no store at {where} ({shown(resolved)}): {hint}")
        return resolved
    if resolved.partition("://")[0].startswith("sqlite"):
        from framework0.errors import StoreNotFound

        raise StoreNotFound(f"no store in {shown(resolved)}: an in-memory database holds no runs; pass --store")
    if not _database_has_store(resolved):
        from framework0.errors import StoreNotFound

        raise StoreNotFound(f"no store in {shown(resolved)}: the database has no framework0 tables; {hint}")
    return resolved


_VERSION_TABLE = "alembic_version"  # Alembic's: every framework0 store has it from its first migration


def _sqlite_has_store(path: Path) -> bool:
    import sqlite3
    from urllib.parse import quote

    try:
        connection = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True)
    except sqlite3.Error:
        return True  # it exists but cannot be read this way: opening it says why
    try:
        found = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_VERSION_TABLE,)
        ).fetchone()
    except sqlite3.Error:
        return True  # not a database, or locked: opening it says why
    finally:
        connection.close()
    return found is not None


def _database_has_store(url: str) -> bool:
    import sqlalchemy as sa

    from framework0.errors import StoreError
    from framework0.store.database import _create_engine, describe_error

    engine = _create_engine(url, None)
    try:
        with engine.connect() as connection:
            return sa.inspect(connection).has_table(_VERSION_TABLE)
    except sa.exc.SQLAlchemyError as error:
        raise StoreError(describe_error(error, url)) from error
    finally:
        engine.dispose()
