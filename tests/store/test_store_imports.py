"""The store's modules import one another in one direction only, counting the imports made inside
functions too (a lazy import that closes a loop is still a loop)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import framework0.store

PACKAGE = "framework0.store"


def imports_between_store_modules() -> dict[str, set[str]]:
    folder = Path(framework0.store.__file__).parent
    modules = {f"{PACKAGE}.{path.stem}": path for path in folder.glob("*.py") if path.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
                imported |= {f"{PACKAGE}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
        graph[name] = (imported & set(modules)) - {name}
    return graph


def test_no_store_module_imports_one_that_imports_it_back():
    graph = imports_between_store_modules()
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError with the loop


def test_migrating_needs_nothing_of_the_fast_path():
    graph = imports_between_store_modules()
    assert f"{PACKAGE}.migrate" in graph[f"{PACKAGE}.sqlite_sink"]
    assert f"{PACKAGE}.sqlite_sink" not in graph[f"{PACKAGE}.migrate"]
