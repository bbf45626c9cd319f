"""Writing a recipe package: ``MANIFEST.json`` first, then every file in sorted order, reproducibly.

The same inputs and ``SOURCE_DATE_EPOCH`` give a byte-identical package (with the same Python and
zlib): member times are the epoch, permissions 0o644, owners empty, no folder entries, the zip
``create_system`` and the gzip header fixed, compression at zlib's default level. Each source is
read once, into a private spill file, and hashed as it is copied: the manifest describes the bytes
written even when a source changes meanwhile. The package is written next to ``out`` under a
temporary name, verified as ``f0 isolate verify`` would, and only then renamed into place.

Given a signing key, the package holds ``MANIFEST.sig`` (``signing``) right after the manifest:
Ed25519 signatures are deterministic, so a signed build is as reproducible as an unsigned one.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import platform
import secrets
import stat
import sys
import sysconfig
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from framework0.errors import PackageError, PackageRefused, one_line_name
from framework0.isolation.manifest import (
    MANIFEST_NAME,
    WHEELS,
    Manifest,
    ManifestFile,
    ManifestRequirement,
    normal_name,
    requirement_problem,
)
from framework0.isolation.paths import MemberNames, case_key, check_member_name
from framework0.isolation.signing import SIGNATURE_NAME, Signature, sign
from framework0.isolation.verify import DEFAULT_CAPS, Caps, verify_file

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

#: the suffixes ``write_package`` knows, and the format each one means
SUFFIXES: dict[str, str] = {".f0.zip": "zip", ".zip": "zip", ".tar.gz": "tar.gz", ".tgz": "tar.gz"}
#: the newest time a gzip header holds; the oldest and newest a zip entry holds (its date fields)
_GZIP_LAST = 0xFFFFFFFF
_ZIP_FIRST = (1980, 1, 1, 0, 0, 0)
_ZIP_LAST = (2107, 12, 31, 23, 59, 58)
_LEVEL = 6  # zlib's default: zip entries written through ZipFile.open use it, the gzip stream too
_CHUNK = 1 << 20
_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def package_format(out: str | os.PathLike[str]) -> str:
    """``"zip"`` or ``"tar.gz"``, from the name's suffix; ``PackageError`` for any other suffix."""
    name = os.fspath(out).lower()
    for suffix, kind in SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    allowed = ", ".join(SUFFIXES)
    raise PackageError(f"{one_line_name(os.fspath(out))}: a package is named with one of {allowed}")


def source_date_epoch(environ: Mapping[str, str]) -> int | None:
    """``SOURCE_DATE_EPOCH`` from ``environ`` as the ``write_package`` argument: None when unset or
    empty, ``PackageError`` when it is not a whole number of seconds in the range a gzip header holds."""
    value = environ.get("SOURCE_DATE_EPOCH", "")
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or int(value) > _GZIP_LAST:
        raise PackageError(f"SOURCE_DATE_EPOCH={value!r}: expected whole seconds since 1970, from 0 to {_GZIP_LAST}")
    return int(value)


def write_package(
    out: Path,
    *,
    entry: str,
    recipe: str | None,
    files: Sequence[tuple[str, Path, tuple[str, ...]]],
    requirements: Sequence[tuple[str, str, tuple[str, ...]]],
    source_date_epoch: int | None = None,
    wheels: Mapping[str, Path] | None = None,
    caps: Caps = DEFAULT_CAPS,
    signing_key: Ed25519PrivateKey | None = None,
) -> Manifest:
    """Write the package ``out`` (``.f0.zip``, ``.zip``, ``.tar.gz`` or ``.tgz``) and return its manifest.

    ``files`` are (path inside the package, source on this machine, reasons); ``entry`` is the
    recipe's path among them and ``recipe`` its test_id. ``requirements`` are (name, version,
    reasons); ``wheels`` maps a requirement's name to its wheel file, stored as ``wheels/<file>``.
    Member times are ``source_date_epoch`` when given (see ``source_date_epoch(os.environ)``),
    else the newest modification time of the sources, so that an unchanged tree packs the same.
    With ``signing_key`` (``signing.load_private_key``) the package is signed: ``MANIFEST.sig``.
    Raises ``PackageError`` (one line) for a name a package cannot hold, a source that cannot be
    read, a package ``verify_package`` with ``caps`` would refuse, or an ``out`` that cannot be
    written; ``out`` is then left as it was.
    """
    kind = package_format(out)
    if source_date_epoch is not None and not 0 <= source_date_epoch <= _GZIP_LAST:
        raise PackageError(f"source_date_epoch {source_date_epoch}: expected 0 to {_GZIP_LAST}")
    wheel_members = _wheel_members(requirements, wheels or {})
    _check_requirements(requirements)
    _check_names(entry, files, wheel_members)
    with tempfile.TemporaryFile(dir=_folder_of(out)) as spill:
        copies = {path: _copy(spill, path, source) for path, source, _ in files}
        for member, wheel in wheel_members.values():
            copies[member] = _copy(spill, member, wheel)
        newest = max(copy.mtime for copy in copies.values())
        created = source_date_epoch if source_date_epoch is not None else min(max(newest, 0), _GZIP_LAST)
        manifest = Manifest.build(
            entry=entry,
            recipe=None if recipe is None else _text(recipe),
            files=[ManifestFile(path, copies[path].sha256, copies[path].size, _texts(why)) for path, _, why in files],
            requirements=[_requirement(*requirement, wheel_members, copies) for requirement in requirements],
            python=platform.python_version(),
            platform=sysconfig.get_platform(),
            framework0=_framework0_version(),
            created=created,
        )
        members = sorted(copies.items(), key=lambda item: item[0])
        signature = None if signing_key is None else sign(manifest.to_json(), signing_key)
        _write_atomically(out, kind, manifest, signature, members, spill, caps)
    return manifest


@dataclass(frozen=True, slots=True)
class _Copy:
    """A source's bytes as read once into the spill file: where, how many, their hash and mtime."""

    offset: int
    size: int
    sha256: str
    mtime: int


def _framework0_version() -> str:
    # the package is imported (this module is in it); importing it here would make a circle of imports
    return str(sys.modules["framework0"].__version__)


def _folder_of(out: Path) -> Path:
    folder = out.parent
    if not folder.is_dir():
        raise PackageError(f"{one_line_name(str(out))}: cannot write: folder {str(folder)!r} does not exist")
    return folder


def _wheel_members(
    requirements: Sequence[tuple[str, str, tuple[str, ...]]], wheels: Mapping[str, Path]
) -> dict[str, tuple[str, Path]]:
    """Requirement name -> (member name, wheel file), for the requirements that have a wheel."""
    names = {name for name, _, _ in requirements}
    members: dict[str, tuple[str, Path]] = {}
    for name, wheel in sorted(wheels.items()):
        if name not in names:
            raise PackageError(f"wheel {str(wheel)!r}: {name!r} is not one of the requirements")
        if not wheel.name.endswith(".whl"):
            raise PackageError(f"wheel {str(wheel)!r} of {name!r}: not a .whl file")
        members[name] = (WHEELS + wheel.name, wheel)
    return members


def _check_requirements(requirements: Sequence[tuple[str, str, tuple[str, ...]]]) -> None:
    seen: set[str] = set()
    for name, version, _ in requirements:
        problem = requirement_problem(name, version)
        if problem is not None:
            raise PackageError(f"cannot pin requirement: {problem}")
        if normal_name(name) in seen:
            raise PackageError(f"requirement {name!r} is listed twice")
        seen.add(normal_name(name))


def _check_names(
    entry: str, files: Sequence[tuple[str, Path, tuple[str, ...]]], wheel_members: Mapping[str, tuple[str, Path]]
) -> None:
    """The names are ones ``verify_package`` accepts, so the failure is here and not on another machine."""
    names = MemberNames()
    names.add(MANIFEST_NAME)
    names.add(SIGNATURE_NAME)
    kept = case_key(SIGNATURE_NAME)
    for path, source, _ in files:
        reason = check_member_name(path)
        if reason is None and case_key(path).startswith(WHEELS):
            reason = f"{WHEELS!r} holds requirement wheels"
        if reason is None and (case_key(path) == kept or case_key(path).startswith(kept + "/")):
            reason = f"{SIGNATURE_NAME!r} is kept for the package's signature"
        reason = reason or names.add(path)
        if reason is not None:
            raise PackageError(f"cannot pack {path!r} (from {str(source)!r}): {reason}")
    for member, wheel in wheel_members.values():
        reason = check_member_name(member) or names.add(member)
        if reason is not None:
            raise PackageError(f"cannot pack wheel {str(wheel)!r} as {member!r}: {reason}")
    if entry not in {path for path, _, _ in files}:
        raise PackageError(f"entry {entry!r} is not one of the files packed")


def _copy(spill: IO[bytes], path: str, source: Path) -> _Copy:
    """Append ``source`` to the spill file, reading it once and hashing what is appended."""
    offset = spill.seek(0, io.SEEK_END)
    digest = hashlib.sha256()
    try:
        descriptor = os.open(source, _READ)  # O_NONBLOCK: a FIFO is refused, not waited on
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            os.close(descriptor)
            raise PackageError(f"cannot pack {path!r}: {str(source)!r} is not a regular file")
        with open(descriptor, "rb") as reader:
            while chunk := reader.read(_CHUNK):
                digest.update(chunk)
                spill.write(chunk)
    except OSError as error:
        raise PackageError(f"cannot pack {path!r}: cannot read {str(source)!r}: {error.strerror or error}") from None
    return _Copy(offset, spill.tell() - offset, digest.hexdigest(), int(status.st_mtime))


def _requirement(
    name: str,
    version: str,
    reasons: tuple[str, ...],
    wheel_members: Mapping[str, tuple[str, Path]],
    copies: Mapping[str, _Copy],
) -> ManifestRequirement:
    if name not in wheel_members:
        return ManifestRequirement(name, version, _texts(reasons))
    member = wheel_members[name][0]
    return ManifestRequirement(name, version, _texts(reasons), member, copies[member].sha256)


def _texts(reasons: Sequence[str]) -> tuple[str, ...]:
    return tuple(_text(reason) for reason in reasons)


def _text(text: str) -> str:
    """``text`` as UTF-8 can hold it: a file name's undecodable bytes (surrogates) written as ``\\udcxx``."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _write_atomically(
    out: Path,
    kind: str,
    manifest: Manifest,
    signature: Signature | None,
    members: list[tuple[str, _Copy]],
    spill: IO[bytes],
    caps: Caps,
) -> None:
    """Write to a new file beside ``out``, check it as ``verify_package`` would, then rename it to ``out``."""
    label = one_line_name(str(out))
    partial = out.with_name(f".{out.name}.{secrets.token_hex(4)}.partial")
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(partial, flags, 0o666)  # the umask applies, as to any file the user writes
    except OSError as error:
        raise PackageError(f"{label}: cannot write: {error.strerror or error}") from None
    try:
        with open(descriptor, "w+b") as file:
            writer = _write_zip if kind == "zip" else _write_tar_gz
            writer(file, _heads(manifest, signature), manifest.created, members, spill)
            file.flush()
            os.fsync(file.fileno())
            file.seek(0)
            try:
                verify_file(file, name=label, caps=caps, key=None if signature is None else signature.public_key)
            except PackageRefused as refused:
                raise PackageError(f"{refused}; the package was not written") from None
        os.replace(partial, out)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise PackageError(f"{label}: cannot write: {error.strerror or error}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _heads(manifest: Manifest, signature: Signature | None) -> list[tuple[str, bytes]]:
    """The members written before the files: the manifest, then the signature when there is one."""
    heads = [(MANIFEST_NAME, manifest.to_json())]
    if signature is not None:
        heads.append((SIGNATURE_NAME, signature.to_json()))
    return heads


def _write_zip(
    file: IO[bytes], heads: list[tuple[str, bytes]], created: int, members: list[tuple[str, _Copy]], spill: IO[bytes]
) -> None:
    date_time = _zip_date_time(created)
    with zipfile.ZipFile(file, "w") as archive:
        for name, data in heads:
            archive.writestr(_zip_info(name, date_time, len(data)), data)
        for name, copy in members:
            spill.seek(copy.offset)
            with archive.open(_zip_info(name, date_time, copy.size), "w") as member:
                _copy_exactly(spill, member, copy.size)


def _zip_info(name: str, date_time: tuple[int, int, int, int, int, int], size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, whatever writes it: external_attr holds a Unix mode
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    info.file_size = size
    return info


def _zip_date_time(epoch: int) -> tuple[int, int, int, int, int, int]:
    when = time.gmtime(epoch)
    date_time = (when.tm_year, when.tm_mon, when.tm_mday, when.tm_hour, when.tm_min, when.tm_sec)
    return max(_ZIP_FIRST, min(date_time, _ZIP_LAST))


def _write_tar_gz(
    file: IO[bytes], heads: list[tuple[str, bytes]], created: int, members: list[tuple[str, _Copy]], spill: IO[bytes]
) -> None:
    # filename="" keeps the temporary file's name out of the gzip header
    with gzip.GzipFile(filename="", mode="wb", fileobj=file, compresslevel=_LEVEL, mtime=created) as stream:
        with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as archive:
            for name, data in heads:
                archive.addfile(_tar_info(name, created, len(data)), io.BytesIO(data))
            for name, copy in members:
                spill.seek(copy.offset)
                archive.addfile(_tar_info(name, created, copy.size), spill)


def _tar_info(name: str, mtime: int, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    info.type = tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _copy_exactly(source: IO[bytes], target: IO[bytes], size: int) -> None:
    left = size
    while left:
        chunk = source.read(min(left, _CHUNK))
        if not chunk:
            raise PackageError("the spill file ended early")  # only if the temporary folder lost data
        target.write(chunk)
        left -= len(chunk)
