"""The architecture's rules, checked on the source: no import cycles, one dependency direction, no
import-time side effects, and a small ``f0 run`` that imports nothing heavy (ARCHITECTURE.md 1, 5)."""

from __future__ import annotations

import ast
import functools
import graphlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import framework0

PACKAGE_DIR = Path(framework0.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# Alembic's migration scripts are loaded by Alembic, not imported as modules
MIGRATIONS_DIR = PACKAGE_DIR / "store" / "migrations"
MODULES: dict[str, Path] = {
    module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py")) if MIGRATIONS_DIR not in path.parents
}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@dataclass(frozen=True)
class Found:
    """An import statement and when it runs."""

    node: ast.Import | ast.ImportFrom
    lazy: bool  # inside a function: runs when the function is called
    type_checking: bool  # under ``if TYPE_CHECKING:``: never runs, only type checkers read it


def every_import(tree: ast.Module) -> list[Found]:
    """Every import statement of a module, wherever it is."""
    found: list[Found] = []

    def visit(node: ast.AST, lazy: bool, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(Found(child, lazy, type_checking))
            elif isinstance(child, ast.If) and is_type_checking(child.test):
                for statement in child.body:
                    visit_statement(statement, lazy, True)
                for statement in child.orelse:
                    visit_statement(statement, lazy, type_checking)
            else:
                function = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                visit(child, lazy or function, type_checking)

    def visit_statement(statement: ast.stmt, lazy: bool, type_checking: bool) -> None:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            found.append(Found(statement, lazy, type_checking))
        else:
            visit(ast.Module(body=[statement], type_ignores=[]), lazy, type_checking)

    visit(tree, False, False)
    return found


def module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: not in functions, not under TYPE_CHECKING."""
    return [found.node for found in every_import(tree) if not found.lazy and not found.type_checking]


def absolute_module(importer: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    base = package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


@functools.cache
def parsed(importer: str) -> ast.Module:
    return ast.parse(MODULES[importer].read_text(encoding="utf-8"), filename=str(MODULES[importer]))


def imported_targets(importer: str, *, module_level_only: bool = True) -> set[str]:
    """Every module an import statement of ``importer`` names (a ``from M import sub`` names M.sub):
    those that run on import, or (``module_level_only=False``) every one, in functions and under
    TYPE_CHECKING too."""
    targets: set[str] = set()
    for found in every_import(parsed(importer)):
        if module_level_only and (found.lazy or found.type_checking):
            continue
        node = found.node
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        source = absolute_module(importer, node)
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            targets.add(submodule if submodule in MODULES else source)
    return targets


def import_graph(*, module_level_only: bool = True) -> dict[str, set[str]]:
    """Module -> the framework0 modules that importing it executes first (or, with
    ``module_level_only=False``, that it depends on in any way: in a function or for types).

    Importing ``a.b.c`` also runs the packages ``a`` and ``a.b``, except those the importer sits in
    (they are already being imported); ``from pkg import name`` of a non-module needs ``pkg`` itself.
    """
    graph: dict[str, set[str]] = {}
    for importer in MODULES:
        ancestors = {".".join(importer.split(".")[:i]) for i in range(1, importer.count(".") + 1)}
        edges: set[str] = set()
        for target in imported_targets(importer, module_level_only=module_level_only):
            if target not in MODULES:
                continue
            parts = target.split(".")
            chain = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
            edges.update(module for module in chain if module not in ancestors or module == target)
        edges.discard(importer)
        graph[importer] = edges
    return graph


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The groups of modules that depend on each other in a circle (strongly connected, more than one)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[frozenset[str]] = []

    def connect(module: str) -> None:  # Tarjan's algorithm
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                connect(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(frozenset(group))

    for module in sorted(graph):
        if module not in index:
            connect(module)
    return groups


def test_the_source_walk_finds_the_package_modules() -> None:
    assert {"framework0", "framework0.errors", "framework0.engine.runner", "framework0.cli.main"} <= set(MODULES)
    assert "framework0.recipe.model" in import_graph()["framework0.engine.runner"]


def test_framework0_modules_have_no_import_cycle() -> None:
    sorter = graphlib.TopologicalSorter(import_graph())
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        cycle = error.args[1]
        pytest.fail("import cycle (each module imports the next): " + " -> ".join(reversed(cycle)))


#: Circles between files still to be removed (issue 14 item 7), each with who removes it. The check
#: fails on any other circle; delete an entry once its circle is gone.
KNOWN_CIRCLES: dict[frozenset[str], str] = {}
"""Circles allowed for now, each with who ends it (none left)."""


def test_no_two_files_depend_on_each_other_not_even_in_a_function_or_for_types() -> None:
    found = circles(import_graph(module_level_only=False))
    assert sorted(sorted(group) for group in found if not any(group <= known for known in KNOWN_CIRCLES)) == []


SOURCE_WITH_EVERY_KIND_OF_IMPORT = """
import a
if TYPE_CHECKING:
    import b
else:
    import c
def f():
    import d
class K:
    async def g(self):
        if typing.TYPE_CHECKING:
            from e import x
"""


def test_the_import_walk_sees_imports_in_functions_and_for_types() -> None:
    found = every_import(ast.parse(SOURCE_WITH_EVERY_KIND_OF_IMPORT))
    assert [(ast.unparse(f.node), f.lazy, f.type_checking) for f in found] == [
        ("import a", False, False),
        ("import b", False, True),
        ("import c", False, False),
        ("import d", True, False),
        ("from e import x", True, True),
    ]


def test_circles_are_the_groups_of_modules_that_reach_each_other() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": set()}
    assert sorted(map(sorted, circles(graph))) == [["a", "b", "c"], ["d", "e"]]


LAYERS = (
    "recipe",
    "graph",
    "context",
    "events",
    "scriptlets",
    "engine",
    "store",
    "server",
    "client",
    "cli",
    "viz",
    "isolation",
    "analysis",
)

LAYER_RULES = [
    ("framework0.recipe", ("framework0.engine", "framework0.cli", "framework0.viz")),
    ("framework0.graph", ("framework0.engine", "framework0.cli", "framework0.viz")),
    ("framework0.context", ("framework0.engine", "framework0.cli", "framework0.viz")),
    ("framework0.events", ("framework0.engine", "framework0.cli", "framework0.viz")),
    ("framework0.scriptlets", ("framework0.engine", "framework0.cli", "framework0.viz")),
    ("framework0.errors", ("framework0.",)),
    ("framework0.engine", ("framework0.cli",)),
    ("framework0.recipe", ("framework0.store",)),
    ("framework0.graph", ("framework0.store",)),
    ("framework0.context", ("framework0.store",)),
    ("framework0.events", ("framework0.store",)),
    ("framework0.scriptlets", ("framework0.store",)),
    ("framework0.store", ("framework0.engine", "framework0.cli", "framework0.scriptlets", "framework0.recipe")),
    # the server and the client are adapters at the edge: nothing below them imports them
    ("framework0.store", ("framework0.server", "framework0.client")),
    ("framework0.context", ("framework0.server", "framework0.client")),
    ("framework0.events", ("framework0.server", "framework0.client")),
    ("framework0.engine", ("framework0.server",)),
    ("framework0.scriptlets", ("framework0.server", "framework0.client")),
    ("framework0.recipe", ("framework0.server", "framework0.client")),
    # a runner on another machine needs the client, never the server (FastAPI is not installed there)
    ("framework0.client", ("framework0.server", "framework0.engine", "framework0.cli")),
    # scriptlets, recipe, graph, context and events are peers: none imports another's layer
    ("framework0.scriptlets", ("framework0.recipe", "framework0.graph")),
    # the pure helpers under every layer import nothing of framework0 but errors
    ("framework0.durations", tuple(f"framework0.{layer}" for layer in LAYERS)),
    # the settings are a value every layer may take: config imports no layer, nor the roots
    ("framework0.config", (*(f"framework0.{layer}" for layer in LAYERS), "framework0.api", "framework0.history")),
    # api (the composition root) and history (the read side) sit above every layer but the edges
    *(
        (f"framework0.{layer}", ("framework0.api", "framework0.history"))
        for layer in ("recipe", "graph", "context", "events", "scriptlets", "engine", "store", "client")
    ),
    # packing reads recipes and scriptlets' source; it runs nothing and records nothing
    (
        "framework0.isolation",
        (
            "framework0.engine",
            "framework0.store",
            "framework0.server",
            "framework0.client",
            "framework0.cli",
            "framework0.viz",
            "framework0.api",
            "framework0.history",
        ),
    ),
    *(
        (f"framework0.{layer}", ("framework0.isolation",))
        for layer in ("recipe", "graph", "context", "events", "scriptlets", "engine", "store", "client")
    ),
    # analysis is pure: records in, findings out; it reads no store and runs nothing
    (
        "framework0.analysis",
        (
            "framework0.engine",
            "framework0.store",
            "framework0.server",
            "framework0.client",
            "framework0.cli",
            "framework0.viz",
            "framework0.api",
            "framework0.isolation",
        ),
    ),
    *(
        (f"framework0.{layer}", ("framework0.analysis",))
        for layer in ("recipe", "graph", "context", "events", "scriptlets", "engine", "store", "client", "history")
    ),
    ("framework0.history", ("framework0.api", "framework0.cli", "framework0.server", "framework0.viz")),
    ("framework0.api", ("framework0.cli", "framework0.server", "framework0.viz", "framework0.history")),
]

#: what shows recorded runs reads them through framework0.history, never the store's query classes
#: (a type named for a parameter that still accepts a Store is allowed: TYPE_CHECKING only)
HISTORY_READERS = (
    "framework0.cli.analyze",
    "framework0.cli.runs",
    "framework0.cli.logs",
    "framework0.cli.context",
    "framework0.cli.explain",
    "framework0.cli.report",
    "framework0.viz.run_view",
    "framework0.server.routes_runs",
)
STORE_QUERIES = ("framework0.store.database", "framework0.store.context_history", "framework0.engine.history")


@pytest.mark.parametrize("reader", HISTORY_READERS)
def test_what_shows_recorded_runs_reads_them_through_the_history_api(reader: str) -> None:
    found = [found for found in every_import(parsed(reader)) if not found.type_checking]
    targets = {
        target
        for item in found
        for target in (
            [alias.name for alias in item.node.names]
            if isinstance(item.node, ast.Import)
            else [absolute_module(reader, item.node)]
        )
    }
    assert sorted(t for t in targets if any(in_package(t, query) for query in STORE_QUERIES)) == []


#: Layer breaches still to be removed, each with what removes it; delete an entry once it is gone.
KNOWN_BREACHES = {
    # the files scriptlet renders a template with the recipe's sandboxed Jinja2 environment (in a
    # function): ends when rendering moves below recipe and scriptlets (issue 14 item 7)
    "framework0.scriptlets.builtin.files imports framework0.recipe.templates",
}


def in_package(module: str, package: str) -> bool:
    if package.endswith("."):  # any module of the package, but not the package itself
        return module.startswith(package)
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize(("layer", "forbidden"), LAYER_RULES, ids=[layer for layer, _ in LAYER_RULES])
def test_pure_layers_never_import_the_layers_above_them(layer: str, forbidden: tuple[str, ...]) -> None:
    """Not at the top, not in a function, not for types."""
    offending = sorted(
        f"{importer} imports {target}"
        for importer in MODULES
        if in_package(importer, layer)
        for target in imported_targets(importer, module_level_only=False)
        if any(in_package(target, package) for package in forbidden)
    )
    assert sorted(set(offending) - KNOWN_BREACHES) == []


IMPORT_EVERY_MODULE = """
import importlib, json, os, sys
before = dict(os.environ)
skipped = []
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except ImportError as error:
        # an optional extra's adapter may refuse to import without it, with an install hint
        if "framework0[" not in str(error):
            raise
        skipped.append(name)
print(json.dumps({"environ_changed": sorted(k for k in {*before, *os.environ} if before.get(k) != os.environ.get(k)),
                  "skipped": skipped}))
"""


def test_importing_every_module_changes_no_environment_variable_and_writes_no_file(tmp_path: Path) -> None:
    names = [name for name in MODULES if name != "framework0.__main__"] + ["framework0.__main__"]
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE, json.dumps(names)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["environ_changed"] == []
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_import_framework0_loads_no_heavy_dependency() -> None:
    code = (
        "import sys\n"
        "import framework0\n"
        "heavy = ('jinja2', 'pydantic', 'httpx', 'rich', 'psutil')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


RECIPE = """\
test_meta:
  test_id: ARCH-001
steps:
  - name: hello
    module: arch_steps
    function: hello
"""

# The step also records sys.modules: ``-X importtime`` does not log modules loaded by
# ``importlib.import_module`` (as the CLI loads its commands and the registry loads scriptlets).
STEP_MODULE = """\
import json
import sys


def hello():
    with open("modules.json", "w") as file:
        json.dump(sorted(sys.modules), file)
    return "hi"
"""

NOT_FOR_A_SMALL_RUN = {"fastapi", "dask", "distributed", "sqlalchemy", "pandas", "jinja2", "httpx", "pydantic"}


def imported_modules(importtime_log: str) -> set[str]:
    """Module names from ``python -X importtime`` lines: ``import time: self | cumulative | name``."""
    names: set[str] = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return names


def test_f0_run_of_a_plain_function_step_imports_no_heavy_dependency(tmp_path: Path) -> None:
    (tmp_path / "arch_steps.py").write_text(STEP_MODULE, encoding="utf-8")
    (tmp_path / "r.yaml").write_text(RECIPE, encoding="utf-8")
    # The store's first use creates its tables with Alembic (SQLAlchemy); every later run writes
    # through sqlite3 alone. Measure a later run.
    env = {**os.environ, "F0_STORE": f"sqlite:///{tmp_path}/store.db"}
    subprocess.run([sys.executable, "-m", "framework0", "run", "r.yaml"], cwd=tmp_path, env=env, timeout=60, check=True)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "framework0", "run", "r.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    modules = imported_modules(result.stderr) | set(json.loads((tmp_path / "modules.json").read_text()))
    assert {"framework0.cli.main", "framework0.engine.runner", "arch_steps"} <= modules
    assert sorted(name for name in modules if name.split(".")[0] in NOT_FOR_A_SMALL_RUN) == []
