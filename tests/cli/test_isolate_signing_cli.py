"""``f0 isolate keygen``, ``f0 isolate RECIPE -o PKG --sign KEY`` and ``f0 isolate verify PKG --key PUB``."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.helpers import invoke, one_line_error

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EPOCH = {"SOURCE_DATE_EPOCH": "1700000000"}


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    """The data pipeline example, copied: its recipe and the module its steps name."""
    folder = tmp_path / "pipeline"
    folder.mkdir()
    for name in ("data_pipeline.yaml", "pipeline_steps.py"):
        shutil.copy(EXAMPLES / name, folder / name)
    return folder / "data_pipeline.yaml"


def keygen(stem: Path) -> str:
    """A key pair NAME.key / NAME.pub made with ``f0 isolate keygen``; its fingerprint."""
    done = invoke("isolate", "keygen", "-o", stem)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1].removeprefix("fingerprint ")


@pytest.fixture
def signed(pipeline: Path, tmp_path: Path) -> tuple[Path, str]:
    """The pipeline packed and signed with team.key: (the package, the key's fingerprint)."""
    fingerprint = keygen(tmp_path / "team")
    package = tmp_path / "p.f0.zip"
    done = invoke("isolate", pipeline, "-o", package, "--sign", tmp_path / "team.key")
    assert done.returncode == 0, done.stderr
    return package, fingerprint


def test_keygen_writes_both_keys_and_prints_their_paths_and_fingerprint(tmp_path: Path) -> None:
    done = invoke("isolate", "keygen", "-o", tmp_path / "team")
    assert done.returncode == 0, done.stderr
    raw = serialization.load_pem_public_key((tmp_path / "team.pub").read_bytes()).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert done.stdout.splitlines() == [
        f"wrote {tmp_path / 'team.key'} (private key: keep it secret; sign with --sign {tmp_path / 'team.key'})",
        f"wrote {tmp_path / 'team.pub'} (public key: verify with --key {tmp_path / 'team.pub'})",
        f"fingerprint {hashlib.sha256(raw).hexdigest()}",
    ]
    assert stat.S_IMODE((tmp_path / "team.key").stat().st_mode) == 0o600


def test_keygen_refuses_to_overwrite_a_key_in_one_line(tmp_path: Path) -> None:
    keygen(tmp_path / "team")
    before = (tmp_path / "team.key").read_bytes()
    line = one_line_error(invoke("isolate", "keygen", "-o", tmp_path / "team"))
    assert line == f"error: {tmp_path / 'team.key'}: already exists; keygen never overwrites a key: choose another NAME"
    assert (tmp_path / "team.key").read_bytes() == before


def test_a_package_signed_on_the_command_line_verifies_with_the_public_key(signed: tuple[Path, str]) -> None:
    package, fingerprint = signed
    done = invoke("isolate", "verify", package, "--key", package.parent / "team.pub")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{package}: ok (2 files, 1 requirement, digest ")
    assert done.stdout.endswith(f", signed by {fingerprint})\n")


def test_pack_says_who_signed_the_package(pipeline: Path, tmp_path: Path) -> None:
    fingerprint = keygen(tmp_path / "team")
    done = invoke("isolate", pipeline, "-o", tmp_path / "p.zip", "--sign", tmp_path / "team.key")
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith(f", signed by {fingerprint}")


def test_the_signature_follows_the_manifest_in_the_package(signed: tuple[Path, str]) -> None:
    with zipfile.ZipFile(signed[0]) as archive:
        assert archive.namelist() == ["MANIFEST.json", "MANIFEST.sig", "data_pipeline.yaml", "pipeline_steps.py"]


def test_verify_without_a_key_names_the_signer(signed: tuple[Path, str]) -> None:
    package, fingerprint = signed
    done = invoke("isolate", "verify", package)
    assert done.returncode == 0, done.stderr
    assert f"signed by {fingerprint}" in done.stdout


def test_verify_of_an_unsigned_package_says_nothing_of_signing(pipeline: Path, tmp_path: Path) -> None:
    assert invoke("isolate", pipeline, "-o", tmp_path / "p.zip").returncode == 0
    done = invoke("isolate", "verify", tmp_path / "p.zip")
    assert done.returncode == 0, done.stderr
    assert "signed by" not in done.stdout and "signature" not in done.stdout


def test_show_names_the_signer(signed: tuple[Path, str]) -> None:
    package, fingerprint = signed
    done = invoke("isolate", "show", package)
    assert done.returncode == 0, done.stderr
    assert f"signature: ed25519, signed by {fingerprint}\n" in done.stdout


def test_verify_with_a_key_refuses_an_unsigned_package(pipeline: Path, tmp_path: Path) -> None:
    keygen(tmp_path / "team")
    assert invoke("isolate", pipeline, "-o", tmp_path / "p.zip").returncode == 0
    line = one_line_error(invoke("isolate", "verify", tmp_path / "p.zip", "--key", tmp_path / "team.pub"))
    assert line == f"error: {tmp_path / 'p.zip'}: not signed; --key needs a signed package"


def test_verify_with_another_key_is_refused_naming_both_fingerprints(signed: tuple[Path, str], tmp_path: Path) -> None:
    package, fingerprint = signed
    other = keygen(tmp_path / "other")
    line = one_line_error(invoke("isolate", "verify", package, "--key", tmp_path / "other.pub"))
    assert line == f"error: {package}: signed by {fingerprint}, not by the key {tmp_path / 'other.pub'} ({other})"


def test_a_flipped_signature_byte_is_refused_in_one_line(signed: tuple[Path, str], tmp_path: Path) -> None:
    package, fingerprint = signed
    tampered = tmp_path / "tampered.f0.zip"
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "MANIFEST.sig":
                document = json.loads(data)
                document["signature"] = f"{int(document['signature'][0], 16) ^ 1:x}" + document["signature"][1:]
                data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode() + b"\n"
            target.writestr(info, data)
    line = one_line_error(invoke("isolate", "verify", tampered, "--key", tmp_path / "team.pub"))
    assert line == (
        f"error: {tampered}: member 'MANIFEST.sig': the signature by {fingerprint} does not match MANIFEST.json: "
        "it or the manifest was changed"
    )


def test_two_signed_packs_are_byte_identical(pipeline: Path, tmp_path: Path) -> None:
    keygen(tmp_path / "team")
    for name in ("a.tar.gz", "b.tar.gz"):
        done = invoke("isolate", pipeline, "-o", tmp_path / name, "--sign", tmp_path / "team.key", env=EPOCH)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()


def test_signing_with_the_public_key_is_refused_before_anything_is_written(pipeline: Path, tmp_path: Path) -> None:
    keygen(tmp_path / "team")
    package = tmp_path / "p.zip"
    line = one_line_error(invoke("isolate", pipeline, "-o", package, "--sign", tmp_path / "team.pub"))
    assert line == (
        f"error: {package}: cannot sign with {tmp_path / 'team.pub'}: a public key; signing needs the private key "
        f"({tmp_path / 'team.key'})"
    )
    assert not package.exists()


def test_verifying_with_the_private_key_is_refused(signed: tuple[Path, str], tmp_path: Path) -> None:
    package, _ = signed
    line = one_line_error(invoke("isolate", "verify", package, "--key", tmp_path / "team.key"))
    assert line.startswith(f"error: {package}: cannot verify with {tmp_path / 'team.key'}: a private key; ")
    assert f"({tmp_path / 'team.pub'})" in line


@pytest.mark.parametrize("option", ["--sign", "--key"])
def test_an_rsa_key_is_refused_in_one_line_naming_it(pipeline: Path, tmp_path: Path, option: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "rsa.pem"
    if option == "--sign":
        pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        args: tuple[str | Path, ...] = ("isolate", pipeline, "-o", tmp_path / "p.zip", "--sign", pem)
    else:
        pem.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        assert invoke("isolate", pipeline, "-o", tmp_path / "p.zip").returncode == 0
        args = ("isolate", "verify", tmp_path / "p.zip", "--key", pem)
    line = one_line_error(invoke(*args))
    assert f"{tmp_path / 'p.zip'}: cannot {'sign' if option == '--sign' else 'verify'} with {pem}: an RSA key" in line


@pytest.mark.parametrize("option", ["--sign", "--key"])
def test_a_missing_key_file_is_refused_in_one_line_naming_it(pipeline: Path, tmp_path: Path, option: str) -> None:
    if option == "--sign":
        args: tuple[str | Path, ...] = ("isolate", pipeline, "-o", tmp_path / "p.zip", "--sign", tmp_path / "no.key")
    else:
        assert invoke("isolate", pipeline, "-o", tmp_path / "p.zip").returncode == 0
        args = ("isolate", "verify", tmp_path / "p.zip", "--key", tmp_path / "no.pub")
    line = one_line_error(invoke(*args))
    assert f"{tmp_path / 'p.zip'}: cannot " in line and ": no such key file; " in line


def test_a_malformed_signature_is_refused_even_without_a_key(signed: tuple[Path, str], tmp_path: Path) -> None:
    package, _ = signed
    tampered = tmp_path / "tampered.f0.zip"
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            target.writestr(info, b"not a signature" if info.filename == "MANIFEST.sig" else source.read(info))
    line = one_line_error(invoke("isolate", "verify", tampered))
    assert line == f"error: {tampered}: member 'MANIFEST.sig': not the JSON a signature is written in"
