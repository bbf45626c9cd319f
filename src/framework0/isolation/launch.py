"""Running a recipe package (``f0 run PKG``): verify it, extract it into a fresh private staging
folder, find or build its environment (``environments``), and run ``f0 run`` on the extracted recipe
with that environment's Python, as a child process.

The child is an ordinary ``f0 run``: it gets the user's arguments, working directory and standard
streams, records the run in the store the user's own ``f0 run`` would use (``F0_STORE``, made
absolute) and names the package in that record (``F0_PACKAGE``). Ctrl-C reaches it once: from the
terminal when it shares the terminal's foreground with this process, else forwarded by this process,
which then waits for it and returns its exit status. The staging folder is removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from framework0.errors import PackageError, PackageRefused, one_line_name
from framework0.isolation.environments import Environment, ensure_environment, environment_contents
from framework0.isolation.manifest import Manifest

__all__ = ["check_host", "child_environment", "package_record", "run_package"]

#: the signals this process passes on to the run (SIGINT only when the terminal did not send it the run too)
_FORWARDED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def check_host(manifest: Manifest, label: str, *, python: str | None = None, framework0: str | None = None) -> None:
    """Refuse (``PackageError``, one line) a package built for another Python or Framework0 major.minor
    than this host's (``python``, ``framework0``: this host's versions unless given)."""
    from framework0 import __version__

    python = python or platform.python_version()
    framework0 = framework0 or __version__
    if _minor(manifest.python) != _minor(python):
        raise PackageError(
            f"{label}: built with Python {manifest.python}, this is Python {python}: run it with Python "
            f"{_minor(manifest.python)}, or pack it again here with Python {_minor(python)}"
        )
    if _minor(manifest.framework0) != _minor(framework0):
        raise PackageError(
            f"{label}: built with Framework0 {manifest.framework0}, this is Framework0 {framework0}: run it with "
            f"Framework0 {_minor(manifest.framework0)}, or pack it again with this one"
        )


def package_record(pkg: Path, manifest: Manifest) -> dict[str, str]:
    """What the run's record says of the package it came from (``Config.package``)."""
    return {"path": os.path.abspath(pkg), "digest": manifest.digest, "entry": manifest.entry}


def run_package(
    pkg: str | os.PathLike[str],
    arguments: Sequence[str],
    *,
    store: str,
    envs: Path,
    environ: Mapping[str, str],
    notes: TextIO,
    keep: bool = False,
    extras: Sequence[str] = (),
) -> int:
    """Run the recipe package ``pkg`` as ``f0 run`` would run its recipe with ``arguments`` (the
    options after the recipe: ``-p K=V``, ``--json`` ...) and return the run's exit status.

    ``store``: the store URL the run is recorded in (absolute, or ``none``); ``envs``: the folder of
    environments; ``environ``: the environment the run and pip get; ``notes``: where this process
    says what it does (an environment being built); ``keep``: leave the staging folder in place
    (its path is said on ``notes``); ``extras``: Framework0's extras the run needs (a PostgreSQL
    store, the Dask executor, a context server), installed into its environment too. Raises
    ``PackageRefused`` for a package that fails verification (before anything is written) and
    ``PackageError`` for one this host cannot run."""
    from framework0.isolation.verify import extract_package, verify_package

    label = one_line_name(os.fspath(pkg))
    envs = envs.absolute()  # its scripts name it, and the run starts its Python from another folder

    verified = verify_package(pkg)
    check_host(verified, label)
    try:
        staging = Path(tempfile.mkdtemp(prefix="f0-package-"))
    except OSError as error:
        folder = tempfile.gettempdir()
        raise PackageError(f"{label}: cannot make its staging folder in {folder}: {error.strerror or error}") from None
    try:
        manifest = extract_package(pkg, staging)
        if manifest.digest != verified.digest:
            raise PackageRefused(f"{label}: changed while it was read (digest {manifest.digest}); run it again")
        environment = ensure_environment(
            environment_contents(manifest, extras=extras),
            envs,
            wheels=staging / "wheels",
            environ=environ,
            notes=notes,
            label=label,
        )
        command = [*_python_command(environment), "run", str(staging / manifest.entry), *arguments]
        record = package_record(Path(pkg), manifest)
        try:
            return _run_child(command, child_environment(environ, store=store, record=record, environment=environment))
        except OSError as error:
            raise PackageError(
                f"{environment.python}: cannot start the environment's Python ({error.strerror or error}); "
                f"remove {environment.path} and run again"
            ) from None
    finally:
        if keep:
            notes.write(f"f0: the package's files are kept in {staging} (--debug)\n")
            notes.flush()
        else:
            shutil.rmtree(staging, ignore_errors=True)


def child_environment(
    environ: Mapping[str, str], *, store: str, record: Mapping[str, str], environment: Environment
) -> dict[str, str]:
    """The run's environment: the user's, with the store and the package named, compiled recipes
    not kept (each staging folder is new), and ``environment`` first on PATH as if activated, so
    that the commands a step starts find its Python and the package's requirements."""
    child = dict(environ)
    child.pop("PYTHONHOME", None)  # a virtual environment's Python finds its own
    scripts = str(environment.python.parent)
    child.update(
        F0_STORE=store,
        F0_PACKAGE=json.dumps(dict(record), sort_keys=True),
        F0_RECIPE_CACHE="off",
        VIRTUAL_ENV=str(environment.path),
        PATH=os.pathsep.join([scripts, *filter(None, [environ.get("PATH")])]),
    )
    return child


def _python_command(environment: Environment) -> list[str]:
    # -P (Python 3.11+): the working directory does not go first on sys.path, so a user's yaml.py
    # there cannot stand in for the environment's PyYAML
    safe = ["-P"] if sys.version_info >= (3, 11) else []
    return [str(environment.python), *safe, "-m", "framework0"]


def _run_child(command: list[str], env: dict[str, str]) -> int:
    """Start the run and wait for it, passing signals on; its exit status (128 + N if signal N ended it)."""
    terminal = _foreground_terminal()
    options: dict[str, Any] = {}
    if terminal is None and os.name == "posix":
        # no terminal sends its Ctrl-C to both: the run gets signals from this process only, exactly once
        options = {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}
    try:
        with _forwarding(terminal) as started:
            child = subprocess.Popen(command, env=env, **options)
            started(child)
            status = child.wait()
    finally:
        if terminal is not None:
            os.close(terminal)
    return 128 - status if status < 0 else status


def _foreground_terminal() -> int | None:
    """This process's controlling terminal (an open descriptor) when this process's group is its
    foreground: then the terminal's Ctrl-C reaches the run itself. None otherwise."""
    if os.name != "posix":
        return None
    try:
        terminal = os.open("/dev/tty", os.O_RDONLY | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return None
    try:
        if os.tcgetpgrp(terminal) == os.getpgrp():
            return terminal
    except OSError:
        pass
    os.close(terminal)
    return None


@contextlib.contextmanager
def _forwarding(terminal: int | None) -> Iterator[Any]:
    """Pass SIGINT, SIGTERM and SIGHUP on to the child while it runs (a signal that comes before it
    starts is passed on as it starts). SIGINT is not passed on while the terminal's foreground group
    is the child's: the terminal sent it there too, and a second Ctrl-C would abandon the steps
    that the first one stops."""
    box: list[subprocess.Popen[bytes]] = []
    pending: list[int] = []

    def send(signum: int) -> None:
        child = box[0]
        if signum == signal.SIGINT and terminal is not None:
            with contextlib.suppress(OSError):
                if os.tcgetpgrp(terminal) == os.getpgid(child.pid):
                    return
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    def handle(signum: int, _frame: FrameType | None) -> None:
        if box:
            send(signum)
        else:
            pending.append(signum)

    def started(child: subprocess.Popen[bytes]) -> None:
        box.append(child)
        for signum in pending:
            send(signum)

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield lambda child: None
        return
    previous = {signum: signal.signal(signum, handle) for signum in _FORWARDED}
    try:
        yield started
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])
