"""A corpus of hostile archives, built here with zipfile, tarfile and struct: each one is refused by
``verify_package`` with a one-line message naming the package and the member, and
``extract_package`` writes nothing anywhere (the folder around the staging folder is listed before
and after).

Each archive but the hostile part is a valid package (a manifest first, listing its files), so that
the refusal is for the part under test and not for a missing manifest."""

from __future__ import annotations

import gzip
import hashlib
import stat
import struct
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from framework0.errors import PackageRefused
from framework0.isolation.manifest import MANIFEST_NAME, Manifest, ManifestFile
from framework0.isolation.verify import extract_package, verify_package

RECIPE = b"steps: []\n"
ONLY_FILES = "; a package holds only regular files and folders"


@dataclass(frozen=True)
class Member:
    """One member to write; ``declared`` is the size a tar header claims (a lie when not len(data))."""

    name: str
    data: bytes = b""
    kind: str = "file"  # file, symlink, hardlink, chardev, fifo
    target: str = ""
    declared: int | None = None


def manifest(files: dict[str, bytes]) -> Member:
    built = Manifest.build(
        entry="recipe.yaml",
        recipe=None,
        files=[ManifestFile(path, hashlib.sha256(data).hexdigest(), len(data)) for path, data in files.items()],
        requirements=[],
        python="3.11.7",
        platform="linux-x86_64",
        framework0="0.1.0",
        created=0,
    )
    return Member(MANIFEST_NAME, built.to_json())


def package(*hostile: Member, files: dict[str, bytes] | None = None) -> list[Member]:
    """A valid package of a recipe, followed by the hostile members."""
    listed = {"recipe.yaml": RECIPE, **(files or {})}
    return [manifest(listed), Member("recipe.yaml", RECIPE), *hostile]


_TAR_TYPES = {
    "file": tarfile.REGTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chardev": tarfile.CHRTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def tar_header(member: Member) -> bytes:
    info = tarfile.TarInfo(member.name)
    info.type = _TAR_TYPES[member.kind]
    info.linkname = member.target
    info.size = len(member.data) if member.declared is None else member.declared
    if member.kind == "chardev":
        info.devmajor, info.devminor = 1, 3
    if member.kind != "file":
        info.size = 0
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8")


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


def build_tar(path: Path, members: list[Member], *, raw_tail: bytes = b"") -> Path:
    stream = b"".join(tar_header(member) + padded(member.data) for member in members)
    path.write_bytes(gzip.compress(stream + bytes(1024) + raw_tail, compresslevel=1, mtime=0))
    return path


def build_zip(path: Path, members: list[Member]) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.filterwarnings("ignore", "Duplicate name", UserWarning)  # a name twice is a case here
        for member in members:
            info = zipfile.ZipInfo(member.name.replace("\0", "\1"))  # ZipInfo cuts a name at NUL: put it back below
            info.compress_type = zipfile.ZIP_DEFLATED
            data = member.data
            if member.kind == "symlink":
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                data = member.target.encode()
            elif member.kind == "chardev":
                info.create_system = 3
                info.external_attr = (stat.S_IFCHR | 0o644) << 16
            archive.writestr(info, data)
    for member in members:
        if "\0" in member.name:
            stored = member.name.replace("\0", "\1").encode()
            path.write_bytes(path.read_bytes().replace(stored, member.name.encode()))
    return path


def tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def assert_refused_and_nothing_written(pkg: Path, tmp_path: Path, expected: str) -> None:
    before = tree(tmp_path)
    with pytest.raises(PackageRefused) as verified:
        verify_package(pkg)
    with pytest.raises(PackageRefused) as extracted:
        extract_package(pkg, tmp_path / "stage")
    assert str(verified.value) == expected
    assert str(extracted.value) == expected
    assert "\n" not in expected
    assert tree(tmp_path) == before


#: tmp_path -> (members, the member named, the reason); a tar names a link's target where {to} is
Case = Callable[[Path], tuple[list[Member], str, str]]

BOTH: dict[str, Case] = {
    "dotdot": lambda tmp: (package(Member("../x", b"escape")), "../x", "'..' in the path"),
    "dotdot-deep": lambda tmp: (package(Member("steps/../../x", b"escape")), "steps/../../x", "'..' in the path"),
    "absolute": lambda tmp: (package(Member(f"{tmp}/abs.txt", b"escape")), f"{tmp}/abs.txt", "an absolute path"),
    "drive": lambda tmp: (package(Member("C:\\x", b"escape")), "C:\\x", "a drive letter"),
    "backslashes": lambda tmp: (package(Member("x\\..\\..\\y", b"escape")), "x\\..\\..\\y", "a backslash"),
    # non-ASCII, so that tar writes the name in a pax record, where a NUL survives
    "nul": lambda tmp: (package(Member("é.txt\0../../x", b"escape")), "é.txt\0../../x", "a NUL byte"),
    "windows-reserved": lambda tmp: (
        package(Member("CON.txt", b"x")),
        "CON.txt",
        "a name reserved on Windows ('CON.txt')",
    ),
    "symlink": lambda tmp: (
        package(Member("link", kind="symlink", target=str(tmp / "outside"))),
        "link",
        "a symbolic link{to}" + ONLY_FILES,
    ),
    "symlink-then-file-through-it": lambda tmp: (
        package(Member("link", kind="symlink", target=str(tmp)), Member("link/evil.txt", b"escape")),
        "link",
        "a symbolic link{to}" + ONLY_FILES,
    ),
    "character-device": lambda tmp: (
        package(Member("dev", kind="chardev")),
        "dev",
        "a character device" + ONLY_FILES,
    ),
    "named-twice": lambda tmp: (package(Member("recipe.yaml", RECIPE)), "recipe.yaml", "named twice"),
    "case-colliding": lambda tmp: (
        package(Member("a.txt", b"x"), Member("A.txt", b"x"), files={"a.txt": b"x"}),
        "A.txt",
        "collides with a file 'a.txt' where case and accents are ignored (macOS, Windows)",
    ),
    "nfc-nfd-colliding": lambda tmp: (
        package(Member("caf\u00e9", b"x"), Member("cafe\u0301", b"x"), files={"caf\u00e9": b"x"}),
        "cafe\u0301",
        "collides with a file 'caf\u00e9' where case and accents are ignored (macOS, Windows)",
    ),
    "file-below-a-file": lambda tmp: (
        package(Member("a", b"x"), Member("a/b", b"x"), files={"a": b"x"}),
        "a/b",
        "'a' is a file, not a folder",
    ),
    "manifest-twice": lambda tmp: (
        package(manifest({"recipe.yaml": RECIPE})),
        MANIFEST_NAME,
        "named twice",
    ),
}

TAR_ONLY: dict[str, Case] = {
    "hardlink": lambda tmp: (
        package(Member("hard", kind="hardlink", target="/etc/passwd")),
        "hard",
        "a hard link (to '/etc/passwd')" + ONLY_FILES,
    ),
    "hardlink-to-a-later-symlink": lambda tmp: (
        package(
            Member("escape", kind="hardlink", target="link"),
            Member("link", kind="symlink", target=str(tmp / "outside")),
        ),
        "escape",
        "a hard link (to 'link')" + ONLY_FILES,
    ),
    "fifo": lambda tmp: (package(Member("pipe", kind="fifo")), "pipe", "a FIFO" + ONLY_FILES),
}

ZIP_CASES = {f"zip-{name}": case for name, case in BOTH.items()}
TAR_CASES = {f"tar-{name}": case for name, case in {**BOTH, **TAR_ONLY}.items()}


@pytest.mark.parametrize("case", list(TAR_CASES), ids=list(TAR_CASES))
def test_a_hostile_tar_member_is_refused_naming_it_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    members, named, reason = TAR_CASES[case](tmp_path)
    target = next((member.target for member in members if member.kind == "symlink"), "")
    reason = reason.replace("{to}", f" (to {target!r})")
    pkg = build_tar(tmp_path / "pkg.tar.gz", members)
    assert_refused_and_nothing_written(pkg, tmp_path, f"{pkg}: member {named!r}: {reason}")


@pytest.mark.parametrize("case", list(ZIP_CASES), ids=list(ZIP_CASES))
def test_a_hostile_zip_member_is_refused_naming_it_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    members, named, reason = ZIP_CASES[case](tmp_path)
    reason = reason.replace("{to}", "")
    pkg = build_zip(tmp_path / "pkg.zip", members)
    assert_refused_and_nothing_written(pkg, tmp_path, f"{pkg}: member {named!r}: {reason}")


def fast_tar_headers(names: list[str]) -> bytes:
    """Empty regular-file headers for many short ASCII names, much faster than ``TarInfo.tobuf`` each:
    only the name and the checksum (the sum of the header's bytes, its own field as spaces) change."""
    template = tarfile.TarInfo("").tobuf(format=tarfile.USTAR_FORMAT)
    before, after = template[100:148], template[156:]
    base = sum(before) + sum(after) + 8 * ord(" ")
    return b"".join(
        name.encode().ljust(100, b"\0") + before + b"%06o\0 " % (base + sum(name.encode())) + after for name in names
    )


def test_a_tar_of_100000_members_is_refused_at_the_first_member_over_the_cap(tmp_path: Path) -> None:
    names = [f"m{index}" for index in range(100_000)]
    listed = {"recipe.yaml": RECIPE, **dict.fromkeys(names[:9_998], b"")}
    head = b"".join(tar_header(member) + padded(member.data) for member in package(files=listed))
    pkg = tmp_path / "pkg.tar.gz"
    pkg.write_bytes(gzip.compress(head + fast_tar_headers(names) + bytes(1024), compresslevel=1, mtime=0))
    # the manifest, the recipe and 9,998 files make 10,000 members: m9998 is one too many
    expected = f"{pkg}: member 'm9998': member number 10001, over the cap of 10000 members (members)"
    assert_refused_and_nothing_written(pkg, tmp_path, expected)


def many_member_zip(names: list[str], *, declared: int | None = None) -> bytes:
    """Empty stored members, with zip64 end records; ``declared`` is the member count the end records claim."""
    local, central = bytearray(), bytearray()
    for name in names:
        raw = name.encode()
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, 0, 0, 0, len(raw), 0, 0, 0, 0, 0, len(local)
        )
        central += raw
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, 0, 0, 0, len(raw), 0) + raw
    count = len(names) if declared is None else declared
    record_offset = len(local) + len(central)
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(central), len(local))
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, record_offset, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return bytes(local + central + record + locator + end)


def test_a_zip_of_100000_members_is_refused_before_its_directory_is_read(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg.zip"
    pkg.write_bytes(many_member_zip([MANIFEST_NAME] + [f"m{index}" for index in range(99_999)]))
    assert_refused_and_nothing_written(pkg, tmp_path, f"{pkg}: 100000 members, over the cap of 10000 (members)")


def test_a_zip_whose_end_record_understates_its_members_is_refused(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg.zip"
    names = [f"m{index}" for index in range(100_000)]
    pkg.write_bytes(many_member_zip(names, declared=5))
    directory = sum(46 + len(name) for name in names)
    expected = f"{pkg}: a central directory of {directory} bytes is too large for 5 members"
    assert_refused_and_nothing_written(pkg, tmp_path, expected)


ZEROS = bytes(16 << 20)


def test_a_zip_bomb_is_refused_by_its_compression_ratio_before_it_is_read(tmp_path: Path) -> None:
    pkg = build_zip(tmp_path / "pkg.zip", package(Member("zeros.bin", ZEROS), files={"zeros.bin": ZEROS}))
    with pytest.raises(
        PackageRefused, match=rf"^{pkg}: member 'zeros\.bin': compression ratio \d+, over the cap of 200 \(ratio\)$"
    ):
        verify_package(pkg)
    before = tree(tmp_path)
    with pytest.raises(PackageRefused):
        extract_package(pkg, tmp_path / "stage")
    assert tree(tmp_path) == before


def test_a_tar_gz_bomb_is_refused_by_its_compression_ratio_while_it_is_read(tmp_path: Path) -> None:
    pkg = build_tar(tmp_path / "pkg.tar.gz", package(Member("zeros.bin", ZEROS), files={"zeros.bin": ZEROS}))
    with pytest.raises(
        PackageRefused, match=rf"^{pkg}: member 'zeros\.bin': compression ratio \d+, over the cap of 200 \(ratio\)$"
    ):
        verify_package(pkg)
    before = tree(tmp_path)
    with pytest.raises(PackageRefused):
        extract_package(pkg, tmp_path / "stage")
    assert tree(tmp_path) == before


def central_entry(data: bytes | bytearray, name: str) -> int:
    """Where the central directory entry of ``name`` starts."""
    at = 0
    while True:
        at = data.index(b"PK\x01\x02", at)
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + length] == name.encode():
            return at
        at += 4


def test_zip_members_whose_data_overlap_are_refused(tmp_path: Path) -> None:
    pkg = build_zip(tmp_path / "pkg.zip", package(Member("a.txt", b"a" * 100), files={"a.txt": b"a" * 100}))
    data = bytearray(pkg.read_bytes())
    recipe_offset = struct.unpack_from("<L", data, central_entry(data, "recipe.yaml") + 42)[0]
    struct.pack_into("<L", data, central_entry(data, "a.txt") + 42, recipe_offset)
    pkg.write_bytes(bytes(data))
    assert_refused_and_nothing_written(pkg, tmp_path, f"{pkg}: member 'a.txt': its data overlaps member 'recipe.yaml'")


def test_a_zip_header_that_overstates_a_size_is_refused_by_the_bytes_read(tmp_path: Path) -> None:
    text = b"hello world " * 20
    pkg = build_zip(tmp_path / "pkg.zip", package(Member("a.txt", text), files={"a.txt": text * 2}))
    data = bytearray(pkg.read_bytes())
    struct.pack_into("<L", data, central_entry(data, "a.txt") + 24, len(text) * 2)
    pkg.write_bytes(bytes(data))
    expected = f"{pkg}: member 'a.txt': holds {len(text)} bytes, but its header says {len(text) * 2}"
    assert_refused_and_nothing_written(pkg, tmp_path, expected)


def test_a_zip_header_that_understates_a_size_is_refused_by_the_checksum(tmp_path: Path) -> None:
    text = b"hello world " * 20
    pkg = build_zip(tmp_path / "pkg.zip", package(Member("a.txt", text), files={"a.txt": text[:50]}))
    data = bytearray(pkg.read_bytes())
    struct.pack_into("<L", data, central_entry(data, "a.txt") + 24, 50)
    pkg.write_bytes(bytes(data))
    expected = f"{pkg}: member 'a.txt': unreadable: Bad CRC-32 for file 'a.txt'"
    assert_refused_and_nothing_written(pkg, tmp_path, expected)


def test_a_tar_header_that_overstates_a_size_is_refused_at_the_end_of_the_data(tmp_path: Path) -> None:
    # the header claims 4,096 bytes and the manifest agrees; the archive ends after 100
    members = package(Member("a.txt", b"x" * 100, declared=4096))
    members[0] = manifest({"recipe.yaml": RECIPE, "a.txt": b"y" * 4096})
    stream = b"".join(tar_header(member) + padded(member.data) for member in members)
    pkg = tmp_path / "pkg.tar.gz"
    pkg.write_bytes(gzip.compress(stream, mtime=0))
    assert_refused_and_nothing_written(pkg, tmp_path, f"{pkg}: member 'a.txt': unreadable: unexpected end of data")


def test_a_tar_header_that_understates_a_size_is_refused_at_the_data_it_hides(tmp_path: Path) -> None:
    # the header claims 10 bytes and the manifest agrees; 2,000 more follow, which no header describes
    hidden = b"0123456789" + b"hidden text " * 166
    members = package(Member("a.txt", hidden, declared=10), files={"a.txt": hidden[:10]})
    pkg = build_tar(tmp_path / "pkg.tar.gz", members)
    expected = f"{pkg}: after member 'a.txt': data that is not a tar header (a header that lies about a size?)"
    assert_refused_and_nothing_written(pkg, tmp_path, expected)


def test_a_tar_header_that_understates_a_size_to_smuggle_a_member_is_refused_at_that_member(tmp_path: Path) -> None:
    smuggled = Member("smuggled.py", b"import os\n")
    hidden = b"0123456789" + bytes(502) + tar_header(smuggled) + padded(smuggled.data)
    members = package(Member("a.txt", hidden, declared=10), files={"a.txt": hidden[:10]})
    pkg = build_tar(tmp_path / "pkg.tar.gz", members)
    assert_refused_and_nothing_written(pkg, tmp_path, f"{pkg}: member 'smuggled.py': a file not in the manifest")


def test_data_after_the_end_of_a_tar_is_refused(tmp_path: Path) -> None:
    pkg = build_tar(tmp_path / "pkg.tar.gz", package(), raw_tail=b"trailing" * 64)
    expected = f"{pkg}: after member 'recipe.yaml': data that is not a tar header (a header that lies about a size?)"
    assert_refused_and_nothing_written(pkg, tmp_path, expected)


def test_a_tar_pax_header_that_asks_for_a_huge_read_is_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = 1 << 30
    stream = b"".join(tar_header(member) + padded(member.data) for member in package())
    pkg = tmp_path / "pkg.tar.gz"
    pkg.write_bytes(gzip.compress(stream + info.tobuf(format=tarfile.USTAR_FORMAT) + bytes(1024), mtime=0))
    expected = f"{pkg}: after member 'recipe.yaml': a tar header that asks to read more than 1048576 bytes at once"
    assert_refused_and_nothing_written(pkg, tmp_path, expected)


def test_an_encrypted_zip_member_is_refused(tmp_path: Path) -> None:
    pkg = build_zip(tmp_path / "pkg.zip", package(Member("a.txt", b"x"), files={"a.txt": b"x"}))
    data = bytearray(pkg.read_bytes())
    at = central_entry(data, "a.txt")
    struct.pack_into("<H", data, at + 8, struct.unpack_from("<H", data, at + 8)[0] | 0x1)
    pkg.write_bytes(bytes(data))
    assert_refused_and_nothing_written(pkg, tmp_path, f"{pkg}: member 'a.txt': an encrypted file{ONLY_FILES}")


def test_bytes_before_a_zip_are_refused(tmp_path: Path) -> None:
    inner = build_zip(tmp_path / "inner.zip", package())
    pkg = tmp_path / "pkg.zip"
    pkg.write_bytes(b"PK\x03\x04" + bytes(60) + inner.read_bytes())
    inner.unlink()
    expected = f"{pkg}: not a package written by f0 isolate: data before the zip or around its directory"
    assert_refused_and_nothing_written(pkg, tmp_path, expected)


def test_a_valid_tar_with_members_of_every_padding_verifies(tmp_path: Path) -> None:
    """The tar stream is read forward only; members that end on a block or inside one both pass."""
    sizes = [0, 1, 511, 512, 513, 1024, 1500, 10_240, 100_000]
    files = {"recipe.yaml": RECIPE, **{f"f{size}.bin": bytes([size % 251]) * size for size in sizes}}
    pkg = build_tar(tmp_path / "pkg.tar.gz", [manifest(files), *(Member(name, data) for name, data in files.items())])
    assert len(verify_package(pkg).files) == len(files)
