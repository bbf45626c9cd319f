"""What a recipe needs to run elsewhere: its files, the local modules its steps import and the
pinned distributions behind the rest, found by reading source (``ast``), never by running it.

A module found in the recipe's search path (its folder, then the working directory) is local: it is
copied, at the same place next to the recipe, and its imports are followed. One found elsewhere is
the standard library (left out), Framework0 (always pinned: it runs the recipe) or a distribution
installed here (pinned at its version, with what it requires). Nothing the closure cannot see
(a dynamic import, a module found nowhere) is guessed: it is listed as ``Unresolved``.
"""

from __future__ import annotations

import ast
import os
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from framework0.errors import PackageError, RecipeError, Span, short_repr
from framework0.recipe.diagnostics import Problems
from framework0.recipe.loader import load_recipe
from framework0.recipe.reading import RawStep, read_parts
from framework0.recipe.yaml_source import NodePath, YamlLimits, read_yaml_file

if TYPE_CHECKING:
    from framework0.recipe.model import Step

__all__ = ["Closure", "FileEntry", "RequirementEntry", "Unresolved", "resolve_closure"]

FRAMEWORK0 = "framework0"
#: folders and files an ``add`` folder leaves out
SKIPPED_FOLDERS = frozenset(("__pycache__", ".git"))
SKIPPED_SUFFIXES = (".pyc",)
_IMPORT_ERRORS = frozenset(("ImportError", "ModuleNotFoundError", "Exception", "BaseException"))


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file of the package: where it goes, where it is here, and why it is in."""

    path: str
    source: Path
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RequirementEntry:
    """A distribution the recipe needs, pinned to the version installed here, and why."""

    name: str
    version: str
    reasons: tuple[str, ...]

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True, slots=True)
class Unresolved:
    """Something the closure cannot see (a dynamic import, a module found nowhere), where it is."""

    file: str
    line: int
    col: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.text}"


@dataclass(frozen=True, slots=True)
class Closure:
    """Everything a recipe needs: files relative to ``root``, pinned requirements, what is unseen."""

    root: Path
    entry: str
    files: tuple[FileEntry, ...]
    requirements: tuple[RequirementEntry, ...]
    unresolved: tuple[Unresolved, ...]


def resolve_closure(recipe: str | os.PathLike[str], *, add: Sequence[str | os.PathLike[str]] = ()) -> Closure:
    """The closure of ``recipe`` (checked first: a RecipeError propagates) plus the files and folders
    in ``add``; PackageError when an ``add`` path is missing or two files would share a path."""
    path = Path(recipe)
    loaded = load_recipe(path)
    digests: list[tuple[str, str]] = []
    parts = read_parts(path, Problems(), limits=YamlLimits(), digests=digests)
    recipe_files = list(dict.fromkeys(_placed(Path(file)) for file, _ in digests))
    entry_file = _placed(path)
    added = [_added(Path(item)) for item in add]
    folders = [
        entry_file.parent,
        *(file.parent for file in recipe_files),
        *(p if p.is_dir() else p.parent for p in added),
    ]
    root = Path(os.path.commonpath(folders))
    search = tuple(Path(folder) for folder in loaded.search_path)
    packer = _Packer(root, entry_file.parent, _Locator(search))
    packer.requirements.add(FRAMEWORK0, "runs the recipe")
    packer.recipe_files(entry_file, recipe_files)
    raw_steps = {raw.data.get("name"): raw for raw in (parts.steps if parts is not None else ())}
    for step in loaded.steps:
        packer.step(step, raw_steps.get(step.name))
    for item in added:
        packer.add(item)
    packer.follow()
    packer.requirements.expand()
    return packer.closure(entry_file.relative_to(root).as_posix())


def _placed(path: Path) -> Path:
    """``path`` made absolute with its folder's symlinks and ``..`` resolved (its own name kept)."""
    path = path.absolute()
    return path.parent.resolve() / path.name


def _added(path: Path) -> Path:
    if not path.exists():
        raise PackageError(f"cannot add {short_repr(os.fspath(path), 200)}: no such file or folder")
    return path.resolve() if path.is_dir() else _placed(path)


@dataclass(frozen=True, slots=True)
class _Import:
    """One import read from source: ``module`` (after ``level`` dots), the names taken from it, and
    where; ``dynamic`` holds the text of an import whose module cannot be read."""

    module: str
    level: int
    names: tuple[str, ...]
    line: int
    col: int
    optional: bool
    dynamic: str = ""


class _ImportReader(ast.NodeVisitor):
    """Collects the imports of one module: statements, and ``importlib.import_module``/``__import__``
    calls; imports under ``if TYPE_CHECKING:`` are left out, those guarded by ``except ImportError``
    are optional."""

    def __init__(self) -> None:
        self.found: list[_Import] = []
        self.optional = False

    def _add(self, node: ast.stmt | ast.expr, module: str, level: int = 0, names: tuple[str, ...] = ()) -> None:
        self.found.append(_Import(module, level, names, node.lineno, node.col_offset + 1, self.optional))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        names = tuple(alias.name for alias in node.names if alias.name != "*")
        self._add(node, node.module or "", node.level, names)

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            for statement in node.orelse:
                self.visit(statement)
        else:
            self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        outer = self.optional
        self.optional = outer or any(_catches_import_error(handler.type) for handler in node.handlers)
        for statement in node.body:
            self.visit(statement)
        self.optional = outer
        for other in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(other)

    visit_TryStar = visit_Try  # try: ... except* (Python 3.11), the same fields

    def visit_Call(self, node: ast.Call) -> None:
        function = node.func
        name = ""
        if isinstance(function, ast.Name):
            name = function.id
        elif isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
            name = function.attr if function.value.id in ("importlib", "builtins") else ""
        if name in ("import_module", "__import__"):
            self._dynamic(node, name)
        self.generic_visit(node)

    def _dynamic(self, node: ast.Call, name: str) -> None:
        target = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
        if isinstance(target, ast.Constant) and isinstance(target.value, str) and target.value.strip("."):
            module = target.value
            level = len(module) - len(module.lstrip(".")) if name == "import_module" else 0
            package = (
                node.args[1]
                if len(node.args) > 1
                else next((k.value for k in node.keywords if k.arg == "package"), None)
            )
            if level and isinstance(package, ast.Constant) and isinstance(package.value, str):
                base = package.value.split(".")
                module = ".".join([*base[: len(base) - level + 1], module[level:]])
                level = 0
            self._add(node, module[level:], level)
            return
        text = " ".join(ast.unparse(node).split())
        text = text if len(text) <= 80 else text[:77] + "..."
        self.found.append(_Import("", 0, (), node.lineno, node.col_offset + 1, self.optional, text))


def _catches_import_error(caught: ast.expr | None) -> bool:
    if caught is None:
        return True
    if isinstance(caught, ast.Tuple):
        return any(_catches_import_error(item) for item in caught.elts)
    name = caught.id if isinstance(caught, ast.Name) else caught.attr if isinstance(caught, ast.Attribute) else ""
    return name in _IMPORT_ERRORS


def _read_imports(source: bytes, filename: str) -> list[_Import]:
    """The imports of one module's source (SyntaxError and ValueError propagate)."""
    reader = _ImportReader()
    reader.visit(ast.parse(source, filename))
    return reader.found


@dataclass(frozen=True, slots=True)
class _Found:
    """Where a top-level import name comes from: ``kind`` is stdlib, framework0, installed, local,
    stray (found outside the search path but in no distribution) or missing."""

    kind: str
    dists: tuple[str, ...] = ()
    origin: str = ""


class _Locator:
    """Finds modules as the run would, without importing them: the standard library and installed
    packages first, then the search path (which the run appends to ``sys.path``)."""

    def __init__(self, search: tuple[Path, ...]) -> None:
        import importlib.metadata  # here: importing it costs more than the rest of this module

        self.search = [str(folder) for folder in search]
        resolved = {_resolved(folder) for folder in search}
        self.elsewhere = [entry for entry in sys.path if entry and _resolved(Path(entry)) not in resolved]
        self._distributions = importlib.metadata.packages_distributions()
        self._editable: list[tuple[Path, str]] | None = None
        self._local: dict[str, ModuleSpec | None] = {}
        self._tops: dict[str, _Found] = {}

    def top(self, name: str) -> _Found:
        found = self._tops.get(name)
        if found is None:
            found = self._tops[name] = self._classify(name)
        return found

    def _classify(self, name: str) -> _Found:
        if name in sys.stdlib_module_names or name in sys.builtin_module_names or name == "__main__":
            return _Found("stdlib")
        if name == FRAMEWORK0:
            return _Found(FRAMEWORK0)
        dists = tuple(dict.fromkeys(self._distributions.get(name, ())))
        installed = PathFinder.find_spec(name, self.elsewhere)
        local = self.local(name)
        if dists and (installed is not None or local is None):
            return _Found("installed", dists)
        if local is not None:
            return _Found("local")
        if installed is None:
            return _Found("missing")
        origin = installed.origin or next(iter(installed.submodule_search_locations or ()), "")
        dists = self._editable_dists(origin)
        return _Found("installed", dists) if dists else _Found("stray", origin=origin)

    def local(self, name: str) -> ModuleSpec | None:
        """The spec of module ``name`` (dotted) in the search path, or None."""
        if name in self._local:
            return self._local[name]
        parent, _, _ = name.rpartition(".")
        if not parent:
            spec = PathFinder.find_spec(name, self.search)
        else:
            above = self.local(parent)
            places = above.submodule_search_locations if above is not None else None
            spec = PathFinder.find_spec(name, list(places)) if places else None
        self._local[name] = spec
        return spec

    def _editable_dists(self, origin: str) -> tuple[str, ...]:
        """The distributions installed in editable mode (a ``.pth`` naming their folder) holding ``origin``."""
        if self._editable is None:
            import importlib.metadata

            self._editable = []
            for dist in importlib.metadata.distributions():
                for file in dist.files or ():
                    if file.suffix == ".pth":
                        for line in (file.read_text() or "").splitlines():
                            if line.strip() and not line.startswith(("#", "import")):
                                self._editable.append((_resolved(Path(line.strip())), dist.metadata["Name"]))
        where = _resolved(Path(origin))
        return tuple(dict.fromkeys(name for folder, name in self._editable if where.is_relative_to(folder)))


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


@dataclass(slots=True)
class _Requirement:
    name: str
    version: str
    reasons: list[str]
    extras: set[str] = field(default_factory=set)


class _Requirements:
    """The pinned distributions, with their own requirements added transitively (Framework0's are
    not: installing it brings them)."""

    def __init__(self) -> None:
        self.found: dict[str, _Requirement] = {}
        self._pending: deque[str] = deque()

    def add(self, name: str, reason: str, extras: frozenset[str] | set[str] = frozenset()) -> bool:
        """Pin ``name`` (with ``extras``) for ``reason``; False when it is not installed here."""
        import importlib.metadata

        from packaging.utils import canonicalize_name

        key = canonicalize_name(name)
        entry = self.found.get(key)
        if entry is None:
            try:
                dist = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                if key != FRAMEWORK0:
                    return False
                # run from a checkout, not installed: the version it says it is (no import: no cycle)
                entry = _Requirement(FRAMEWORK0, str(getattr(sys.modules.get(FRAMEWORK0), "__version__", "0")), [])
            else:
                entry = _Requirement(dist.metadata["Name"] or name, dist.version, [])
            self.found[key] = entry
            self._pending.append(key)
        elif not extras <= entry.extras:
            self._pending.append(key)
        entry.extras.update(extras)
        if reason not in entry.reasons:
            entry.reasons.append(reason)
        return True

    def expand(self) -> None:
        import importlib.metadata

        from packaging.requirements import InvalidRequirement, Requirement

        while self._pending:
            key = self._pending.popleft()
            if key == FRAMEWORK0:
                continue
            entry = self.found[key]
            environments = [{"extra": extra} for extra in ("", *sorted(entry.extras))]
            for text in importlib.metadata.requires(entry.name) or ():
                try:
                    requirement = Requirement(text)
                except InvalidRequirement:
                    continue
                marker = requirement.marker
                if marker is None or any(marker.evaluate(env) for env in environments):
                    self.add(requirement.name, f"required by {entry.name} {entry.version}", requirement.extras)

    def entries(self) -> tuple[RequirementEntry, ...]:
        ordered = sorted(self.found.values(), key=lambda entry: (entry.name.casefold(), entry.name))
        return tuple(RequirementEntry(entry.name, entry.version, tuple(entry.reasons)) for entry in ordered)


@dataclass(frozen=True, slots=True)
class _Module:
    """A local module whose imports are to be read: its name, file and package path."""

    name: str
    source: Path
    path: str
    is_package: bool


class _Packer:
    """Collects the closure: files by package path, requirements, and what cannot be resolved."""

    def __init__(self, root: Path, recipe_dir: Path, locator: _Locator) -> None:
        self.root = root
        self.recipe_dir = PurePosixPath(recipe_dir.relative_to(root).as_posix())
        self.locator = locator
        self.requirements = _Requirements()
        self.files: dict[str, tuple[Path, list[str]]] = {}
        self.unresolved: set[Unresolved] = set()
        self._folded: dict[str, str] = {}
        self._names: dict[Path, str] = {}  # recipe files (as placed) -> package path
        self._queue: deque[_Module] = deque()
        self._queued: set[str] = set()

    # --- files -----------------------------------------------------------------------------------

    def file(self, path: str, source: Path, reason: str) -> None:
        known = self.files.get(path)
        if known is None:
            other = self._folded.setdefault(path.casefold(), path)
            if other != path:
                raise PackageError(
                    f"{other} ({self.files[other][0]}) and {path} ({source}) differ only in case; "
                    "a package cannot hold both"
                )
            known = self.files[path] = (source, [])
        elif not _same_file(known[0], source):
            raise PackageError(f"two files would be packed as {path}: {known[0]} and {source}")
        if reason not in known[1]:
            known[1].append(reason)

    def recipe_files(self, entry: Path, files: list[Path]) -> None:
        """The recipe and its includes, each include with where it is included."""
        for file in (entry, *files):
            self._names.setdefault(file, file.relative_to(self.root).as_posix())
        self.file(self._names[entry], entry, "the recipe")
        for file in (entry, *files):
            try:
                doc = read_yaml_file(file)
            except RecipeError:
                continue
            names = doc.data.get("include") if isinstance(doc.data, dict) else None
            listed: list[tuple[object, NodePath]] = [(names, ("include",))] if isinstance(names, str) else []
            if isinstance(names, list):
                listed = [(name, ("include", index)) for index, name in enumerate(names)]
            for name, node in listed:
                target = _placed(file.parent / name) if isinstance(name, str) else None
                if target in self._names:
                    span = doc.value_span(node)
                    self.file(self._names[target], target, f"included at {self._names[file]}:{span.line}:{span.col}")

    def add(self, path: Path) -> None:
        """A file, or a folder's files, given by the user; Python files in the recipe's folder are
        read for their imports as the modules they would be."""
        for file in _walk(path) if path.is_dir() else iter((path,)):
            name = file.relative_to(self.root).as_posix()
            self.file(name, file, "--add")
            module = _module_name(PurePosixPath(name), self.recipe_dir)
            if module is not None:
                self._enqueue(_Module(module, file, name, file.name == "__init__.py"))

    # --- steps -----------------------------------------------------------------------------------

    def placed(self, span: Span) -> Span:
        """``span`` in a recipe file, named by the file's package path."""
        return Span(self._names.get(_placed(Path(span.file)), span.file), span.line, span.col)

    def step(self, step: Step, raw: RawStep | None) -> None:
        """What the step's scriptlet needs: a plugin's distribution, a module (local or installed),
        or the module of the function a ``python`` step calls."""
        spec = step.scriptlet
        data = raw.data if raw is not None else {}
        key = "module" if "module" in data else "uses"
        span = self.placed(raw.site.at(key).value_span() if raw is not None else step.span or Span("?", 1, 1))
        described = f"of step {step.name!r} ({_at(span)})"
        if spec.origin.startswith("entry point"):
            dist = spec.origin.partition("(")[2].rstrip(")").rpartition(" ")[0]
            reason = f"plugin {spec.name!r} {described}"
            if not dist or not self.requirements.add(dist, reason):
                self._import(spec.ref.partition(":")[0], span, reason, reason)
        elif spec.origin == "import path":
            reason = f"module {described}"
            self._import(spec.ref.partition(":")[0], span, reason, reason)
        elif spec.name == "python" and isinstance(step.args.get("call"), str):
            args_key = "with" if "with" in data else "args"
            call = self.placed(raw.site.at(args_key, "call").value_span()) if raw is not None else span
            if "call" in step.templated_args:
                text = f"step {step.name!r} calls a function named by a template; its module is not followed"
                self._unresolved(call, text)
            else:
                reason = f"called by step {step.name!r} ({_at(call)})"
                self._import(step.args["call"].partition(":")[0].strip(), call, reason, reason)

    # --- modules ---------------------------------------------------------------------------------

    def _unresolved(self, span: Span, text: str) -> None:
        self.unresolved.add(Unresolved(span.file, span.line, span.col, text))

    def _import(
        self, module: str, span: Span, file_reason: str, reason: str, importer: str = "", *, optional: bool = False
    ) -> bool:
        """Take in ``module`` (absolute, dotted; imported by module ``importer`` at ``span``) and
        the packages above it; False when it cannot be found (reported unless ``optional``)."""
        top = module.partition(".")[0]
        found = self.locator.top(top)
        if found.kind in ("stdlib", FRAMEWORK0):
            return True
        if found.kind == "installed":
            for dist in found.dists:
                self.requirements.add(dist, reason)
            return True
        if found.kind == "local":
            return self._local(module, span, file_reason, importer, optional=optional)
        if not optional:
            if found.kind == "stray":
                where = f"is at {found.origin}, outside the recipe's search path and in no installed distribution"
                self._unresolved(span, f"module {top!r} {where}")
            else:
                self._unresolved(span, f"cannot find module {module!r} (not next to the recipe, nor installed here)")
        return False

    def _local(self, module: str, span: Span, reason: str, importer: str, *, optional: bool) -> bool:
        """Take in local ``module`` and its packages, except ``importer``'s own (already in)."""
        parts = module.split(".")
        for count in range(1, len(parts) + 1):
            name = ".".join(parts[:count])
            spec = self.locator.local(name)
            if spec is None:
                if not optional:
                    self._unresolved(span, f"cannot find module {name!r} (looked in {', '.join(self.locator.search)})")
                return False
            if importer == name or importer.startswith(name + "."):
                continue
            if spec.origin is not None and spec.has_location and Path(spec.origin).is_file():
                source = Path(spec.origin)
                is_package = spec.submodule_search_locations is not None
                depth = count + 1 if is_package else count  # the folders of the package, then the file
                path = (self.recipe_dir / PurePosixPath(*source.parts[-depth:])).as_posix()
                self.file(path, source, reason)
                self._enqueue(_Module(name, source, path, is_package))
        return True

    def _enqueue(self, module: _Module) -> None:
        if module.name not in self._queued:
            self._queued.add(module.name)
            self._queue.append(module)

    def follow(self) -> None:
        """Read every queued local module's imports, taking in what they import, until none is left."""
        while self._queue:
            module = self._queue.popleft()
            if module.source.suffix != ".py":
                continue  # an extension module: copied, not read
            try:
                imports = _read_imports(module.source.read_bytes(), module.path)
            except SyntaxError as error:
                span = Span(module.path, error.lineno or 1, error.offset or 1)
                self._unresolved(span, f"cannot read its imports: {error.msg}")
                continue
            except (OSError, ValueError) as error:
                self._unresolved(Span(module.path, 1, 1), f"cannot read its imports: {error}")
                continue
            package = module.name if module.is_package else module.name.rpartition(".")[0]
            for found in imports:
                self._follow(module, package, found)

    def _follow(self, module: _Module, package: str, found: _Import) -> None:
        span = Span(module.path, found.line, found.col)
        if found.dynamic:
            self._unresolved(span, f"dynamic import {found.dynamic} cannot be followed; add what it imports with --add")
            return
        target = found.module
        if found.level:
            base = package.split(".") if package else []
            if found.level > len(base):
                self._unresolved(span, "relative import beyond the top-level package")
                return
            target = ".".join([*base[: len(base) - found.level + 1], *([found.module] if found.module else [])])
        top = target.partition(".")[0]
        file_reason, reason = f"imported at {_at(span)}", f"import {top} at {_at(span)}"
        if not self._import(target, span, file_reason, reason, module.name, optional=found.optional):
            return
        if found.names and self.locator.top(top).kind == "local":
            for name in found.names:  # `from package import name`: a submodule, or anything else it holds
                if self.locator.local(f"{target}.{name}") is not None:
                    self._local(f"{target}.{name}", span, file_reason, module.name, optional=True)

    def closure(self, entry: str) -> Closure:
        files = tuple(FileEntry(path, source, tuple(reasons)) for path, (source, reasons) in sorted(self.files.items()))
        unresolved = tuple(sorted(self.unresolved, key=lambda u: (u.file, u.line, u.col, u.text)))
        return Closure(self.root, entry, files, self.requirements.entries(), unresolved)


def _at(span: Span) -> str:
    return f"{span.file}:{span.line}:{span.col}"


def _walk(folder: Path) -> Iterator[Path]:
    """The files under ``folder``, in name order, without caches and version control."""
    for parent, folders, files in os.walk(folder):
        folders[:] = sorted(name for name in folders if name not in SKIPPED_FOLDERS)
        for name in sorted(files):
            if not name.endswith(SKIPPED_SUFFIXES):
                yield Path(parent) / name


def _module_name(path: PurePosixPath, recipe_dir: PurePosixPath) -> str | None:
    """The module a ``.py`` file at package path ``path`` is when imported next to the recipe."""
    if path.suffix != ".py":
        return None
    try:
        inside = path.relative_to(recipe_dir) if str(recipe_dir) != "." else path
    except ValueError:
        return None
    parts = list(inside.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) if parts and all(part.isidentifier() for part in parts) else None


def _same_file(first: Path, second: Path) -> bool:
    try:
        return first == second or os.path.samefile(first, second)
    except OSError:
        return False
