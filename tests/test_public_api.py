"""The public surface of ``framework0``: a sorted ``__all__`` naming exactly its public names."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import types
from pathlib import Path

import pytest

import framework0


def test_all_is_sorted() -> None:
    assert framework0.__all__ == sorted(framework0.__all__)


def test_all_imports_are_exported() -> None:
    public = sorted(
        name
        for name in dir(framework0)
        if not name.startswith("_") and not isinstance(getattr(framework0, name), types.ModuleType)
    )
    assert framework0.__all__ == public


@pytest.mark.parametrize("name", framework0.__all__)
def test_each_exported_name_resolves(name: str) -> None:
    assert getattr(framework0, name) is not None


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from framework0 import *", namespace)
    assert sorted(name for name in namespace if name != "__builtins__") == framework0.__all__


def test_the_api_named_by_the_architecture_is_exported() -> None:
    assert {"run", "load_recipe", "RunResult", "BaseScriptlet", "scriptlet", "Context", "Framework0Error"} <= set(
        framework0.__all__
    )


def test_every_exported_error_derives_from_framework0_error_but_step_cancelled() -> None:
    errors = [getattr(framework0, name) for name in framework0.__all__ if name.endswith(("Error", "Failed"))]
    errors += [framework0.StepTimeout, framework0.RunInterrupted]
    assert all(issubclass(error, framework0.Framework0Error) for error in errors)
    assert not issubclass(framework0.StepCancelled, Exception)


def test_version_is_the_installed_distribution_version() -> None:
    assert framework0.__version__ == importlib.metadata.version("framework0")


def test_py_typed_ships_in_the_package_folder() -> None:
    assert (Path(framework0.__file__).parent / "py.typed").is_file()
    assert importlib.resources.files("framework0").joinpath("py.typed").is_file()
