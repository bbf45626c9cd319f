"""The three descriptions of the store's tables agree: the SQLAlchemy model (``schema``), the Alembic
migrations that create the tables, and the plain column lists the sqlite3 fast path writes with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.dialects import sqlite

from framework0.store import columns, schema, statements
from framework0.store.migrate import script_directory, upgrade

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
        assert context.get_current_revision() == columns.HEAD


def test_upgrading_a_database_at_head_changes_nothing(migrated: sa.Engine):
    upgrade(migrated)
    with migrated.connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [columns.HEAD]


def test_the_fast_path_statements_are_generated_from_the_model():
    stale = "columns.py is stale: regenerate it with python -m framework0.store.statements"
    assert statements.GENERATED.read_text(encoding="utf-8") == statements.render_fast_path(), stale


def test_every_table_but_the_context_servers_and_the_baselines_is_written_by_runs_in_one_of_three_ways():
    modes = {table.name: table.info.get("write") for table in schema.metadata.sorted_tables}
    assert {name for name, mode in modes.items() if mode is None} == {
        "shared_contexts",
        "shared_keys",
        "shared_changes",
        "baselines",  # f0 bench --save-baseline writes them, not a run
    }
    assert {mode for mode in modes.values() if mode is not None} == {"upsert", "insert", "ignore"}


def test_the_fast_path_writes_every_column_of_the_model_but_numbered_keys():
    tables = {table.name: table for table in schema.metadata.sorted_tables if "write" in table.info}
    assert set(columns.COLUMNS) == set(columns.NAMED) == set(columns.POSITIONAL) == set(tables)
    for name, table in tables.items():
        assert columns.COLUMNS[name] == tuple(c.name for c in table.columns if not _generated(c)), name


def test_the_fast_path_upserts_with_the_stores_own_statement():
    names = columns.COLUMNS["steps"]
    store_sql = str(
        statements.write_statement(schema.steps, "sqlite").compile(dialect=sqlite.dialect(), column_keys=list(names))
    )
    assert columns.POSITIONAL["steps"] == store_sql
    assert store_sql.endswith(
        "ON CONFLICT (run_id, name) DO UPDATE SET position = excluded.position, "
        + ", ".join(f"{name} = excluded.{name}" for name in names[3:])
    )


def test_tables_are_written_parents_first():
    position = {name: i for i, name in enumerate(columns.TABLE_ORDER)}
    for table in (t for t in schema.metadata.sorted_tables if "write" in t.info):
        for key in table.foreign_keys:
            assert position[key.column.table.name] < position[table.name], (table.name, key.target_fullname)


def test_the_head_the_code_expects_is_alembics_head():
    assert columns.HEAD == script_directory().get_current_head()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_store_written_before_runs_named_their_package_is_upgraded_keeping_its_runs(backend: str, tmp_path: Path):
    from alembic import command
    from alembic.config import Config

    from framework0.store import open_store
    from framework0.store.database import _create_engine
    from framework0.store.migrate import MIGRATIONS

    with backend_url(backend, tmp_path) as url:
        engine = _create_engine(url, None)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0003")
            connection.exec_driver_sql(
                "INSERT INTO runs (run_id, status, started_at, params, fingerprint, node, pid) "
                "VALUES ('before-0004', 'succeeded', 1.0, '{}', '{}', 'n', 1)"
            )
        engine.dispose()

        store = open_store(url)
        try:
            run = store.find_run("before-0004")
        finally:
            store.close()

    assert (run["status"], run["package"]) == ("succeeded", None)


def _generated(column: sa.Column[object]) -> bool:
    """A key the database numbers itself (logs.id): the fast path leaves it out of its inserts."""
    return column.autoincrement is True
