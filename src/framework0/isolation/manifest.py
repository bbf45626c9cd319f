"""``MANIFEST.json``: what a recipe package holds and where it was built, with a digest over all of it.

The manifest is the first member of every package. It lists every file with its SHA-256 and size,
the pinned requirements (and their wheels when the package carries them), the Python, platform and
Framework0 it was built with, and ``digest``: the SHA-256 of the canonical JSON of everything else,
so that one hash names the whole content. Canonical JSON has sorted keys, no whitespace (the
separators ``","`` and ``":"``), UTF-8 text (no ``\\u`` escapes but for control characters) and a
final newline; ``to_json`` writes it and ``from_json`` accepts nothing else. (Compact, because
Python's C encoder writes it ten times faster than an indented form: manifests list thousands of files.)

    {"format": 1, "entry": "recipe.yaml", "recipe": "etl", "files": [{"path": ..., "sha256": ...,
     "size": ..., "reasons": [...]}], "requirements": [{"name": ..., "version": ..., "reasons": [...],
     "wheel": "wheels/x.whl" | null, "sha256": ... | null}], "python": "3.11.7",
     "platform": "linux-x86_64", "framework0": "0.1.0", "created": 1700000000, "digest": ...}
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from framework0.errors import PackageRefused, short_repr
from framework0.isolation.paths import MemberNames, case_key, check_member_name

FORMAT = 1
MANIFEST_NAME = "MANIFEST.json"
#: requirement wheels live in this folder of a package, and nothing else does
WHEELS = "wheels/"

_SHA256 = re.compile(r"[0-9a-f]{64}")
# PEP 508 names; compared in their PEP 503 normal form
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_VERSION = re.compile(r"[^\s]+")
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # json.loads lets "\udc80" through; UTF-8 cannot hold it
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ManifestFile:
    """A file of the package: its path inside, the SHA-256 and size of its bytes, why it is in."""

    path: str
    sha256: str
    size: int
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ManifestRequirement:
    """A pinned distribution; ``wheel`` is its wheel's path inside the package (``wheels/...``) and
    ``sha256`` that wheel's hash, when the package carries wheels, else both are None."""

    name: str
    version: str
    reasons: tuple[str, ...] = ()
    wheel: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a package holds. Build one with ``Manifest.build`` (which computes ``digest``) or read
    one with ``from_json`` (which checks it)."""

    format: int
    entry: str  # the recipe's path inside the package
    recipe: str | None  # its test_id, when it has one
    files: tuple[ManifestFile, ...]  # sorted by path
    requirements: tuple[ManifestRequirement, ...]  # sorted by normalised name
    python: str  # the Python version it was built with, e.g. "3.11.7"
    platform: str  # sysconfig.get_platform() where it was built, e.g. "linux-x86_64"
    framework0: str  # framework0.__version__ where it was built
    created: int  # seconds since 1970: SOURCE_DATE_EPOCH, or the newest input's mtime
    digest: str  # SHA-256 of the canonical JSON of all the fields above

    @classmethod
    def build(
        cls,
        *,
        entry: str,
        recipe: str | None,
        files: Iterable[ManifestFile],
        requirements: Iterable[ManifestRequirement],
        python: str,
        platform: str,
        framework0: str,
        created: int,
    ) -> Manifest:
        """A manifest with its files and requirements sorted and its digest computed (not checked:
        ``archive.write_package`` checks the names it is given)."""
        body = cls(
            FORMAT,
            entry,
            recipe,
            tuple(sorted(files, key=lambda file: file.path)),
            tuple(sorted(requirements, key=lambda requirement: normal_name(requirement.name))),
            python,
            platform,
            framework0,
            created,
            "",
        )
        return replace(body, digest=hashlib.sha256(_canonical(body._body())).hexdigest())

    def to_json(self) -> bytes:
        """The canonical JSON text of the manifest, ``digest`` included."""
        return _canonical({**self._body(), "digest": self.digest})

    @classmethod
    def from_json(cls, data: bytes, *, origin: str = MANIFEST_NAME) -> Manifest:
        """Read a manifest and check all of it: its shape and types, the member names it lists, its
        digest, and that ``data`` is canonical. Raises ``PackageRefused`` (one line, starting with
        ``origin``) on the first problem found."""
        try:
            return _Reader().manifest(data)
        except _Invalid as invalid:
            raise PackageRefused(f"{origin}: {invalid}") from None

    def _body(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "entry": self.entry,
            "recipe": self.recipe,
            "files": [
                {"path": f.path, "sha256": f.sha256, "size": f.size, "reasons": list(f.reasons)} for f in self.files
            ],
            "requirements": [
                {"name": r.name, "version": r.version, "reasons": list(r.reasons), "wheel": r.wheel, "sha256": r.sha256}
                for r in self.requirements
            ],
            "python": self.python,
            "platform": self.platform,
            "framework0": self.framework0,
            "created": self.created,
        }


def normal_name(name: str) -> str:
    """A distribution name in its PEP 503 normal form: ``Foo_Bar`` -> ``foo-bar``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_problem(name: str, version: str) -> str | None:
    """Why (``name``, ``version``) cannot be a pinned requirement, or None when it can."""
    if not _NAME.fullmatch(name):
        return f"{short_repr(name)} is not a distribution name"
    if not _VERSION.fullmatch(version):
        return f"{short_repr(version)} is not a version of {name!r}"
    return None


def _canonical(value: object) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (text + "\n").encode("utf-8")


class _Invalid(Exception):
    """A manifest problem, as the phrase that follows ``MANIFEST.json:``."""


_MANIFEST_KEYS = frozenset(
    {"format", "entry", "recipe", "files", "requirements", "python", "platform", "framework0", "created", "digest"}
)
_FILE_KEYS = frozenset({"path", "sha256", "size", "reasons"})
_REQUIREMENT_KEYS = frozenset({"name", "version", "reasons", "wheel", "sha256"})


class _Reader:
    """Turns manifest JSON into a ``Manifest``, refusing anything ``Manifest.build`` would not write."""

    def manifest(self, data: bytes) -> Manifest:
        document = self._json(data)
        if not isinstance(document, dict):
            raise _Invalid(f"not a JSON object but {type(document).__name__}")
        if "format" in document and document["format"] != FORMAT:
            raise _Invalid(
                f"format {short_repr(document['format'])} is not supported (this Framework0 reads format {FORMAT}): "
                f"upgrade Framework0 or build the package again"
            )
        self._keys(document, _MANIFEST_KEYS, "")
        entry = self._typed(document["entry"], str, "entry")
        manifest = Manifest(
            format=self._integer(document["format"], "format"),
            entry=entry,
            recipe=self._optional(document["recipe"], str, "recipe"),
            files=tuple(self._file(item, f"files[{index}]") for index, item in self._items(document, "files")),
            requirements=tuple(
                self._requirement(item, f"requirements[{index}]")
                for index, item in self._items(document, "requirements")
            ),
            python=self._typed(document["python"], str, "python"),
            platform=self._typed(document["platform"], str, "platform"),
            framework0=self._typed(document["framework0"], str, "framework0"),
            created=self._integer(document["created"], "created"),
            digest=self._sha256(document["digest"], "digest"),
        )
        self._members(manifest)
        expected = hashlib.sha256(_canonical(manifest._body())).hexdigest()
        if manifest.digest != expected:
            raise _Invalid(f"its digest {manifest.digest} does not match its content ({expected}): it was edited")
        if manifest.to_json() != data:
            raise _Invalid("not in canonical form (sorted keys, no spaces, UTF-8, a final newline): it was edited")
        return manifest

    def _json(self, data: bytes) -> object:
        def no_constant(name: str) -> object:
            raise _Invalid(f"{name} is not a JSON value")

        def unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
            result: dict[str, object] = {}
            for key, value in pairs:
                if key in result:
                    raise _Invalid(f"key {short_repr(key)} appears twice in one object")
                result[key] = value
            return result

        try:
            text = data.decode("utf-8")
            return json.loads(text, parse_constant=no_constant, object_pairs_hook=unique_keys)
        except UnicodeDecodeError as error:
            raise _Invalid(f"not UTF-8 (byte {error.start})") from None
        except json.JSONDecodeError as error:
            raise _Invalid(f"not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
        except RecursionError:
            raise _Invalid("not JSON: nested too deep") from None

    def _keys(self, document: dict[str, object], expected: frozenset[str], where: str) -> None:
        missing = sorted(expected - document.keys())
        if missing:
            raise _Invalid(f"{where}{'.' if where else ''}{missing[0]}: missing")
        extra = sorted(document.keys() - expected)
        if extra:
            raise _Invalid(f"{where}{'.' if where else ''}{short_repr(extra[0])}: not a manifest key")

    def _items(self, document: dict[str, object], key: str) -> Iterable[tuple[int, object]]:
        return enumerate(self._typed(document[key], list, key))

    def _file(self, item: object, where: str) -> ManifestFile:
        record = self._record(item, _FILE_KEYS, where)
        return ManifestFile(
            path=self._path(record["path"], f"{where}.path"),
            sha256=self._sha256(record["sha256"], f"{where}.sha256"),
            size=self._integer(record["size"], f"{where}.size"),
            reasons=self._reasons(record["reasons"], f"{where}.reasons"),
        )

    def _requirement(self, item: object, where: str) -> ManifestRequirement:
        record = self._record(item, _REQUIREMENT_KEYS, where)
        name = self._typed(record["name"], str, f"{where}.name")
        version = self._typed(record["version"], str, f"{where}.version")
        problem = requirement_problem(name, version)
        if problem is not None:
            raise _Invalid(f"{where}: {problem}")
        wheel = record["wheel"]
        wheel_path = None if wheel is None else self._path(wheel, f"{where}.wheel")
        sha256 = None if record["sha256"] is None else self._sha256(record["sha256"], f"{where}.sha256")
        if (wheel_path is None) != (sha256 is None):
            raise _Invalid(f"{where}: 'wheel' and 'sha256' are both null or both set")
        if wheel_path is not None and not (wheel_path.startswith(WHEELS) and wheel_path.count("/") == 1):
            raise _Invalid(f"{where}.wheel: {wheel_path!r} is not in {WHEELS!r}")
        reasons = self._reasons(record["reasons"], f"{where}.reasons")
        return ManifestRequirement(name, version, reasons, wheel_path, sha256)

    def _members(self, manifest: Manifest) -> None:
        """The names are those ``Manifest.build`` gives: sorted, unique, free of collisions."""
        names = MemberNames()
        names.add(MANIFEST_NAME)
        paths = [file.path for file in manifest.files]
        if paths != sorted(paths):
            raise _Invalid("files: not sorted by path")
        for index, path in enumerate(paths):
            if case_key(path).startswith(WHEELS):
                raise _Invalid(f"files[{index}].path: {path!r} is in {WHEELS!r}, which holds requirement wheels")
            reason = names.add(path)
            if reason is not None:
                raise _Invalid(f"files[{index}].path: {path!r} {reason}")
        if manifest.entry not in paths:
            raise _Invalid(f"entry: {manifest.entry!r} is not one of the files")
        normal = [normal_name(requirement.name) for requirement in manifest.requirements]
        if normal != sorted(normal):
            raise _Invalid("requirements: not sorted by name")
        for index, requirement in enumerate(manifest.requirements):
            if index and normal[index] == normal[index - 1]:
                raise _Invalid(f"requirements[{index}].name: {requirement.name!r} is listed twice")
            if requirement.wheel is not None:
                reason = names.add(requirement.wheel)
                if reason is not None:
                    raise _Invalid(f"requirements[{index}].wheel: {requirement.wheel!r} {reason}")

    def _record(self, item: object, keys: frozenset[str], where: str) -> dict[str, object]:
        record = self._typed(item, dict, where)
        self._keys(record, keys, where)
        return record

    def _path(self, value: object, where: str) -> str:
        path = self._typed(value, str, where)
        reason = check_member_name(path)
        if reason is not None:
            raise _Invalid(f"{where}: {short_repr(path)}: {reason}")
        return path

    def _sha256(self, value: object, where: str) -> str:
        digest = self._typed(value, str, where)
        if not _SHA256.fullmatch(digest):
            raise _Invalid(f"{where}: {short_repr(digest)} is not 64 lowercase hex digits")
        return digest

    def _integer(self, value: object, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _Invalid(f"{where}: {short_repr(value)} is not an integer >= 0")
        return value

    def _reasons(self, value: object, where: str) -> tuple[str, ...]:
        items = self._typed(value, list, where)
        return tuple(self._typed(item, str, f"{where}[{index}]") for index, item in enumerate(items))

    def _optional(self, value: object, kind: type[_T], where: str) -> _T | None:
        return None if value is None else self._typed(value, kind, where)

    def _typed(self, value: object, kind: type[_T], where: str) -> _T:
        if not isinstance(value, kind):
            expected = _JSON_NAMES.get(kind, kind.__name__)
            raise _Invalid(f"{where}: {short_repr(value)} is not {expected}")
        if isinstance(value, str) and _SURROGATE.search(value):
            raise _Invalid(f"{where}: {short_repr(value)} holds a lone surrogate, which UTF-8 cannot")
        return value


_JSON_NAMES: dict[type, str] = {str: "a string", list: "a list", dict: "an object", int: "an integer"}
