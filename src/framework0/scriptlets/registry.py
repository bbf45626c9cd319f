"""Finding scriptlets: built-ins by name, installed plugins by entry point, local code by import path.

The registry is data: names map to ``"module:attr"`` strings, imported only when used. A resolved
scriptlet keeps its import string and search path so that another process can import it too.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework0.errors import ScriptletError, did_you_mean
from framework0.scriptlets.base import MARKER, BaseScriptlet, function_scriptlet

ENTRY_POINT_GROUP = "framework0.scriptlets"

BUILTINS: dict[str, str] = {
    "assert": "framework0.scriptlets.builtin.assertion:AssertScriptlet",
    "barrier": "framework0.scriptlets.builtin.barrier:BarrierScriptlet",
    "files": "framework0.scriptlets.builtin.files:FilesScriptlet",
    "hello_world": "framework0.scriptlets.builtin.hello_world:HelloWorldScriptlet",
    "http": "framework0.scriptlets.builtin.http:HttpScriptlet",
    "python": "framework0.scriptlets.builtin.python_call:PythonScriptlet",
    "set_context": "framework0.scriptlets.builtin.set_context:SetContextScriptlet",
    "shell": "framework0.scriptlets.builtin.shell:ShellScriptlet",
    "sleep": "framework0.scriptlets.builtin.sleep:SleepScriptlet",
    "wait_for": "framework0.scriptlets.builtin.wait_for:WaitForScriptlet",
}

# The seed's recipes name ``scriptlets.steps.hello_world``; a user's own ``scriptlets`` package wins.
_SEED_PREFIX = "scriptlets."
_SEED_TARGET = "framework0.scriptlets."


@dataclass(frozen=True, slots=True)
class ScriptletSpec:
    """A resolved scriptlet: its name, its import string, where it came from, and its class."""

    name: str
    ref: str
    origin: str
    scriptlet: type[BaseScriptlet]
    search_path: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        return self.scriptlet.describe()


_lock = threading.RLock()
_by_ref: dict[tuple[str, tuple[str, ...]], type[BaseScriptlet]] = {}
_entry_points: dict[str, tuple[str, str]] | None = None  # name -> (ref, distribution)


def add_search_path(search_path: Iterable[str]) -> None:
    """Make folders importable (recipe folder, working directory), after the standard library and the
    installed packages, so that a user's ``email.py`` cannot shadow the one Python needs."""
    for folder in search_path:
        if folder not in sys.path:
            sys.path.append(folder)


def import_ref(ref: str, search_path: Sequence[str] = ()) -> type[BaseScriptlet]:
    """Import ``"module:attr"`` and return it as a scriptlet class (cached per process)."""
    key = (ref, tuple(search_path))
    cached = _by_ref.get(key)
    if cached is not None:
        return cached
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ScriptletError(f'import string {ref!r} must be in format "<module>:<attribute>"', scriptlet=ref)
    with _lock:
        add_search_path(search_path)
        module = _import_module(module_name, search_path)
        target: Any = module
        for part in attr.split("."):
            if not hasattr(target, part):
                names = [n for n in dir(target) if not n.startswith("_")]
                raise ScriptletError(
                    f"module {module.__name__!r} has no attribute {part!r}{did_you_mean(part, names)}",
                    scriptlet=ref,
                )
            target = getattr(target, part)
        scriptlet = as_scriptlet(target, ref=ref)
        _by_ref[key] = scriptlet
        return scriptlet


def _import_module(name: str, search_path: Sequence[str]) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        missing = error.name or name
        if name.startswith(_SEED_PREFIX) and (missing == "scriptlets" or missing.startswith(_SEED_PREFIX)):
            try:
                return importlib.import_module(_SEED_TARGET + name[len(_SEED_PREFIX) :])
            except ModuleNotFoundError:
                pass
        where = f" (searched {', '.join(search_path)} and the installed packages)" if search_path else ""
        raise ScriptletError(f"cannot import module {name!r}: {error}{where}", scriptlet=name) from None
    except ScriptletError:
        raise
    except BaseException as error:  # the user's module raised while importing
        if isinstance(error, KeyboardInterrupt):
            raise
        if isinstance(error, SystemExit):
            raise ScriptletError(
                f"importing module {name!r} called sys.exit({error.code!r}); guard its script part with "
                "`if __name__ == '__main__':`",
                scriptlet=name,
            ) from None
        raise ScriptletError(
            f"importing module {name!r} failed: {type(error).__name__}: {error}", scriptlet=name
        ) from error


def as_scriptlet(target: Any, *, ref: str) -> type[BaseScriptlet]:
    """Accept a BaseScriptlet subclass or a function (decorated or not); refuse anything else."""
    if inspect.isclass(target):
        if issubclass(target, BaseScriptlet):
            if inspect.isabstract(target):
                raise ScriptletError(f"{ref!r} is abstract: implement run(self, ctx, params)", scriptlet=ref)
            return target
        raise ScriptletError(f"{ref!r} is a class but not a BaseScriptlet subclass", scriptlet=ref)
    if inspect.isfunction(target) or inspect.isbuiltin(target) or hasattr(target, MARKER):
        return function_scriptlet(target)
    kind = type(target).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    raise ScriptletError(f"{ref!r} is {article} {kind}, not a BaseScriptlet subclass or a function", scriptlet=ref)


def _discover_entry_points() -> dict[str, tuple[str, str]]:
    global _entry_points
    if _entry_points is None:
        from importlib.metadata import entry_points

        found: dict[str, tuple[str, str]] = {}
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(entry, "dist", None)
            found[entry.name] = (entry.value, f"{dist.name} {dist.version}" if dist else "unknown")
        _entry_points = found
    return _entry_points


def resolve_name(name: str, *, search_path: Sequence[str] = ()) -> ScriptletSpec:
    """Resolve ``uses: NAME``: a built-in, then an entry point, then a ``module:attr`` string."""
    if name in BUILTINS:
        return ScriptletSpec(name, BUILTINS[name], "built-in", import_ref(BUILTINS[name]))
    plugins = _discover_entry_points()
    if name in plugins:
        ref, dist = plugins[name]
        return ScriptletSpec(name, ref, f"entry point ({dist})", import_ref(ref))
    if ":" in name:
        paths = tuple(search_path)
        return ScriptletSpec(name, name, "import path", import_ref(name, paths), paths)
    known = [*BUILTINS, *plugins]
    raise ScriptletError(
        f"unknown scriptlet {name!r}{did_you_mean(name, known)}; run 'f0 scriptlets list' to see them all",
        scriptlet=name,
    )


def resolve_import(module: str, function: str, *, search_path: Sequence[str] = ()) -> ScriptletSpec:
    """Resolve ``module:`` + ``function:`` against the search path (recipe folder, working directory)."""
    ref = f"{module}:{function}"
    paths = tuple(search_path)
    scriptlet = import_ref(ref, paths)
    module_name = scriptlet.__module__ if scriptlet.__module__ != module else module
    if module_name.startswith(_SEED_TARGET) and not module.startswith("framework0"):
        ref = f"{module_name}:{function}"
    return ScriptletSpec(scriptlet.name or function, ref, "import path", scriptlet, paths)


def default_search_path(recipe_dir: Path | None) -> tuple[str, ...]:
    """The recipe's folder, then the working directory."""
    folders = [str(recipe_dir.resolve())] if recipe_dir is not None else []
    cwd = os.getcwd()
    if cwd not in folders:
        folders.append(cwd)
    return tuple(folders)


@dataclass(frozen=True, slots=True)
class Listing:
    """Everything the registry can name, and the problems found while loading plugins."""

    scriptlets: list[ScriptletSpec]
    problems: list[str]


def list_scriptlets() -> Listing:
    """Load every built-in and entry point (validating each) for ``f0 scriptlets list``."""
    found: list[ScriptletSpec] = []
    problems: list[str] = []
    for name in sorted(BUILTINS):
        found.append(resolve_name(name))
    for name, (ref, dist) in sorted(_discover_entry_points().items()):
        if name in BUILTINS:
            problems.append(f"entry point {name!r} from {dist} clashes with the built-in of that name; ignored")
            continue
        try:
            found.append(ScriptletSpec(name, ref, f"entry point ({dist})", import_ref(ref)))
        except ScriptletError as error:
            problems.append(f"entry point {name!r} from {dist}: {error}")
    return Listing(found, problems)
