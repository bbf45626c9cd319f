"""The bearer token a context server requires and its clients send: from ``$F0_TOKEN``, or a file
only its owner can read (created with a fresh token on the server's first start).

Here rather than in the server package: a runner on another machine reads the token too, and it
has the client installed, not the server.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from framework0.errors import ServerError

TOKEN_ENV = "F0_TOKEN"
TOKEN_FILE_ENV = "F0_TOKEN_FILE"
MIN_TOKEN_LENGTH = 16


def token_file_default(environ: Mapping[str, str] = os.environ) -> Path:
    """``$F0_TOKEN_FILE``, else ``$XDG_CONFIG_HOME/framework0/token``, else ``~/.config/framework0/token``
    (``%APPDATA%\\framework0\\token`` on Windows)."""
    explicit = environ.get(TOKEN_FILE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    if os.name == "nt":  # pragma: no cover - Windows
        base = Path(environ["APPDATA"]) if environ.get("APPDATA") else home / "AppData" / "Roaming"
    else:
        xdg = environ.get("XDG_CONFIG_HOME", "")
        # the XDG spec says to ignore a relative path
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config"
    return base / "framework0" / "token"


def load_or_create_token(path: Path | None = None, *, environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """The server's token and where it came from: ``"F0_TOKEN"`` or the token file's path.

    ``F0_TOKEN`` wins when set. Otherwise the token file is read; on first start it is created with a
    fresh ``secrets.token_urlsafe(32)``, readable by its owner only (mode 0600, in a 0700 folder).
    Raises ``ServerError`` when the token is too short or the file can be read by other users.
    """
    from_environ = environ.get(TOKEN_ENV, "").strip()
    if from_environ:
        problem = _token_problem(from_environ)
        if problem:
            raise ServerError(f"{TOKEN_ENV} {problem}")
        return from_environ, TOKEN_ENV
    path = path if path is not None else token_file_default(environ)
    try:
        return _read_token_file(path), str(path)
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    if _create_token_file(path, token):
        return token, str(path)
    return _read_token_file(path), str(path)  # another process created it first: use theirs


def read_token(path: Path | None = None, *, environ: Mapping[str, str] = os.environ) -> str | None:
    """The token a client should send: ``F0_TOKEN``, else the token file's; ``None`` when neither exists."""
    from_environ = environ.get(TOKEN_ENV, "").strip()
    if from_environ:
        return from_environ
    path = path if path is not None else token_file_default(environ)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ServerError(f"cannot read the token file {path}: {error.strerror}") from None
    return data.decode("utf-8", "replace").strip() or None


def _token_problem(token: str) -> str | None:
    if len(token) < MIN_TOKEN_LENGTH:
        return (
            f"is too short: use at least {MIN_TOKEN_LENGTH} characters, "
            "e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    if not (token.isascii() and token.isprintable()) or " " in token:
        return "must be printable ASCII without spaces"
    return None


def _read_token_file(path: Path) -> str:
    """The token in ``path``; ``FileNotFoundError`` when there is none yet."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise ServerError(f"cannot read the token file {path}: {error.strerror}") from None
    with open(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if os.name != "nt":  # Windows has no mode bits: the profile folder's ACL protects the file
            if info.st_mode & 0o077:
                raise ServerError(
                    f"the token file {path} can be read or changed by other users "
                    f"(mode {info.st_mode & 0o777:o}): run `chmod 600 {path}`"
                )
            if info.st_uid != os.geteuid():
                raise ServerError(f"the token file {path} belongs to another user: delete it or set {TOKEN_ENV}")
        data = file.read(4096)
    token = data.decode("utf-8", "replace").strip()
    problem = _token_problem(token)
    if problem:
        raise ServerError(f"the token in {path} {problem}: delete the file to get a new one, or set {TOKEN_ENV}")
    return token


def _create_token_file(path: Path, token: str) -> bool:
    """Write ``token`` to ``path`` unless it exists (then ``False``); never leaves a partial file.

    The token goes to a private temporary file first, which is then hard-linked to ``path``: the
    link fails if ``path`` exists, so two servers starting at once agree on one token.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise ServerError(f"cannot create the token file {path}: {error.strerror}") from None
    try:
        with open(fd, "wb") as file:
            file.write(f"{token}\n".encode())
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: create the file in place
            return _create_in_place(path, token)
        return True
    finally:
        temporary.unlink(missing_ok=True)


def _create_in_place(path: Path, token: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    except OSError as error:
        raise ServerError(f"cannot create the token file {path}: {error.strerror}") from None
    with open(fd, "wb") as file:
        file.write(f"{token}\n".encode())
    return True


def token_problem(token: str) -> str | None:
    """What is wrong with ``token`` as a server token (too short, not printable ASCII), or None."""
    return _token_problem(token)
