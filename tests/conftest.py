"""The whole suite records its runs in one throwaway store, never in the checkout's .framework0,
and keeps compiled recipes in a throwaway folder, never in the user's cache; its tests are marked
by what they need (pyproject lists the markers): ``-m "not slow"`` is a quick round,
``-m "not postgres and not browser"`` a machine without those services.

The helpers many files share (the ``f0`` command, ``eventually``) are in tests/helpers.py."""

from __future__ import annotations

import faulthandler
import inspect
import os
import shutil
import signal
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

_STORE_DIR = tempfile.TemporaryDirectory(prefix="f0-tests-")
os.environ.setdefault("F0_STORE", f"sqlite:///{_STORE_DIR.name}/framework0.db")
os.environ.setdefault("F0_RECIPE_CACHE", f"{_STORE_DIR.name}/recipes")

# A suite started in the background (``nohup``, ``make test &`` in a script) inherits SIGINT ignored,
# and so would every f0 process it starts: the Ctrl-C tests need it delivered.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_TESTS = Path(__file__).resolve().parent

#: A test still going at this many times its pytest-timeout (pyproject, or its own mark) is past what
#: pytest-timeout can stop: its thread never comes back to Python, or a thread holds the interpreter lock.
#: Ended from C, it leaves the stacks of its threads in a file the summary prints; its worker dies, and
#: xdist reports the test as crashed and (``--max-worker-restart=0``, Makefile) ends the session: CI
#: fails in minutes with the cause, instead of running into its own limit.
_HARD_TIMEOUT_FACTOR = 2
# set before xdist starts its workers, which inherit it (a worker's stderr goes nowhere readable)
if "FRAMEWORK0_TESTS_HUNG_DIR" not in os.environ:
    os.environ["FRAMEWORK0_TESTS_HUNG_DIR"] = tempfile.mkdtemp(prefix="f0-tests-hung-")
_HUNG = Path(os.environ["FRAMEWORK0_TESTS_HUNG_DIR"])

#: files (relative to tests/) whose every test is slow: real processes, servers killed, fuzzing
_SLOW_FILES = {
    "cli/test_isolate_wheels_cli.py",
    "isolation/test_wheels.py",
    "server/test_linearizability.py",
    "server/test_two_servers.py",
    "server/test_openapi_fuzz.py",
    "store/test_durability.py",
    "cli/test_run_package_cli.py",
}


def _relative(item: pytest.Item) -> str:
    try:
        return item.path.resolve().relative_to(_TESTS).as_posix()
    except ValueError:
        return item.path.as_posix()


def _parameters(item: pytest.Item) -> list[object]:
    callspec = getattr(item, "callspec", None)
    return list(callspec.params.values()) if callspec is not None else []


def _source(item: pytest.Item) -> str:
    """The source of the test function and of the fixtures it uses."""
    functions = [getattr(item, "function", None)]
    info = getattr(item, "_fixtureinfo", None)
    if info is not None:
        functions += [definition.func for definitions in info.name2fixturedefs.values() for definition in definitions]
    sources = []
    for function in functions:
        try:
            sources.append(inspect.getsource(function) if function is not None else "")
        except (OSError, TypeError):
            pass
    return "\n".join(sources)


def _markers(item: pytest.Item) -> set[str]:
    path = _relative(item)
    parameters = _parameters(item)
    source = _source(item)
    markers: set[str] = set()
    if path.startswith("e2e/browser/"):
        markers |= {"browser", "slow"}
    if path.startswith("e2e/") or path in _SLOW_FILES or "fuzz" in path:
        markers.add("slow")
    if "dask" in path or "dask" in parameters:
        markers |= {"dask", "slow"}
    if "postgresql" in parameters or "postgres_schema" in source or "require_postgres" in source:
        markers.add("postgres")
    return markers


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shared = sorted(nodeid for nodeid, count in Counter(item.nodeid for item in items).items() if count > 1)
    if shared:  # xdist hands out tests by id: it would run one test of each and forget the others
        raise pytest.UsageError(f"{len(shared)} test ids name more than one test, e.g. {shared[0]}")
    xdist = config.pluginmanager.hasplugin("xdist")
    for item in items:
        markers = _markers(item)
        for name in sorted(markers):
            item.add_marker(name)
        if xdist:  # make test: --dist loadgroup. A file stays on one worker (its module fixtures start
            # once); every Dask test is on one worker, so that one shared cluster serves them all
            item.add_marker(pytest.mark.xdist_group("dask" if "dask" in markers else _relative(item)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    mark = item.get_closest_marker("timeout")
    limit = _HARD_TIMEOUT_FACTOR * float(mark.args[0] if mark else item.config.getini("timeout") or 120)
    _HUNG.mkdir(exist_ok=True)  # (a /tmp cleaner may have taken it)
    with open(_HUNG / f"{os.getpid()}.txt", "w") as stacks:
        stacks.write(f"{item.nodeid} was still going after {limit:.0f} s; its process's threads:\n")
        stacks.flush()
        faulthandler.dump_traceback_later(limit, exit=True, file=stacks)
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()
    Path(stacks.name).unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for stacks in sorted(_HUNG.glob("*.txt")):
        terminalreporter.section(f"hung test ({stacks.name})", sep="=", red=True)
        terminalreporter.write(stacks.read_text(errors="replace"))


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the process that made the folder
        shutil.rmtree(_HUNG, ignore_errors=True)


@pytest.fixture(autouse=True)
def _forget_what_recipes_made_importable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After each test, take back what a run made importable from the tests' temporary folders: the
    folders it put on ``sys.path`` and the modules imported from them. One test's ``tasks.py`` must
    never be the module another test on the same worker imports as ``tasks``."""
    path_before = set(sys.path)
    modules_before = set(sys.modules)
    yield
    base = tmp_path_factory.getbasetemp().resolve()
    sys.path[:] = [folder for folder in sys.path if folder in path_before or not _under(folder, base)]
    for name in set(sys.modules) - modules_before:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file and _under(file, base):
            del sys.modules[name]


def _under(path: str, folder: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(folder)
    except (OSError, RuntimeError):
        return False
