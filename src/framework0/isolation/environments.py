"""The virtual environments recipe packages run in: one per set of what goes in, built once under
the user's cache folder (``Config.package_envs_folder``) and used again by every later run.

An environment is named by the SHA-256 of its ``Contents``: the package's pinned requirements (with
their wheels' hashes when it carries wheels), this Python and platform, and where Framework0 comes
from: the package's own wheel, else this host's Framework0 (its source folder when it is installed
from one, as an editable install is, else the index at this host's version), with Framework0's
dependencies pinned to the versions installed here. A package with wheels installs from them alone
(``--no-index``, every file checked against its hash).

``ensure_environment`` builds a missing environment in a temporary folder next to its place and
renames it into place once complete, so a folder under its final name is always whole. Two runs
that build the same environment at once both succeed: the first rename wins, the other copy is
discarded and the winner's used.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from framework0.errors import PackageError
from framework0.isolation.manifest import Manifest, normal_name

__all__ = ["Contents", "Environment", "Framework0Source", "environment_contents", "ensure_environment"]

FRAMEWORK0 = "framework0"
#: written last into a built environment: what went in and when; an environment without it is not one
MARKER = "framework0-env.json"
#: pip's output while the environment was built, kept in it (and next to it, ``<key>.pip.log``, after a failure)
PIP_LOG = "framework0-pip.log"
#: bumped when the way an environment is built changes, so that older ones are not used again
LAYOUT = 1
_PIP = ("-m", "pip", "install", "--no-input", "--disable-pip-version-check", "--no-cache-dir")


@dataclass(frozen=True, slots=True)
class Framework0Source:
    """Where an environment's Framework0 comes from: ``package`` (its wheel in the package), ``folder``
    (this host's source folder, ``editable`` as here; ``record``: the hash of the installed file list
    of a non-editable install) or ``index`` (``framework0==version``)."""

    kind: str
    version: str
    folder: str | None = None
    editable: bool = False
    record: str | None = None


@dataclass(frozen=True, slots=True)
class Contents:
    """What goes into an environment; ``key``, its name, is the SHA-256 of all of it."""

    python: str  # this interpreter's version, e.g. "3.11.7"
    interpreter: str  # the real path of the interpreter the environment is made from
    platform: str  # sysconfig.get_platform()
    wheels: tuple[tuple[str, str, str], ...]  # (name, version, sha256): installed from the package's wheels/
    pins: tuple[str, ...]  # "name==version": requirements without a wheel, installed from the index
    framework0: Framework0Source
    constraints: tuple[str, ...]  # Framework0's dependencies as installed here ("name==version")

    @property
    def key(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:32]

    @property
    def offline(self) -> bool:
        """Whether everything comes from the package's wheels: no index is asked."""
        return not self.pins and self.framework0.kind == "package"

    def to_json(self) -> str:
        return json.dumps({"layout": LAYOUT, **asdict(self)}, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Environment:
    """A complete environment: its folder and Python; ``built``: this call built it (False: found)."""

    path: Path
    python: Path
    built: bool


def environment_contents(manifest: Manifest, *, extras: Sequence[str] = ()) -> Contents:
    """What the environment of the package ``manifest`` describes holds on this host; ``extras``:
    Framework0's extras the run needs besides (``postgresql`` for a PostgreSQL store, ``dask`` for
    the Dask executor, ``server`` for a context server), pinned to the versions installed here."""
    wheels = tuple(
        (requirement.name, requirement.version, requirement.sha256)
        for requirement in manifest.requirements
        if requirement.wheel is not None and requirement.sha256 is not None
    )
    pins = tuple(
        f"{requirement.name}=={requirement.version}"
        for requirement in manifest.requirements
        if requirement.wheel is None and normal_name(requirement.name) != FRAMEWORK0
    )
    source: Framework0Source
    constraints: tuple[str, ...] = ()
    if any(normal_name(name) == FRAMEWORK0 for name, _, _ in wheels):
        source = Framework0Source("package", _pinned_framework0(manifest))
    else:
        source, constraints = _this_framework0()
        pinned = {normal_name(requirement.name) for requirement in manifest.requirements}
        constraints = tuple(pin for pin in constraints if normal_name(pin.partition("==")[0]) not in pinned)
    pins += extra_pins(extras, already=pins)
    return Contents(
        python=platform.python_version(),
        interpreter=os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
        platform=sysconfig.get_platform(),
        wheels=wheels,
        pins=pins,
        framework0=source,
        constraints=constraints,
    )


def ensure_environment(
    contents: Contents,
    envs: Path,
    *,
    wheels: Path,
    environ: Mapping[str, str],
    notes: TextIO,
    label: str,
    build: Callable[[Path, Contents, Path, Mapping[str, str]], None] | None = None,
) -> Environment:
    """The environment of ``contents`` under ``envs``: found, or built now (``wheels``: the package's
    extracted ``wheels/`` folder; ``environ``: the environment pip runs in, with the user's pip
    settings). ``notes`` hears that a build starts and how long it took; ``label`` names the package
    in messages. ``build`` fills a new folder (the default: ``python -m venv``, then pip).

    Raises ``PackageError`` (one line) when pip fails, naming what it could not install and where
    its full log is kept."""
    final = envs / contents.key
    if (final / MARKER).is_file():
        return Environment(final, python_of(final), built=False)
    if final.exists() or final.is_symlink():
        raise PackageError(f"{final}: not a complete environment (no {MARKER}); remove it and run again")
    try:
        envs.mkdir(parents=True, exist_ok=True)
        building: Path | None = Path(tempfile.mkdtemp(prefix=f".{contents.key}-", suffix=".building", dir=envs))
    except OSError as error:
        raise PackageError(f"{envs}: cannot create the environment there: {error.strerror or error}") from None
    assert building is not None
    notes.write(f"f0: building the environment of {label} in {final} (once; later runs use it again)\n")
    notes.flush()
    started = time.monotonic()
    try:
        (build or build_environment)(building, contents, wheels, environ)
        _relocate(building, final)
        marker = {"contents": json.loads(contents.to_json()), "created": time.time()}
        (building / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        try:
            os.rename(building, final)
        except OSError:
            if not (final / MARKER).is_file():
                raise
            return Environment(final, python_of(final), built=False)  # another run built it first: ours goes
        building = None
    except PackageError as error:
        raise PackageError(f"{label}: {_kept_log(error, building, envs, contents.key)}") from None
    except OSError as error:
        raise PackageError(f"{final}: cannot build the environment: {error.strerror or error}") from None
    finally:
        if building is not None:
            shutil.rmtree(building, ignore_errors=True)
    notes.write(f"f0: environment ready in {time.monotonic() - started:.1f} s\n")
    notes.flush()
    return Environment(final, python_of(final), built=True)


def python_of(environment: Path) -> Path:
    """The Python of a virtual environment."""
    if os.name == "nt":
        return environment / "Scripts" / "python.exe"
    return environment / "bin" / "python"


def build_environment(folder: Path, contents: Contents, wheels: Path, environ: Mapping[str, str]) -> None:
    """Make ``folder`` (empty) a virtual environment holding ``contents``: ``python -m venv``, then pip,
    from the index for what the package carries no wheel of, then from its wheels alone
    (``--no-index``, each wheel checked against its hash). pip's output goes to ``folder/PIP_LOG``;
    a failure is a ``PackageError`` naming what pip could not install."""
    log = folder / PIP_LOG
    with log.open("w", encoding="utf-8") as output:
        _run([sys.executable, "-m", "venv", str(folder)], folder, environ, output, log, "python -m venv")
        python = str(python_of(folder))
        from_index = [*_framework0_arguments(contents.framework0), *contents.pins]
        if from_index:
            arguments = [python, *_PIP]
            if contents.constraints:
                constraints = folder / "framework0-constraints.txt"
                constraints.write_text("".join(f"{pin}\n" for pin in contents.constraints), encoding="utf-8")
                arguments += ["--constraint", str(constraints)]
            _run([*arguments, *from_index], folder, environ, output, log, "pip")
        if contents.wheels:
            hashed = folder / "framework0-requirements.txt"
            hashed.write_text(
                "".join(f"{name}=={version} --hash=sha256:{sha256}\n" for name, version, sha256 in contents.wheels),
                encoding="utf-8",
            )
            offline = ["--no-index", "--find-links", str(wheels), "--require-hashes", "--requirement", str(hashed)]
            _run([python, *_PIP, *offline], folder, environ, output, log, "pip")


def _framework0_arguments(source: Framework0Source) -> list[str]:
    if source.kind == "folder":
        assert source.folder is not None
        return ["--editable", source.folder] if source.editable else [source.folder]
    if source.kind == "index":
        return [f"{FRAMEWORK0}=={source.version}"]
    return []  # the package's wheel


def _run(
    command: Sequence[str], folder: Path, environ: Mapping[str, str], output: TextIO, log: Path, what: str
) -> None:
    output.write(f"$ {' '.join(command)}\n")
    output.flush()
    try:
        status = subprocess.run(
            command, cwd=folder, env=dict(environ), stdin=subprocess.DEVNULL, stdout=output, stderr=output, check=False
        ).returncode
    except OSError as error:
        raise PackageError(f"cannot start {what}: {error.strerror or error}") from None
    output.write(f"[exit status {status}]\n")
    output.flush()
    if status != 0:
        output.close()
        raise PackageError(pip_problem(log.read_text(encoding="utf-8", errors="replace"), what))


#: what pip says when it cannot install something, with the requirement it names
_PIP_SAYS = (
    re.compile(r"No matching distribution found for (\S+)"),
    re.compile(r"Could not find a version that satisfies the requirement (\S+)"),
    re.compile(r"Failed to build installable wheels for some pyproject\.toml based projects \((.+?)\)"),
    re.compile(r"Failed to build (\S+)"),
    re.compile(r"Cannot install (.+?) because these package versions have conflicting dependencies"),
    re.compile(r"Hashes are required in --require-hashes mode, but they are missing from some requirements"),
    re.compile(r"THESE PACKAGES DO NOT MATCH THE HASHES"),
)


def pip_problem(log: str, what: str = "pip") -> str:
    """One line saying why pip (or ``what``) failed, from its output: the requirement it could not
    install when it names one, else its first error line."""
    # (a build dependency's errors come from a pip within pip: indented)
    errors = [line.strip().removeprefix("ERROR: ") for line in log.splitlines() if line.lstrip().startswith("ERROR: ")]
    for pattern in _PIP_SAYS:
        for line in errors:
            found = pattern.search(line)
            if found is not None and found.groups():
                return f"pip could not install {found.group(1)}: {_short(line)}"
            if found is not None:
                return f"pip refused the package's wheels: {_short(line)}"
    if errors:
        return f"{what} failed: {_short(errors[0])}"
    lines = [line.strip() for line in log.splitlines() if line.strip() and not line.startswith(("$ ", "[exit"))]
    return f"{what} failed" + (f": {_short(lines[-1])}" if lines else "")


def _short(text: str, width: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _kept_log(error: PackageError, building: Path | None, envs: Path, key: str) -> str:
    """The error's message, with where pip's full log is now kept (next to the environments, since
    the failed folder is removed)."""
    if building is None or not (building / PIP_LOG).is_file():
        return str(error)
    kept = envs / f"{key}.pip.log"
    try:
        os.replace(building / PIP_LOG, kept)
    except OSError:
        return str(error)
    return f"{error}; pip's full log: {kept}"


def _relocate(building: Path, final: Path) -> None:
    """Point the environment's scripts at its final folder: venv and pip write the folder they ran
    in into the scripts' first lines and the activation scripts."""
    old, new = os.fsencode(str(building)), os.fsencode(str(final))
    scripts = python_of(building).parent
    for path in [*scripts.iterdir(), building / "pyvenv.cfg"]:
        if path.is_symlink() or not path.is_file() or path.suffix == ".exe" or path.stat().st_size > 1 << 20:
            continue
        data = path.read_bytes()
        if old in data:
            path.write_bytes(data.replace(old, new))


def _pinned_framework0(manifest: Manifest) -> str:
    return next(r.version for r in manifest.requirements if normal_name(r.name) == FRAMEWORK0)


def _this_framework0() -> tuple[Framework0Source, tuple[str, ...]]:
    """This host's Framework0 as an environment installs it, and its dependencies as installed here."""
    try:
        distribution = importlib.metadata.distribution(FRAMEWORK0)
    except importlib.metadata.PackageNotFoundError:
        raise PackageError(
            "Framework0 is not installed here as a distribution (run from a checkout?), so a package "
            "environment cannot get it: install it (pip install -e CHECKOUT), or pack the package with its wheels"
        ) from None
    version = distribution.metadata["Version"]
    direct = json.loads(distribution.read_text("direct_url.json") or "{}")
    url = direct.get("url", "")
    if "dir_info" in direct and url.startswith("file:"):
        from urllib.parse import urlsplit
        from urllib.request import url2pathname

        editable = bool(direct["dir_info"].get("editable"))
        record = None if editable else hashlib.sha256((distribution.read_text("RECORD") or "").encode()).hexdigest()
        folder = url2pathname(urlsplit(url).path)
        # an editable install's metadata is as old as the install: the folder's pyproject says what it needs now
        declared = _declared(Path(folder)) if editable else None
        constraints = _installed_requirements(distribution, declared)
        return Framework0Source("folder", version, folder, editable, record), constraints
    return Framework0Source("index", version), _installed_requirements(distribution)


def extra_pins(extras: Sequence[str], *, already: Sequence[str] = ()) -> tuple[str, ...]:
    """``name[extras]==version`` for each requirement of Framework0's ``extras`` installed here (one
    that is not installed is left out: the run then says what it misses, as it would here)."""
    if not extras:
        return ()
    from packaging.requirements import InvalidRequirement, Requirement

    taken = {normal_name(pin.partition("==")[0].partition("[")[0]) for pin in already}
    pins: dict[str, str] = {}
    for text in importlib.metadata.requires(FRAMEWORK0) or ():
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        marker = requirement.marker
        if marker is None or not any(marker.evaluate({"extra": extra}) for extra in extras):
            continue
        name = normal_name(requirement.name)
        if name in taken or name in pins:
            continue
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            continue
        chosen = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        pins[name] = f"{requirement.name}{chosen}=={version}"
    return tuple(pins[name] for name in sorted(pins))


def _declared(folder: Path) -> list[str] | None:
    """The dependencies the ``pyproject.toml`` of ``folder`` declares, when it can be read."""
    try:
        tomllib = importlib.import_module("tomllib")
    except ModuleNotFoundError:  # Python 3.10: the installed metadata stands
        return None
    try:
        project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    except (OSError, ValueError):
        return None
    dependencies = project.get("dependencies")
    return [str(item) for item in dependencies] if isinstance(dependencies, list) else None


def _installed_requirements(
    distribution: importlib.metadata.Distribution, declared: list[str] | None = None
) -> tuple[str, ...]:
    """Every distribution ``distribution`` needs (``declared``, else what its metadata says),
    transitively, pinned to the version installed here (markers evaluated for this host; what is not
    installed is left to pip)."""
    from packaging.requirements import InvalidRequirement, Requirement

    found: dict[str, str] = {}
    # (requirement texts, extras asked for); each distribution's metadata is parsed once
    pending = [(declared if declared is not None else _requires(distribution.metadata), frozenset[str]())]
    while pending:
        texts, extras = pending.pop()
        for text in texts:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": extra}) for extra in ("", *sorted(extras))):
                continue
            key = normal_name(requirement.name)
            if key in found or key == FRAMEWORK0:
                continue
            try:
                needed = importlib.metadata.distribution(requirement.name).metadata
            except importlib.metadata.PackageNotFoundError:
                continue
            found[key] = f"{needed['Name'] or requirement.name}=={needed['Version']}"
            pending.append((_requires(needed), frozenset(requirement.extras)))
    return tuple(sorted(found.values(), key=str.lower))


def _requires(metadata: importlib.metadata.PackageMetadata) -> list[str]:
    return list(metadata.get_all("Requires-Dist") or ())
