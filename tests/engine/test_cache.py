"""cache: true reuses an earlier output when code, args and upstream outputs are unchanged; f0 explain says why."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
from tests.helpers import f0

import framework0

STEPS = """
from pathlib import Path


def expensive(ctx, n, folder):
    with open(Path(folder) / "expensive.count", "a") as out:
        out.write("x")
    return n * 10


def source(ctx, value):
    return value
"""

RECIPE = """
    test_meta: {test_id: CACHE-1}
    params:
      n: {type: int, default: 3}
      base: {type: int, default: 1}
    steps:
      - {name: up, module: cache_steps, function: source, args: {value: "{{ params.base }}"}}
      - name: compute
        module: cache_steps
        function: expensive
        cache: true
        args: {n: "{{ params.n }}", folder: FOLDER}
        depends_on: [up]
"""


def make(folder: Path) -> Path:
    (folder / "cache_steps.py").write_text(STEPS)
    path = folder / "recipe.yaml"
    path.write_text(textwrap.dedent(RECIPE).replace("FOLDER", str(folder)))
    return path


def runs_of(folder: Path) -> int:
    path = folder / "expensive.count"
    return len(path.read_text()) if path.exists() else 0


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/store.db"


def test_a_cached_step_reuses_the_earlier_output_and_reports_cached(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    first = framework0.run(recipe, store=store)
    second = framework0.run(recipe, store=store)
    assert (first.steps["compute"].status, second.steps["compute"].status) == ("succeeded", "cached")
    assert second.steps["compute"].output == 30
    assert runs_of(tmp_path) == 1
    assert second.status == "succeeded"


def test_a_changed_arg_runs_the_step_again(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    framework0.run(recipe, store=store)
    again = framework0.run(recipe, {"n": 4}, store=store)
    assert (again.steps["compute"].status, again.steps["compute"].output) == ("succeeded", 40)
    assert runs_of(tmp_path) == 2


def test_a_changed_upstream_output_runs_the_step_again(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    framework0.run(recipe, store=store)
    again = framework0.run(recipe, {"base": 2}, store=store)
    assert again.steps["compute"].status == "succeeded"
    assert runs_of(tmp_path) == 2


def test_use_cache_false_runs_the_step(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    framework0.run(recipe, store=store)
    again = framework0.run(recipe, store=store, use_cache=False)
    assert again.steps["compute"].status == "succeeded"
    assert runs_of(tmp_path) == 2


def test_without_a_store_nothing_is_cached(tmp_path: Path) -> None:
    recipe = make(tmp_path)
    framework0.run(recipe, store=None)
    again = framework0.run(recipe, store=None)
    assert again.steps["compute"].status == "succeeded"
    assert runs_of(tmp_path) == 2


def run_id(process: subprocess.CompletedProcess[str]) -> str:
    import json

    return str(json.loads(process.stdout)["run_id"])


def test_changed_code_runs_the_step_again_and_explain_names_the_code(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    assert f0("run", str(recipe), "--store", store, "--json", cwd=tmp_path).returncode == 0
    module = tmp_path / "cache_steps.py"
    module.write_text(module.read_text().replace("return n * 10", "return n * 100"))
    second = f0("run", str(recipe), "--store", store, "--json", cwd=tmp_path)
    assert '"output": 300' in second.stdout
    explained = f0("explain", run_id(second), "compute", "--store", store, cwd=tmp_path)
    assert "the code of cache_steps:expensive changed" in explained.stdout


def test_explain_names_the_arg_that_changed(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    f0("run", str(recipe), "--store", store, cwd=tmp_path)
    second = f0("run", str(recipe), "--store", store, "--json", "-p", "n=5", cwd=tmp_path)
    explained = f0("explain", run_id(second), "compute", "--store", store, cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    assert "arg 'n' changed" in explained.stdout


def test_explain_of_a_cached_step_names_the_run_it_came_from(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    first = f0("run", str(recipe), "--store", store, "--json", cwd=tmp_path)
    second = f0("run", str(recipe), "--store", store, "--json", cwd=tmp_path)
    explained = f0("explain", run_id(second), "compute", "--store", store, cwd=tmp_path)
    assert f"cached: reused the output of run {run_id(first)}" in explained.stdout


def test_no_cache_on_the_command_line_runs_the_step_and_explain_says_so(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    f0("run", str(recipe), "--store", store, cwd=tmp_path)
    second = f0("run", str(recipe), "--store", store, "--json", "--no-cache", cwd=tmp_path)
    assert '"status": "cached"' not in second.stdout
    explained = f0("explain", run_id(second), "compute", "--store", store, cwd=tmp_path)
    assert "caching was off for this run (--no-cache)" in explained.stdout


def test_explain_of_a_skipped_step_gives_the_reason(tmp_path: Path, store: str) -> None:
    path = tmp_path / "skip.yaml"
    path.write_text("steps:\n  - {name: maybe, uses: hello_world, when: '{{ false }}'}\n")
    result = f0("run", str(path), "--store", store, "--json", cwd=tmp_path)
    explained = f0("explain", run_id(result), "maybe", "--store", store, cwd=tmp_path)
    assert "skipped: 'when' was false" in explained.stdout


def test_explain_of_an_unknown_step_suggests_the_right_one(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    result = f0("run", str(recipe), "--store", store, "--json", cwd=tmp_path)
    explained = f0("explain", run_id(result), "compte", "--store", store, cwd=tmp_path)
    assert explained.returncode == 2
    assert "has no step 'compte' (did you mean 'compute'?)" in explained.stderr
