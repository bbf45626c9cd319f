"""Reading and rewriting a package's members as they are, for tests that tamper with packages."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path


def read_members(pkg: Path) -> list[tuple[str, bytes]]:
    if pkg.name.endswith(".zip"):
        with zipfile.ZipFile(pkg) as archive:
            return [(name, archive.read(name)) for name in archive.namelist()]
    with tarfile.open(pkg) as archive:
        return [(m.name, archive.extractfile(m).read()) for m in archive.getmembers()]  # type: ignore[union-attr]


def write_members(pkg: Path, members: list[tuple[str, bytes]]) -> None:
    """The package rewritten with these members, in this order (a folder is a name ending in '/')."""
    if pkg.name.endswith(".zip"):
        with zipfile.ZipFile(pkg, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                archive.writestr(name, data)
        return
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name.rstrip("/"))
            info.type = tarfile.DIRTYPE if name.endswith("/") else tarfile.REGTYPE
            info.size = 0 if name.endswith("/") else len(data)
            archive.addfile(info, io.BytesIO(data))
    pkg.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
