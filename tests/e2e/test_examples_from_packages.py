"""Every example recipe packed with ``f0 isolate``, then run from its package with ``f0 run PKG`` in a
fresh folder, in a virtual environment built by real pip: without wheels (pins from the index,
Framework0 from this checkout), and with ``--wheels`` offline (no index reachable).

Environments are keyed by what goes into them, so the examples that need only Framework0 share one
environment per kind, built on the first run; the plugin example needs its own. Every example runs
from the index; with its wheels, one example of each environment does (the others' wheels are the
same)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.helpers import F0_TIMEOUT_S, f0
from tests.store.store_backends import postgres_schema

import framework0.history

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RECIPES = ("quickstart.yaml", "data_pipeline.yaml", "test_campaign.yaml", "ops_runbook.yaml", "plugin_recipe.yaml")
#: an index nothing listens on: pip fails at once if it tries to reach one
NO_INDEX = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": "/dev/null"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The examples (copied), the packages, and the environments' folder, shared by the module."""
    root = tmp_path_factory.mktemp("examples-from-packages")
    examples = root / "examples"
    shutil.copytree(EXAMPLES, examples, ignore=shutil.ignore_patterns("plugin", "__pycache__", ".framework0"))
    (root / "packages").mkdir()
    return {"examples": examples, "packages": root / "packages", "envs": root / "envs"}


def pack(folders: dict[str, Path], recipe: str, *, wheels: bool) -> Path:
    output = folders["packages"] / f"{Path(recipe).stem}{'-wheels' if wheels else ''}.f0.zip"
    if not output.exists():
        packed = f0("isolate", recipe, "-o", output, *(["--wheels"] if wheels else []), cwd=folders["examples"])
        assert packed.returncode == 0, packed.stderr
    return output


def run_package(
    folders: dict[str, Path], package: Path, work: Path, env: dict[str, str], *options: str, store: str = ""
) -> None:
    """``f0 run PACKAGE`` in ``work``, a new folder: it must succeed and be recorded with its package."""
    work.mkdir()
    store = store or f"sqlite:///{work / 'runs.db'}"
    environment = {"F0_PACKAGE_ENVS": str(folders["envs"]), "F0_STORE": store, **env}
    done = f0("run", package, "--json", *options, cwd=work, env=environment, timeout=F0_TIMEOUT_S * 3)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = framework0.verify_package(package)
    with framework0.history.open(store) as history:
        [summary] = history.list_runs()
    assert summary.status == "succeeded"
    assert summary.package == {"path": str(package.resolve()), "digest": manifest.digest, "entry": manifest.entry}


#: one example per environment the examples need (Framework0 alone; Framework0 and the plugin): packing
#: with --wheels runs pip wheel, half a minute each, and the other examples would pack the same wheels
WHEEL_RECIPES = ("quickstart.yaml", "plugin_recipe.yaml")


@pytest.mark.parametrize("recipe", WHEEL_RECIPES)
def test_an_example_runs_from_its_package_with_its_wheels_and_no_index(
    folders: dict[str, Path], recipe: str, tmp_path: Path
) -> None:
    run_package(folders, pack(folders, recipe, wheels=True), tmp_path / "work", NO_INDEX)


@pytest.mark.parametrize("recipe", [name for name in RECIPES if name != "plugin_recipe.yaml"])
def test_an_example_runs_from_its_package_installing_its_pins(
    folders: dict[str, Path], recipe: str, tmp_path: Path
) -> None:
    run_package(folders, pack(folders, recipe, wheels=False), tmp_path / "work", {})


def test_a_plugin_that_the_index_does_not_have_is_refused_naming_it_when_its_wheel_is_not_packed(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    package = pack(folders, "plugin_recipe.yaml", wheels=False)
    work = tmp_path / "work"
    work.mkdir()
    env = {"F0_PACKAGE_ENVS": str(folders["envs"]), "F0_STORE": f"sqlite:///{work / 'runs.db'}"}
    done = f0("run", package, cwd=work, env=env, timeout=F0_TIMEOUT_S * 3)
    assert done.returncode == 2, done.stderr[-3000:]
    error = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1, done.stderr[-3000:]
    assert "pip could not install f0-example-plugin==0.1.0" in error[0] and "pip's full log: " in error[0]


def test_a_package_runs_on_the_process_executor_recorded_in_postgresql(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    """The run's environment also gets what its store needs (the PostgreSQL driver, a Framework0
    extra the package does not name), at the version installed here."""
    package = pack(folders, "data_pipeline.yaml", wheels=False)
    with postgres_schema() as store:
        run_package(folders, package, tmp_path / "work", {}, "--executor", "process", "-p", "files=2", store=store)
