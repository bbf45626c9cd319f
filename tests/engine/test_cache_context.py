"""A cached step brings back what it wrote to the context, as a resumed step does, on every store."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import invoke
from tests.store.store_backends import BACKENDS, backend_url

import framework0

STEPS = """
from pathlib import Path

from framework0 import Context


def total(results: list, ctx: Context) -> int:
    rows = sum(results)
    ctx.set("rows.total", rows)
    ctx.update({"rows.count": len(results), "rows.first": results[0]})
    return rows


def flaky_writer(folder: str, ctx: Context) -> str:
    marker = Path(folder) / "tried"
    if not marker.exists():
        marker.write_text("once")
        ctx.set("from.failed.attempt", True)
        raise ConnectionError("first try fails")
    ctx.set("from.good.attempt", True)
    return "ok"


def per_item(item: int, ctx: Context) -> int:
    ctx.set(f"item.{item}", item * 10)
    return item


def count_runs(folder: str) -> int:
    path = Path(folder) / "runs"
    path.write_text(path.read_text() + "x" if path.exists() else "x")
    return len(path.read_text())
"""

RECIPE = """
steps:
  - {name: fetch, module: cache_context_steps, function: count_runs, args: {folder: FOLDER}}
  - name: total
    module: cache_context_steps
    function: total
    cache: true
    args: {results: [50, 50, 50]}
  - name: check
    uses: assert
    args: {that: ["ctx['rows.total'] == steps.total.output", "ctx['rows.count'] == 3"]}
  - name: flaky
    module: cache_context_steps
    function: flaky_writer
    cache: true
    retry: {attempts: 2, delay: 0}
    args: {folder: FOLDER}
  - name: items
    module: cache_context_steps
    function: per_item
    cache: true
    foreach: [1, 2, 3]
    args: {item: "{{ item }}"}
"""


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as url:
        if request.param == "sqlite-sqlalchemy":
            url += "?timeout=60"  # a query string: the whole store goes through SQLAlchemy
        yield url


def make(folder: Path) -> framework0.Recipe:
    (folder / "cache_context_steps.py").write_text(STEPS)
    path = folder / "recipe.yaml"
    path.write_text(textwrap.dedent(RECIPE).replace("FOLDER", str(folder)))
    return framework0.load_recipe(path)


def test_a_cached_step_writes_again_what_it_wrote_to_the_context(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    first = framework0.run(recipe, store=store)
    second = framework0.run(recipe, store=store)

    assert first.status == "succeeded"
    assert second.status == "succeeded", second.error
    assert [second.steps[name].status for name in ("total", "flaky", "items")] == ["cached"] * 3
    assert second.steps["check"].status == "succeeded"
    # everything but what the first run's failed attempt wrote (the next test)
    assert second.context == {key: value for key, value in first.context.items() if key != "from.failed.attempt"}
    assert second.context["rows.total"] == 150


def test_a_cached_step_replays_only_the_writes_of_the_attempts_that_succeeded(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    framework0.run(recipe, store=store)
    second = framework0.run(recipe, store=store)

    assert second.context["from.good.attempt"] is True
    assert "from.failed.attempt" not in second.context


def test_the_replayed_writes_are_in_the_context_history_under_the_cached_step(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    framework0.run(recipe, store=store)
    second = framework0.run(recipe, store=store)

    from framework0.store import open_store
    from framework0.store.context_history import history as context_history

    opened = open_store(store)
    try:
        changes = context_history(opened, second.run_id)
    finally:
        opened.close()
    by_step = {(change.key, change.source.step, change.source.item) for change in changes}
    assert ("rows.total", "total", None) in by_step
    assert {("item.1", "items", 0), ("item.2", "items", 1), ("item.3", "items", 2)} <= by_step


def test_a_cache_entry_whose_run_was_cleaned_away_runs_the_step_again(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/store.db"
    recipe = make(tmp_path)
    first = framework0.run(recipe, store=store)
    from framework0.store import open_store

    opened = open_store(store)
    try:
        opened.delete_runs([first.run_id])
    finally:
        opened.close()
    second = framework0.run(recipe, store=store)
    assert second.steps["total"].status == "succeeded"
    assert second.context["rows.total"] == 150


def test_explain_says_a_cached_step_replayed_its_context_writes(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/store.db"
    make(tmp_path)
    invoke("run", "recipe.yaml", "--store", store, cwd=tmp_path)
    second = invoke("run", "recipe.yaml", "--store", store, "--json", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    run_id = json.loads(second.stdout)["run_id"]
    explained = invoke("explain", run_id, "total", "--store", store, cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    assert "replayed its context writes (rows.count, rows.first, rows.total)" in explained.stdout


SESSIONS = """
steps:
  - {name: a, uses: python, args: {call: "cache_session_steps:read", args: [FOLDER/a]}}
  - name: s
    module: cache_session_steps
    function: remember
    cache: true
    args: {value: "{{ steps.a.output }}"}
"""

SESSION_STEPS = """
from pathlib import Path


def read(path):
    return Path(path).read_text()


def remember(ctx, value):
    ctx.set("result", value)
    ctx.set(f"seen.{value}", True)
    return value
"""


def test_a_cached_step_replays_the_writes_of_the_session_that_made_its_entry(tmp_path: Path, store: str) -> None:
    (tmp_path / "cache_session_steps.py").write_text(SESSION_STEPS)
    path = tmp_path / "sessions.yaml"
    path.write_text(textwrap.dedent(SESSIONS).replace("FOLDER", str(tmp_path)))
    (tmp_path / "a").write_text("v1")
    first = framework0.run(path, store=store)
    (tmp_path / "a").write_text("v2")
    framework0.resume(first.run_id, store=store, from_step="a")  # a second entry, same run
    (tmp_path / "a").write_text("v1")

    again = framework0.run(path, store=store)

    assert again.steps["s"].status == "cached"
    assert again.context == {"result": "v1", "seen.v1": True}
