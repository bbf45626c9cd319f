"""Commands that read runs never create a store: where there is none they say where they looked.

A wrong folder, or a mistyped --store, must not leave an empty database (or its folder) behind
and answer "no runs recorded" as if all were well.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from tests.helpers import invoke, one_line_error
from tests.store.store_backends import postgres_schema

READING = [
    ["runs", "list"],
    ["runs", "show", "3fa2c1"],
    ["logs", "3fa2c1"],
    ["context", "show", "3fa2c1"],
    ["context", "history", "3fa2c1"],
    ["context", "diff", "3fa2c1@1", "3fa2c1@2"],
    ["explain", "3fa2c1", "load"],
    ["report", "3fa2c1", "-o", "report.html"],
    ["clean", "--older-than", "30d", "--dry-run"],
    ["resume", "3fa2c1"],
]
IDS = [" ".join(args[:2]) if args[0] in ("runs", "context") else args[0] for args in READING]


def everything_in(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("args", READING, ids=IDS)
def test_a_reading_command_in_a_folder_without_a_store_says_so_and_creates_nothing(
    tmp_path: Path, args: list[str]
) -> None:
    process = invoke(*args, cwd=tmp_path)

    url = f"sqlite:///{tmp_path.resolve() / '.framework0' / 'framework0.db'}"
    assert one_line_error(process) == (
        f"error: no store at .framework0/framework0.db ({url}): run a recipe here first, or pass --store"
    )
    assert everything_in(tmp_path) == []


def test_a_mistyped_store_url_creates_neither_the_file_nor_its_folder(tmp_path: Path) -> None:
    wanted = tmp_path / "runs" / "framework0.db"
    process = invoke("runs", "list", "--store", f"sqlite:///{tmp_path}/rnus/framework0.db", cwd=tmp_path)

    assert one_line_error(process) == (
        f"error: no store at {tmp_path}/rnus/framework0.db (sqlite:///{tmp_path}/rnus/framework0.db): "
        "check the URL, or run a recipe with this --store first"
    )
    assert everything_in(tmp_path) == []
    assert not wanted.exists()


def test_the_store_in_f0_store_is_not_created_either(tmp_path: Path) -> None:
    process = invoke("runs", "list", cwd=tmp_path, env={"F0_STORE": f"sqlite:///{tmp_path}/elsewhere/f0.db"})

    assert one_line_error(process).startswith(f"error: no store at {tmp_path}/elsewhere/f0.db (")
    assert everything_in(tmp_path) == []


def test_an_empty_file_is_no_store_and_stays_empty(tmp_path: Path) -> None:
    (tmp_path / "runs.db").touch()

    process = invoke("runs", "list", "--store", "sqlite:///runs.db", cwd=tmp_path)

    assert one_line_error(process).startswith("error: no store at runs.db (sqlite:///runs.db): ")
    assert (tmp_path / "runs.db").stat().st_size == 0


def test_a_sqlite_database_without_framework0_tables_is_left_as_it_was(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as connection, connection:
        connection.execute("CREATE TABLE notes (text TEXT)")

    process = invoke("runs", "list", "--store", f"sqlite:///{other}", cwd=tmp_path)

    assert one_line_error(process).startswith(f"error: no store at {other} (")
    with closing(sqlite3.connect(other)) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert tables == ["notes"]


def test_a_postgresql_database_without_framework0_tables_is_no_store_and_is_not_migrated(tmp_path: Path) -> None:
    with postgres_schema() as url:
        process = invoke("runs", "list", "--store", url, cwd=tmp_path)

        message = one_line_error(process)
        import psycopg

        schema = url.rsplit("search_path%3D", 1)[1]
        with psycopg.connect(url.split("?", 1)[0]) as connection:
            tables = connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
            ).fetchall()
    assert message.startswith("error: no store in postgresql://")
    assert message.endswith(
        ": the database has no framework0 tables; check the URL, or run a recipe with this --store first"
    )
    assert tables == []


def test_a_store_that_a_run_created_is_read(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text("steps:\n  - name: greet\n    uses: hello_world\n", encoding="utf-8")
    assert invoke("run", "hello.yaml", cwd=tmp_path).returncode == 0

    listing = invoke("runs", "list", cwd=tmp_path)

    assert listing.returncode == 0, listing.stderr
    assert "hello.yaml" in listing.stdout


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mysql://user@db/runs",
            "error: store URL mysql://user@db/runs: the store is SQLite (sqlite:///path/runs.db) "
            "or PostgreSQL (postgresql://user@host/db), not mysql",
        ),
        (
            "postgresql://user@db:54e2/runs",
            "error: store URL postgresql://user@db:54e2/runs: port could not be cast to integer value as '54e2'",
        ),
        (
            "runs.db",
            "error: store 'runs.db' is not a URL; use e.g. sqlite:///runs.db or postgresql://user@host/db",
        ),
    ],
    ids=["unknown-database", "port-not-a-number", "not-a-url"],
)
@pytest.mark.parametrize("command", [["runs", "list"], ["run", "hello.yaml"]], ids=["read", "run"])
def test_a_bad_store_url_is_a_usage_error_of_one_line(
    tmp_path: Path, url: str, message: str, command: list[str]
) -> None:
    (tmp_path / "hello.yaml").write_text("steps:\n  - name: greet\n    uses: hello_world\n", encoding="utf-8")

    process = invoke(*command, "--store", url, cwd=tmp_path)

    assert one_line_error(process) == message
    assert everything_in(tmp_path) == ["hello.yaml"]
