"""Writing packages: the manifest first, reproducible bytes, atomic output, names checked up front."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import platform
import stat
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

import framework0
from framework0.errors import PackageError
from framework0.isolation.archive import package_format, source_date_epoch, write_package
from framework0.isolation.manifest import MANIFEST_NAME, Manifest
from framework0.isolation.verify import Caps, extract_package, verify_package

EPOCH = 1_700_000_000  # 2023-11-14 22:13:20 UTC
SUFFIXES = [".f0.zip", ".tar.gz"]


def make_sources(folder: Path) -> list[tuple[str, Path, tuple[str, ...]]]:
    folder.mkdir(parents=True, exist_ok=True)
    contents = {
        "recipe.yaml": "test_id: etl\nsteps: []\n",
        "load.py": "import helpers\n",
        "helpers.py": "VALUE = 1\n",
        "cafe.csv": "a,b\n1,2\n",
    }
    for name, text in contents.items():
        (folder / name).write_text(text, encoding="utf-8")
        os.utime(folder / name, (EPOCH - 100, EPOCH - 100))
    return [
        ("recipe.yaml", folder / "recipe.yaml", ("the recipe",)),
        ("steps/load.py", folder / "load.py", ("recipe.yaml:2: module steps.load",)),
        ("steps/helpers.py", folder / "helpers.py", ("steps/load.py:1: import helpers",)),
        ("data/café.csv", folder / "cafe.csv", ("files: in recipe.yaml",)),
    ]


def pack(out: Path, files: list[tuple[str, Path, tuple[str, ...]]], **options: object) -> Manifest:
    arguments: dict[str, object] = {
        "entry": "recipe.yaml",
        "recipe": "etl",
        "files": files,
        "requirements": [("PyYAML", "6.0.1", ("steps/load.py:1: import yaml",))],
        "source_date_epoch": EPOCH,
        **options,
    }
    return write_package(out, **arguments)  # type: ignore[arg-type]


def member_names(package: Path) -> list[str]:
    if package.name.endswith(".zip"):
        with zipfile.ZipFile(package) as archive:
            return archive.namelist()
    with tarfile.open(package) as archive:
        return archive.getnames()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_written_package_verifies_to_the_manifest_returned(tmp_path: Path, suffix: str) -> None:
    manifest = pack(tmp_path / f"pkg{suffix}", make_sources(tmp_path / "src"))
    assert verify_package(tmp_path / f"pkg{suffix}") == manifest


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_manifest_lists_every_file_with_its_hash_size_and_reasons(tmp_path: Path, suffix: str) -> None:
    files = make_sources(tmp_path / "src")
    manifest = pack(tmp_path / f"pkg{suffix}", files)
    listed = {file.path: (file.sha256, file.size, file.reasons) for file in manifest.files}
    for path, source, reasons in files:
        data = source.read_bytes()
        assert listed[path] == (hashlib.sha256(data).hexdigest(), len(data), reasons)
    assert (manifest.entry, manifest.recipe, manifest.created) == ("recipe.yaml", "etl", EPOCH)
    assert [(r.name, r.version, r.reasons, r.wheel) for r in manifest.requirements] == [
        ("PyYAML", "6.0.1", ("steps/load.py:1: import yaml",), None)
    ]


def test_the_manifest_names_the_python_platform_and_framework0_it_was_built_with(tmp_path: Path) -> None:
    manifest = pack(tmp_path / "pkg.zip", make_sources(tmp_path / "src"))
    assert (manifest.python, manifest.platform, manifest.framework0) == (
        platform.python_version(),
        sysconfig.get_platform(),
        framework0.__version__,
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_an_extracted_package_holds_the_sources_bytes(tmp_path: Path, suffix: str) -> None:
    files = make_sources(tmp_path / "src")
    manifest = pack(tmp_path / f"pkg{suffix}", files)
    assert extract_package(tmp_path / f"pkg{suffix}", tmp_path / "stage") == manifest
    for path, source, _ in files:
        assert (tmp_path / "stage" / path).read_bytes() == source.read_bytes()
    assert (tmp_path / "stage" / MANIFEST_NAME).read_bytes() == manifest.to_json()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_manifest_is_the_first_member_and_the_files_follow_in_sorted_order(tmp_path: Path, suffix: str) -> None:
    pack(tmp_path / f"pkg{suffix}", make_sources(tmp_path / "src"))
    assert member_names(tmp_path / f"pkg{suffix}") == [
        MANIFEST_NAME,
        "data/café.csv",
        "recipe.yaml",
        "steps/helpers.py",
        "steps/load.py",
    ]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_two_builds_from_the_same_inputs_and_epoch_are_byte_identical(tmp_path: Path, suffix: str) -> None:
    first = make_sources(tmp_path / "one")
    second = make_sources(tmp_path / "two")
    for _, source, _ in second:
        os.utime(source, (EPOCH + 5000, EPOCH + 5000))  # other times on disk: the epoch decides
    pack(tmp_path / f"one{suffix}", first)
    pack(tmp_path / f"two{suffix}", second)
    assert (tmp_path / f"one{suffix}").read_bytes() == (tmp_path / f"two{suffix}").read_bytes()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_another_epoch_gives_other_bytes(tmp_path: Path, suffix: str) -> None:
    files = make_sources(tmp_path / "src")
    pack(tmp_path / f"one{suffix}", files)
    pack(tmp_path / f"two{suffix}", files, source_date_epoch=EPOCH + 86_400)
    assert (tmp_path / f"one{suffix}").read_bytes() != (tmp_path / f"two{suffix}").read_bytes()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_without_an_epoch_the_newest_source_time_is_used(tmp_path: Path, suffix: str) -> None:
    files = make_sources(tmp_path / "src")
    os.utime(files[2][1], (EPOCH + 42, EPOCH + 42))
    manifest = pack(tmp_path / f"one{suffix}", files, source_date_epoch=None)
    pack(tmp_path / f"two{suffix}", files, source_date_epoch=None)
    assert manifest.created == EPOCH + 42
    assert (tmp_path / f"one{suffix}").read_bytes() == (tmp_path / f"two{suffix}").read_bytes()


def test_zip_members_have_fixed_times_modes_and_system(tmp_path: Path) -> None:
    pack(tmp_path / "pkg.zip", make_sources(tmp_path / "src"))
    with zipfile.ZipFile(tmp_path / "pkg.zip") as archive:
        infos = archive.infolist()
    assert {info.date_time for info in infos} == {(2023, 11, 14, 22, 13, 20)}
    assert {info.external_attr >> 16 for info in infos} == {stat.S_IFREG | 0o644}
    assert {info.create_system for info in infos} == {3}
    assert {info.compress_type for info in infos} == {zipfile.ZIP_DEFLATED}
    assert {info.extra for info in infos} == {b""}


def test_a_zip_epoch_before_1980_is_written_as_1980(tmp_path: Path) -> None:
    pack(tmp_path / "pkg.zip", make_sources(tmp_path / "src"), source_date_epoch=0)
    with zipfile.ZipFile(tmp_path / "pkg.zip") as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_tar_members_have_fixed_times_modes_and_no_owner(tmp_path: Path) -> None:
    pack(tmp_path / "pkg.tar.gz", make_sources(tmp_path / "src"))
    with tarfile.open(tmp_path / "pkg.tar.gz") as archive:
        members = archive.getmembers()
    assert {(m.mtime, m.mode, m.uid, m.gid, m.uname, m.gname, m.type) for m in members} == {
        (EPOCH, 0o644, 0, 0, "", "", tarfile.REGTYPE)
    }


def test_the_gzip_header_holds_the_epoch_and_no_file_name(tmp_path: Path) -> None:
    pack(tmp_path / "pkg.tar.gz", make_sources(tmp_path / "src"))
    header = (tmp_path / "pkg.tar.gz").read_bytes()[:10]
    assert header[3] & 0x08 == 0  # FNAME
    assert int.from_bytes(header[4:8], "little") == EPOCH


@pytest.mark.parametrize(
    ("name", "kind"), [("p.f0.zip", "zip"), ("p.ZIP", "zip"), ("p.tar.gz", "tar.gz"), ("p.tgz", "tar.gz")]
)
def test_the_format_follows_the_suffix(tmp_path: Path, name: str, kind: str) -> None:
    assert package_format(name) == kind
    pack(tmp_path / name, make_sources(tmp_path / "src"))
    magic = (tmp_path / name).read_bytes()[:2]
    assert magic == (b"PK" if kind == "zip" else b"\x1f\x8b")


def test_another_suffix_is_refused_naming_the_suffixes_allowed(tmp_path: Path) -> None:
    with pytest.raises(PackageError) as caught:
        pack(tmp_path / "pkg.tar", make_sources(tmp_path / "src"))
    assert str(caught.value) == f"{tmp_path / 'pkg.tar'}: a package is named with one of .f0.zip, .zip, .tar.gz, .tgz"
    assert not (tmp_path / "pkg.tar").exists()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../escape.py", "'..' in the path"),
        ("/abs.py", "an absolute path"),
        ("steps\\x.py", "a backslash"),
        ("CON.py", "a name reserved on Windows ('CON.py')"),
        ("Recipe.yaml", "collides with a file 'recipe.yaml' where case and accents are ignored (macOS, Windows)"),
        ("manifest.json", "collides with a file 'MANIFEST.json' where case and accents are ignored (macOS, Windows)"),
        ("wheels/mine.py", "'wheels/' holds requirement wheels"),
    ],
)
def test_a_file_path_a_package_cannot_hold_is_refused_before_writing(tmp_path: Path, path: str, reason: str) -> None:
    files = make_sources(tmp_path / "src")
    source = files[1][1]
    with pytest.raises(PackageError) as caught:
        pack(tmp_path / "pkg.zip", [*files, (path, source, ())])
    assert str(caught.value) == f"cannot pack {path!r} (from {str(source)!r}): {reason}"
    assert sorted(os.listdir(tmp_path)) == ["src"]


def test_an_entry_that_is_not_among_the_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"^entry 'main\.yaml' is not one of the files packed$"):
        pack(tmp_path / "pkg.zip", make_sources(tmp_path / "src"), entry="main.yaml")


def test_a_requirement_listed_twice_is_refused(tmp_path: Path) -> None:
    twice = [("PyYAML", "6.0.1", ()), ("pyyaml", "6.0.1", ())]
    with pytest.raises(PackageError, match=r"^requirement 'pyyaml' is listed twice$"):
        pack(tmp_path / "pkg.zip", make_sources(tmp_path / "src"), requirements=twice)


def test_a_requirement_that_is_not_a_pin_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"^cannot pin requirement: '' is not a version of 'PyYAML'$"):
        pack(tmp_path / "pkg.zip", make_sources(tmp_path / "src"), requirements=[("PyYAML", "", ())])


def test_a_missing_source_is_refused_and_nothing_is_left_behind(tmp_path: Path) -> None:
    files = make_sources(tmp_path / "src")
    missing = tmp_path / "src" / "gone.py"
    with pytest.raises(PackageError) as caught:
        pack(tmp_path / "pkg.zip", [*files, ("gone.py", missing, ())])
    assert str(caught.value) == f"cannot pack 'gone.py': cannot read {str(missing)!r}: No such file or directory"
    assert sorted(os.listdir(tmp_path)) == ["src"]


def test_a_folder_given_as_a_source_is_refused(tmp_path: Path) -> None:
    files = make_sources(tmp_path / "src")
    with pytest.raises(PackageError) as caught:
        pack(tmp_path / "pkg.zip", [*files, ("dir", tmp_path / "src", ())])
    assert str(caught.value) == f"cannot pack 'dir': {str(tmp_path / 'src')!r} is not a regular file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_given_as_a_source_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    files = make_sources(tmp_path / "src")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(PackageError) as caught:
        pack(tmp_path / "pkg.zip", [*files, ("fifo", tmp_path / "fifo", ())])
    assert str(caught.value) == f"cannot pack 'fifo': {str(tmp_path / 'fifo')!r} is not a regular file"


def test_a_failed_build_leaves_an_existing_package_as_it_was(tmp_path: Path) -> None:
    files = make_sources(tmp_path / "src")
    pack(tmp_path / "pkg.zip", files)
    before = (tmp_path / "pkg.zip").read_bytes()
    with pytest.raises(PackageError):
        pack(tmp_path / "pkg.zip", [*files, ("gone.py", tmp_path / "gone.py", ())], source_date_epoch=EPOCH + 1)
    assert (tmp_path / "pkg.zip").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["pkg.zip", "src"]


def test_an_output_folder_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "nowhere" / "pkg.zip"
    with pytest.raises(PackageError) as caught:
        pack(out, make_sources(tmp_path / "src"))
    assert str(caught.value) == f"{out}: cannot write: folder {str(out.parent)!r} does not exist"


def test_a_package_that_verify_would_refuse_is_not_written(tmp_path: Path) -> None:
    out = tmp_path / "pkg.zip"
    with pytest.raises(PackageError) as caught:
        pack(out, make_sources(tmp_path / "src"), caps=Caps(members=3))
    assert str(caught.value) == (f"{out}: 5 members, over the cap of 3 (members); the package was not written")
    assert sorted(os.listdir(tmp_path)) == ["src"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_wheels_are_stored_under_wheels_with_their_hash_in_the_requirement(tmp_path: Path, suffix: str) -> None:
    wheel = tmp_path / "PyYAML-6.0.1-cp311-cp311-linux_x86_64.whl"
    wheel.write_bytes(b"not really a wheel")
    manifest = pack(tmp_path / f"pkg{suffix}", make_sources(tmp_path / "src"), wheels={"PyYAML": wheel})
    (requirement,) = manifest.requirements
    assert requirement.wheel == f"wheels/{wheel.name}"
    assert requirement.sha256 == hashlib.sha256(b"not really a wheel").hexdigest()
    assert f"wheels/{wheel.name}" in member_names(tmp_path / f"pkg{suffix}")
    assert verify_package(tmp_path / f"pkg{suffix}") == manifest


def test_a_wheel_for_no_requirement_is_refused(tmp_path: Path) -> None:
    wheel = tmp_path / "attrs-23.1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    with pytest.raises(PackageError, match=r"'attrs' is not one of the requirements$"):
        pack(tmp_path / "pkg.zip", make_sources(tmp_path / "src"), wheels={"attrs": wheel})


@pytest.mark.parametrize(("value", "epoch"), [(None, None), ("", None), ("0", 0), ("1700000000", EPOCH)])
def test_source_date_epoch_is_read_from_the_environment_given(value: str | None, epoch: int | None) -> None:
    environ = {} if value is None else {"SOURCE_DATE_EPOCH": value}
    assert source_date_epoch(environ) == epoch


@pytest.mark.parametrize("value", ["-1", "1.5", "soon", "4294967296", "²", " 1"])
def test_a_source_date_epoch_that_is_not_whole_seconds_is_refused(value: str) -> None:
    with pytest.raises(PackageError) as caught:
        source_date_epoch({"SOURCE_DATE_EPOCH": value})
    assert str(caught.value) == (
        f"SOURCE_DATE_EPOCH={value!r}: expected whole seconds since 1970, from 0 to 4294967295"
    )


def test_a_reason_naming_an_undecodable_file_name_is_kept_escaped(tmp_path: Path) -> None:
    files = make_sources(tmp_path / "src")
    path, source, _ = files[0]
    manifest = pack(tmp_path / "pkg.zip", [(path, source, ("imported by b\udcff.py",)), *files[1:]])
    assert manifest.files[1].reasons == ("imported by b\\udcff.py",)
    assert verify_package(tmp_path / "pkg.zip") == manifest


def test_a_large_file_is_streamed_into_the_package_intact(tmp_path: Path) -> None:
    files = make_sources(tmp_path / "src")
    big = tmp_path / "src" / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    manifest = pack(tmp_path / "pkg.tar.gz", [*files, ("data/big.bin", big, ())])
    extract_package(tmp_path / "pkg.tar.gz", tmp_path / "stage")
    assert (tmp_path / "stage" / "data" / "big.bin").read_bytes() == big.read_bytes()
    assert {file.path: file.size for file in manifest.files}["data/big.bin"] == 3 << 20


def test_the_package_copies_no_stray_gzip_or_tar_metadata(tmp_path: Path) -> None:
    pack(tmp_path / "pkg.tar.gz", make_sources(tmp_path / "src"))
    plain = gzip.decompress((tmp_path / "pkg.tar.gz").read_bytes())
    with tarfile.open(fileobj=io.BytesIO(plain)) as archive:
        assert all(not member.pax_headers or set(member.pax_headers) == {"path"} for member in archive.getmembers())
    assert str(tmp_path).encode() not in plain
