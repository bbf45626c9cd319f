"""Writing a command's output file: whole or not at all, with a one-line error when it cannot be written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from framework0.errors import UsageError


def write_output(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder, so that a reader
    never sees half a file and a failed write leaves an earlier file as it was."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"cannot write {target}: it is a folder; give a file name, e.g. {target / 'report.html'}")
    if not folder.is_dir():
        raise UsageError(f"cannot write {target}: the folder {folder} does not exist")
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    return target
