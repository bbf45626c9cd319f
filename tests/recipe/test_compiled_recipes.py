"""Compiled recipes: a recipe loaded again from its entry is the recipe its text gives, and never a
stale one: an edited file, an edited scriptlet or a scriptlet's own checks make it load from text."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from tests.helpers import f0, invoke

from framework0 import RecipeError, load_recipe
from framework0.recipe import compiled
from framework0.recipe.model import Recipe
from framework0.recipe.yaml_source import YamlLimits

FULL = """\
test_meta: {test_id: NIGHTLY-1, description: every kind of key, tags: [etl, nightly]}
include: [common.yaml]
params:
  region: {type: str, default: emea, choices: [emea, amer], description: where}
  batch: 10
defaults:
  timeout: 5m
  retry: {attempts: 3, delay: 2s}
max_parallel: 4
steps:
  - name: fetch
    uses: hello_world
    args: {name: "{{ params.region }}"}
    foreach: [1, 2.5, "three", null, true]
    retry: {attempts: 5, retry_on: [ValueError]}
  - name: wait
    uses: sleep
    args: {seconds: 0}
    when: "params.batch > 3"
    depends_on: [fetch, common_step]
    continue_on_error: true
    cache: true
    description: waits a little
  - name: store
    module: tasks
    function: keep
    args: {rows: [1, {"a": 2}], tag: "{{ steps.fetch.output }}", deep: {x: [1.5, -2]}}
    trigger: always
    timeout: 30s
"""

COMMON = """\
params:
  owner: data
steps:
  - name: common_step
    uses: hello_world
"""

TASKS = "def keep(rows: list, tag: str = '', deep: dict | None = None) -> int:\n    return len(rows)\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    write(tmp_path, "common.yaml", COMMON)
    write(tmp_path, f"{tmp_path.name}_tasks.py", TASKS)
    return write(tmp_path, "full.yaml", FULL.replace("module: tasks", f"module: {tmp_path.name}_tasks"))


def entry(folder: Path, path: Path) -> Recipe | None:
    return compiled.load(folder, path, str(path), YamlLimits())


def test_a_recipe_loaded_from_its_entry_equals_the_one_its_text_gives(recipe: Path, tmp_path: Path) -> None:
    folder = tmp_path / "compiled"
    from_text = load_recipe(recipe, compiled=folder)
    again = entry(folder, recipe)
    assert again is not None
    assert again == from_text == load_recipe(recipe)
    assert again.step("store").args == {
        "rows": [1, {"a": 2}],
        "tag": "{{ steps.fetch.output }}",
        "deep": {"x": [1.5, -2]},
    }


def test_a_hit_gives_each_load_its_own_args(recipe: Path, tmp_path: Path) -> None:
    folder = tmp_path / "compiled"
    load_recipe(recipe, compiled=folder)
    first, second = load_recipe(recipe, compiled=folder), load_recipe(recipe, compiled=folder)
    assert first.step("store").args is not second.step("store").args


def test_an_edited_recipe_is_read_from_its_text_even_with_the_same_size_and_time(recipe: Path, tmp_path: Path) -> None:
    folder = tmp_path / "compiled"
    load_recipe(recipe, compiled=folder)
    before = recipe.stat()
    recipe.write_text(recipe.read_text().replace("default: emea", "default: amer"))
    os.utime(recipe, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert recipe.stat().st_size == before.st_size
    assert load_recipe(recipe, compiled=folder).params["region"].default == "amer"


def test_an_edited_include_is_read_from_its_text(recipe: Path, tmp_path: Path) -> None:
    folder = tmp_path / "compiled"
    load_recipe(recipe, compiled=folder)
    write(tmp_path, "common.yaml", COMMON.replace("owner: data", "owner: ops"))
    assert load_recipe(recipe, compiled=folder).params["owner"].default == "ops"


def test_a_recipe_that_became_invalid_is_reported_where_its_text_says(recipe: Path, tmp_path: Path) -> None:
    folder = tmp_path / "compiled"
    load_recipe(recipe, compiled=folder)
    recipe.write_text(recipe.read_text().replace("depends_on: [fetch, common_step]", "depends_on: [fetch, nowhere]"))
    with pytest.raises(RecipeError, match=r"full\.yaml:\d+:\d+: step 'wait' depends on unknown step 'nowhere'"):
        load_recipe(recipe, compiled=folder)


def test_a_scriptlets_own_validate_runs_on_every_load(tmp_path: Path) -> None:
    module = f"{tmp_path.name}_checked"
    write(
        tmp_path,
        f"{module}.py",
        """\
        from pathlib import Path

        from framework0 import BaseScriptlet

        class Upload(BaseScriptlet):
            class Params(BaseScriptlet.Params):
                source: str

            def validate(self, params):
                if not Path(params.source).exists():
                    raise ValueError(f"{params.source} does not exist")

            def run(self, ctx, params):
                return params.source
        """,
    )
    source = write(tmp_path, "data.csv", "a,b\n")
    path = write(tmp_path, "r.yaml", f"steps:\n  - name: up\n    module: {module}\n    function: Upload\n"
                 f"    args: {{source: {source}}}\n")  # fmt: skip
    folder = tmp_path / "compiled"
    load_recipe(path, compiled=folder)
    source.unlink()
    with pytest.raises(RecipeError, match=r"r\.yaml:5:11: step 'up': args rejected: .*data\.csv does not exist"):
        load_recipe(path, compiled=folder)


def test_a_scriptlet_whose_params_changed_is_checked_again_in_a_new_process(tmp_path: Path) -> None:
    write(tmp_path, "tasks.py", "def keep(rows: list) -> int:\n    return len(rows)\n")
    write(tmp_path, "r.yaml", "steps:\n  - name: a\n    module: tasks\n    function: keep\n    args: {rows: [1]}\n")
    env = {"F0_RECIPE_CACHE": str(tmp_path / "compiled")}
    assert f0("validate", "r.yaml", cwd=tmp_path, env=env).returncode == 0
    write(tmp_path, "tasks.py", "def keep(items: list) -> int:\n    return len(items)\n")
    refused = f0("validate", "r.yaml", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert "r.yaml:5:" in refused.stderr and "rows" in refused.stderr


def test_a_scriptlet_that_is_gone_is_reported_in_a_new_process(tmp_path: Path) -> None:
    write(tmp_path, "tasks.py", "def keep() -> int:\n    return 1\n")
    write(tmp_path, "r.yaml", "steps:\n  - name: a\n    module: tasks\n    function: keep\n")
    env = {"F0_RECIPE_CACHE": str(tmp_path / "compiled")}
    assert f0("validate", "r.yaml", cwd=tmp_path, env=env).returncode == 0
    write(tmp_path, "tasks.py", "def other() -> int:\n    return 1\n")
    refused = f0("validate", "r.yaml", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert refused.stderr.startswith("r.yaml:4:15: ") and "keep" in refused.stderr


def test_another_working_directory_resolves_the_recipes_modules_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "r.yaml", "steps:\n  - name: a\n    uses: hello_world\n")
    folder = tmp_path / "compiled"
    first = tmp_path / "one"
    second = tmp_path / "two"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    load_recipe(path, compiled=folder)
    monkeypatch.chdir(second)
    assert entry(folder, path) is None
    assert load_recipe(path, compiled=folder).search_path == (str(tmp_path.resolve()), str(second))


def test_a_torn_or_foreign_entry_is_read_from_text_and_written_again(recipe: Path, tmp_path: Path) -> None:
    folder = tmp_path / "compiled"
    expected = load_recipe(recipe, compiled=folder)
    [kept] = folder.iterdir()
    whole = kept.read_bytes()
    for damaged in (whole[: len(whole) // 2], b"not an entry", b""):
        kept.write_bytes(damaged)
        assert entry(folder, recipe) is None
        assert load_recipe(recipe, compiled=folder) == expected
        assert entry(folder, recipe) == expected


def test_a_folder_that_cannot_be_written_only_costs_the_entry(recipe: Path, tmp_path: Path) -> None:
    blocked = write(tmp_path, "a-file", "not a folder")
    assert load_recipe(recipe, compiled=blocked) == load_recipe(recipe)
    assert blocked.read_text() == "not a folder"


def test_a_recipe_holding_a_date_is_read_from_its_text_each_time(tmp_path: Path) -> None:
    module = f"{tmp_path.name}_days"
    write(tmp_path, f"{module}.py", "import datetime\n\ndef day_of(day: datetime.date) -> str:\n    return str(day)\n")
    path = write(
        tmp_path,
        "r.yaml",
        f"steps:\n  - name: a\n    module: {module}\n    function: day_of\n    args: {{day: 2026-12-07}}\n",
    )
    folder = tmp_path / "compiled"
    for _ in range(2):
        assert str(load_recipe(path, compiled=folder).steps[0].args["day"]) == "2026-12-07"
    assert not folder.exists() or not any(folder.iterdir())


def test_an_invalid_recipe_leaves_no_entry(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "steps:\n  - name: a\n    uses: no_such_scriptlet\n")
    folder = tmp_path / "compiled"
    for _ in range(2):
        with pytest.raises(RecipeError, match="no_such_scriptlet"):
            load_recipe(path, compiled=folder)
    assert not folder.exists()


def test_f0_run_keeps_compiled_recipes_in_the_configured_folder(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", "steps:\n  - name: a\n    uses: hello_world\n")
    env = {"F0_STORE": "none", "F0_RECIPE_CACHE": str(tmp_path / "compiled")}
    for _ in range(2):
        assert invoke("run", "r.yaml", cwd=tmp_path, env=env).returncode == 0
    assert [path.suffix for path in (tmp_path / "compiled").iterdir()] == [compiled.SUFFIX]


def test_f0_recipe_cache_off_keeps_none(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", "steps:\n  - name: a\n    uses: hello_world\n")
    env = {"F0_STORE": "none", "F0_RECIPE_CACHE": "off", "XDG_CACHE_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    assert invoke("run", "r.yaml", cwd=tmp_path, env=env).returncode == 0
    assert not (tmp_path / "xdg").exists() and not (tmp_path / ".cache").exists()


def test_an_entry_made_by_other_loader_code_is_not_used(
    recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "compiled"
    load_recipe(recipe, compiled=folder)
    monkeypatch.setattr(compiled, "code_stamp", lambda: (("checks.py", 1, 1),))
    assert entry(folder, recipe) is None
