"""The run store: every run, step, attempt, log line and context change, durable.

``open_sink`` gives what a run writes through (sqlite3 directly for a SQLite file, SQLAlchemy for
any other URL); ``open_store`` gives the whole store over SQLAlchemy (history, resume, cleaning).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from framework0.store.url import sqlite_path, store_url

if TYPE_CHECKING:
    from framework0.store.database import Store

__all__ = ["RunSink", "open_sink", "open_store", "store_url"]


class RunSink(Protocol):
    """What a run needs from the store while it runs."""

    url: str

    def write(self, batch: dict[str, list[Any]]) -> None: ...

    def cache_get(self, key: str) -> dict[str, Any] | None: ...

    def cache_candidates(self, step: str) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


DURABILITY = ("full", "fast")


def durability() -> str:
    """``$F0_STORE_DURABILITY``: ``full`` (the default: a committed step survives a power cut) or
    ``fast`` (SQLite synchronous=NORMAL, PostgreSQL synchronous_commit=off: a crash of the
    machine, not of the process, may lose the last steps recorded)."""
    import os

    from framework0.errors import UsageError

    value = os.environ.get("F0_STORE_DURABILITY", "full").strip().lower() or "full"
    if value not in DURABILITY:
        raise UsageError(f"F0_STORE_DURABILITY={value!r}: use full (the default) or fast")
    return value


def open_sink(url: str | None = None, *, durable: str | None = None) -> RunSink:
    """Open the store a run writes to: ``url``, ``$F0_STORE`` or the default SQLite file."""
    mode = durable or durability()
    resolved = store_url(url)
    path = sqlite_path(resolved)
    if path is not None and "?" not in resolved:
        from framework0.store.sqlite_sink import SqliteSink

        sink = SqliteSink(path, synchronous="FULL" if mode == "full" else "NORMAL")
        sink.url = resolved
        return sink
    if path is not None:
        return open_store(resolved, synchronous="FULL" if mode == "full" else "NORMAL")
    return open_store(resolved, synchronous="on" if mode == "full" else "off")


def open_store(url: str | None = None, *, synchronous: str | None = None) -> Store:
    """Open the whole store (SQLAlchemy): ``url``, ``$F0_STORE`` or the default SQLite file."""
    from framework0.store.database import Store

    return Store(store_url(url), synchronous=synchronous)
