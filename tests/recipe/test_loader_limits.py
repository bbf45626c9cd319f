"""The recipe size limit is an argument of the loader; the environment is read by the configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework0 import RecipeError, load_recipe, load_recipe_text

RECIPE = "steps: [{name: a, uses: hello_world}]\n"


def test_max_bytes_bounds_the_recipe_text() -> None:
    with pytest.raises(RecipeError) as caught:
        load_recipe_text(RECIPE, file="r.yaml", max_bytes=16)
    assert (
        str(caught.value) == "r.yaml:1:1: text is 38 bytes; the limit is 16 bytes (set F0_MAX_RECIPE_BYTES to raise it)"
    )


def test_max_bytes_bounds_an_included_file_too(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("params: {x: " + "1" * 100 + "}\n")
    (tmp_path / "r.yaml").write_text("include: [big.yaml]\n" + RECIPE)
    with pytest.raises(RecipeError) as caught:
        load_recipe(tmp_path / "r.yaml", max_bytes=64)
    assert [d.message for d in caught.value.diagnostics] == [
        "file is 114 bytes; the limit is 64 bytes (set F0_MAX_RECIPE_BYTES to raise it)"
    ]


def test_max_bytes_none_is_the_built_in_limit() -> None:
    assert [step.name for step in load_recipe_text(RECIPE, max_bytes=None).steps] == ["a"]


def test_the_loader_does_not_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("F0_MAX_RECIPE_BYTES", "8")
    assert [step.name for step in load_recipe_text(RECIPE).steps] == ["a"]
