"""MANIFEST.json: canonical JSON with a digest over its content, read back strictly."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest

from framework0.errors import PackageRefused
from framework0.isolation.manifest import FORMAT, Manifest, ManifestFile, ManifestRequirement

SHA_A = "a" * 64
SHA_B = "b" * 64


def make_manifest(**changes: Any) -> Manifest:
    fields: dict[str, Any] = {
        "entry": "recipe.yaml",
        "recipe": "etl",
        "files": [
            ManifestFile("recipe.yaml", SHA_A, 10, ("the recipe",)),
            ManifestFile("steps/load.py", SHA_B, 20, ("recipe.yaml:3: module steps.load",)),
        ],
        "requirements": [ManifestRequirement("PyYAML", "6.0.1", ("steps/load.py:1: import yaml",))],
        "python": "3.11.7",
        "platform": "linux-x86_64",
        "framework0": "0.1.0",
        "created": 1_700_000_000,
    }
    return Manifest.build(**{**fields, **changes})


def canonical(document: dict[str, Any]) -> bytes:
    """The format as documented: sorted keys, no spaces, UTF-8, a final newline."""
    return (json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def document() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(make_manifest().to_json())
    return result


def sealed(document: dict[str, Any]) -> bytes:
    """``document`` with its digest computed again, so that only the change under test is wrong."""
    body = {key: value for key, value in document.items() if key != "digest"}
    return canonical({**body, "digest": hashlib.sha256(canonical(body)).hexdigest()})


def refusal(data: bytes) -> str:
    with pytest.raises(PackageRefused) as caught:
        Manifest.from_json(data)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_build_sorts_files_by_path_and_requirements_by_normal_name() -> None:
    manifest = make_manifest(
        files=[ManifestFile("z.py", SHA_A, 1), ManifestFile("recipe.yaml", SHA_A, 1), ManifestFile("a.py", SHA_A, 1)],
        requirements=[ManifestRequirement("zeta", "1"), ManifestRequirement("Alpha_Beta", "2")],
    )
    assert [file.path for file in manifest.files] == ["a.py", "recipe.yaml", "z.py"]
    assert [requirement.name for requirement in manifest.requirements] == ["Alpha_Beta", "zeta"]


def test_the_json_is_canonical_with_the_digest_over_everything_else() -> None:
    manifest = make_manifest()
    data = manifest.to_json()
    body = {key: value for key, value in json.loads(data).items() if key != "digest"}
    assert data == canonical({**body, "digest": manifest.digest})
    assert manifest.digest == hashlib.sha256(canonical(body)).hexdigest()
    assert data.endswith(b"}\n")


def test_non_ascii_names_are_written_as_utf8_not_escaped() -> None:
    manifest = make_manifest(files=[ManifestFile("recipe.yaml", SHA_A, 1), ManifestFile("données/é.csv", SHA_B, 2)])
    assert "données/é.csv".encode() in manifest.to_json()


def test_a_manifest_reads_back_equal() -> None:
    manifest = make_manifest(
        requirements=[ManifestRequirement("PyYAML", "6.0.1", ("why",), "wheels/PyYAML-6.0.1-py3-none-any.whl", SHA_B)]
    )
    assert Manifest.from_json(manifest.to_json()) == manifest


@pytest.mark.parametrize(
    "change",
    [
        {"entry": "steps/load.py"},
        {"recipe": None},
        {"files": [ManifestFile("recipe.yaml", SHA_B, 10)]},
        {"files": [ManifestFile("recipe.yaml", SHA_A, 11)]},
        {"requirements": [ManifestRequirement("PyYAML", "6.0.2")]},
        {"python": "3.12.1"},
        {"platform": "win-amd64"},
        {"framework0": "0.2.0"},
        {"created": 0},
    ],
    ids=lambda change: next(iter(change)),
)
def test_the_digest_changes_with_every_field(change: dict[str, Any]) -> None:
    assert make_manifest(**change).digest != make_manifest().digest


def test_another_format_is_refused_with_what_to_do() -> None:
    edited = {**document(), "format": FORMAT + 1}
    assert refusal(sealed(edited)) == (
        "MANIFEST.json: format 2 is not supported (this Framework0 reads format 1): "
        "upgrade Framework0 or build the package again"
    )


def test_the_message_starts_with_the_origin_given() -> None:
    with pytest.raises(PackageRefused, match=r"^pkg\.zip: member 'MANIFEST\.json': not JSON"):
        Manifest.from_json(b"{", origin="pkg.zip: member 'MANIFEST.json'")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("python"), "MANIFEST.json: python: missing"),
        (lambda d: d.update(signature="x"), "MANIFEST.json: 'signature': not a manifest key"),
        (lambda d: d["files"][0].pop("size"), "MANIFEST.json: files[0].size: missing"),
        (lambda d: d["files"][0].update(mode=420), "MANIFEST.json: files[0].'mode': not a manifest key"),
        (lambda d: d["files"][0].update(size="10"), "MANIFEST.json: files[0].size: '10' is not an integer >= 0"),
        (lambda d: d["files"][0].update(size=True), "MANIFEST.json: files[0].size: True is not an integer >= 0"),
        (lambda d: d["files"][0].update(size=-1), "MANIFEST.json: files[0].size: -1 is not an integer >= 0"),
        (
            lambda d: d["files"][0].update(sha256="ABCD"),
            "MANIFEST.json: files[0].sha256: 'ABCD' is not 64 lowercase hex digits",
        ),
        (lambda d: d["files"][0].update(reasons="x"), "MANIFEST.json: files[0].reasons: 'x' is not a list"),
        (lambda d: d["files"][0].update(reasons=[1]), "MANIFEST.json: files[0].reasons[0]: 1 is not a string"),
        (lambda d: d.update(files={}), "MANIFEST.json: files: {} is not a list"),
        (lambda d: d.update(recipe=5), "MANIFEST.json: recipe: 5 is not a string"),
        (lambda d: d.update(created=1.5), "MANIFEST.json: created: 1.5 is not an integer >= 0"),
    ],
    ids=[
        "missing-key",
        "extra-key",
        "file-missing-key",
        "file-extra-key",
        "size-string",
        "size-bool",
        "size-negative",
        "sha-uppercase",
        "reasons-string",
        "reason-not-string",
        "files-object",
        "recipe-number",
        "created-float",
    ],
)
def test_a_wrong_shape_or_type_is_refused_naming_the_key(edit: Any, message: str) -> None:
    edited = copy.deepcopy(document())
    edit(edited)
    assert refusal(sealed(edited)) == message


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["files"][1].update(path="../load.py"),
            "MANIFEST.json: files[1].path: '../load.py': '..' in the path",
        ),
        (lambda d: d["files"][1].update(path="C:\\x"), "MANIFEST.json: files[1].path: 'C:\\\\x': a drive letter"),
        (lambda d: d["files"][1].update(path="a"), "MANIFEST.json: files: not sorted by path"),
        (
            lambda d: d["files"][1].update(path="recipe.yaml"),
            "MANIFEST.json: files[1].path: 'recipe.yaml' named twice",
        ),
        (
            lambda d: d["files"][0].update(path="Steps/load.py"),
            "MANIFEST.json: files[1].path: 'steps/load.py' collides with a file 'Steps/load.py' "
            "where case and accents are ignored (macOS, Windows)",
        ),
        (
            lambda d: d["files"][0].update(path="manifest.json"),
            "MANIFEST.json: files[0].path: 'manifest.json' collides with a file 'MANIFEST.json' "
            "where case and accents are ignored (macOS, Windows)",
        ),
        (
            lambda d: d["files"][1].update(path="wheels/x.py"),
            "MANIFEST.json: files[1].path: 'wheels/x.py' is in 'wheels/', which holds requirement wheels",
        ),
        (lambda d: d.update(entry="other.yaml"), "MANIFEST.json: entry: 'other.yaml' is not one of the files"),
        (
            lambda d: d["requirements"].append({**d["requirements"][0], "name": "pyyaml"}),
            "MANIFEST.json: requirements[1].name: 'pyyaml' is listed twice",
        ),
        (
            lambda d: d["requirements"][0].update(name="not a name"),
            "MANIFEST.json: requirements[0]: 'not a name' is not a distribution name",
        ),
        (
            lambda d: d["requirements"][0].update(version=""),
            "MANIFEST.json: requirements[0]: '' is not a version of 'PyYAML'",
        ),
        (
            lambda d: d["requirements"][0].update(wheel="wheels/x.whl"),
            "MANIFEST.json: requirements[0]: 'wheel' and 'sha256' are both null or both set",
        ),
        (
            lambda d: d["requirements"][0].update(wheel="lib/x.whl", sha256=SHA_A),
            "MANIFEST.json: requirements[0].wheel: 'lib/x.whl' is not in 'wheels/'",
        ),
        (
            lambda d: d["requirements"][0].update(wheel="wheels/../../x.whl", sha256=SHA_A),
            "MANIFEST.json: requirements[0].wheel: 'wheels/../../x.whl': '..' in the path",
        ),
    ],
    ids=[
        "dotdot",
        "drive",
        "unsorted",
        "twice",
        "case",
        "manifest-name",
        "in-wheels",
        "entry",
        "requirement-twice",
        "requirement-name",
        "requirement-version",
        "wheel-without-hash",
        "wheel-elsewhere",
        "wheel-escape",
    ],
)
def test_a_name_or_list_a_package_could_not_hold_is_refused(edit: Any, message: str) -> None:
    edited = copy.deepcopy(document())
    edit(edited)
    assert refusal(sealed(edited)) == message


def test_a_digest_that_is_not_a_sha256_is_refused() -> None:
    assert refusal(canonical({**document(), "digest": "0"})) == (
        "MANIFEST.json: digest: '0' is not 64 lowercase hex digits"
    )


def test_an_edited_manifest_is_refused_by_its_digest() -> None:
    edited = document()
    edited["files"][0]["sha256"] = SHA_B
    message = refusal(canonical(edited))
    assert message.startswith(f"MANIFEST.json: its digest {edited['digest']} does not match its content (")
    assert message.endswith("): it was edited")


def test_a_manifest_in_another_layout_is_refused_even_with_the_right_digest() -> None:
    data = json.dumps(document(), sort_keys=True, indent=2).encode() + b"\n"
    assert refusal(data) == (
        "MANIFEST.json: not in canonical form (sorted keys, no spaces, UTF-8, a final newline): it was edited"
    )


def test_a_lone_surrogate_escaped_in_the_json_is_refused() -> None:
    data = sealed(document()).replace(b'"the recipe"', b'"\\udc80"')
    assert refusal(data) == "MANIFEST.json: files[0].reasons[0]: '\\udc80' holds a lone surrogate, which UTF-8 cannot"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff{}", "MANIFEST.json: not UTF-8 (byte 0)"),
        (b"{", "MANIFEST.json: not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        (b"[]", "MANIFEST.json: not a JSON object but list"),
        (b'{"format": NaN}', "MANIFEST.json: NaN is not a JSON value"),
        (b'{"format": 1, "format": 1}', "MANIFEST.json: key 'format' appears twice in one object"),
        (b"[" * 100_000 + b"]" * 100_000, "MANIFEST.json: not JSON: nested too deep"),
    ],
    ids=["not-utf8", "not-json", "not-object", "nan", "duplicate-key", "too-deep"],
)
def test_bytes_that_are_not_a_json_object_are_refused(data: bytes, message: str) -> None:
    assert refusal(data) == message
