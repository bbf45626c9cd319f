"""The wheels of a package's requirements (``f0 isolate --wheels``): one for every distribution that
installing them needs, at the versions installed here, so that the package installs with no index.

pip resolves and fetches: ``pip wheel`` of the closure's pins, constrained to every distribution
installed here (``name==version``), from pip's cache and the index it is configured with. A
distribution installed from a local folder (an editable checkout, as Framework0 is in development)
is on no index: it is built from its folder first (``pip wheel --no-deps``, with
``SOURCE_DATE_EPOCH`` set so that the build is byte-stable) and that file takes the place of its pin.
Every wheel pip gives is a requirement of the package, with why it is needed: the closure's reasons
for the closure's pins, ``required by NAME VERSION`` (read from the wheels' ``Requires-Dist``) for
the rest.
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from framework0.errors import PackageError, one_line_name
from framework0.isolation.closure import RequirementEntry
from framework0.isolation.manifest import WHEELS, normal_name

__all__ = ["Wheel", "collect_wheels", "wheel_sizes"]

_PIP = ("-m", "pip", "wheel", "--no-input", "--disable-pip-version-check", "--progress-bar", "off")


@dataclass(frozen=True, slots=True)
class Wheel:
    """The wheel of one requirement: the distribution's name and version, the file, why it is needed."""

    name: str
    version: str
    path: Path
    reasons: tuple[str, ...]


def collect_wheels(
    requirements: Sequence[RequirementEntry],
    folder: Path,
    *,
    source_date_epoch: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Wheel, ...]:
    """Wheels, written under ``folder`` (empty), for ``requirements`` and everything installing them
    needs, at the versions installed here; sorted by name. pip runs with ``environ`` (this process's
    environment when None) and ``SOURCE_DATE_EPOCH``. Raises ``PackageError`` (one line) when pip is
    missing, fails (the message names the requirement and the log file that keeps pip's output),
    cannot reach an index, or gives a version other than the one pinned."""
    if importlib.util.find_spec("pip") is None:
        raise PackageError(
            f"cannot pack wheels: pip is not installed in {one_line_name(sys.executable)} "
            "(python -m ensurepip installs it), or pack without --wheels"
        )
    installed = _installed()
    pins = {normal_name(requirement.name): requirement for requirement in requirements}
    for key, requirement in sorted(pins.items()):
        if key not in installed:
            raise PackageError(
                f"cannot pack a wheel of {requirement.pin}: it is not installed here as a distribution "
                f"(run from a checkout?); install it (pip install -e FOLDER) and pack again"
            )
    folders = {key: where for key in _needed(pins, installed) if (where := installed[key].folder) is not None}
    pip = _Pip(folder, {**(os.environ if environ is None else environ)}, source_date_epoch)
    built = pip.build_local(folders, installed) if folders else {}
    constraints = folder / "constraints.txt"
    constraints.write_text(
        "".join(f"{item.name}=={item.version}\n" for key, item in sorted(installed.items()) if item.folder is None),
        encoding="utf-8",
    )
    arguments = [str(path) for _, path in sorted(built.items())]
    arguments += sorted(requirement.pin for key, requirement in pins.items() if key not in built)
    wheels = pip.wheel(["--constraint", str(constraints), *arguments], folder / "wheels")
    return _explained(wheels, pins, installed)


def wheel_sizes(pkg: str | os.PathLike[str]) -> dict[str, int]:
    """The size of each wheel in the package ``pkg`` (zip or tar.gz), by member name: read from its
    member list, for a package that has been verified."""
    path = os.fspath(pkg)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return {info.filename: info.file_size for info in archive.infolist() if info.filename.startswith(WHEELS)}
    with tarfile.open(path, "r:gz") as archive:
        return {info.name: info.size for info in archive.getmembers() if info.name.startswith(WHEELS)}


@dataclass(frozen=True, slots=True)
class _Installed:
    """A distribution installed here: its name, version, requirements, and the folder it was
    installed from (None when it came from an index or a file)."""

    name: str
    version: str
    requires: tuple[str, ...]
    folder: Path | None


@dataclass(frozen=True, slots=True)
class _Built:
    """A wheel pip wrote: its file and what its ``METADATA`` says."""

    path: Path
    name: str
    version: str
    requires: tuple[str, ...]


def _installed() -> dict[str, _Installed]:
    """The distributions this Python imports from, by normal name (the first found, as imports find it)."""
    found: dict[str, _Installed] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name or normal_name(name) in found:
            continue
        found[normal_name(name)] = _Installed(name, dist.version, tuple(dist.requires or ()), _folder(dist))
    return found


def _folder(dist: importlib.metadata.Distribution) -> Path | None:
    """The local folder ``dist`` was installed from (``direct_url.json`` with ``dir_info``), or None."""
    try:
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return None
    if not isinstance(direct, dict) or "dir_info" not in direct:
        return None
    url = direct.get("url")
    return Path(url2pathname(urlsplit(url).path)) if isinstance(url, str) and url.startswith("file:") else None


def _needed(pins: Mapping[str, RequirementEntry], installed: Mapping[str, _Installed]) -> set[str]:
    """The installed distributions that installing ``pins`` brings, by the metadata installed here."""
    records = {key: (item.name, item.version, item.requires) for key, item in installed.items()}
    return set(_parents(records, pins))


def _parents(records: Mapping[str, tuple[str, str, Sequence[str]]], roots: Iterable[str]) -> dict[str, set[str]]:
    """Each distribution reached from ``roots`` by the requirements that apply here (markers evaluated
    with the extras asked of it), with the keys of the distributions that require it."""
    from packaging.requirements import InvalidRequirement, Requirement

    parents: dict[str, set[str]] = {key: set() for key in roots if key in records}
    extras: dict[str, set[str]] = defaultdict(set)
    queue = deque(parents)
    while queue:
        key = queue.popleft()
        for text in records[key][2]:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": e}) for e in ("", *sorted(extras[key]))):
                continue
            child = normal_name(requirement.name)
            if child not in records:
                continue
            new = child not in parents or not requirement.extras <= extras[child]
            parents.setdefault(child, set()).add(key)
            extras[child] |= requirement.extras
            if new:
                queue.append(child)
    return parents


def _explained(
    wheels: Mapping[str, _Built], pins: Mapping[str, RequirementEntry], installed: Mapping[str, _Installed]
) -> tuple[Wheel, ...]:
    """The wheels as requirements: the pins' names and reasons, ``required by`` for the others."""
    records = {key: (wheel.name, wheel.version, wheel.requires) for key, wheel in wheels.items()}
    parents = _parents(records, sorted(pins))
    tops = ", ".join(sorted(pin.pin for pin in pins.values()))
    result = []
    for key, wheel in sorted(wheels.items()):
        pin = pins.get(key)
        expected = pin.version if pin is not None else installed[key].version if key in installed else None
        if expected is not None and not _same_version(wheel.version, expected):
            raise PackageError(
                f"pip gave {wheel.path.name} for {wheel.name}, whose version installed here (the one pinned) "
                f"is {expected}: let pip reach a wheel of that version (PIP_FIND_LINKS) or pack without --wheels"
            )
        if pin is not None:
            result.append(Wheel(pin.name, pin.version, wheel.path, pin.reasons))
            continue
        reasons = sorted(
            (f"required by {records[up][0]} {records[up][1]}" for up in parents.get(key, ())), key=str.casefold
        )
        result.append(Wheel(wheel.name, wheel.version, wheel.path, tuple(reasons) or (f"needed to install {tops}",)))
    missing = sorted(pin.pin for key, pin in pins.items() if key not in wheels)
    if missing:
        raise PackageError(f"pip gave no wheel of {missing[0]}")
    return tuple(result)


def _same_version(first: str, second: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(first) == Version(second)
    except InvalidVersion:
        return first == second


class _Pip:
    """``pip wheel`` run in a folder of its own, its output kept; a failure becomes one line that
    names the requirement and a log file holding all of pip's output."""

    def __init__(self, folder: Path, environ: dict[str, str], source_date_epoch: int | None) -> None:
        self.folder = folder
        self.environ = environ
        if source_date_epoch is not None:
            self.environ["SOURCE_DATE_EPOCH"] = str(source_date_epoch)
        self.output: list[str] = []
        self.sources: dict[str, str] = {}  # a local folder, as pip prints it -> the distribution built from it

    def build_local(self, folders: Mapping[str, Path], installed: Mapping[str, _Installed]) -> dict[str, Path]:
        """Wheels of the distributions installed from local folders, by normal name."""
        for key, path in sorted(folders.items()):
            item = installed[key]
            if not path.is_dir():
                raise PackageError(
                    f"cannot build a wheel of {item.name} {item.version}: it was installed from "
                    f"{one_line_name(str(path))}, which is no longer a folder; install it again and pack again"
                )
            self.sources[os.path.abspath(path)] = f"{item.name} {item.version} from {one_line_name(str(path))}"
        built = self.wheel(["--no-deps", *(str(folders[key]) for key in sorted(folders))], self.folder / "local")
        for key in sorted(folders):
            item = installed[key]
            if key not in built:
                raise PackageError(f"pip built no wheel of {item.name} from {one_line_name(str(folders[key]))}")
            if not _same_version(built[key].version, item.version):
                raise PackageError(
                    f"{item.name} in {one_line_name(str(folders[key]))} is now version {built[key].version}, but "
                    f"{item.version} is installed here: install it again (pip install -e FOLDER) and pack again"
                )
        return {key: wheel.path for key, wheel in built.items()}

    def wheel(self, arguments: Sequence[str], into: Path) -> dict[str, _Built]:
        """Run ``pip wheel ARGUMENTS`` writing into the new folder ``into``; what it wrote, by normal name."""
        into.mkdir()
        command = [sys.executable, *_PIP, "--wheel-dir", str(into), *arguments]
        self.output.append(f"$ {' '.join(command)}\n")
        try:
            done = subprocess.run(
                command,
                cwd=self.folder,
                env=self.environ,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                encoding="utf-8",
                errors="replace",
                check=False,
            )
        except OSError as error:
            raise PackageError(f"cannot start pip ({sys.executable} -m pip): {error.strerror or error}") from None
        self.output.append(done.stdout + f"[exit status {done.returncode}]\n")
        if done.returncode != 0:
            raise PackageError(self._failure(done.stdout))
        return dict(_read_wheel(path) for path in sorted(into.glob("*.whl")))

    def _failure(self, output: str) -> str:
        log = self._keep_log()
        what, says = _pip_problem(output, self.sources)
        if _NETWORK.search(output):
            return (
                f"cannot pack wheels: no package index could be reached for {what}, and pip has no copy of it: "
                f"connect to the index (or point PIP_INDEX_URL or PIP_FIND_LINKS at a mirror or a folder of "
                f"wheels) and pack again; pip's output: {log}"
            )
        return f"cannot pack wheels: pip {says}; pip's output: {log}"

    def _keep_log(self) -> str:
        descriptor, path = tempfile.mkstemp(prefix="f0-isolate-wheels-", suffix=".log")
        with open(descriptor, "w", encoding="utf-8") as log:
            log.write("".join(self.output))
        return one_line_name(path)


#: what pip prints when an index cannot be reached
_NETWORK = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Name or service not known|"
    r"Temporary failure in name resolution|Network is unreachable|No route to host|ConnectTimeout|ProxyError"
)
#: what pip prints about the requirement it failed on, most telling first, and what that means
_NOT_FOUND = "found no distribution of {what} on its index, in its find-links or in its cache"
_NOT_BUILT = "could not build a wheel of {what}: {detail}"
_PIP_SAYS = (
    (re.compile(r"Failed building wheel for (\S+)"), _NOT_BUILT),
    (re.compile(r"Failed to build installable wheels for some pyproject\.toml based projects \((.+?)\)"), _NOT_BUILT),
    (re.compile(r"No matching distribution found for (\S+)"), _NOT_FOUND),
    (re.compile(r"Could not find a version that satisfies the requirement (\S+)"), _NOT_FOUND),
    (
        re.compile(r"Cannot install (.+?) because these package versions have conflicting dependencies"),
        "found conflicting requirements among {what}",
    ),
)
_FAILED_FOLDER = re.compile(r"Failed to build '([^']+)' when (.+)")
_PROCESSING = re.compile(r"^Processing (.+)$", re.MULTILINE)
_STEP_FAILED = re.compile(r"^\s*× (.+?)\.?$", re.MULTILINE)  # "× Building wheel for x (pyproject.toml) did not run ..."


def _pip_problem(output: str, sources: Mapping[str, str]) -> tuple[str, str]:
    """What pip's ``output`` says it failed on (the requirement it names: a distribution built from a
    local folder, or what building one needed; else the folder it was building) and what it says of it."""
    errors = [line.strip().removeprefix("ERROR: ") for line in output.splitlines() if "ERROR: " in line]
    steps = _STEP_FAILED.findall(output)
    detail = _short(steps[0] if steps else errors[-1] if errors else "it failed")
    failed = _FAILED_FOLDER.search(output)
    processed = _PROCESSING.findall(output)
    building = _source(failed.group(1) if failed else processed[-1] if processed else "", sources)
    for pattern, says in _PIP_SAYS:
        for line in errors:
            found = pattern.search(line)
            if found is None:
                continue
            named = found.group(1)
            local = next((source for source in sources.values() if _same_name(source.split()[0], named)), "")
            what = local or (f"{named} (needed to build {building})" if failed and building else named)
            return what, says.format(what=what, detail=detail)
    if building:
        return building, _NOT_BUILT.format(what=building, detail=detail)
    return "its requirements", f"failed: {detail}"


def _same_name(first: str, second: str) -> bool:
    return normal_name(first) == normal_name(second)


def _source(text: str, sources: Mapping[str, str]) -> str:
    """The distribution built from the local folder ``text`` names (a path or a file: URL), or ""."""
    path = url2pathname(urlsplit(text).path) if text.startswith("file:") else text.strip()
    return next((source for folder, source in sources.items() if os.path.abspath(path) == folder), "")


def _short(text: str, width: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _read_wheel(path: Path) -> tuple[str, _Built]:
    """A wheel's normal name and what its ``METADATA`` says; ``PackageError`` if it has none."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [name for name in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", name)]
            if len(names) != 1:
                raise PackageError(f"pip wrote {path.name}, which has no single .dist-info/METADATA")
            text = archive.read(names[0]).decode("utf-8", "replace")
    except (OSError, zipfile.BadZipFile) as error:
        raise PackageError(f"cannot read the wheel {path.name} pip wrote: {error}") from None
    metadata = email.parser.HeaderParser().parsestr(text)
    name, version = metadata.get("Name"), metadata.get("Version")
    if not name or not version:
        raise PackageError(f"the wheel {path.name} pip wrote has no name or version in its METADATA")
    built = _Built(path, str(name), str(version), tuple(str(item) for item in metadata.get_all("Requires-Dist", [])))
    return normal_name(built.name), built
