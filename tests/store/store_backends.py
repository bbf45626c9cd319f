"""The databases the store tests run against: SQLite files, and PostgreSQL in a schema of its own.

PostgreSQL is found at ``$F0_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
When none is reachable its tests are skipped, with the reason, unless ``F0_STRICT=1`` (CI): then
they fail, so a CI run can never pass without having run them.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

POSTGRES_URL = os.environ.get("F0_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
STRICT = os.environ.get("F0_STRICT", "") not in ("", "0")

#: "sqlite": the default fast path (sqlite3 writes, SQLAlchemy reads); "sqlite-sqlalchemy": the
#: same file with SQLAlchemy for everything; "postgresql": a real server, a schema per test
BACKENDS = ("sqlite", "sqlite-sqlalchemy", "postgresql")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@functools.lru_cache(maxsize=1)
def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used (None when it can): no driver, or no server answering."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"no PostgreSQL at {POSTGRES_URL} ({first}); set F0_TEST_POSTGRES to one"
    return None


def require_postgres() -> None:
    """Skip the calling test when PostgreSQL is unreachable; fail it instead under F0_STRICT=1."""
    problem = postgres_problem()
    if problem is None:
        return
    if STRICT:
        pytest.fail(f"F0_STRICT=1 and the PostgreSQL store tests cannot run: {problem}", pytrace=False)
    pytest.skip(problem)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema, dropped afterwards; yields a store URL whose search_path is that schema."""
    require_postgres()
    import psycopg

    name = f"f0_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{name}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={name}', safe='')}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{name}" CASCADE')


@contextmanager
def backend_url(backend: str, folder: Path) -> Iterator[str]:
    """A store URL of an empty database of ``backend`` (a SQLite file in ``folder``, or a schema)."""
    if backend == "postgresql":
        with postgres_schema() as url:
            yield url
    else:
        yield sqlite_url(folder / "store.db")


def sqlite_integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of a SQLite file ("ok" when it is sound)."""
    connection = sqlite3.connect(path)
    try:
        return "; ".join(row[0] for row in connection.execute("PRAGMA integrity_check"))
    finally:
        connection.close()
