"""Bringing a database to the schema this code expects, with Alembic, once per database.

Two processes may open a new store at the same moment; they take a lock first (a lock file next to
a SQLite database, an advisory lock on PostgreSQL) so that only one creates the tables.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from framework0.errors import StoreError
from framework0.store.failures import describe

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_ID = 0x0F0_57_0E  # any constant: "framework0 store"


def upgrade(engine: Engine) -> None:
    """Create or upgrade the tables of ``engine``'s database to the newest migration (``head()``)."""
    with _locked(engine), engine.begin() as connection:
        current = _current(connection)
        if current == head():
            return
        if current is not None and current not in revisions():
            raise StoreError(
                f"the store's schema is at revision {current}, which this framework0 does not know "
                "(written by a newer version?); upgrade framework0 or use another --store"
            )
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def upgrade_sqlite(path: Path) -> None:
    """Create or upgrade a SQLite file (the sqlite3 fast path calls this on first use)."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    except sa.exc.SQLAlchemyError as error:
        raise StoreError(describe(getattr(error, "orig", None) or error, path)) from error
    finally:
        engine.dispose()


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


_ASSIGNMENT = re.compile(r"""^(revision|down_revision)\s*(?::[^=]*)?=\s*(?:["']([^"']*)["']|None)""", re.MULTILINE)


@functools.cache
def revisions() -> dict[str, str | None]:
    """Each migration's revision and the revision it upgrades from (None for the first), read from the
    ``revision`` and ``down_revision`` lines of the files in Alembic's script directory without
    importing them or Alembic: the sqlite3 fast path checks a database's version with this on every
    run (a test checks it against Alembic's own ``ScriptDirectory``)."""
    found: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        assigned = {name: value for name, value in _ASSIGNMENT.findall(path.read_text(encoding="utf-8"))}
        if "revision" not in assigned:
            raise StoreError(f"migration {path} names no revision")
        found[assigned["revision"]] = assigned.get("down_revision") or None
    return found


def head() -> str:
    """The newest migration's revision (the one no migration upgrades from): what the code expects
    a database to be at. Alembic's ``ScriptDirectory.get_current_head()``, read cheaply."""
    known = revisions()
    heads = set(known) - set(known.values())
    if len(heads) != 1:
        raise StoreError(f"the store's migrations have {len(heads)} heads ({', '.join(sorted(heads))}), not one")
    return heads.pop()


@contextlib.contextmanager
def _locked(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        import sqlalchemy as sa

        with engine.connect() as connection:
            connection.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": _PG_LOCK_ID})
            try:
                yield
            finally:
                connection.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": _PG_LOCK_ID})
                connection.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or os.name != "posix":
        yield
        return
    import fcntl

    with open(f"{database}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
