"""Checking a recipe package before anything of it is used, and extracting one that passes.

``verify_package`` reads the archive once, streaming, and refuses (``PackageRefused``, one line
naming the package and the member) anything ``archive.write_package`` would not have written: a
member that is not a regular file or folder, a name ``paths.check_member_name`` refuses, a name
seen twice or colliding without case, more members, bytes or compression than ``Caps`` allow,
a ``MANIFEST.json`` that is not the first member or not valid, a ``MANIFEST.sig`` that is not the
second member, not valid or not a signature of the manifest (``signing``), and any file whose bytes
do not match the manifest, is missing, or is not listed in it. Given a public key, it also refuses
a package that is not signed, or not by that key. Sizes are checked as declared before a
member is read and counted again as it is read, so that a header that lies gets no further.
It never writes and never rewrites the archive.

This module is longer than most (zip and tar.gz readers, the checks and the extractor) because the
checks must run the same way over both formats and again, as they are written, while extracting.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import IO

from framework0.errors import PackageError, PackageRefused, one_line_name
from framework0.isolation.manifest import MANIFEST_NAME, WHEELS, Manifest
from framework0.isolation.paths import MemberNames, case_key, check_member_name, parents
from framework0.isolation.signing import SIGNATURE_BYTES, SIGNATURE_NAME, PublicKey, Signature, load_public_key


@dataclass(frozen=True, slots=True)
class Caps:
    """The most a package may hold. ``ratio`` is uncompressed bytes over compressed bytes, per member
    (zip) and for the whole archive; it is checked once more than ``ratio_checked_above`` bytes are
    involved, since a small file of repeated bytes compresses far and harms nothing."""

    members: int = 10_000
    total_bytes: int = 1 << 30
    member_bytes: int = 512 << 20
    ratio: float = 200.0
    ratio_checked_above: int = 1 << 20


#: the caps ``verify_package`` applies unless told otherwise
DEFAULT_CAPS = Caps()

#: the largest MANIFEST.json read (10,000 files take about 3 MB)
MANIFEST_BYTES = 64 << 20
_CHUNK = 1 << 18
_LARGEST_READ = 1 << 20  # a larger single read from the tar stream is a header that asks for too much
_UNSIGNED = "not signed; --key needs a signed package"
_DIRECTORY_ENTRY_BYTES = 46 + 1024 + 330  # a zip central directory entry: fixed part, longest name, extras
_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    EOFError,
    zlib.error,
    struct.error,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


#: a key file's path, PEM bytes or a raw 32-byte Ed25519 public key (``signing.load_public_key``)
KeySource = str | os.PathLike[str] | bytes


@dataclass(frozen=True, slots=True)
class VerifiedPackage:
    """What verifying a package found: its manifest, and its signature when it is signed (checked
    against the manifest, and against the key asked for when one was)."""

    manifest: Manifest
    signature: Signature | None

    @property
    def signer(self) -> str | None:
        """The fingerprint of the key that signed the package, or None when it is not signed."""
        return None if self.signature is None else self.signature.signer


def verify_package(pkg: str | os.PathLike[str], *, caps: Caps = DEFAULT_CAPS, key: KeySource | None = None) -> Manifest:
    """Check the package ``pkg`` (zip or tar.gz) and return its manifest; ``PackageRefused`` (one
    line naming the package and the member) on the first problem, ``PackageError`` if it cannot be read.

    A signed package's signature is always checked. With ``key`` (an Ed25519 public key: a PEM
    file's path, PEM bytes or the raw 32 bytes) the package must also be signed by that key."""
    return read_verified_package(pkg, caps=caps, key=key).manifest


def read_verified_package(
    pkg: str | os.PathLike[str], *, caps: Caps = DEFAULT_CAPS, key: KeySource | None = None
) -> VerifiedPackage:
    """``verify_package``, returning the signature with the manifest (``.signer`` is its fingerprint)."""
    label = one_line_name(os.fspath(pkg))
    public = None if key is None else load_public_key(key, package=label)
    with _open(pkg, label) as file:
        return _check(file, label, caps, None, public)


def verify_file(file: IO[bytes], *, name: str, caps: Caps = DEFAULT_CAPS, key: KeySource | None = None) -> Manifest:
    """``verify_package`` of an open, seekable package file read from its start; ``name`` is the
    package as messages show it."""
    public = None if key is None else load_public_key(key, package=name)
    return _check(file, name, caps, None, public).manifest


def extract_package(
    pkg: str | os.PathLike[str], dest: Path, *, caps: Caps = DEFAULT_CAPS, key: KeySource | None = None
) -> Manifest:
    """Verify ``pkg`` (with ``key`` as ``verify_package`` does), then write its files
    (``MANIFEST.json`` and ``MANIFEST.sig`` included) and folders under ``dest``, which must be
    empty or not exist; return the manifest.

    Only regular files and folders are created, each new (never opening one that exists, never
    following a link), and every check runs again on the bytes as they are written. When anything
    fails, what was written is removed and ``dest`` is left as it was found.
    """
    label = one_line_name(os.fspath(pkg))
    public = None if key is None else load_public_key(key, package=label)
    dest = Path(dest)
    made_dest = _prepare_destination(dest)
    with _open(pkg, label) as file:
        _check(file, label, caps, None, public)
        file.seek(0)
        if made_dest:
            _create_folder(dest, dest)
        extractor = _Extractor(dest)
        try:
            return _check(file, label, caps, extractor, public).manifest
        except BaseException:
            extractor.undo()
            if made_dest:
                with contextlib.suppress(OSError):
                    dest.rmdir()
            raise


class _Refused(Exception):
    """A refusal inside this module: ``member`` is added to the message when known."""

    def __init__(self, member: str | None, reason: str) -> None:
        super().__init__(reason)
        self.member = member
        self.reason = reason

    def at(self, member: str) -> _Refused:
        return self if self.member is not None else _Refused(member, self.reason)

    def message(self, label: str) -> str:
        if self.member is None:
            return f"{label}: {self.reason}"
        return f"{label}: member {self.member!r}: {self.reason}"


@dataclass(frozen=True, slots=True)
class _Member:
    """One member as its archive declares it; ``kind`` says what it is when not a file or folder."""

    name: str
    kind: str | None
    folder: bool
    size: int
    compressed: int | None  # zip: the member's compressed size; tar.gz does not say
    open: Callable[[], IO[bytes] | None]


def _open(pkg: str | os.PathLike[str], label: str) -> IO[bytes]:
    try:
        return open(pkg, "rb")
    except OSError as error:
        raise PackageError(f"{label}: cannot read: {error.strerror or error}") from None


def _check(
    file: IO[bytes], label: str, caps: Caps, extractor: _Extractor | None, key: PublicKey | None
) -> VerifiedPackage:
    try:
        magic = file.read(4)
        file.seek(0)
        if magic in (b"PK\x03\x04", b"PK\x05\x06"):
            size = file.seek(0, io.SEEK_END)
            checks = _Checks(label, caps, extractor, key, archive_bytes=size)
            members = _zip_members(file, size, caps)
        elif magic[:2] == b"\x1f\x8b":
            checks = _Checks(label, caps, extractor, key, archive_bytes=None)
            members = _tar_members(file, caps)
        else:
            raise _Refused(None, "not a zip or tar.gz package" if magic else "an empty file, not a package")
        for member in members:
            checks.member(member)
        return checks.finish()
    except _Refused as refused:
        raise PackageRefused(refused.message(label)) from None


def _said(error: BaseException) -> str:
    return one_line_name(str(error) or type(error).__name__)


class _Checks:
    """The checks of every member, in archive order, and of the whole at the end."""

    def __init__(
        self,
        label: str,
        caps: Caps,
        extractor: _Extractor | None,
        key: PublicKey | None,
        *,
        archive_bytes: int | None,
    ) -> None:
        self.label = label
        self.caps = caps
        self.extractor = extractor
        self.key = key
        self.archive_bytes = archive_bytes
        self.names = MemberNames()
        self.count = 0
        self.total = 0
        self.manifest: Manifest | None = None
        self.signature: Signature | None = None
        self.expected: dict[str, tuple[int | None, str]] = {}  # member -> (size when known, sha256)
        self.seen: set[str] = set()

    def member(self, member: _Member) -> None:
        raw = member.name
        caps = self.caps
        self.count += 1
        if self.count > caps.members:
            raise _Refused(raw, f"member number {self.count}, over the cap of {caps.members} members (members)")
        if member.kind is not None:
            raise _Refused(raw, f"{member.kind}; a package holds only regular files and folders")
        name = raw[:-1] if member.folder and raw.endswith("/") else raw
        reason = check_member_name(name) or self.names.add(name, folder=member.folder)
        if reason is not None:
            raise _Refused(raw, reason)
        if self.manifest is None and name != MANIFEST_NAME:
            raise _Refused(raw, f"the first member is not {MANIFEST_NAME}: not a package written by f0 isolate")
        if name == SIGNATURE_NAME and (member.folder or self.count != 2):
            raise _Refused(raw, f"{SIGNATURE_NAME} is only ever a file, the second member, right after {MANIFEST_NAME}")
        if self.count == 2 and name != SIGNATURE_NAME and self.key is not None:
            raise _Refused(None, _UNSIGNED)
        if member.folder:
            if member.size:
                raise _Refused(raw, "a folder that holds data")
            if self.extractor is not None:
                self.extractor.folder(name)
            return
        self._check_sizes(member)
        if self.manifest is None:
            self._read_manifest(member)
            return
        if name == SIGNATURE_NAME:
            self._read_signature(member, self.manifest)
            return
        expected = self.expected.get(name)
        if expected is None:
            if name.startswith(WHEELS):
                raise _Refused(raw, "a wheel that no requirement in the manifest names")
            raise _Refused(raw, "a file not in the manifest")
        size, digest = expected
        if size is not None and member.size != size:
            raise _Refused(raw, f"{member.size} bytes, but the manifest says {size}")
        if self._stream(member) != digest:
            raise _Refused(raw, "its SHA-256 does not match the manifest: it was changed")
        self.seen.add(name)

    def finish(self) -> VerifiedPackage:
        if self.manifest is None:
            raise _Refused(None, f"no {MANIFEST_NAME}: an empty archive")
        if self.key is not None and self.signature is None:
            raise _Refused(None, _UNSIGNED)
        missing = sorted(self.expected.keys() - self.seen)
        if missing:
            raise _Refused(missing[0], "in the manifest but not in the archive")
        return VerifiedPackage(self.manifest, self.signature)

    def _check_sizes(self, member: _Member) -> None:
        caps = self.caps
        if member.size > caps.member_bytes:
            raise _Refused(member.name, f"{member.size} bytes, over the cap of {caps.member_bytes} (member_bytes)")
        self.total += member.size
        if self.total > caps.total_bytes:
            reach = f"the members reach {self.total} bytes"
            raise _Refused(member.name, f"{reach}, over the cap of {caps.total_bytes} (total_bytes)")
        if member.compressed is not None:
            _check_ratio(member.name, member.size, member.compressed, caps, "")
        if self.archive_bytes is not None:
            _check_ratio(member.name, self.total, self.archive_bytes, caps, "the archive's ")

    def _read_manifest(self, member: _Member) -> None:
        if member.size > MANIFEST_BYTES:
            raise _Refused(member.name, f"{member.size} bytes, more than a manifest may hold ({MANIFEST_BYTES})")
        data = bytearray()
        self._stream(member, into=data)
        manifest = Manifest.from_json(bytes(data), origin=f"{self.label}: member {MANIFEST_NAME!r}")
        kept = case_key(SIGNATURE_NAME)
        for file in manifest.files:
            if case_key(file.path) == kept or case_key(file.path).startswith(kept + "/"):
                raise _Refused(member.name, f"it lists {file.path!r}, but {SIGNATURE_NAME!r} is kept for the signature")
        self.manifest = manifest
        self.expected = {file.path: (file.size, file.sha256) for file in manifest.files}
        for requirement in manifest.requirements:
            if requirement.wheel is not None and requirement.sha256 is not None:
                self.expected[requirement.wheel] = (None, requirement.sha256)

    def _read_signature(self, member: _Member, manifest: Manifest) -> None:
        """Read ``MANIFEST.sig`` (strictly, and no more than a signature holds) and check that it signs
        the manifest, and that the key asked for signed it."""
        if member.size > SIGNATURE_BYTES:
            raise _Refused(member.name, f"{member.size} bytes, more than a signature holds ({SIGNATURE_BYTES})")
        data = bytearray()
        self._stream(member, into=data)
        try:
            signature = Signature.from_json(bytes(data))
        except ValueError as error:
            raise _Refused(member.name, str(error)) from None
        problem = signature.problem(manifest.to_json())  # the bytes read: from_json checked they are canonical
        if problem is not None:
            raise _Refused(member.name, problem)
        if self.key is not None and signature.public_key != self.key.raw:
            raise _Refused(None, f"signed by {signature.signer}, not by {self.key.described} ({self.key.fingerprint})")
        self.signature = signature

    def _stream(self, member: _Member, into: bytearray | None = None) -> str:
        """Read the member (writing it out when extracting), counting its bytes; its SHA-256."""
        name = member.name
        digest = sha256()
        count = 0
        with self._target(member) as target, _reader(member) as reader:
            while chunk := _read(reader, name):
                count += len(chunk)
                if count > member.size:
                    raise _Refused(name, f"holds more than the {member.size} bytes its header says")
                digest.update(chunk)
                if into is not None:
                    into += chunk
                if target is not None and self.extractor is not None:
                    self.extractor.write(target, chunk, name)
        if count != member.size:
            raise _Refused(name, f"holds {count} bytes, but its header says {member.size}")
        return digest.hexdigest()

    def _target(self, member: _Member) -> contextlib.AbstractContextManager[IO[bytes] | None]:
        if self.extractor is None:
            return contextlib.nullcontext()
        return self.extractor.open(member.name)


def _reader(member: _Member) -> IO[bytes]:
    try:
        reader = member.open()
    except _Refused as refused:
        raise refused.at(member.name) from None
    except _ARCHIVE_ERRORS as error:
        raise _Refused(member.name, f"unreadable: {_said(error)}") from None
    if reader is None:
        raise _Refused(member.name, "not a regular file")
    return reader


def _read(reader: IO[bytes], name: str) -> bytes:
    try:
        return reader.read(_CHUNK)
    except _Refused as refused:
        raise refused.at(name) from None
    except _ARCHIVE_ERRORS as error:
        raise _Refused(name, f"unreadable: {_said(error)}") from None


def _check_ratio(name: str | None, size: int, compressed: int, caps: Caps, whose: str) -> None:
    if size > caps.ratio_checked_above and size > caps.ratio * max(compressed, 1):
        ratio = size / max(compressed, 1)
        raise _Refused(name, f"{whose}compression ratio {ratio:.0f}, over the cap of {caps.ratio:g} (ratio)")


# --- zip --------------------------------------------------------------------------------------------

_ZIP_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def _zip_members(file: IO[bytes], size: int, caps: Caps) -> Iterator[_Member]:
    entries, directory_size, directory_offset = _zip_directory(file, size)
    if entries > caps.members:
        raise _Refused(None, f"{entries} members, over the cap of {caps.members} (members)")
    if directory_size > max(entries, 1) * _DIRECTORY_ENTRY_BYTES:
        raise _Refused(None, f"a central directory of {directory_size} bytes is too large for {entries} members")
    try:
        archive = zipfile.ZipFile(file)
        infos = archive.infolist()
    except _ARCHIVE_ERRORS as error:
        raise _Refused(None, f"not a readable zip: {_said(error)}") from None
    if len(infos) > caps.members:
        raise _Refused(None, f"{len(infos)} members, over the cap of {caps.members} (members)")
    _check_zip_layout(infos, directory_offset)
    for info in infos:
        name = info.orig_filename  # filename is cut at a NUL byte; orig_filename is the name as stored
        opener = functools.partial(archive.open, info)
        yield _Member(name, _zip_kind(info), name.endswith("/"), info.file_size, info.compress_size, opener)


def _zip_directory(file: IO[bytes], size: int) -> tuple[int, int, int]:
    """(members, central directory size, central directory offset), as the end records declare them,
    read before ``zipfile`` reads the whole directory into memory."""
    tail = min(size, 22 + 0xFFFF)
    file.seek(size - tail)
    data = file.read(tail)
    at = data.rfind(b"PK\x05\x06")
    if at < 0 or len(data) - at < 22:
        raise _Refused(None, "not a zip: no end of central directory record")
    end = size - tail + at
    _, disk, directory_disk, disk_entries, entries, directory_size, directory_offset, _ = struct.unpack(
        "<4s4H2LH", data[at : at + 22]
    )
    directory_end = end
    if 0xFFFF in (disk_entries, entries) or 0xFFFFFFFF in (directory_size, directory_offset):
        file.seek(max(end - 20, 0))
        locator = file.read(20)
        if len(locator) != 20 or locator[:4] != b"PK\x06\x07":
            raise _Refused(None, "not a readable zip: its zip64 end record is missing")
        (record_offset,) = struct.unpack("<Q", locator[8:16])
        file.seek(record_offset)
        record = file.read(56)
        if len(record) != 56 or record[:4] != b"PK\x06\x06":
            raise _Refused(None, "not a readable zip: its zip64 end record is damaged")
        disk, directory_disk, disk_entries, entries, directory_size, directory_offset = struct.unpack(
            "<2L4Q", record[16:56]
        )
        directory_end = record_offset
    if disk or directory_disk or disk_entries != entries:
        raise _Refused(None, "a zip split over several disks")
    if directory_offset + directory_size != directory_end:
        raise _Refused(None, "not a package written by f0 isolate: data before the zip or around its directory")
    file.seek(0)
    return entries, directory_size, directory_offset


def _check_zip_layout(infos: list[zipfile.ZipInfo], directory_offset: int) -> None:
    """No member's data overlaps the next member's (the overlapping-entries zip bomb)."""
    ordered = sorted(infos, key=lambda info: info.header_offset)
    for info, after in zip(ordered, ordered[1:], strict=False):
        if info.header_offset + 30 + info.compress_size > after.header_offset:
            raise _Refused(after.orig_filename, f"its data overlaps member {info.orig_filename!r}")
    if ordered and ordered[-1].header_offset + 30 + ordered[-1].compress_size > directory_offset:
        raise _Refused(ordered[-1].orig_filename, "its data overlaps the central directory")


def _zip_kind(info: zipfile.ZipInfo) -> str | None:
    if info.flag_bits & 0x1:
        return "an encrypted file"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return f"a file compressed with method {info.compress_type} (a package uses deflate)"
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if file_type in (0, stat.S_IFREG, stat.S_IFDIR):
        if (file_type == stat.S_IFDIR) != info.orig_filename.endswith("/") and file_type:
            return "a member whose mode and name disagree on whether it is a folder"
        return None
    return _ZIP_KINDS.get(file_type, f"a member of Unix file type {file_type:#o}")


# --- tar.gz -----------------------------------------------------------------------------------------

_TAR_KINDS = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


def _tar_members(file: IO[bytes], caps: Caps) -> Iterator[_Member]:
    compressed = _Counted(file)
    plain = _Plain(gzip.GzipFile(filename="", mode="rb", fileobj=compressed), compressed, caps)
    try:
        archive = tarfile.open(fileobj=plain, mode="r:", encoding="utf-8", errors="surrogateescape")  # type: ignore[call-overload]
    except _Refused:
        raise
    except _ARCHIVE_ERRORS as error:
        raise _Refused(None, f"not a readable tar.gz: {_said(error)}") from None
    previous: str | None = None
    while True:
        try:
            info = archive.next()
        except _Refused as refused:
            if refused.member is None and previous is not None:
                raise _Refused(None, f"after member {previous!r}: {refused.reason}") from None
            raise
        except _ARCHIVE_ERRORS as error:
            where = f"after member {previous!r}" if previous is not None else "at its start"
            raise _Refused(None, f"unreadable {where}: {_said(error)}") from None
        if info is None:
            break
        previous = info.name
        yield _Member(
            info.name, _tar_kind(info), info.isdir(), info.size, None, functools.partial(archive.extractfile, info)
        )
    _check_tar_end(plain, previous)


def _tar_kind(info: tarfile.TarInfo) -> str | None:
    if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE) and info.sparse is None:
        return None
    kind = _TAR_KINDS.get(info.type, f"a member of tar type {info.type!r}")
    if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        kind += f" (to {info.linkname!r})"
    return kind


def _check_tar_end(plain: _Plain, previous: str | None) -> None:
    """After the last member come only zeros: the end-of-archive blocks and the padding. ``tarfile``
    stops quietly at a block that is not a header, as after a header that lied about its size."""
    where = f"after member {previous!r}" if previous is not None else "at its start"
    chunk = plain.last
    while chunk:
        if chunk.count(0) != len(chunk):
            raise _Refused(None, f"{where}: data that is not a tar header (a header that lies about a size?)")
        try:
            chunk = plain.read(_CHUNK)
        except _ARCHIVE_ERRORS as error:
            raise _Refused(None, f"unreadable {where}: {_said(error)}") from None


class _Counted:
    """The package file as gzip reads it, counting the compressed bytes read so far."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.count += len(data)
        return data

    def seek(self, offset: int) -> int:
        raise io.UnsupportedOperation("the package is read forward only")  # gzip seeks only to read again


class _Plain:
    """The uncompressed tar stream as ``tarfile`` reads it: forward only, every byte counted against
    the caps, and the last block read kept for the end check."""

    def __init__(self, stream: gzip.GzipFile, compressed: _Counted, caps: Caps) -> None:
        self.stream = stream
        self.compressed = compressed
        self.caps = caps
        self.position = 0
        self.last = b""
        # headers and padding: at most a few blocks a member, and pax records for long names
        self.limit = caps.total_bytes + (caps.members + 1) * 8192 + (1 << 20)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > _LARGEST_READ:
            raise _Refused(None, f"a tar header that asks to read more than {_LARGEST_READ} bytes at once")
        data = self.stream.read(size)
        self.position += len(data)
        self.last = data
        if self.position > self.limit:
            raise _Refused(None, f"more than {self.limit} bytes once uncompressed, over the cap (total_bytes)")
        _check_ratio(None, self.position, self.compressed.count, self.caps, "")
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset + (self.position if whence == io.SEEK_CUR else 0)
        if whence not in (io.SEEK_SET, io.SEEK_CUR) or target < self.position:
            raise io.UnsupportedOperation("the tar stream is read forward only")
        while self.position < target:
            if not self.read(min(target - self.position, _CHUNK)):
                break
        return self.position

    def tell(self) -> int:
        return self.position

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True


# --- extraction -------------------------------------------------------------------------------------

_CREATE = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _prepare_destination(dest: Path) -> bool:
    """Check that ``dest`` is an empty folder or absent; True when it is absent (to be made)."""
    try:
        status = dest.lstat()
    except FileNotFoundError:
        return True
    except OSError as error:
        raise PackageError(f"{one_line_name(str(dest))}: cannot use it: {error.strerror or error}") from None
    if not stat.S_ISDIR(status.st_mode):
        raise PackageError(f"{one_line_name(str(dest))}: not a folder; extract into a new or empty folder")
    if any(dest.iterdir()):
        raise PackageError(f"{one_line_name(str(dest))}: not empty; extract into a new or empty folder")
    return False


def _create_folder(path: Path, dest: Path) -> None:
    try:
        path.mkdir(parents=path == dest)
    except OSError as error:
        raise PackageError(
            f"{one_line_name(str(dest))}: cannot create {one_line_name(str(path))}: {error.strerror or error}"
        ) from None


class _Extractor:
    """Creates the members under ``dest``: new folders and new regular files only, remembering them
    so that ``undo`` can remove them all."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.made: list[tuple[Path, bool]] = []  # (path, is a folder), in creation order
        self.folders: set[str] = set()

    def folder(self, name: str) -> None:
        for folder in (*parents(name), name):
            if folder not in self.folders:
                path = self.dest.joinpath(*folder.split("/"))
                _create_folder(path, self.dest)
                self.made.append((path, True))
                self.folders.add(folder)

    def open(self, name: str) -> IO[bytes]:
        above = parents(name)
        if above:
            self.folder(above[-1])
        path = self.dest.joinpath(*name.split("/"))
        try:
            descriptor = os.open(path, _CREATE, 0o644)
        except OSError as error:
            raise PackageError(
                f"{one_line_name(str(self.dest))}: cannot create {name!r}: {error.strerror or error}"
            ) from None
        self.made.append((path, False))
        return open(descriptor, "wb")

    def write(self, target: IO[bytes], chunk: bytes, name: str) -> None:
        try:
            target.write(chunk)
        except OSError as error:
            raise PackageError(
                f"{one_line_name(str(self.dest))}: cannot write {name!r}: {error.strerror or error}"
            ) from None

    def undo(self) -> None:
        for path, is_folder in reversed(self.made):
            with contextlib.suppress(OSError):
                path.rmdir() if is_folder else path.unlink()
        self.made.clear()
