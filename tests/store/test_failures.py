"""Why a write failed is read from the driver's error code (SQLite's result code name, PostgreSQL's
SQLSTATE, errno), never from the message text; the hint a user sees follows from it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from framework0.errors import StoreError
from framework0.store import shared
from framework0.store.failures import describe, failure_kind, sqlite_error_name

if TYPE_CHECKING:  # mypy names this folder's modules tests.store.*; pytest puts the folder on sys.path
    from tests.store.store_backends import backend_url
else:
    from store_backends import backend_url


def _raised(action: Callable[[], object]) -> BaseException:
    with pytest.raises(Exception) as caught:
        action()
    return caught.value


def readonly_error(tmp_path: Path) -> sqlite3.Error:
    path = tmp_path / "runs.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    error = _raised(lambda: connection.execute("INSERT INTO t VALUES (1)"))
    connection.close()
    assert isinstance(error, sqlite3.Error)
    return error


def locked_error(tmp_path: Path) -> sqlite3.Error:
    path = tmp_path / "runs.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    waiter = sqlite3.connect(path, timeout=0)
    error = _raised(lambda: waiter.execute("INSERT INTO t VALUES (1)"))
    waiter.close()
    holder.close()
    assert isinstance(error, sqlite3.Error)
    return error


def full_error(_tmp_path: Path) -> sqlite3.Error:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (x)")
    connection.execute("PRAGMA max_page_count = 2")
    error = _raised(lambda: connection.execute("INSERT INTO t VALUES (randomblob(100000))"))
    connection.close()
    assert isinstance(error, sqlite3.Error)
    return error


def not_a_database_error(tmp_path: Path) -> sqlite3.Error:
    path = tmp_path / "runs.db"
    path.write_bytes(b"a shopping list, locked and read-only, the disk is full" * 100)
    connection = sqlite3.connect(path)
    error = _raised(lambda: connection.execute("SELECT 1 FROM sqlite_master"))
    connection.close()
    assert isinstance(error, sqlite3.Error)
    return error


SQLITE_CASES = [
    pytest.param(readonly_error, "read-only", "the file or its folder is read-only", id="readonly"),
    pytest.param(locked_error, "locked", "another process held the database for too long", id="locked"),
    pytest.param(full_error, "full", "the disk may be full", id="full"),
    pytest.param(not_a_database_error, None, "check the file, or point --store or F0_STORE elsewhere", id="notadb"),
]


@pytest.mark.parametrize(("make", "kind", "hint"), SQLITE_CASES)
def test_a_real_sqlite_error_is_classified_by_its_code(make, kind, hint, tmp_path: Path):
    error = make(tmp_path)
    assert failure_kind(error) == kind
    message = describe(error, Path("/data/runs.db"))
    assert message.startswith(f"cannot write the run store /data/runs.db: {error}; {hint}")


def test_the_code_is_sqlites_own_name():
    error = full_error(Path())
    assert sqlite_error_name(error) == "SQLITE_FULL"


def test_an_extended_result_code_counts_as_its_primary_code(tmp_path: Path):
    error = readonly_error(tmp_path)
    assert sqlite_error_name(error) == "SQLITE_READONLY"
    error.sqlite_errorname = "SQLITE_READONLY_DBMOVED"  # type: ignore[attr-defined]
    assert failure_kind(error) == "read-only"


def test_the_message_text_alone_classifies_nothing(tmp_path: Path):
    # a table named like a failure: "no such table: locked_readonly_disk_full" is SQLITE_ERROR
    connection = sqlite3.connect(":memory:")
    error = _raised(lambda: connection.execute("SELECT * FROM locked_readonly_disk_full"))
    assert "locked" in str(error)
    assert failure_kind(error) is None


@pytest.mark.parametrize(("make", "kind", "_hint"), SQLITE_CASES)
def test_an_error_sqlalchemy_wraps_is_classified_by_its_orig(make, kind, _hint, tmp_path: Path):
    original = make(tmp_path)
    wrapped = sa.exc.OperationalError("INSERT INTO t VALUES (?)", (1,), original)
    assert wrapped.orig is original
    assert failure_kind(wrapped) == kind


def test_a_store_error_is_classified_by_what_caused_it(tmp_path: Path):
    original = full_error(tmp_path)
    try:
        try:
            raise sa.exc.OperationalError("INSERT", (), original)
        except sa.exc.OperationalError as wrapped:
            raise StoreError("cannot write the run store: it went wrong") from wrapped
    except StoreError as error:
        assert failure_kind(error) == "full"
        assert shared.failure_kind(error) == "full"


def test_the_server_answers_a_locked_store_as_unavailable(tmp_path: Path):
    assert shared.failure_kind(locked_error(tmp_path)) == "unavailable"


def test_the_server_answers_by_the_cause_not_the_words():
    assert shared.failure_kind(StoreError("the disk is full, read-only (only words)")) == "unavailable"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (PermissionError(13, "Permission denied"), "read-only"),
        (OSError(30, "Read-only file system"), "read-only"),
        (OSError(28, "No space left on device"), "full"),
        (OSError(27, "File too large"), "full"),
        (OSError(5, "Input/output error"), None),
    ],
)
def test_os_errors_are_classified_by_errno(error: OSError, kind: str | None):
    assert failure_kind(error) == kind


def test_a_postgresql_error_is_classified_by_its_sqlstate(tmp_path: Path):
    pytest.importorskip("psycopg")
    with backend_url("postgresql", tmp_path) as url:
        from framework0.store.database import _create_engine

        engine = _create_engine(url, None)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("CREATE TABLE t (x integer)")
                connection.commit()
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
                error = _raised(lambda: connection.exec_driver_sql("INSERT INTO t VALUES (1)"))
                connection.rollback()
        finally:
            engine.dispose()
    assert failure_kind(error) == "read-only"
