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
from framework0.store import columns
from framework0.store.failures import describe

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_ID = 0x0F0_57_0E  # any constant: "framework0 store"


def upgrade(engine: Engine) -> None:
    """Create or upgrade the tables of ``engine``'s database to the newest migration: ``columns.HEAD``,
    Alembic's head of the migrations (``columns`` is generated with it, so checking a database's
    version costs no import of Alembic)."""
    with _locked(engine), engine.begin() as connection:
        current = _current(connection)
        if current == columns.HEAD:
            return
        from alembic import command
        from alembic.script import ScriptDirectory

        config = _config()
        known = {revision.revision for revision in ScriptDirectory.from_config(config).walk_revisions()}
        if current is not None and current not in known:
            raise StoreError(
                f"the store's schema is at revision {current}, which this framework0 does not know "
                "(written by a newer version?); upgrade framework0 or use another --store"
            )
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


def script_directory() -> ScriptDirectory:
    """Alembic's view of the migrations (it imports every one of them: for migrating, not for checking)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


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
