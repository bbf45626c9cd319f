"""Writing a command's output file: whole or not at all, with a one-line error when it cannot be written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from framework0.errors import UsageError


def write_output(path: str | Path, text: str | bytes, *, example: str = "report.html") -> Path:
    """Write ``text`` (UTF-8, or bytes as they are) to ``path`` through a temporary file in the same
    folder, so that a reader never sees half a file and a failed write leaves an earlier file as it
    was. ``example`` is the file name a message suggests when ``path`` is a folder."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"cannot write {target}: it is a folder; give a file name, e.g. {target / example}")
    if not folder.is_dir():
        raise UsageError(f"cannot write {target}: the folder {folder} does not exist")
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(text.encode("utf-8") if isinstance(text, str) else text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    return target


def size_text(size: int) -> str:
    """Bytes for people: ``1 byte``, ``512 bytes``, ``1.5 KiB``, ``20.0 MiB``."""
    if size < 1024:
        return f"{size} byte{'' if size == 1 else 's'}"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"
