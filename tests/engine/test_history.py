"""A stored run read back: the run result rebuilt from the store equals the one the run returned,
and a run the store calls "running" is told apart by whether its runner still exists."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from tests.helpers import f0

import framework0
from framework0.engine.attempt import NODE
from framework0.engine.history import (
    ALIVE,
    ELSEWHERE,
    ENDED,
    GONE,
    result_document,
    runner_state,
    stored_result,
)
from framework0.recipe.loader import load_recipe, load_recipe_text
from framework0.store import open_store
from framework0.store.context_history import context_at

MIXED = """\
test_meta:
  test_id: HIST-001
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
    args: {cmd: "echo {{ item }}"}
  - name: flaky
    uses: shell
    args: {cmd: "test -f marker || { touch marker; exit 1; }"}
    retry: {attempts: 2, delay: 0}
  - name: mark
    uses: set_context
    args: {values: {done: true, count: 3}}
"""


def test_runs_show_json_prints_the_document_f0_run_json_printed(tmp_path: Path) -> None:
    (tmp_path / "mixed.yaml").write_text(MIXED, encoding="utf-8")
    store = f"sqlite:///{tmp_path}/s.db"
    ran = f0("run", "mixed.yaml", "-p", "who=moon", "--json", "--store", store, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    printed = json.loads(ran.stdout)
    statuses = {name: step["status"] for name, step in printed["steps"].items()}
    assert statuses == {
        "greet": "succeeded",
        "boom": "failed",
        "never": "skipped",
        "each": "succeeded",
        "flaky": "succeeded",
        "mark": "succeeded",
    }
    assert printed["steps"]["each"]["items"] == 3
    assert printed["steps"]["flaky"]["attempts"] == 2

    shown = f0("runs", "show", printed["run_id"], "--json", "--store", store, cwd=tmp_path)

    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == printed
    assert list(json.loads(shown.stdout)["steps"]) == list(printed["steps"])


def test_stored_result_equals_the_result_the_run_returned(tmp_path: Path) -> None:
    (tmp_path / "mixed.yaml").write_text(MIXED, encoding="utf-8")
    url = f"sqlite:///{tmp_path}/s.db"
    previous = Path.cwd()
    os.chdir(tmp_path)  # the shell steps' marker file goes here
    try:
        result = framework0.run(load_recipe(tmp_path / "mixed.yaml"), store=url)
    finally:
        os.chdir(previous)
    store = open_store(url)
    try:
        stored = stored_result(store, result.run_id[:6])
    finally:
        store.close()

    assert stored.to_dict() == result.to_dict()
    assert stored.steps["never"].reason == result.steps["never"].reason
    assert stored.steps["boom"].error is not None and stored.steps["boom"].error.traceback


@pytest.mark.parametrize(
    "drop",
    [
        "",
        "DELETE FROM context_snapshots",
        "DELETE FROM context_versions WHERE version <= (SELECT max(version) FROM context_snapshots)",
    ],
    ids=["as-recorded", "deltas-only", "snapshot-only"],
)
def test_the_last_context_is_the_newest_snapshot_plus_the_deltas_after_it(tmp_path: Path, drop: str) -> None:
    steps = "".join(
        f"  - name: w{i}\n    uses: set_context\n    args: {{values: {{k{i % 3}: {i}}}}}\n" for i in range(7)
    )
    recipe = load_recipe_text("sequential: true\nsteps:\n" + steps)
    url = f"sqlite:///{tmp_path}/s.db"
    result = framework0.run(recipe, store=url, snapshot_every=3)
    with closing(sqlite3.connect(tmp_path / "s.db")) as db, db:
        assert db.execute("SELECT count(*) FROM context_snapshots").fetchone()[0] >= 1
        if drop:
            db.execute(drop)
    store = open_store(url)
    try:
        rebuilt = context_at(store, result.run_id)[1]
    finally:
        store.close()

    assert rebuilt == result.context == {"k0": 6, "k1": 4, "k2": 5}


def test_result_document_of_a_run_that_has_not_ended_has_no_end_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    recipe = load_recipe_text("steps:\n  - name: a\n    uses: set_context\n    args: {values: {x: 1}}\n")
    result = framework0.run(recipe, store=url)
    with closing(sqlite3.connect(tmp_path / "s.db")) as db, db:  # what a killed runner leaves: no end, no final context
        db.execute("UPDATE runs SET status='running', finished_at=NULL, context=NULL WHERE run_id=?", (result.run_id,))
    store = open_store(url)
    try:
        document = result_document(stored_result(store, result.run_id))
    finally:
        store.close()

    assert (document["status"], document["finished_at"], document["duration_s"]) == ("running", None, None)
    assert document["context"] == {"x": 1}
    assert document["steps"]["a"]["status"] == "succeeded"


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.parametrize(
    ("status", "node", "pid", "expected"),
    [
        ("succeeded", NODE, None, ENDED),
        ("running", NODE, os.getpid(), ALIVE),
        ("running", NODE, "dead", GONE),
        ("running", "another-machine", "dead", ELSEWHERE),
    ],
    ids=["finished", "runner-alive", "runner-gone", "other-machine"],
)
def test_runner_state_tells_whether_a_running_run_still_has_its_runner(
    status: str, node: str, pid: int | str | None, expected: str
) -> None:
    row = {"status": status, "node": node, "pid": dead_pid() if pid == "dead" else pid}

    assert runner_state(row) == expected
