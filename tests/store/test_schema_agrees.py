"""The three descriptions of the store's tables agree: the SQLAlchemy model (``schema``), the Alembic
migrations that create the tables, and the plain column lists the sqlite3 fast path writes with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from framework0.store import columns, schema
from framework0.store.migrate import MIGRATIONS, head, revisions, upgrade

if TYPE_CHECKING:  # mypy names this folder's modules tests.store.*; pytest puts the folder on sys.path
    from tests.store.store_backends import backend_url
else:
    from store_backends import backend_url


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on a database created by the migrations alone."""
    from framework0.store.database import _create_engine

    with backend_url(request.param, tmp_path) as url:
        engine = _create_engine(url, None)
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


def test_the_migrations_create_the_tables_of_the_model(migrated: sa.Engine):
    with migrated.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        differences = compare_metadata(context, schema.metadata)
        assert differences == []
        assert context.get_current_revision() == head()


def test_upgrading_a_database_at_head_changes_nothing(migrated: sa.Engine):
    upgrade(migrated)
    with migrated.connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [head()]


def test_the_fast_path_column_lists_match_the_model():
    tables = {t.name: t for t in schema.metadata.sorted_tables if t.name not in columns.SHARED_TABLES}
    assert set(columns.COLUMNS) == set(tables) == set(columns.KEYS) == set(columns.WRITE_MODE)
    assert sorted(columns.TABLE_ORDER) == sorted(tables)
    for name, table in tables.items():
        assert columns.COLUMNS[name] == tuple(c.name for c in table.columns if not _generated(c)), name
        assert columns.KEYS[name] == tuple(c.name for c in table.primary_key.columns), name


def test_tables_are_written_parents_first():
    position = {name: i for i, name in enumerate(columns.TABLE_ORDER)}
    for table in (t for t in schema.metadata.sorted_tables if t.name not in columns.SHARED_TABLES):
        for key in table.foreign_keys:
            assert position[key.column.table.name] < position[table.name], (table.name, key.target_fullname)


def test_the_head_the_code_expects_is_alembics_head():
    assert head() == _script_directory().get_current_head()


def test_the_revisions_read_cheaply_are_alembics():
    script = _script_directory()
    assert revisions() == {r.revision: r.down_revision for r in script.walk_revisions()}


def _script_directory() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def _generated(column: sa.Column[object]) -> bool:
    """A key the database numbers itself (logs.id): the fast path leaves it out of its inserts."""
    return column.autoincrement is True
