"""A store that cannot be used says which one, why, and what to do, in one line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from framework0.errors import StoreError, UsageError
from framework0.store import open_sink, open_store
from framework0.store.failures import describe
from framework0.store.url import shown, sqlite_path, store_url


def test_only_sqlite_and_postgresql_are_stores():
    with pytest.raises(UsageError) as caught:  # a usage error (exit 2), found before anything is opened
        open_store("mysql://user:secret@db/runs")
    assert str(caught.value) == (
        "store URL mysql://user:***@db/runs: the store is SQLite (sqlite:///path/runs.db) "
        "or PostgreSQL (postgresql://user@host/db), not mysql"
    )


def test_a_store_that_is_not_a_url_is_a_usage_error():
    with pytest.raises(UsageError, match="store 'runs.db' is not a URL; use e.g. sqlite:///runs.db"):
        store_url("runs.db")


def test_an_unreachable_postgresql_says_so_without_the_password():
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError) as caught:
        open_sink("postgresql://postgres:hunter2@127.0.0.1:1/test")
    message = str(caught.value)
    assert message.startswith("cannot reach the run store postgresql://postgres:***@127.0.0.1:1/test: ")
    assert message.endswith("; check the server and the URL, or use another --store")
    assert "hunter2" not in message and "\n" not in message


def test_an_unknown_postgresql_synchronous_commit_is_refused():
    with pytest.raises(StoreError, match="synchronous_commit 'NORMAL' is not one of on, off"):
        open_store("postgresql://postgres@127.0.0.1:1/test", synchronous="NORMAL")


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "runs.db"
    path.write_bytes(b"this is not a database, it is a shopping list" * 100)
    for opener in (open_sink, open_store):
        with pytest.raises(StoreError) as caught:
            opener(f"sqlite:///{path}")
        assert str(caught.value).startswith(f"cannot write the run store {path}: file is not a database; ")
    assert path.read_bytes().startswith(b"this is not a database")  # left as it was


def test_a_store_under_a_file_is_a_clear_error(tmp_path: Path):
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "runs.db"
    for opener in (open_sink, open_store):
        with pytest.raises(StoreError, match=f"cannot write the run store {path}: "):
            opener(f"sqlite:///{path}")


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (PermissionError(13, "Permission denied"), "the file or its folder is read-only"),
        (OSError(28, "No space left on device"), "the disk may be full"),
        (OSError(27, "File too large"), "the disk may be full"),
        (sqlite3.DatabaseError("file is not a database"), "check the file, or point --store or F0_STORE elsewhere"),
    ],
)
def test_os_errors_come_with_what_to_do(error: BaseException, hint: str):
    message = describe(error, Path("/data/runs.db"))
    assert message.startswith("cannot write the run store /data/runs.db: ")
    assert hint in message and "\n" not in message


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///runs.db", Path("runs.db")),
        ("sqlite:////abs/runs.db", Path("/abs/runs.db")),
        ("sqlite:///runs.db?timeout=5", Path("runs.db")),
        ("sqlite+pysqlite:///runs.db", Path("runs.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql://u@h/db", None),
    ],
)
def test_sqlite_path(url: str, path: Path | None):
    assert sqlite_path(url) == path


def test_shown_hides_only_the_password():
    assert shown("postgresql://u:pw@h:5432/db?x=1") == "postgresql://u:***@h:5432/db?x=1"
    assert shown("postgresql://u@h/db") == "postgresql://u@h/db"
    assert shown("sqlite:////a@b/runs.db") == "sqlite:////a@b/runs.db"
