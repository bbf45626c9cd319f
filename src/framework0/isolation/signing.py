"""Ed25519 signatures of recipe packages: key files, ``MANIFEST.sig`` and its check.

A signed package holds ``MANIFEST.sig`` as its second member, right after ``MANIFEST.json``: the
signature of the manifest's canonical bytes, which carry the digest of everything else, so that one
signature covers the whole content. ``MANIFEST.sig`` is canonical JSON (sorted keys, no spaces, a
final newline), and nothing else is read:

    {"algorithm":"ed25519","public_key":"<64 hex: the raw key>","signature":"<128 hex>"}

Keys are PEM files as ``f0 isolate keygen`` writes them: ``NAME.key`` (PKCS8, unencrypted, mode
0600) and ``NAME.pub`` (SubjectPublicKeyInfo). A key's fingerprint is the SHA-256 of its raw 32
bytes, in hex. ``cryptography`` is imported only when a key is read or a signature checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from framework0.errors import PackageError, one_line_name, short_repr
from framework0.isolation.manifest import MANIFEST_NAME

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SIGNATURE_NAME = "MANIFEST.sig"
ALGORITHM = "ed25519"
#: the largest MANIFEST.sig read (one is 220 bytes)
SIGNATURE_BYTES = 1024
#: the largest key file read (an Ed25519 PEM file is about 120 bytes)
KEY_FILE_BYTES = 64 << 10
KEYGEN_HINT = "create a key pair with `f0 isolate keygen -o NAME`"
_SIGNER_HINT = "give the public key (NAME.pub) of the key pair the package was signed with"

_RAW_KEY_BYTES = 32
_SIGNATURE_BYTES = 64
_KEYS = frozenset({"algorithm", "public_key", "signature"})
_PRIVATE_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----")
_PUBLIC_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]*)PUBLIC KEY-----")
_ANY_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


def fingerprint(raw_public_key: bytes) -> str:
    """The fingerprint of a raw Ed25519 public key: the hex SHA-256 of its 32 bytes."""
    return hashlib.sha256(raw_public_key).hexdigest()


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key (its raw 32 bytes) and the file it was read from (None when given as bytes)."""

    raw: bytes
    origin: str | None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)

    @property
    def described(self) -> str:
        """The key as messages name it: ``the key team.pub``, or ``the key given``."""
        return "the key given" if self.origin is None else f"the key {self.origin}"


@dataclass(frozen=True, slots=True)
class Signature:
    """The content of ``MANIFEST.sig``: an Ed25519 signature of ``MANIFEST.json`` and the raw public
    key that made it. ``from_json`` reads only what ``to_json`` writes."""

    public_key: bytes
    signature: bytes

    @property
    def signer(self) -> str:
        """The fingerprint of the key that signed."""
        return fingerprint(self.public_key)

    def to_json(self) -> bytes:
        return _canonical(
            {"algorithm": ALGORITHM, "public_key": self.public_key.hex(), "signature": self.signature.hex()}
        )

    @classmethod
    def from_json(cls, data: bytes) -> Signature:
        """Read ``MANIFEST.sig``; ``ValueError`` (a phrase for a one-line message) for anything that
        ``to_json`` would not have written."""
        if len(data) > SIGNATURE_BYTES:
            raise ValueError(f"{len(data)} bytes, more than a signature holds ({SIGNATURE_BYTES})")
        try:
            document = json.loads(data.decode("ascii"), parse_constant=_no_constant)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise ValueError("not the JSON a signature is written in") from None
        if not isinstance(document, dict):
            raise ValueError(f"not a JSON object but {type(document).__name__}")
        if document.keys() != _KEYS:
            keys = ", ".join(sorted(_KEYS))
            raise ValueError(f"keys {short_repr(sorted(document))}, but a signature has exactly {keys}")
        if document["algorithm"] != ALGORITHM:
            raise ValueError(f"algorithm {short_repr(document['algorithm'])}; Framework0 reads {ALGORITHM!r}")
        signature = cls(
            _hex(document["public_key"], _RAW_KEY_BYTES, "public_key"),
            _hex(document["signature"], _SIGNATURE_BYTES, "signature"),
        )
        if signature.to_json() != data:
            raise ValueError("not in canonical form (sorted keys, no spaces, a final newline): it was edited")
        return signature

    def problem(self, message: bytes) -> str | None:
        """Why this is not a valid signature of ``message`` by its own key, or None when it is."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(self.signature, message)
        except (InvalidSignature, ValueError):
            return f"the signature by {self.signer} does not match {MANIFEST_NAME}: it or the manifest was changed"
        return None


def sign(manifest_json: bytes, key: Ed25519PrivateKey) -> Signature:
    """The signature of a manifest's canonical bytes by ``key`` (deterministic: Ed25519)."""
    return Signature(_raw_public(key), key.sign(manifest_json))


def key_fingerprint(key: Ed25519PrivateKey) -> str:
    """The fingerprint of a private key's public half: what ``verify`` shows as the signer."""
    return fingerprint(_raw_public(key))


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def generate_key(stem: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair, ``STEM.key`` (private: PEM PKCS8, unencrypted, mode 0600) and
    ``STEM.pub`` (public: PEM SubjectPublicKeyInfo), and return their paths. A ``.key`` or ``.pub``
    ending of ``stem`` is dropped. Never overwrites: ``PackageError`` when either file exists."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    given = os.fspath(stem)
    if not Path(given).name or given.endswith(("/", os.sep)) or os.path.isdir(given):
        raise PackageError(f"{one_line_name(given)}: a folder; keygen writes NAME.key and NAME.pub: give NAME")
    stem = Path(given)
    if stem.suffix in (".key", ".pub"):
        stem = stem.with_suffix("")
    private_path, public_path = stem.with_name(stem.name + ".key"), stem.with_name(stem.name + ".pub")
    for path in (private_path, public_path):
        if os.path.lexists(path):
            raise PackageError(
                f"{one_line_name(str(path))}: already exists; keygen never overwrites a key: choose another NAME"
            )
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public_pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    _write_new(private_path, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise
    return private_path, public_path


def load_private_key(path: str | os.PathLike[str], *, package: str | None = None) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file ``path`` (as ``keygen`` writes ``NAME.key``).
    ``PackageError`` (one line naming ``package`` when given, and the key file, with what to do)
    for a file that is missing, unreadable, not PEM, encrypted, a public key or not Ed25519."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    origin = one_line_name(os.fspath(path))
    lead = f"{package}: cannot sign with {origin}" if package is not None else origin
    data = _read_key_file(Path(path), lead, KEYGEN_HINT)
    if _PUBLIC_PEM.search(data) and not _PRIVATE_PEM.search(data):
        private = _beside(origin, ".pub", ".key", "NAME.key from f0 isolate keygen")
        raise PackageError(f"{lead}: a public key; signing needs the private key ({private})")
    if not _PRIVATE_PEM.search(data):
        raise PackageError(f"{lead}: {_not_a_key(data, 'private')}: {KEYGEN_HINT}")
    if b"OPENSSH PRIVATE KEY" in data:
        raise PackageError(f"{lead}: an OpenSSH key; Framework0 reads PEM (PKCS8) keys: {KEYGEN_HINT}")
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError:
        raise PackageError(f"{lead}: an encrypted private key; sign with an unencrypted one: {KEYGEN_HINT}") from None
    except (ValueError, UnsupportedAlgorithm) as error:
        raise PackageError(f"{lead}: not a readable PEM private key ({_said(error)}): {KEYGEN_HINT}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise PackageError(f"{lead}: {_kind(key)}, not Ed25519: {KEYGEN_HINT}")
    return key


def load_public_key(key: str | os.PathLike[str] | bytes, *, package: str | None = None) -> PublicKey:
    """The Ed25519 public key ``key``: a PEM file's path (``NAME.pub``), PEM bytes, or the raw 32
    bytes. ``PackageError`` (one line naming ``package`` when given, and the key file, with what
    to do) for a file that is missing, unreadable, not PEM, a private key or not Ed25519."""
    if isinstance(key, bytes) and len(key) == _RAW_KEY_BYTES:
        return PublicKey(key, None)
    origin = None if isinstance(key, bytes) else one_line_name(os.fspath(key))
    shown = origin or "the key given"
    lead = f"{package}: cannot verify with {shown}" if package is not None else shown
    data = key if isinstance(key, bytes) else _read_key_file(Path(key), lead, _SIGNER_HINT)
    return PublicKey(_public_from_pem(data, lead, shown), origin)


def _public_from_pem(data: bytes, lead: str, origin: str) -> bytes:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

    if _PRIVATE_PEM.search(data):
        public = _beside(origin, ".key", ".pub", "NAME.pub beside it")
        raise PackageError(f"{lead}: a private key; verifying needs the public key ({public}): never hand out a .key")
    if not _PUBLIC_PEM.search(data):
        raise PackageError(f"{lead}: {_not_a_key(data, 'public')}: {_SIGNER_HINT}")
    try:
        key = load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as error:
        raise PackageError(f"{lead}: not a readable PEM public key ({_said(error)}): {_SIGNER_HINT}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise PackageError(f"{lead}: {_kind(key)}, not Ed25519: packages are signed with keys from f0 isolate keygen")
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _read_key_file(path: Path, lead: str, hint: str) -> bytes:
    try:
        with open(path, "rb") as file:
            data = file.read(KEY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise PackageError(f"{lead}: no such key file; {hint}") from None
    except IsADirectoryError:
        raise PackageError(f"{lead}: a folder, not a key file; {hint}") from None
    except OSError as error:
        raise PackageError(f"{lead}: cannot read: {error.strerror or error}") from None
    if len(data) > KEY_FILE_BYTES:
        raise PackageError(f"{lead}: more than {KEY_FILE_BYTES} bytes, too large for a key file; {hint}")
    return data


def _beside(origin: str, suffix: str, other: str, otherwise: str) -> str:
    """The key file of the other half of the pair, when ``origin`` is named as keygen names them."""
    return origin[: -len(suffix)] + other if origin.endswith(suffix) and len(origin) > len(suffix) else otherwise


def _not_a_key(data: bytes, which: str) -> str:
    found = _ANY_PEM.search(data)
    if found is not None:
        return f"a PEM {found.group(1).decode('ascii').lower()}, not a {which} key"
    if data.startswith(b"ssh-"):
        return "an OpenSSH public key; Framework0 reads PEM keys"
    return f"not a PEM key file (no '-----BEGIN {which.upper()} KEY-----' line)"


def _kind(key: object) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa, x448, x25519

    kinds: list[tuple[tuple[type, ...], str]] = [
        ((rsa.RSAPrivateKey, rsa.RSAPublicKey), "an RSA key"),
        ((ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey), "an elliptic-curve (EC) key"),
        ((ed448.Ed448PrivateKey, ed448.Ed448PublicKey), "an Ed448 key"),
        ((x25519.X25519PrivateKey, x25519.X25519PublicKey), "an X25519 key"),
        ((x448.X448PrivateKey, x448.X448PublicKey), "an X448 key"),
    ]
    for types, name in kinds:
        if isinstance(key, types):
            return name
    return f"a {type(key).__name__}"


def _write_new(path: Path, data: bytes, mode: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags, mode)
    except FileExistsError:
        raise PackageError(
            f"{one_line_name(str(path))}: already exists; keygen never overwrites a key: choose another NAME"
        ) from None
    except OSError as error:
        raise PackageError(f"{one_line_name(str(path))}: cannot write: {error.strerror or error}") from None
    try:
        with open(descriptor, "wb") as file:
            if mode == 0o600 and hasattr(os, "fchmod"):
                os.fchmod(file.fileno(), mode)  # whatever the umask: only the owner reads a private key
            file.write(data)
    except OSError as error:
        path.unlink(missing_ok=True)
        raise PackageError(f"{one_line_name(str(path))}: cannot write: {error.strerror or error}") from None


def _hex(value: object, size: int, key: str) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(rf"[0-9a-f]{{{2 * size}}}", value):
        raise ValueError(f"{key}: {short_repr(value)} is not {2 * size} lowercase hex digits")
    return bytes.fromhex(value)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


def _canonical(value: object) -> bytes:
    return (json.dumps(value, sort_keys=True, separators=(",", ":")) + "\n").encode("ascii")


def _said(error: BaseException) -> str:
    return one_line_name(str(error) or type(error).__name__)
