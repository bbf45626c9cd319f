"""``isolate(..., wheels=True)``: a package that carries a wheel of every distribution installing it
needs, Framework0 and its dependencies included, so that it installs with no package index.

Real pip and real wheels: each pack costs seconds, so the data pipeline example is packed once for
the module and its tests read that one package."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import framework0
from framework0.isolation.build import Package
from framework0.isolation.manifest import WHEELS, ManifestRequirement, normal_name
from framework0.isolation.verify import extract_package

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: Framework0's direct dependencies, as pyproject.toml lists them
FRAMEWORK0_DEPENDENCIES = {
    "pyyaml",
    "jinja2",
    "pydantic",
    "click",
    "rich",
    "psutil",
    "httpx",
    "sqlalchemy",
    "alembic",
    "packaging",
    "cryptography",
}
#: some of what those need in turn, whatever their versions: dependency -> the one that requires it
TRANSITIVE = {
    "markupsafe": "jinja2",
    "pydantic-core": "pydantic",
    "markdown-it-py": "rich",
    "pygments": "rich",
    "httpcore": "httpx",
    "mako": "alembic",
}


def without_epoch() -> dict[str, str]:
    """This environment without SOURCE_DATE_EPOCH: the package's times come from its files."""
    return {key: value for key, value in os.environ.items() if key != "SOURCE_DATE_EPOCH"}


def copy_pipeline(folder: Path) -> Path:
    folder.mkdir()
    for name in ("data_pipeline.yaml", "pipeline_steps.py"):
        shutil.copy2(EXAMPLES / name, folder / name)
    return folder / "data_pipeline.yaml"


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The data pipeline example packed with its wheels."""
    folder = tmp_path_factory.mktemp("wheels")
    recipe = copy_pipeline(folder / "pipeline")
    return framework0.isolate(recipe, folder / "pipeline.f0.zip", wheels=True, environ=without_epoch())


def requirements_by_name(package: Package) -> dict[str, ManifestRequirement]:
    return {normal_name(requirement.name): requirement for requirement in package.manifest.requirements}


def test_a_package_with_wheels_verifies_and_every_requirement_has_its_wheel(packed: Package) -> None:
    assert framework0.verify_package(packed.path) == packed.manifest
    assert all(requirement.wheel is not None for requirement in packed.manifest.requirements)


def test_it_carries_framework0_and_its_dependencies_and_theirs(packed: Package) -> None:
    names = set(requirements_by_name(packed))
    assert {"framework0", *FRAMEWORK0_DEPENDENCIES} <= names
    assert set(TRANSITIVE) <= names


def test_each_requirement_says_which_requirement_needs_it(packed: Package) -> None:
    requirements = requirements_by_name(packed)
    framework = requirements["framework0"]
    assert framework.reasons == ("runs the recipe",)
    for name in FRAMEWORK0_DEPENDENCIES:
        assert f"required by framework0 {framework.version}" in requirements[name].reasons, name
    for name, parent in TRANSITIVE.items():
        up = requirements[parent]
        assert f"required by {up.name} {up.version}" in requirements[name].reasons, name


def test_every_wheel_is_at_the_version_installed_here(packed: Package) -> None:
    for requirement in packed.manifest.requirements:
        assert requirement.version == importlib.metadata.version(requirement.name), requirement.name


def test_each_wheel_in_the_package_has_the_hash_its_manifest_gives(packed: Package) -> None:
    with zipfile.ZipFile(packed.path) as archive:
        members = {name: archive.read(name) for name in archive.namelist() if name.startswith(WHEELS)}
    listed = {requirement.wheel: requirement.sha256 for requirement in packed.manifest.requirements}
    assert set(members) == set(listed)
    assert {name: hashlib.sha256(data).hexdigest() for name, data in members.items()} == listed
    assert f"{WHEELS}framework0-{framework0.__version__}-py3-none-any.whl" in members


def test_a_second_pack_of_the_same_files_is_byte_identical(packed: Package, tmp_path: Path) -> None:
    """Framework0's wheel is built again from its folder: the build is byte-stable too."""
    recipe = packed.path.parent / "pipeline" / "data_pipeline.yaml"
    again = framework0.isolate(recipe, tmp_path / "again.f0.zip", wheels=True, environ=without_epoch())
    assert again.path.read_bytes() == packed.path.read_bytes()


def test_its_wheels_install_framework0_in_a_fresh_environment_with_no_index(packed: Package, tmp_path: Path) -> None:
    extract_package(packed.path, tmp_path / "staging")
    venv.create(tmp_path / "venv", with_pip=False)
    python = tmp_path / "venv" / "bin" / "python"
    offline = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    offline |= {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_NO_INDEX": "1"}
    wheels = tmp_path / "staging" / "wheels"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-input", "--no-cache-dir"]
    done = subprocess.run(
        [*install, "--no-index", "--find-links", str(wheels), f"framework0=={framework0.__version__}"],
        env=offline,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    version = subprocess.run(
        [str(python), "-m", "framework0", "--version"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.split()[-1] == framework0.__version__


def test_a_plugin_installed_from_its_folder_is_packed_as_a_wheel_built_there(tmp_path: Path) -> None:
    shutil.copy2(EXAMPLES / "plugin_recipe.yaml", tmp_path / "plugin_recipe.yaml")
    package = framework0.isolate(tmp_path / "plugin_recipe.yaml", tmp_path / "plugin.tar.gz", wheels=True)
    requirements = requirements_by_name(package)
    plugin = requirements["f0-example-plugin"]
    assert plugin.wheel == f"{WHEELS}f0_example_plugin-{plugin.version}-py3-none-any.whl"
    assert all(reason.startswith("plugin 'word_count' of step ") for reason in plugin.reasons)
    assert requirements["framework0"].reasons == ("runs the recipe", f"required by f0-example-plugin {plugin.version}")
    assert framework0.verify_package(package.path) == package.manifest
