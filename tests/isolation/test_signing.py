"""Signed packages: MANIFEST.sig right after the manifest, checked always, and against a key when
one is given; key files as keygen writes them, and every other key refused in one line."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tests.isolation.members import read_members, write_members

import framework0
from framework0.errors import PackageError, PackageRefused
from framework0.isolation.archive import write_package
from framework0.isolation.manifest import MANIFEST_NAME, Manifest
from framework0.isolation.signing import (
    SIGNATURE_NAME,
    generate_key,
    load_private_key,
    load_public_key,
)
from framework0.isolation.verify import extract_package, read_verified_package, verify_package

EPOCH = 1_700_000_000
SUFFIXES = [".f0.zip", ".tar.gz"]


def sources(tmp_path: Path) -> list[tuple[str, Path, tuple[str, ...]]]:
    folder = tmp_path / "src"
    folder.mkdir(exist_ok=True)
    (folder / "recipe.yaml").write_text("test_id: etl\nsteps: []\n")
    (folder / "load.py").write_text("VALUE = 1\n")
    return [("recipe.yaml", folder / "recipe.yaml", ()), ("steps/load.py", folder / "load.py", ())]


def build(tmp_path: Path, suffix: str = ".f0.zip", *, key: Path | None = None, name: str = "pkg") -> Path:
    out = tmp_path / f"{name}{suffix}"
    write_package(
        out,
        entry="recipe.yaml",
        recipe="etl",
        files=sources(tmp_path),
        requirements=[("PyYAML", "6.0.1", ())],
        source_date_epoch=EPOCH,
        signing_key=None if key is None else load_private_key(key),
    )
    return out


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    """A key pair as keygen writes it: (NAME.key, NAME.pub)."""
    (tmp_path / "keys").mkdir()
    return generate_key(tmp_path / "keys" / "team")


def fingerprint_of(public: Path) -> str:
    return load_public_key(public).fingerprint


def replace_member(pkg: Path, name: str, data: bytes) -> None:
    write_members(pkg, [(n, data if n == name else d) for n, d in read_members(pkg)])


def refusal(pkg: Path, **options: object) -> str:
    with pytest.raises(PackageRefused) as caught:
        verify_package(pkg, **options)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    return message


def key_error(call: object, *args: object, **options: object) -> str:
    with pytest.raises(PackageError) as caught:
        call(*args, **options)  # type: ignore[operator]
    message = str(caught.value)
    assert "\n" not in message and not isinstance(caught.value, PackageRefused)
    return message


# --- signing and verifying ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_signed_package_verifies_with_its_public_key_and_names_its_signer(
    tmp_path: Path, keys: tuple[Path, Path], suffix: str
) -> None:
    private, public = keys
    pkg = build(tmp_path, suffix, key=private)
    verified = read_verified_package(pkg, key=public)
    assert verified.signer == fingerprint_of(public)
    assert verify_package(pkg, key=public) == verified.manifest


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_signature_is_the_second_member_and_signs_the_manifest_bytes(
    tmp_path: Path, keys: tuple[Path, Path], suffix: str
) -> None:
    private, public = keys
    pkg = build(tmp_path, suffix, key=private)
    members = read_members(pkg)
    assert [name for name, _ in members] == [MANIFEST_NAME, SIGNATURE_NAME, "recipe.yaml", "steps/load.py"]
    document = json.loads(members[1][1])
    assert sorted(document) == ["algorithm", "public_key", "signature"] and document["algorithm"] == "ed25519"
    raw = bytes.fromhex(document["public_key"])
    assert raw == load_public_key(public).raw
    Ed25519PublicKey.from_public_bytes(raw).verify(bytes.fromhex(document["signature"]), members[0][1])


def test_the_signature_file_is_not_listed_in_the_manifest(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    manifest = verify_package(build(tmp_path, key=keys[0]))
    assert [file.path for file in manifest.files] == ["recipe.yaml", "steps/load.py"]


def test_a_signed_package_verifies_without_a_key_and_still_names_its_signer(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    pkg = build(tmp_path, key=keys[0])
    assert read_verified_package(pkg).signer == fingerprint_of(keys[1])


def test_an_unsigned_package_has_no_signer(tmp_path: Path) -> None:
    assert read_verified_package(build(tmp_path)).signer is None


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_an_unsigned_package_given_a_key_is_refused(tmp_path: Path, keys: tuple[Path, Path], suffix: str) -> None:
    pkg = build(tmp_path, suffix)
    assert refusal(pkg, key=keys[1]) == f"{pkg}: not signed; --key needs a signed package"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_package_signed_by_another_key_is_refused_naming_both_fingerprints(
    tmp_path: Path, keys: tuple[Path, Path], suffix: str
) -> None:
    other_private, other_public = generate_key(tmp_path / "other")
    pkg = build(tmp_path, suffix, key=other_private)
    assert refusal(pkg, key=keys[1]) == (
        f"{pkg}: signed by {fingerprint_of(other_public)}, not by the key {keys[1]} ({fingerprint_of(keys[1])})"
    )


@pytest.mark.parametrize("with_key", [True, False], ids=["with-key", "without-key"])
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_flipped_signature_byte_is_refused(
    tmp_path: Path, keys: tuple[Path, Path], suffix: str, with_key: bool
) -> None:
    pkg = build(tmp_path, suffix, key=keys[0])
    document = json.loads(dict(read_members(pkg))[SIGNATURE_NAME])
    signature = bytearray.fromhex(document["signature"])
    signature[10] ^= 0x01
    document["signature"] = signature.hex()
    replace_member(pkg, SIGNATURE_NAME, json.dumps(document, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    message = refusal(pkg, key=keys[1] if with_key else None)
    assert message == (
        f"{pkg}: member 'MANIFEST.sig': the signature by {fingerprint_of(keys[1])} does not match MANIFEST.json: "
        "it or the manifest was changed"
    )


def test_a_signature_with_another_public_key_put_in_is_refused(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    """Swapping in someone else's public key leaves a signature that key did not make."""
    _, other_public = generate_key(tmp_path / "other")
    pkg = build(tmp_path, key=keys[0])
    document = json.loads(dict(read_members(pkg))[SIGNATURE_NAME])
    document["public_key"] = load_public_key(other_public).raw.hex()
    replace_member(pkg, SIGNATURE_NAME, json.dumps(document, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    assert refusal(pkg).startswith(f"{pkg}: member 'MANIFEST.sig': the signature by {fingerprint_of(other_public)} ")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_manifest_edited_with_its_digest_computed_again_is_refused_by_the_signature(
    tmp_path: Path, keys: tuple[Path, Path], suffix: str
) -> None:
    """The digest alone protects against accidents; the signature against someone who recomputes it."""
    pkg = build(tmp_path, suffix, key=keys[0])
    manifest = verify_package(pkg)
    forged = Manifest.build(
        entry=manifest.entry,
        recipe="forged",
        files=manifest.files,
        requirements=manifest.requirements,
        python=manifest.python,
        platform=manifest.platform,
        framework0=manifest.framework0,
        created=manifest.created,
    )
    replace_member(pkg, MANIFEST_NAME, forged.to_json())
    assert refusal(pkg, key=keys[1]).startswith(f"{pkg}: member 'MANIFEST.sig': the signature by ")


def test_a_manifest_edited_without_its_digest_is_refused_by_the_digest(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    pkg = build(tmp_path, key=keys[0])
    replace_member(pkg, MANIFEST_NAME, dict(read_members(pkg))[MANIFEST_NAME].replace(b'"etl"', b'"xyz"'))
    assert refusal(pkg, key=keys[1]).endswith("): it was edited")


def good_signature(tmp_path: Path, keys: tuple[Path, Path]) -> bytes:
    return dict(read_members(build(tmp_path, key=keys[0], name="good")))[SIGNATURE_NAME]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda good: b"", "not the JSON a signature is written in"),
        (lambda good: b"\x00\xff garbage", "not the JSON a signature is written in"),
        (lambda good: b"[1, 2]\n", "not a JSON object but list"),
        (lambda good: good.replace(b'"ed25519"', b'"rsa"'), "algorithm 'rsa'; Framework0 reads 'ed25519'"),
        (lambda good: good.replace(b'{"algorithm"', b'{"extra":1,"algorithm"'), "keys ['algorithm', 'extra'"),
        (lambda good: good.replace(b'"signature":"', b'"signature":"00'), "signature: '"),
        (lambda good: good.replace(b'"public_key":"', b'"public_key":"A'), "public_key: '"),
        (lambda good: good.replace(b",", b", "), "not in canonical form"),
        (lambda good: good.rstrip(b"\n"), "not in canonical form"),
        (lambda good: good + b" " * 2000, "bytes, more than a signature holds (1024)"),
    ],
    ids=[
        "empty",
        "garbage",
        "a-list",
        "rsa",
        "extra-key",
        "long-hex",
        "upper-hex",
        "spaces",
        "no-newline",
        "oversized",
    ],
)
def test_a_malformed_signature_file_is_always_refused_naming_it(
    tmp_path: Path, keys: tuple[Path, Path], change: object, reason: str
) -> None:
    pkg = build(tmp_path, key=keys[0])
    replace_member(pkg, SIGNATURE_NAME, change(good_signature(tmp_path, keys)))  # type: ignore[operator]
    message = refusal(pkg)
    assert message.startswith(f"{pkg}: member 'MANIFEST.sig': ")
    assert reason in message


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_signature_after_the_files_is_refused(tmp_path: Path, keys: tuple[Path, Path], suffix: str) -> None:
    pkg = build(tmp_path, suffix, key=keys[0])
    members = read_members(pkg)
    write_members(pkg, [members[0], *members[2:], members[1]])
    assert refusal(pkg) == (
        f"{pkg}: member 'MANIFEST.sig': MANIFEST.sig is only ever a file, the second member, right after MANIFEST.json"
    )


def test_a_signature_before_the_manifest_is_refused(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    pkg = build(tmp_path, key=keys[0])
    members = read_members(pkg)
    write_members(pkg, [members[1], members[0], *members[2:]])
    assert refusal(pkg).startswith(f"{pkg}: member 'MANIFEST.sig': the first member is not MANIFEST.json")


def test_a_signature_named_twice_is_refused(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    pkg = build(tmp_path, ".tar.gz", key=keys[0])  # zipfile warns when writing a name twice; tarfile does not
    members = read_members(pkg)
    write_members(pkg, [*members[:2], members[1], *members[2:]])
    assert refusal(pkg) == f"{pkg}: member 'MANIFEST.sig': named twice"


def test_a_signature_folder_is_refused(tmp_path: Path) -> None:
    pkg = build(tmp_path, ".tar.gz")
    members = read_members(pkg)
    write_members(pkg, [members[0], (SIGNATURE_NAME + "/", b""), *members[1:]])
    assert refusal(pkg).startswith(f"{pkg}: member 'MANIFEST.sig': MANIFEST.sig is only ever a file")


def test_a_manifest_that_lists_the_signature_name_is_refused(tmp_path: Path) -> None:
    pkg = build(tmp_path)
    manifest = verify_package(pkg)
    digest = hashlib.sha256(b"x").hexdigest()
    listed = Manifest.build(
        entry=manifest.entry,
        recipe=manifest.recipe,
        files=[*manifest.files, type(manifest.files[0])("manifest.SIG", digest, 1)],
        requirements=manifest.requirements,
        python=manifest.python,
        platform=manifest.platform,
        framework0=manifest.framework0,
        created=manifest.created,
    )
    replace_member(pkg, MANIFEST_NAME, listed.to_json())
    assert refusal(pkg) == (
        f"{pkg}: member 'MANIFEST.json': it lists 'manifest.SIG', but 'MANIFEST.sig' is kept for the signature"
    )


@pytest.mark.parametrize("name", ["MANIFEST.sig", "manifest.sig", "MANIFEST.sig/x.py"])
def test_a_file_named_like_the_signature_cannot_be_packed(tmp_path: Path, name: str) -> None:
    files = sources(tmp_path)
    message = key_error(
        write_package,
        tmp_path / "p.f0.zip",
        entry="recipe.yaml",
        recipe=None,
        files=[*files, (name, files[1][1], ())],
        requirements=[],
    )
    assert message.startswith(f"cannot pack {name!r} (from ")
    assert not (tmp_path / "p.f0.zip").exists()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_two_signed_builds_are_byte_identical(tmp_path: Path, keys: tuple[Path, Path], suffix: str) -> None:
    first = build(tmp_path, suffix, key=keys[0], name="a")
    second = build(tmp_path, suffix, key=keys[0], name="b")
    assert first.read_bytes() == second.read_bytes()


def test_a_key_can_be_given_as_pem_bytes_or_raw_bytes(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    pkg = build(tmp_path, key=keys[0])
    assert verify_package(pkg, key=keys[1].read_bytes()) == verify_package(pkg, key=load_public_key(keys[1]).raw)


def test_raw_bytes_of_another_key_are_refused_naming_the_key_given(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    pkg = build(tmp_path, key=keys[0])
    assert refusal(pkg, key=bytes(32)) == (
        f"{pkg}: signed by {fingerprint_of(keys[1])}, not by the key given ({hashlib.sha256(bytes(32)).hexdigest()})"
    )


def test_extract_with_a_key_refuses_an_unsigned_package_and_writes_nothing(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    pkg = build(tmp_path)
    with pytest.raises(PackageRefused, match="not signed"):
        extract_package(pkg, tmp_path / "stage", key=keys[1])
    assert not (tmp_path / "stage").exists()


def test_extract_of_a_signed_package_writes_the_signature_beside_the_manifest(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    pkg = build(tmp_path, key=keys[0])
    extract_package(pkg, tmp_path / "stage", key=keys[1])
    assert (tmp_path / "stage" / SIGNATURE_NAME).read_bytes() == dict(read_members(pkg))[SIGNATURE_NAME]


def test_isolate_signs_with_the_key_file_given(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    (tmp_path / "r.yaml").write_text("steps:\n  - name: a\n    uses: hello_world\n")
    package = framework0.isolate(tmp_path / "r.yaml", tmp_path / "p.f0.zip", sign=keys[0], source_date_epoch=EPOCH)
    assert package.signer == fingerprint_of(keys[1])
    assert read_verified_package(package.path, key=keys[1]).signer == package.signer


def test_isolate_reports_a_wrong_key_before_writing_anything(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    (tmp_path / "r.yaml").write_text("steps:\n  - name: a\n    uses: hello_world\n")
    out = tmp_path / "p.f0.zip"
    message = key_error(framework0.isolate, tmp_path / "r.yaml", out, sign=keys[1])
    assert message.startswith(f"{out}: cannot sign with {keys[1]}: a public key; signing needs the private key (")
    assert not out.exists()


# --- key files -----------------------------------------------------------------------------------------


def test_keygen_writes_a_pem_pair_with_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    private, public = generate_key(tmp_path / "team")
    assert (private, public) == (tmp_path / "team.key", tmp_path / "team.pub")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert load_public_key(public).raw == key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def test_the_fingerprint_is_the_sha256_of_the_raw_public_key(tmp_path: Path) -> None:
    _, public = generate_key(tmp_path / "team")
    key = load_public_key(public)
    assert key.fingerprint == hashlib.sha256(key.raw).hexdigest()


@pytest.mark.parametrize("existing", ["team.key", "team.pub"])
def test_keygen_never_overwrites_a_key_file(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_text("mine")
    message = key_error(generate_key, tmp_path / "team")
    assert message == f"{tmp_path / existing}: already exists; keygen never overwrites a key: choose another NAME"
    assert (tmp_path / existing).read_text() == "mine"
    assert sorted(path.name for path in tmp_path.iterdir()) == [existing]


def test_keygen_takes_a_name_ending_in_key_as_the_stem(tmp_path: Path) -> None:
    assert generate_key(tmp_path / "team.key") == (tmp_path / "team.key", tmp_path / "team.pub")


@pytest.mark.parametrize("given", ["folder", "folder/"])
def test_keygen_given_a_folder_asks_for_a_name_and_writes_nothing(tmp_path: Path, given: str) -> None:
    (tmp_path / "folder").mkdir()
    message = key_error(generate_key, f"{tmp_path}/{given}")
    assert message == f"{tmp_path}/{given}: a folder; keygen writes NAME.key and NAME.pub: give NAME"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["folder"]
    assert list((tmp_path / "folder").iterdir()) == []


def test_keygen_into_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    message = key_error(generate_key, tmp_path / "nowhere" / "team")
    assert message.startswith(f"{tmp_path / 'nowhere' / 'team.key'}: cannot write: ")


def rsa_pem(private: bool) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if private:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def ec_private_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (lambda keys: rsa_pem(private=True), "an RSA key, not Ed25519: create a key pair with `f0 isolate keygen"),
        (lambda keys: ec_private_pem(), "an elliptic-curve (EC) key, not Ed25519"),
        (lambda keys: keys[1].read_bytes(), "a public key; signing needs the private key ("),
        (lambda keys: b"just some text\n", "not a PEM key file (no '-----BEGIN PRIVATE KEY-----' line)"),
        (lambda keys: b"ssh-ed25519 AAAAC3Nza me@host\n", "an OpenSSH public key"),
        (
            lambda keys: serialization.load_pem_private_key(keys[0].read_bytes(), None).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            ),
            "an encrypted private key; sign with an unencrypted one",
        ),
        (lambda keys: b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n", "not a readable PEM"),
        (lambda keys: b"x" * (70 << 10), "too large for a key file"),
    ],
    ids=["rsa", "ec", "public", "text", "openssh", "encrypted", "damaged", "huge"],
)
def test_a_signing_key_that_is_not_an_ed25519_private_key_is_refused_naming_the_file(
    tmp_path: Path, keys: tuple[Path, Path], content: object, says: str
) -> None:
    key = tmp_path / "given.pem"
    key.write_bytes(content(keys))  # type: ignore[operator]
    message = key_error(load_private_key, key, package="p.f0.zip")
    assert message.startswith(f"p.f0.zip: cannot sign with {key}: ")
    assert says in message


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (lambda keys: rsa_pem(private=False), "an RSA key, not Ed25519"),
        (lambda keys: rsa_pem(private=True), "a private key; verifying needs the public key ("),
        (lambda keys: keys[0].read_bytes(), "a private key; verifying needs the public key ("),
        (lambda keys: b"just some text\n", "not a PEM key file (no '-----BEGIN PUBLIC KEY-----' line)"),
        (lambda keys: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "a PEM certificate"),
    ],
    ids=["rsa", "rsa-private", "ed25519-private", "text", "certificate"],
)
def test_a_verifying_key_that_is_not_an_ed25519_public_key_is_refused_naming_the_file(
    tmp_path: Path, keys: tuple[Path, Path], content: object, says: str
) -> None:
    pkg = build(tmp_path, key=keys[0])
    key = tmp_path / "given.pem"
    key.write_bytes(content(keys))  # type: ignore[operator]
    message = key_error(verify_package, pkg, key=key)
    assert message.startswith(f"{pkg}: cannot verify with {key}: ")
    assert says in message


def test_the_private_key_given_to_verify_points_to_the_public_key_beside_it(keys: tuple[Path, Path]) -> None:
    message = key_error(load_public_key, keys[0], package="p.f0.zip")
    assert f"verifying needs the public key ({keys[1]})" in message


def test_the_public_key_given_to_sign_points_to_the_private_key_beside_it(keys: tuple[Path, Path]) -> None:
    message = key_error(load_private_key, keys[1], package="p.f0.zip")
    assert f"signing needs the private key ({keys[0]})" in message


@pytest.mark.parametrize("load", [load_private_key, load_public_key], ids=["sign", "verify"])
def test_a_missing_key_file_is_refused_naming_it(tmp_path: Path, load: object) -> None:
    message = key_error(load, tmp_path / "gone.key", package="p.f0.zip")
    assert " with " + str(tmp_path / "gone.key") + ": no such key file; " in message


@pytest.mark.parametrize("load", [load_private_key, load_public_key], ids=["sign", "verify"])
def test_a_folder_given_as_a_key_is_refused(tmp_path: Path, load: object) -> None:
    message = key_error(load, tmp_path, package="p.f0.zip")
    assert f"{tmp_path}: a folder, not a key file" in message
