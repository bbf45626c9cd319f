"""Bringing a database to the schema this code expects, with Alembic, once per database.

Two processes may open a new store at the same moment; they take a lock first (a lock file next to
a SQLite database, an advisory lock on PostgreSQL) so that only one creates the tables.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from framework0.errors import StoreError
from framework0.store.columns import HEAD

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_ID = 0x0F0_57_0E  # any constant: "framework0 store"


def upgrade(engine: Engine) -> None:
    """Create or upgrade the tables of ``engine``'s database to ``HEAD``."""
    with _locked(engine), engine.begin() as connection:
        current = _current(connection)
        if current == HEAD:
            return
        if current is not None and current not in _known_revisions():
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
        from framework0.store.sqlite_sink import describe

        raise StoreError(describe(getattr(error, "orig", None) or error, path)) from error
    finally:
        engine.dispose()


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _known_revisions() -> set[str]:
    return {path.stem.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("*.py")}


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
