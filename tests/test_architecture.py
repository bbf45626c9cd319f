"""The architecture's rules, checked on the source: no import cycles, one dependency direction, no
import-time side effects, and a small ``f0 run`` that imports nothing heavy (ARCHITECTURE.md 1, 5)."""

from __future__ import annotations

import ast
import graphlib
import json
import os
import subprocess
import sys
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


def module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: not in functions, not under TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, (ast.Import, ast.ImportFrom)):
                found.append(statement)
            elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            elif isinstance(statement, ast.If):
                if not is_type_checking(statement.test):
                    visit(statement.body)
                visit(statement.orelse)
            elif isinstance(statement, ast.Try):
                visit(statement.body)
                for handler in statement.handlers:
                    visit(handler.body)
                visit(statement.orelse)
                visit(statement.finalbody)
            elif isinstance(statement, (ast.ClassDef, ast.With, ast.For, ast.While)):
                visit(statement.body)
                if isinstance(statement, (ast.For, ast.While)):
                    visit(statement.orelse)

    visit(tree.body)
    return found


def absolute_module(importer: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    base = package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_targets(importer: str) -> set[str]:
    """Every module an import statement of ``importer`` names (a ``from M import sub`` names M.sub)."""
    tree = ast.parse(MODULES[importer].read_text(encoding="utf-8"), filename=str(MODULES[importer]))
    targets: set[str] = set()
    for node in module_level_imports(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        source = absolute_module(importer, node)
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            targets.add(submodule if submodule in MODULES else source)
    return targets


def import_graph() -> dict[str, set[str]]:
    """Module -> the framework0 modules that importing it executes first.

    Importing ``a.b.c`` also runs the packages ``a`` and ``a.b``, except those the importer sits in
    (they are already being imported); ``from pkg import name`` of a non-module needs ``pkg`` itself.
    """
    graph: dict[str, set[str]] = {}
    for importer in MODULES:
        ancestors = {".".join(importer.split(".")[:i]) for i in range(1, importer.count(".") + 1)}
        edges: set[str] = set()
        for target in imported_targets(importer):
            if target not in MODULES:
                continue
            parts = target.split(".")
            chain = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
            edges.update(module for module in chain if module not in ancestors or module == target)
        edges.discard(importer)
        graph[importer] = edges
    return graph


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
]


def in_package(module: str, package: str) -> bool:
    if package.endswith("."):  # any module of the package, but not the package itself
        return module.startswith(package)
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize(("layer", "forbidden"), LAYER_RULES, ids=[layer for layer, _ in LAYER_RULES])
def test_pure_layers_never_import_the_layers_above_them(layer: str, forbidden: tuple[str, ...]) -> None:
    offending = sorted(
        f"{importer} imports {target}"
        for importer in MODULES
        if in_package(importer, layer)
        for target in imported_targets(importer)
        if any(in_package(target, package) for package in forbidden)
    )
    assert offending == []


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
