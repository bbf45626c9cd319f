"""The view model of a stored run: what the run page and the report draw, read back from the store."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from tests.store.store_backends import backend_url

import framework0
from framework0.recipe.loader import load_recipe
from framework0.store import open_store
from framework0.store.database import Store
from framework0.viz.run_view import run_view

RECIPE = """\
test_meta:
  test_id: VIEW-001
params:
  who: world
steps:
  - name: greet
    uses: hello_world
    args: {name: "{{ params.who }}"}
  - name: boom
    uses: shell
    args: {cmd: "echo bad >&2; exit 3"}
    continue_on_error: true
  - name: never
    uses: hello_world
    when: "{{ steps.boom.status == 'succeeded' }}"
  - name: each
    uses: shell
    foreach: "{{ [1, 2, 3] }}"
    args: {cmd: "echo line {{ item }}"}
  - name: flaky
    uses: shell
    args: {cmd: "test -f marker || { touch marker; exit 1; }"}
    retry: {attempts: 2, delay: 0}
  - name: mark
    uses: set_context
    args: {values: {done: true, html: "<script>alert(1)</script>"}}
    depends_on: [greet]
  - name: unmark
    uses: set_context
    args: {values: {done: false}}
    depends_on: [mark]
"""


def _run(tmp_path: Path, text: str = RECIPE) -> tuple[str, str]:
    return _run_on(tmp_path, f"sqlite:///{tmp_path}/s.db", text)


def _run_on(tmp_path: Path, url: str, text: str = RECIPE) -> tuple[str, str]:
    (tmp_path / "view.yaml").write_text(text, encoding="utf-8")
    previous = Path.cwd()
    os.chdir(tmp_path)  # the shell steps' marker file goes here
    try:
        result = framework0.run(load_recipe(tmp_path / "view.yaml"), store=url)
    finally:
        os.chdir(previous)
    return result.run_id, url


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str, dict[str, Any]]]:
    run_id, url = _run(tmp_path_factory.mktemp("view"))
    store = open_store(url)
    try:
        yield store, run_id, run_view(store, run_id)
    finally:
        store.close()


def test_the_view_is_plain_json(recorded: tuple[Store, str, dict[str, Any]]) -> None:
    _, _, view = recorded
    assert json.loads(json.dumps(view)) == view


def test_the_run_has_its_status_times_params_and_recipe(recorded: tuple[Store, str, dict[str, Any]]) -> None:
    _, run_id, view = recorded
    run = view["run"]
    assert (run["run_id"], run["test_id"], run["status"], run["params"]) == (
        run_id,
        "VIEW-001",
        "succeeded",
        {"who": "world"},
    )
    assert run["duration_s"] == pytest.approx(run["finished_at"] - run["started_at"], abs=1e-5)


def test_steps_come_in_recipe_order_with_their_scriptlet_and_upstream(
    recorded: tuple[Store, str, dict[str, Any]],
) -> None:
    _, _, view = recorded
    steps = {step["name"]: step for step in view["steps"]}
    assert list(steps) == ["greet", "boom", "never", "each", "flaky", "mark", "unmark"]
    assert steps["never"]["upstream"] == ["boom"]
    assert steps["each"]["scriptlet"] == "shell (foreach)"
    assert steps["unmark"]["upstream"] == ["mark"]


def test_each_step_has_its_status_output_error_and_figures(recorded: tuple[Store, str, dict[str, Any]]) -> None:
    _, _, view = recorded
    steps = {step["name"]: step for step in view["steps"]}
    statuses = {name: step["status"] for name, step in steps.items()}
    assert statuses == {
        "greet": "succeeded",
        "boom": "failed",
        "never": "skipped",
        "each": "succeeded",
        "flaky": "succeeded",
        "mark": "succeeded",
        "unmark": "succeeded",
    }
    assert steps["greet"]["output"] == "Hello, world!"
    assert steps["boom"]["error"]["type"] and steps["boom"]["error"]["traceback"]
    assert steps["never"]["reason"]
    assert steps["each"]["items"] == 3
    assert steps["flaky"]["peak_rss_bytes"] > 0 and steps["flaky"]["duration_s"] is not None


def test_every_attempt_is_there_with_retries_and_foreach_items(recorded: tuple[Store, str, dict[str, Any]]) -> None:
    _, _, view = recorded
    flaky = [(a["attempt"], a["status"]) for a in view["attempts"] if a["step"] == "flaky"]
    assert flaky == [(1, "failed"), (2, "succeeded")]
    items = sorted(a["item"] for a in view["attempts"] if a["step"] == "each")
    assert items == [0, 1, 2]
    assert all(a["item"] is None for a in view["attempts"] if a["step"] != "each")
    starts = [a["started_at"] for a in view["attempts"]]
    assert starts == sorted(starts)


def test_logs_are_kept_per_step_with_their_stream(recorded: tuple[Store, str, dict[str, Any]]) -> None:
    _, _, view = recorded
    lines = view["logs"]["boom"]["lines"]
    assert any(line["stream"] == "stderr" and "bad" in line["text"] for line in lines)
    each = [line["text"] for line in view["logs"]["each"]["lines"] if line["stream"] == "stdout"]
    assert sorted(each) == ["line 1", "line 2", "line 3"]
    assert view["logs"]["each"]["dropped"] == 0


def test_only_the_newest_log_lines_of_a_step_are_kept_and_the_rest_counted(tmp_path: Path) -> None:
    run_id, url = _run(
        tmp_path,
        "steps:\n  - name: chatty\n    uses: shell\n    foreach: '{{ range(6) | list }}'\n"
        "    args: {cmd: 'echo n{{ item }}'}\n",
    )
    store = open_store(url)
    try:
        full = run_view(store, run_id)["logs"]["chatty"]
        view = run_view(store, run_id, log_lines=2)["logs"]["chatty"]
    finally:
        store.close()
    assert len(full["lines"]) > 2 and full["dropped"] == 0
    assert view["lines"] == full["lines"][-2:]
    assert view["dropped"] == len(full["lines"]) - 2


def test_the_context_has_its_values_and_history_with_sources(recorded: tuple[Store, str, dict[str, Any]]) -> None:
    _, _, view = recorded
    context = view["context"]
    assert context["values"]["done"] is False
    assert context["values"]["html"] == "<script>alert(1)</script>"
    done = [(c["op"], c["old"], c["new"], c["step"]) for c in context["history"] if c["key"] == "done"]
    assert done == [("set", None, True, "mark"), ("set", True, False, "unmark")]
    assert context["version"] == context["history"][-1]["version"]
    assert (context["base_version"], context["base"], context["history_dropped"]) == (0, {}, 0)


def test_a_capped_history_starts_from_the_context_before_its_first_change(
    recorded: tuple[Store, str, dict[str, Any]],
) -> None:
    store, run_id, full = recorded
    view = run_view(store, run_id, history_limit=1)
    context = view["context"]
    assert context["history_dropped"] == len(full["context"]["history"]) - 1
    assert context["base_version"] == context["history"][0]["version"] - 1
    rebuilt = dict(context["base"])
    for change in context["history"]:
        rebuilt[change["key"]] = change["new"]
    assert rebuilt == context["values"]


def test_the_graph_is_coloured_by_step_status(recorded: tuple[Store, str, dict[str, Any]]) -> None:
    _, _, view = recorded
    svg = view["graph_svg"]
    assert 'data-step="boom"' in svg and 'data-status="failed"' in svg and 'data-status="skipped"' in svg
    assert "<style" not in svg  # the page links the graph's stylesheet


def test_steps_that_never_started_are_pending(tmp_path: Path) -> None:
    run_id, url = _run(tmp_path, "steps:\n  - name: one\n    uses: hello_world\n  - name: two\n    uses: hello_world\n")
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection, connection:
        connection.execute("DELETE FROM steps WHERE name = 'two'")
        connection.execute("UPDATE runs SET status = 'running', finished_at = NULL, pid = 0")
    store = open_store(url)
    try:
        view = run_view(store, run_id)
    finally:
        store.close()
    assert [(s["name"], s["status"]) for s in view["steps"]] == [("one", "succeeded"), ("two", "pending")]
    assert view["run"]["status"] == "killed" and view["run"]["duration_s"] is None


def test_a_huge_output_is_cut_with_a_note(tmp_path: Path) -> None:
    run_id, url = _run(
        tmp_path,
        "steps:\n  - name: big\n    uses: shell\n    args: {cmd: 'head -c 200000 /dev/zero | tr \"\\\\0\" x'}\n",
    )
    store = open_store(url)
    try:
        view = run_view(store, run_id)
    finally:
        store.close()
    output = view["steps"][0]["output"]
    assert isinstance(output, str) and output.endswith("the rest is not shown)") and len(output) < 70_000


def test_chatty_steps_share_the_log_budget_and_quiet_ones_keep_every_line(tmp_path: Path) -> None:
    run_id, url = _run(
        tmp_path,
        "steps:\n"
        "  - {name: quiet, uses: shell, args: {cmd: 'echo hush'}}\n"
        "  - {name: loud, uses: shell, foreach: '{{ range(8) | list }}', args: {cmd: 'echo {{ item }}'}}\n"
        "  - {name: louder, uses: shell, foreach: '{{ range(12) | list }}', args: {cmd: 'echo {{ item }}'}}\n",
    )
    store = open_store(url)
    try:
        full = run_view(store, run_id)["logs"]
        shared = run_view(store, run_id, log_lines_in_all=len(full["quiet"]["lines"]) + 8)["logs"]
    finally:
        store.close()
    assert shared["quiet"] == full["quiet"]
    assert len(shared["loud"]["lines"]) == len(shared["louder"]["lines"]) == 4
    assert shared["louder"]["lines"] == full["louder"]["lines"][-4:]
    assert shared["louder"]["dropped"] == len(full["louder"]["lines"]) - 4


def test_the_revision_changes_when_the_run_records_something(recorded: tuple[Store, str, dict[str, Any]]) -> None:
    store, run_id, view = recorded
    assert store.revision(run_id) == view["revision"]
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO logs (run_id, step, item, attempt, stream, at, text)"
            " VALUES (?, 'greet', -1, 1, 'stdout', 1.0, 'late')",
            (run_id,),
        )
    assert store.revision(run_id) != view["revision"]


@pytest.mark.parametrize(
    "graph",
    [
        {"steps": [{"name": "a", "upstream": ["b"]}, {"name": "b", "upstream": ["a"]}]},
        {"steps": [{"scriptlet": "x"}, {"name": "a", "upstream": "b"}, {"name": "b", "upstream": [1, None]}]},
        {"steps": "nonsense"},
        ["not", "an", "object"],
    ],
    ids=["cycle", "bad-entries", "bad-steps", "not-an-object"],
)
def test_a_graph_sent_by_a_broken_runner_still_draws_the_steps(tmp_path: Path, graph: Any) -> None:
    run_id, url = _run(tmp_path, "steps:\n  - name: a\n    uses: hello_world\n  - name: b\n    uses: hello_world\n")
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection, connection:
        connection.execute("UPDATE runs SET graph = ?", (json.dumps(graph),))
    store = open_store(url)
    try:
        view = run_view(store, run_id)
    finally:
        store.close()
    assert [step["name"] for step in view["steps"]] == ["a", "b"]
    assert 'data-step="a"' in view["graph_svg"] and 'data-step="b"' in view["graph_svg"]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_view_reads_the_same_from_postgresql(backend: str, tmp_path: Path) -> None:
    with backend_url(backend, tmp_path) as url:
        run_id, _ = _run_on(tmp_path, url)
        store = open_store(url)
        try:
            view = run_view(store, run_id, log_lines=2)
            assert [(step["name"], step["status"]) for step in view["steps"]] == [
                ("greet", "succeeded"),
                ("boom", "failed"),
                ("never", "skipped"),
                ("each", "succeeded"),
                ("flaky", "succeeded"),
                ("mark", "succeeded"),
                ("unmark", "succeeded"),
            ]
            assert view["steps"][2]["upstream"] == ["boom"]
            assert sorted(a["item"] for a in view["attempts"] if a["step"] == "each") == [0, 1, 2]
            assert len(view["logs"]["each"]["lines"]) == 2 and view["logs"]["each"]["dropped"] >= 1
            assert view["context"]["values"]["html"] == "<script>alert(1)</script>"
            assert store.revision(run_id) == view["revision"]
        finally:
            store.close()
