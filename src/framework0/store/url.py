"""Where the store lives: a URL (``--store`` or ``F0_STORE``, read at the edge into ``Config.store``),
else SQLite at ``.framework0/framework0.db`` under the working directory. Pure string work; no
SQLAlchemy import."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from framework0.errors import UsageError

DEFAULT_PATH = Path(".framework0") / "framework0.db"
SCHEMES = ("sqlite", "postgresql", "postgres")
EXAMPLES = "sqlite:///runs.db or postgresql://user@host/db"


def store_url(url: str | None = None, *, origin: str = "--store", cwd: Path | None = None) -> str:
    """The store URL to use: ``url``, else the default SQLite file under ``cwd``. ``origin`` names
    where ``url`` came from (``--store``, ``F0_STORE``) for the messages.

    A URL that names no store the project supports, or has a port that is not a number, is a
    UsageError (exit 2) here, before anything is opened."""
    chosen = url or ""
    if not chosen:
        return "sqlite:///" + str(((cwd or Path.cwd()) / DEFAULT_PATH).absolute())
    origin = "" if origin == "--store" else f" (from {origin})"
    if "://" not in chosen:
        raise UsageError(f"store {chosen!r}{origin} is not a URL; use e.g. {EXAMPLES}")
    scheme = chosen.partition("://")[0].split("+")[0].lower()
    if scheme not in SCHEMES:
        raise UsageError(
            f"store URL {shown(chosen)}{origin}: the store is SQLite (sqlite:///path/runs.db) "
            f"or PostgreSQL (postgresql://user@host/db), not {scheme}"
        )
    try:
        urlsplit(chosen).port  # noqa: B018 - reading it checks it
    except ValueError as error:
        raise UsageError(f"store URL {shown(chosen)}{origin}: {str(error).lower()}") from None
    return chosen


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite://`` URL (``sqlite:///rel.db``, ``sqlite:////abs.db``), None for others
    or for an in-memory database."""
    scheme, _, rest = url.partition("://")
    if scheme.split("+")[0] != "sqlite":
        return None
    path = rest[1:] if rest.startswith("/") else rest
    path = path.split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        credentials, _, host = rest.partition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}" if ":" in credentials else url
    return url
