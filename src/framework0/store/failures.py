"""Why a database write failed, read from the driver's error code, never from its message text:
SQLite's ``sqlite_errorname`` (``SQLITE_FULL``, ``SQLITE_READONLY_DBMOVED`` ...), PostgreSQL's
SQLSTATE, the operating system's errno. Importable without SQLAlchemy (the sqlite3 fast path uses it).
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path
from typing import Literal

Kind = Literal["full", "read-only", "locked"]

#: SQLite's primary result codes (the part of an extended name before its second ``_``) that say why
_SQLITE_KINDS: dict[str, Kind] = {
    "SQLITE_FULL": "full",
    "SQLITE_IOERR": "full",  # what SQLite reports when the file may not grow (EFBIG, a quota)
    "SQLITE_READONLY": "read-only",
    "SQLITE_PERM": "read-only",
    "SQLITE_BUSY": "locked",
    "SQLITE_LOCKED": "locked",
}

#: PostgreSQL's SQLSTATE codes: disk_full, read_only_sql_transaction, insufficient_privilege
_SQLSTATE_KINDS: dict[str, Kind] = {"53100": "full", "25006": "read-only", "42501": "read-only"}

_ERRNO_KINDS: dict[int, Kind] = {
    errno.ENOSPC: "full",
    errno.EFBIG: "full",
    errno.EDQUOT: "full",
    errno.EROFS: "read-only",
    errno.EACCES: "read-only",
    errno.EPERM: "read-only",
}

# Python 3.10's sqlite3 errors carry no name: SQLite's own text for each code (sqlite3ErrStr) stands in.
_SQLITE_MESSAGES = {
    "database or disk is full": "SQLITE_FULL",
    "disk I/O error": "SQLITE_IOERR",
    "attempt to write a readonly database": "SQLITE_READONLY",
    "access permission denied": "SQLITE_PERM",
    "database is locked": "SQLITE_BUSY",
    "database table is locked": "SQLITE_LOCKED",
}


def sqlite_error_name(error: sqlite3.Error) -> str | None:
    """SQLite's name for ``error``'s result code, e.g. ``SQLITE_BUSY``; None when it has none."""
    name: str | None = getattr(error, "sqlite_errorname", None)
    if name is None and not hasattr(error, "sqlite_errorcode"):  # Python 3.10
        return _SQLITE_MESSAGES.get(str(error))
    return name


def failure_kind(error: BaseException) -> Kind | None:
    """``full`` (no space), ``read-only`` or ``locked`` (another writer held the database too long)
    when ``error`` or an error it wraps (SQLAlchemy's ``orig``, an exception's ``__cause__``) says
    so by its code; None for anything else."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = _kind_of(current)
        if kind is not None:
            return kind
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return None


def _kind_of(error: BaseException) -> Kind | None:
    if isinstance(error, sqlite3.Error):
        name = sqlite_error_name(error)
        if name is None:
            return None
        primary = "_".join(name.split("_", 2)[:2])  # SQLITE_READONLY_DBMOVED -> SQLITE_READONLY
        return _SQLITE_KINDS.get(primary)
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str):
        return _SQLSTATE_KINDS.get(sqlstate)
    if isinstance(error, OSError) and error.errno is not None:
        return _ERRNO_KINDS.get(error.errno)
    return None


_HINTS: dict[Kind | None, str] = {
    "read-only": "the file or its folder is read-only; point --store or F0_STORE at a writable place",
    "full": "the disk may be full; free space (f0 clean --older-than 30d) or use another --store",
    "locked": "another process held the database for too long; try again",
    None: "check the file, or point --store or F0_STORE elsewhere",
}


def describe(error: BaseException, path: Path) -> str:
    """A one-line account of a failed SQLite write, with what to do about it."""
    return f"cannot write the run store {path}: {error}; {_HINTS[failure_kind(error)]}"


__all__ = ["Kind", "describe", "failure_kind", "sqlite_error_name"]
