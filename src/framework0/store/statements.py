"""How a run's rows are written, built once from the tables in ``schema``: each table's written
columns, its key, and its write statement (``info["write"]``: ``upsert``, ``insert`` or
``ignore``) for SQLite or PostgreSQL.

``Store`` executes these statements through SQLAlchemy. The sqlite3 fast path cannot import
SQLAlchemy (it would cost a small run most of its time), so it writes with the same statements
compiled to SQLite's SQL ahead of time into ``columns.py``; after changing ``schema``, regenerate
that file with ``python -m framework0.store.statements`` (a test fails while it is stale).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from framework0.errors import StoreError
from framework0.store import schema
from framework0.store.migrate import script_directory

#: the tables a run writes, parents before the tables that refer to them
RUN_TABLES: dict[str, sa.Table] = {t.name: t for t in schema.metadata.sorted_tables if "write" in t.info}

#: the file the sqlite3 fast path reads its statements from
GENERATED = Path(__file__).with_name("columns.py")

#: per table, the columns most rows leave NULL (a step or an attempt that ran without error, reason,
#: cache or items). The fast path writes a row whose columns these all are None with a statement that
#: has them as literal NULLs: sqlite3 binds a None through its adapter lookup, which costs more than
#: the rest of the row's insert.
LEAN_NULLS: dict[str, tuple[str, ...]] = {
    "steps": ("items", "error_type", "error_message", "error_traceback", "reason", "cache_key", "cache_inputs"),
    "attempts": ("output", "error_type", "error_message", "error_traceback", "retry_in_s"),
}


def columns(table: sa.Table) -> tuple[str, ...]:
    """The columns a row of ``table`` is written with: all but a key the database numbers itself."""
    return tuple(column.name for column in table.columns if column.autoincrement is not True)


def key(table: sa.Table) -> tuple[str, ...]:
    return tuple(column.name for column in table.primary_key.columns)


def write_statement(table: sa.Table, dialect: str, *, nulls: tuple[str, ...] = ()) -> Any:
    """The statement that writes rows of ``table`` on ``dialect`` (``sqlite`` or ``postgresql``), by
    the table's write mode: a plain INSERT, an INSERT that leaves a row whose key is there as it is,
    or one that replaces every column but the key. ``nulls``: columns written as literal NULLs (the
    row gives the others)."""
    mode = table.info["write"]
    if mode == "insert":
        return table.insert()
    if mode == "ignore":
        return insert_absent(table, dialect)
    return upsert(table, dialect, nulls=nulls)


def upsert(table: sa.Table, dialect: str, *, nulls: tuple[str, ...] = ()) -> Any:
    """INSERT ... ON CONFLICT (key) DO UPDATE into ``table``: a row whose key is there is replaced,
    every column but the key. ``nulls``: columns written as literal NULLs."""
    statement = _insert(table, dialect)
    if nulls:
        statement = statement.values(
            {name: sa.null() if name in nulls else sa.bindparam(name) for name in columns(table)}
        )
    keys = key(table)
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: statement.excluded[name] for name in columns(table) if name not in keys},
    )


def insert_absent(table: sa.Table, dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING into ``table``: a row whose key is there is left as it is."""
    return _insert(table, dialect).on_conflict_do_nothing()


def _insert(table: sa.Table, dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:
        raise StoreError(f"the store supports SQLite and PostgreSQL, not {dialect}")
    return insert(table)


def compiled_sqlite(table: sa.Table, *, paramstyle: str, nulls: tuple[str, ...] = ()) -> str:
    """``write_statement(table, "sqlite")`` as SQLite's SQL, its parameters in ``columns`` order
    (less ``nulls``, written as literal NULLs)."""
    from sqlalchemy.dialects import sqlite

    statement = write_statement(table, "sqlite", nulls=nulls)
    keys = [name for name in columns(table) if name not in nulls]
    return str(statement.compile(dialect=sqlite.dialect(paramstyle=paramstyle), column_keys=keys))


def lean(table: sa.Table) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """For ``LEAN_NULLS[table.name]``: their positions in a row, the positions of the other columns,
    and the statement that writes those others with the nulls as literal NULLs."""
    nulls = LEAN_NULLS[table.name]
    names = columns(table)
    return (
        tuple(names.index(name) for name in nulls),
        tuple(index for index, name in enumerate(names) if name not in nulls),
        compiled_sqlite(table, paramstyle="qmark", nulls=nulls),
    )


def render_fast_path() -> str:
    """The text of ``columns.py``."""

    def table_dict(name: str, values: dict[str, str]) -> list[str]:
        return [f"{name} = {{", *(f"    {table!r}: {value}," for table, value in values.items()), "}"]

    return "\n".join(
        [
            '"""GENERATED from ``schema`` and the migrations by ``python -m framework0.store.statements``: do not',
            "edit (a test fails when this file is stale). What the sqlite3 fast path writes with, without",
            "importing SQLAlchemy or Alembic: each run table's columns, the migration head, the order tables",
            'are written in, and ``statements.write_statement`` compiled to SQLite\'s SQL."""',
            "",
            "# ruff: noqa: E501",
            "# fmt: off",
            "",
            "#: the columns of each table a run writes, in the order a row's tuple gives them",
            *table_dict("COLUMNS: dict[str, tuple[str, ...]]", {n: repr(columns(t)) for n, t in RUN_TABLES.items()}),
            "",
            "#: the migration a database must be at to be written (Alembic's head of ``migrations/``)",
            f"HEAD = {script_directory().get_current_head()!r}",
            "",
            "#: the order a batch is written in (parents first)",
            f"TABLE_ORDER = {tuple(RUN_TABLES)!r}",
            "",
            "#: each table's write statement, for rows given as dicts",
            *table_dict(
                "NAMED: dict[str, str]",
                {n: repr(compiled_sqlite(t, paramstyle="named")) for n, t in RUN_TABLES.items()},
            ),
            "",
            "#: the same with ? placeholders, for rows given as tuples in column order (what the writer makes)",
            *table_dict(
                "POSITIONAL: dict[str, str]",
                {n: repr(compiled_sqlite(t, paramstyle="qmark")) for n, t in RUN_TABLES.items()},
            ),
            "",
            "#: for rows whose usually empty columns are all None: their positions, the positions of the",
            "#: columns bound, and the statement with the empty ones as literal NULLs (``statements.LEAN_NULLS``)",
            *table_dict(
                "LEAN: dict[str, tuple[tuple[int, ...], tuple[int, ...], str]]",
                {n: repr(lean(RUN_TABLES[n])) for n in LEAN_NULLS},
            ),
            "",
        ]
    )


def main() -> None:
    GENERATED.write_text(render_fast_path(), encoding="utf-8")
    print(f"wrote {GENERATED}", file=sys.stderr)


if __name__ == "__main__":
    main()
