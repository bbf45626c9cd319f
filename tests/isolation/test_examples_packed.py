"""Every example recipe packs into a package that verifies and holds exactly what the recipe needs."""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import pytest

import framework0

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: what each example needs besides its recipe: the files packed with it, the distributions pinned
EXPECTED: dict[str, tuple[list[str], list[str]]] = {
    "quickstart.yaml": ([], ["framework0"]),
    "data_pipeline.yaml": (["pipeline_steps.py"], ["framework0"]),
    "test_campaign.yaml": ([], ["framework0"]),
    "ops_runbook.yaml": ([], ["framework0"]),
    "plugin_recipe.yaml": ([], ["f0-example-plugin", "framework0"]),
}


def test_every_example_recipe_is_in_the_table() -> None:
    assert sorted(path.name for path in EXAMPLES.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("recipe", sorted(EXPECTED))
@pytest.mark.parametrize("suffix", [".f0.zip", ".tar.gz"])
def test_an_example_packs_into_a_package_that_verifies(recipe: str, suffix: str, tmp_path: Path) -> None:
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("plugin", "__pycache__", ".framework0"))
    package = framework0.isolate(folder / recipe, tmp_path / f"package{suffix}", source_date_epoch=1_700_000_000)
    manifest = framework0.verify_package(package.path)
    files, requirements = EXPECTED[recipe]
    assert manifest == package.manifest
    assert manifest.entry == recipe
    assert [file.path for file in manifest.files] == sorted([recipe, *files])
    assert [requirement.name for requirement in manifest.requirements] == requirements
    assert all(
        requirement.version == importlib.metadata.version(requirement.name) for requirement in manifest.requirements
    )
    assert package.unresolved == ()
