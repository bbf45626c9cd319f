"""f0 resume / framework0.resume: a failed, interrupted or killed run continues under its id."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import textwrap
import time
from pathlib import Path

import pytest
from tests.helpers import eventually, start_f0

import framework0
from framework0.errors import ResumeRefused, RunNotFound, StoreNotFound
from framework0.store.database import Store

STEPS = """
import time
from pathlib import Path


def count(ctx, name, folder):
    with open(Path(folder) / f"{name}.count", "a") as out:
        out.write("x")
    ctx.set(f"ran.{name}", True)
    return name


def fail_unless(ctx, marker, folder):
    with open(Path(folder) / "check.count", "a") as out:
        out.write("x")
    if not Path(marker).exists():
        raise RuntimeError("marker missing")
    return "ok"


def write_then_block(ctx, folder):
    ctx.set("before", 1)
    with open(Path(folder) / "block.count", "a") as out:
        out.write("x")
    while not (Path(folder) / "release").exists():
        time.sleep(0.05)
    ctx.set("after", 2)
    return "done"
"""


def make_recipe(folder: Path, body: str) -> Path:
    (folder / "resume_steps.py").write_text(STEPS)
    path = folder / "recipe.yaml"
    path.write_text(textwrap.dedent(body).replace("FOLDER", str(folder)))
    return path


def runs_of(folder: Path, name: str) -> int:
    path = folder / f"{name}.count"
    return len(path.read_text()) if path.exists() else 0


CHAIN = """
    test_meta: {test_id: RESUME-1}
    params:
      batch: {type: int, default: 5}
    steps:
      - {name: extract, module: resume_steps, function: count, args: {name: extract, folder: FOLDER}}
      - name: check
        module: resume_steps
        function: fail_unless
        args: {marker: FOLDER/marker, folder: FOLDER}
        depends_on: [extract]
      - name: load
        module: resume_steps
        function: count
        args: {name: load, folder: FOLDER}
        depends_on: [check]
"""


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/store.db"


def test_a_failed_run_resumes_under_its_id_without_rerunning_finished_steps(tmp_path: Path, store: str) -> None:
    recipe = make_recipe(tmp_path, CHAIN)
    first = framework0.run(recipe, store=store)
    assert first.status == "failed"
    (tmp_path / "marker").touch()
    second = framework0.resume(first.run_id, store=store)
    assert second.run_id == first.run_id
    assert second.status == "succeeded"
    assert (runs_of(tmp_path, "extract"), runs_of(tmp_path, "check"), runs_of(tmp_path, "load")) == (1, 2, 1)
    assert second.steps["extract"].output == "extract"
    assert second.context == {"ran.extract": True, "ran.load": True}


def test_a_resumed_step_counts_its_attempts_after_the_earlier_sessions(tmp_path: Path, store: str) -> None:
    first = framework0.run(make_recipe(tmp_path, CHAIN), store=store)
    (tmp_path / "marker").touch()
    second = framework0.resume(first.run_id, store=store)
    assert (first.steps["check"].attempts, second.steps["check"].attempts) == (1, 2)


def test_a_step_run_again_on_resume_says_why(tmp_path: Path, store: str) -> None:
    first = framework0.run(make_recipe(tmp_path, CHAIN), store=store)
    (tmp_path / "marker").touch()
    second = framework0.resume(first.run_id, store=store)
    assert second.steps["check"].reason == "run again: it failed in the earlier session"
    assert second.steps["load"].reason == "run again: it was skipped in the earlier session"


def test_resuming_a_run_that_succeeded_is_refused(tmp_path: Path, store: str) -> None:
    (tmp_path / "marker").touch()
    first = framework0.run(make_recipe(tmp_path, CHAIN), store=store)
    with pytest.raises(ResumeRefused, match="succeeded; there is nothing to resume"):
        framework0.resume(first.run_id, store=store)


def test_resuming_after_the_recipe_changed_is_refused_and_says_what_changed(tmp_path: Path, store: str) -> None:
    recipe = make_recipe(tmp_path, CHAIN)
    first = framework0.run(recipe, store=store)
    recipe.write_text(recipe.read_text().replace("name: load, folder", "name: loaded, folder"))
    with pytest.raises(ResumeRefused, match=r"recipe changed since it ran \(step 'load' changed\)"):
        framework0.resume(first.run_id, store=store)


def test_resume_from_a_step_runs_it_and_its_downstream_again_and_keeps_the_rest(tmp_path: Path, store: str) -> None:
    (tmp_path / "marker").touch()
    first = framework0.run(make_recipe(tmp_path, CHAIN), store=store)
    again = framework0.resume(first.run_id, store=store, from_step="check")
    assert again.status == "succeeded"
    assert (runs_of(tmp_path, "extract"), runs_of(tmp_path, "check"), runs_of(tmp_path, "load")) == (1, 2, 2)


def test_resume_from_an_unknown_step_is_refused_with_a_suggestion(tmp_path: Path, store: str) -> None:
    first = framework0.run(make_recipe(tmp_path, CHAIN), store=store)
    with pytest.raises(ResumeRefused, match="no step 'chek' .*did you mean 'check'"):
        framework0.resume(first.run_id, store=store, from_step="chek")


def test_params_given_on_resume_override_and_both_sessions_params_are_kept(tmp_path: Path, store: str) -> None:
    first = framework0.run(make_recipe(tmp_path, CHAIN), store=store)
    (tmp_path / "marker").touch()
    second = framework0.resume(first.run_id, store=store, params={"batch": 9})
    assert (first.params, second.params) == ({"batch": 5}, {"batch": 9})
    history = framework0_store(store).sessions(first.run_id)
    assert [(row["kind"], json.loads(row["params"])) for row in history] == [
        ("run", {"batch": 5}),
        ("resume", {"batch": 9}),
    ]


def test_resuming_an_unknown_run_says_so(tmp_path: Path, store: str) -> None:
    framework0.run(make_recipe(tmp_path, CHAIN), store=store)
    with pytest.raises(RunNotFound, match="no run 'nope'"):
        framework0.resume("nope", store=store)


def test_resuming_in_a_store_that_does_not_exist_creates_none(tmp_path: Path, store: str) -> None:
    with pytest.raises(StoreNotFound, match="no store at"):
        framework0.resume("nope", store=store)
    assert not (tmp_path / "store.db").exists()


def framework0_store(url: str) -> Store:
    from framework0.store import open_store

    return open_store(url)


BLOCKING = """
    test_meta: {test_id: RESUME-KILL}
    steps:
      - {name: first, module: resume_steps, function: count, args: {name: first, folder: FOLDER}}
      - {name: second, module: resume_steps, function: count, args: {name: second, folder: FOLDER}}
      - name: block
        module: resume_steps
        function: write_then_block
        args: {folder: FOLDER}
        depends_on: [first, second]
      - {name: after, module: resume_steps, function: count, args: {name: after, folder: FOLDER}, depends_on: [block]}
"""


def run_id_in(db: Path) -> str:
    with sqlite3.connect(db) as connection:
        return str(connection.execute("SELECT run_id FROM runs").fetchone()[0])


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGINT"])
def test_a_stopped_run_resumes_running_again_only_the_step_that_was_running(tmp_path: Path, stop: str) -> None:
    recipe = make_recipe(tmp_path, BLOCKING)
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    process = start_f0("run", str(recipe), "--store", url, cwd=tmp_path)
    try:
        eventually(lambda: runs_of(tmp_path, "block") == 1, "the step block running")
        time.sleep(0.2)  # the store writer records "before" within milliseconds
        os.kill(process.pid, getattr(signal, stop))
        process.communicate(timeout=30)
    finally:
        process.kill()
    run_id = run_id_in(db)
    shown = start_f0("runs", "show", run_id, "--store", url, "--json", cwd=tmp_path).communicate(timeout=60)[0]
    before = {name: step["status"] for name, step in json.loads(shown)["steps"].items()}
    assert before["first"] == "succeeded"
    assert before["after"] == "pending"  # never started: it has no row, and shows as pending
    (tmp_path / "release").touch()
    resumed = start_f0("resume", run_id[:6], "--store", url, "--json", cwd=tmp_path)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    result = json.loads(out)
    assert result["run_id"] == run_id
    assert result["status"] == "succeeded"
    assert {name: step["status"] for name, step in result["steps"].items()} == dict.fromkeys(
        ["first", "second", "block", "after"], "succeeded"
    )
    assert (runs_of(tmp_path, "first"), runs_of(tmp_path, "second"), runs_of(tmp_path, "block")) == (1, 1, 2)
    assert result["context"] == {"ran.first": True, "ran.second": True, "before": 1, "after": 2, "ran.after": True}
    with sqlite3.connect(db) as connection:
        writes = connection.execute(
            "SELECT attempt, changes FROM context_versions WHERE run_id = ? AND step = 'block' ORDER BY version",
            (run_id,),
        ).fetchall()
    if stop == "SIGKILL":  # the attempt never ended: it runs again as attempt 1, its write is not repeated
        expected = [(1, [["set", "before", 1]]), (1, [["set", "after", 2]])]
    else:  # Ctrl-C cancelled attempt 1; attempt 2 is a new attempt with writes of its own
        expected = [(1, [["set", "before", 1]]), (2, [["set", "before", 1]]), (2, [["set", "after", 2]])]
    assert [(attempt, json.loads(changes)) for attempt, changes in writes] == expected


def test_f0_resume_of_an_unknown_run_is_a_one_line_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    framework0.run(make_recipe(tmp_path, CHAIN), store=url)  # a store that exists, without that run
    process = start_f0("resume", "nope", "--store", url, cwd=tmp_path)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.strip().splitlines() == [f"error: no run 'nope' in the store {url}; f0 runs list shows the runs"]
