"""What many test files need, in one place: the ``f0`` command (in this process, or as a real
process) and ``eventually``, the one way a test waits for something.

Import it as ``from tests.helpers import ...`` (pyproject's ``pythonpath`` puts the checkout on
``sys.path``; mypy names the module the same way).

- ``invoke(...)`` runs ``f0`` in this process with click's ``CliRunner``: fast, for the CLI tests.
- ``f0(...)`` and ``start_f0(...)`` run ``python -m framework0`` as a real process, as a user
  would: for tests/e2e and the few tests that need a process of their own (a kill, Ctrl-C, the
  exit status of the real program).

Both give only the F0_* settings passed in ``env``, never the test session's (tests/conftest.py).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: how long a real ``f0`` process may take before the test fails (a loaded CI machine is slow)
F0_TIMEOUT_S = 120.0
#: how long ``eventually`` waits by default: generous, since it returns as soon as the condition holds
EVENTUALLY_S = 30.0


#: the F0_* settings of the test session that every f0 a test starts keeps
_KEPT = frozenset({"F0_RECIPE_CACHE"})


def environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without its F0_* settings (the test session's store), plus ``env``;
    the session's folder of compiled recipes stays, so that no test writes in the user's cache."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith("F0_") or key in _KEPT}
    return {**kept, **(env or {})}


def f0(
    *args: str | Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = F0_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """``python -m framework0 ARGS`` as a real process in ``cwd``; F0_* settings come only from ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "framework0", *map(str, args)],
        cwd=cwd,
        env=environment(env),
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )


def start_f0(*args: str | Path, cwd: Path, env: Mapping[str, str] | None = None, **popen: Any) -> subprocess.Popen[str]:
    """``python -m framework0 ARGS`` started in ``cwd`` and left running (stdout and stderr piped
    unless ``popen`` says otherwise); F0_* settings come only from ``env``."""
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    return subprocess.Popen(
        [sys.executable, "-m", "framework0", *map(str, args)],
        cwd=cwd,
        env=environment(env),
        text=True,
        encoding="utf-8",
        **options,
    )


@contextmanager
def _working_directory(folder: Path | None) -> Iterator[None]:
    if folder is None:
        yield
        return
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


@contextmanager
def _imports_undone() -> Iterator[None]:
    """Take back what a recipe's steps made importable: the folders ``f0 run`` put on ``sys.path``
    and the modules imported from them (another test's ``tasks.py`` must not find this one's)."""
    path_before = list(sys.path)
    modules_before = set(sys.modules)
    try:
        yield
    finally:
        added = [Path(folder).resolve() for folder in set(sys.path) - set(path_before) if folder]
        sys.path[:] = path_before
        for name in set(sys.modules) - modules_before:
            file = getattr(sys.modules[name], "__file__", None)
            if file and any(Path(file).resolve().is_relative_to(folder) for folder in added):
                del sys.modules[name]


def invoke(
    *args: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``f0 ARGS`` in this process (click's ``CliRunner``), in ``cwd`` when given, with F0_* settings
    only from ``env``. Returns what ``f0(...)`` returns: the exit status, stdout and stderr apart."""
    from click.testing import CliRunner

    from framework0.cli.main import cli

    unset: dict[str, str | None] = {key: None for key in os.environ if key.startswith("F0_") and key not in _KEPT}
    runner = CliRunner(env={**unset, **(env or {})})
    argv = [str(arg) for arg in args]
    with _working_directory(cwd), _imports_undone():
        try:
            result = runner.invoke(cli, argv, input=input, prog_name="f0")
        finally:
            gc.unfreeze()  # f0 run freezes what it has loaded (gc.freeze), for a process that then exits
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a bug in the test or in f0's error handler: show its traceback
    return subprocess.CompletedProcess(["f0", *argv], result.exit_code, result.stdout, result.stderr)


def one_line_error(process: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command printed on stderr (it exited 2, printed nothing else)."""
    assert process.returncode == 2, process.stdout + process.stderr
    assert process.stdout == ""
    lines = process.stderr.splitlines()
    assert len(lines) == 1, process.stderr
    assert "Traceback" not in process.stderr
    return lines[0]


def eventually(
    condition: Callable[[], T | None],
    what: str | Callable[[], str],
    *,
    within: float = EVENTUALLY_S,
    ignoring: tuple[type[Exception], ...] = (),
    every: float = 0.02,
) -> T:
    """Call ``condition`` until it returns something true, and return that; fail after ``within``
    seconds saying ``what`` was awaited (a callable ``what`` is asked then, to describe the state).
    The exceptions in ``ignoring`` count as "not yet" (the last one is in the failure message).
    Polls, so it returns as soon as it can: ``within`` is a deadline, not a delay."""
    deadline = time.monotonic() + within
    error: Exception | None = None
    while True:
        try:
            value = condition()
        except ignoring as caught:
            error = caught
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            described = what() if callable(what) else what
            last = f" (last: {type(error).__name__}: {error})" if error is not None else ""
            raise AssertionError(f"waited {within:g}s for {described}{last}")
        time.sleep(every)
