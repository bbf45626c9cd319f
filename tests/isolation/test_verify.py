"""Verifying packages: every digest checked, tampering refused naming the member, nothing written;
extracting only into a new or empty folder."""

from __future__ import annotations

import gzip
import json
import os
import zipfile
from pathlib import Path

import pytest
from tests.isolation.members import read_members, write_members

from framework0.errors import PackageError, PackageRefused
from framework0.isolation.archive import write_package
from framework0.isolation.manifest import MANIFEST_NAME, Manifest
from framework0.isolation.verify import DEFAULT_CAPS, Caps, extract_package, verify_package

EPOCH = 1_700_000_000
SUFFIXES = [".f0.zip", ".tar.gz"]
ROWS = b"a,b\n" + b"1,2\n" * 300  # 1,204 bytes: more than the manifest


def build(tmp_path: Path, suffix: str, *, wheel: bool = False) -> Path:
    sources = tmp_path / "src"
    sources.mkdir(exist_ok=True)
    (sources / "recipe.yaml").write_text("test_id: etl\nsteps: []\n")
    (sources / "load.py").write_text("import json\nVALUE = 1\n")
    (sources / "rows.csv").write_bytes(ROWS)
    wheels = {}
    if wheel:
        (sources / "PyYAML-6.0.1-py3-none-any.whl").write_bytes(b"a wheel")
        wheels["PyYAML"] = sources / "PyYAML-6.0.1-py3-none-any.whl"
    out = tmp_path / f"pkg{suffix}"
    write_package(
        out,
        entry="recipe.yaml",
        recipe="etl",
        files=[
            ("recipe.yaml", sources / "recipe.yaml", ()),
            ("steps/load.py", sources / "load.py", ()),
            ("data/rows.csv", sources / "rows.csv", ()),
        ],
        requirements=[("PyYAML", "6.0.1", ())],
        source_date_epoch=EPOCH,
        wheels=wheels,
    )
    return out


def edit(pkg: Path, name: str, change: bytes) -> None:
    write_members(pkg, [(n, change if n == name else data) for n, data in read_members(pkg)])


def refusal(pkg: Path, caps: Caps = DEFAULT_CAPS) -> str:
    with pytest.raises(PackageRefused) as caught:
        verify_package(pkg, caps=caps)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_package_rewritten_unchanged_still_verifies(tmp_path: Path, suffix: str) -> None:
    """The rewriting helpers below change only what each test changes."""
    pkg = build(tmp_path, suffix)
    manifest = verify_package(pkg)
    write_members(pkg, read_members(pkg))
    assert verify_package(pkg) == manifest


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_one_byte_changed_in_a_member_is_refused_naming_it(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix)
    edit(pkg, "steps/load.py", b"import json\nVALUE = 2\n")
    assert refusal(pkg) == f"{pkg}: member 'steps/load.py': its SHA-256 does not match the manifest: it was changed"


def test_one_byte_flipped_in_a_zip_members_compressed_bytes_is_refused_naming_it(tmp_path: Path) -> None:
    pkg = build(tmp_path, ".f0.zip")
    with zipfile.ZipFile(pkg) as archive:
        info = archive.getinfo("data/rows.csv")
    data = bytearray(pkg.read_bytes())
    data[info.header_offset + 30 + len(info.filename) + 2] ^= 0x55
    pkg.write_bytes(bytes(data))
    assert refusal(pkg).startswith(f"{pkg}: member 'data/rows.csv': unreadable: ")


def test_one_byte_flipped_in_a_tar_gz_stream_is_refused(tmp_path: Path) -> None:
    pkg = build(tmp_path, ".tar.gz")
    data = bytearray(pkg.read_bytes())
    data[len(data) // 2] ^= 0x55
    pkg.write_bytes(bytes(data))
    assert refusal(pkg).startswith(f"{pkg}: member ")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_file_added_is_refused_naming_it(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix)
    write_members(pkg, [*read_members(pkg), ("steps/extra.py", b"import os\n")])
    assert refusal(pkg) == f"{pkg}: member 'steps/extra.py': a file not in the manifest"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_an_edited_manifest_is_refused_by_its_digest(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix)
    members = dict(read_members(pkg))
    document = json.loads(members[MANIFEST_NAME])
    document["files"][0]["size"] += 1
    edit(pkg, MANIFEST_NAME, json.dumps(document, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    message = refusal(pkg)
    assert message.startswith(f"{pkg}: member 'MANIFEST.json': its digest {document['digest']} does not match")
    assert message.endswith("): it was edited")


def without(manifest: Manifest, path: str) -> bytes:
    return Manifest.build(
        entry=manifest.entry,
        recipe=manifest.recipe,
        files=[file for file in manifest.files if file.path != path],
        requirements=manifest.requirements,
        python=manifest.python,
        platform=manifest.platform,
        framework0=manifest.framework0,
        created=manifest.created,
    ).to_json()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_file_taken_out_of_the_manifest_is_refused_naming_it(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix)
    edit(pkg, MANIFEST_NAME, without(verify_package(pkg), "steps/load.py"))
    assert refusal(pkg) == f"{pkg}: member 'steps/load.py': a file not in the manifest"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_manifest_file_missing_from_the_archive_is_refused_naming_it(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix)
    write_members(pkg, [(name, data) for name, data in read_members(pkg) if name != "steps/load.py"])
    assert refusal(pkg) == f"{pkg}: member 'steps/load.py': in the manifest but not in the archive"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_manifest_that_is_not_the_first_member_is_refused(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix)
    members = read_members(pkg)
    write_members(pkg, [*members[1:], members[0]])
    assert refusal(pkg) == (
        f"{pkg}: member 'data/rows.csv': the first member is not MANIFEST.json: not a package written by f0 isolate"
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_an_archive_without_members_is_refused(tmp_path: Path, suffix: str) -> None:
    pkg = tmp_path / f"pkg{suffix}"
    write_members(pkg, [])
    assert refusal(pkg) == f"{pkg}: no MANIFEST.json: an empty archive"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "an empty file, not a package"),
        (b"#!/bin/sh\necho hello\n", "not a zip or tar.gz package"),
        (gzip.compress(b"plain text, not a tar" * 40, mtime=0), "not a readable tar.gz: invalid header"),
        (b"PK\x03\x04" + bytes(100), "not a zip: no end of central directory record"),
    ],
    ids=["empty", "script", "gzip-not-tar", "zip-truncated"],
)
def test_a_file_that_is_not_a_package_is_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    pkg = tmp_path / "pkg.f0.zip"
    pkg.write_bytes(content)
    assert refusal(pkg) == f"{pkg}: {reason}"


def test_a_missing_package_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(PackageError) as caught:
        verify_package(tmp_path / "nowhere.f0.zip")
    assert not isinstance(caught.value, PackageRefused)
    assert str(caught.value) == f"{tmp_path / 'nowhere.f0.zip'}: cannot read: No such file or directory"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_verify_writes_nothing_and_leaves_the_package_as_it_was(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix)
    before = (pkg.read_bytes(), pkg.stat().st_mtime_ns, sorted(tmp_path.rglob("*")))
    verify_package(pkg)
    edit(pkg, "steps/load.py", b"changed")
    changed = (pkg.read_bytes(), pkg.stat().st_mtime_ns, sorted(tmp_path.rglob("*")))
    refusal(pkg)
    assert (pkg.read_bytes(), pkg.stat().st_mtime_ns, sorted(tmp_path.rglob("*"))) == changed
    assert before[2] == changed[2]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_wheel_no_requirement_names_is_refused(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix)
    write_members(pkg, [*read_members(pkg), ("wheels/evil-1.0-py3-none-any.whl", b"evil")])
    assert refusal(pkg) == (
        f"{pkg}: member 'wheels/evil-1.0-py3-none-any.whl': a wheel that no requirement in the manifest names"
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_changed_wheel_is_refused_naming_it(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix, wheel=True)
    edit(pkg, "wheels/PyYAML-6.0.1-py3-none-any.whl", b"another wheel")
    assert refusal(pkg) == (
        f"{pkg}: member 'wheels/PyYAML-6.0.1-py3-none-any.whl': its SHA-256 does not match the manifest: it was changed"
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_folder_member_is_accepted_and_extracted_as_a_folder(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix)
    members = read_members(pkg)
    write_members(pkg, [members[0], ("empty/", b""), *members[1:]])
    manifest = extract_package(pkg, tmp_path / "stage")
    assert (tmp_path / "stage" / "empty").is_dir()
    assert manifest == verify_package(pkg)


def test_a_zip_folder_member_that_holds_data_is_refused(tmp_path: Path) -> None:
    pkg = build(tmp_path, ".f0.zip")
    members = read_members(pkg)
    write_members(pkg, [members[0], ("empty/", b"data"), *members[1:]])
    assert refusal(pkg) == f"{pkg}: member 'empty/': a folder that holds data"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_member_over_the_member_cap_is_refused_before_it_is_read(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix)
    expected = f"{pkg}: member 'data/rows.csv': 1204 bytes, over the cap of 1000 (member_bytes)"
    assert refusal(pkg, Caps(member_bytes=1000)) == expected


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_members_over_the_total_cap_are_refused_at_the_member_that_crosses_it(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix)
    manifest_size = len(dict(read_members(pkg))[MANIFEST_NAME])
    caps = Caps(total_bytes=manifest_size + 100)
    assert refusal(pkg, caps) == (
        f"{pkg}: member 'data/rows.csv': the members reach {manifest_size + len(ROWS)} bytes, "
        f"over the cap of {manifest_size + 100} (total_bytes)"
    )


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_ratio_cap_applies_once_enough_bytes_are_involved(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix)
    assert verify_package(pkg, caps=Caps(ratio=1.5))  # 1,204 bytes of repeated rows: too few to judge
    assert "over the cap of 1.5 (ratio)" in refusal(pkg, Caps(ratio=1.5, ratio_checked_above=0))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_extract_writes_only_the_packages_files_and_folders(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix, wheel=True)
    extract_package(pkg, tmp_path / "stage")
    stage = tmp_path / "stage"
    written = sorted(str(path.relative_to(stage)) for path in stage.rglob("*"))
    assert written == [
        MANIFEST_NAME,
        "data",
        "data/rows.csv",
        "recipe.yaml",
        "steps",
        "steps/load.py",
        "wheels",
        "wheels/PyYAML-6.0.1-py3-none-any.whl",
    ]
    assert all(not path.is_symlink() and (path.is_file() or path.is_dir()) for path in stage.rglob("*"))


def test_extract_into_an_existing_empty_folder_works(tmp_path: Path) -> None:
    pkg = build(tmp_path, ".f0.zip")
    (tmp_path / "stage").mkdir()
    extract_package(pkg, tmp_path / "stage")
    assert (tmp_path / "stage" / "recipe.yaml").read_text() == "test_id: etl\nsteps: []\n"


def test_extract_into_a_folder_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    pkg = build(tmp_path, ".f0.zip")
    (tmp_path / "stage").mkdir()
    (tmp_path / "stage" / "recipe.yaml").write_text("mine")
    with pytest.raises(PackageError) as caught:
        extract_package(pkg, tmp_path / "stage")
    assert str(caught.value) == f"{tmp_path / 'stage'}: not empty; extract into a new or empty folder"
    assert (tmp_path / "stage" / "recipe.yaml").read_text() == "mine"


def test_extract_into_a_file_is_refused(tmp_path: Path) -> None:
    pkg = build(tmp_path, ".f0.zip")
    (tmp_path / "stage").write_text("mine")
    with pytest.raises(PackageError, match=r": not a folder; extract into a new or empty folder$"):
        extract_package(pkg, tmp_path / "stage")


def test_extract_through_a_symlink_is_refused(tmp_path: Path) -> None:
    pkg = build(tmp_path, ".f0.zip")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "stage").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PackageError, match=r": not a folder; extract into a new or empty folder$"):
        extract_package(pkg, tmp_path / "stage")
    assert list((tmp_path / "elsewhere").iterdir()) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_refused_package_creates_no_staging_folder(tmp_path: Path, suffix: str) -> None:
    pkg = build(tmp_path, suffix)
    edit(pkg, "data/rows.csv", b"changed")
    with pytest.raises(PackageRefused):
        extract_package(pkg, tmp_path / "stage")
    assert not (tmp_path / "stage").exists()


def test_extract_creates_the_staging_folders_parents(tmp_path: Path) -> None:
    pkg = build(tmp_path, ".tar.gz")
    extract_package(pkg, tmp_path / "runs" / "1" / "stage")
    assert os.path.isfile(tmp_path / "runs" / "1" / "stage" / "steps" / "load.py")
