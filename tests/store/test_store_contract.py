"""The store's contract, on every backend: what is written is read back the same.

Each test runs three times: ``sqlite`` (the default path: sqlite3 writes, SQLAlchemy reads),
``sqlite-sqlalchemy`` (SQLAlchemy for everything on a SQLite file, so both write paths are held to
the same contract) and ``postgresql`` (a real server, a schema per test).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from tests.helpers import eventually

import framework0
from framework0.context.changes import Change, ChangeSource
from framework0.errors import RunNotFound
from framework0.events.types import (
    AttemptFinished,
    AttemptStarted,
    ContextChanged,
    ErrorInfo,
    LogLines,
    RunFinished,
    StepFinished,
    StepStarted,
)
from framework0.store import RunSink, open_sink, open_store
from framework0.store.columns import HEAD, TABLE_ORDER
from framework0.store.database import Store
from framework0.store.sqlite_sink import SqliteSink
from framework0.store.writer import StoreWriter, initial_batch, pack_snapshot, step_row, unpack_snapshot

if TYPE_CHECKING:  # mypy names this folder's modules tests.store.*; pytest puts the folder on sys.path
    from tests.store.store_backends import BACKENDS, backend_url, postgres_schema
else:
    from store_backends import BACKENDS, backend_url, postgres_schema


NODE = "node-1"


@dataclass
class Backend:
    name: str
    url: str
    sink: RunSink  # what a run writes through
    store: Store  # what history, resume and cleaning read through


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend_url(request.param, tmp_path) as url:
        store = open_store(url)
        sink: RunSink = store if request.param == "sqlite-sqlalchemy" else open_sink(url)
        assert isinstance(sink, SqliteSink) == (request.param == "sqlite")
        try:
            yield Backend(request.param, url, sink, store)
        finally:
            if sink is not store:
                sink.close()
            store.close()


def run_row(run_id: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": run_id,
        "test_id": "T-1",
        "recipe_path": "/recipes/nightly.yaml",
        "status": "running",
        "started_at": 1000.0,
        "finished_at": None,
        "error_type": None,
        "error_message": None,
        "params": json.dumps({"region": "eu"}),
        "fingerprint": json.dumps({"settings": "s", "steps": {}}),
        "context": None,
        "context_version": 0,
        "node": NODE,
        "pid": 4242,
        "sessions": 1,
        "graph": None,
        "package": None,
    }
    row.update(values)
    return row


def session_row(run_id: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": run_id,
        "session": 1,
        "kind": "run",
        "params": json.dumps({"region": "eu"}),
        "from_step": None,
        "started_at": 1000.0,
        "finished_at": None,
        "status": "running",
        "node": NODE,
        "pid": 4242,
    }
    row.update(values)
    return row


def version_row(run_id: str, version: int, *, step: str = "a", attempt: int = 1, item: int = -1, seq: int = 1):
    return {
        "run_id": run_id,
        "version": version,
        "at": 1000.0 + version,
        "step": step,
        "attempt": attempt,
        "item": item,
        "seq": seq,
        "node": NODE,
        "changes": json.dumps([["set", f"k{version}", version]]),
    }


def attempt_row(run_id: str, step: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": run_id,
        "step": step,
        "item": -1,
        "attempt": 1,
        "status": "running",
        "started_at": 1001.0,
        "finished_at": None,
        "wall_s": None,
        "cpu_s": None,
        "peak_rss_bytes": None,
        "output": None,
        "error_type": None,
        "error_message": None,
        "error_traceback": None,
        "retry_in_s": None,
        "session": 1,
    }
    row.update(values)
    return row


def full_run(run_id: str, **values: Any) -> dict[str, list[dict[str, Any]]]:
    """One row of a run in every table."""
    return {
        "runs": [run_row(run_id, **values)],
        "sessions": [session_row(run_id)],
        "steps": [step_row(run_id, "a", 0, 1)],
        "attempts": [attempt_row(run_id, "a")],
        "context_versions": [version_row(run_id, 1)],
        "context_snapshots": [{"run_id": run_id, "version": 1, "data": pack_snapshot({"k1": 1})}],
        "logs": [log_row(run_id, "a", "hello")],
        "cache": [
            {
                "key": f"key-{run_id}",
                "run_id": run_id,
                "step": "a",
                "output": "1",
                "created_at": 1002.0,
                "inputs": "{}",
            }
        ],
    }


def log_row(run_id: str, step: str, text: str) -> dict[str, Any]:
    return {"run_id": run_id, "step": step, "item": -1, "attempt": 1, "stream": "stdout", "at": 1001.5, "text": text}


def change(version: int, key: str, new: Any, step: str, attempt: int, item: int | None, seq: int) -> Change:
    source = ChangeSource(NODE, step, attempt, item)
    return Change(version, key, "set", None, new, 1000.0 + version, source, seq)


# -- a recorded run comes back whole --------------------------------------------------------------


def test_a_run_recorded_through_the_writer_reads_back_whole(db: Backend):
    run_id = "run-roundtrip"
    run, session = run_row(run_id), session_row(run_id)
    positions = {name: position for position, name in enumerate(["a", "fan", "b"])}
    db.sink.write(initial_batch(run, session, []))
    writer = StoreWriter(db.sink, run, positions, session=1, session_row=session, snapshot_every=2)
    boom = ErrorInfo("ValueError", "the widget is on fire", "Traceback ...\nValueError: the widget is on fire\n")

    # first part: step a runs; the store shows it running before it finishes
    writer.handle(StepStarted(run_id, "a", 1001.0))
    writer.handle(AttemptStarted(run_id, "a", 1, None, 1001.0))
    writer.handle(LogLines(run_id, "a", 1, None, "stdout", "hello from a\n", 1001.1))
    writer.handle(ContextChanged(run_id, (change(1, "seen", ["a"], "a", 1, None, 1),)))
    eventually(lambda: [r["status"] for r in db.store.steps(run_id)] == ["running"], "step a to be recorded running")
    assert [a["status"] for a in db.store.attempts(run_id)] == ["running"]

    output_a = {"rows": [1, 2, 3], "name": "café ☕", "nested": {"ok": True, "none": None}}
    writer.handle(AttemptFinished(run_id, "a", 1, None, "succeeded", 1001.5, 0.5, 0.25, 1 << 33, None, None, output_a))
    writer.handle(StepFinished(run_id, "a", "succeeded", 1001.5, 0.5, 1, None, output_a, 1001.0, 1001.5, 0.25, 1 << 33))
    # a foreach step: item 1 fails once and is retried
    writer.handle(StepStarted(run_id, "fan", 1002.0))
    for item in range(3):
        writer.handle(AttemptStarted(run_id, "fan", 1, item, 1002.0 + item / 10))
    writer.handle(AttemptFinished(run_id, "fan", 1, 1, "failed", 1002.3, 0.2, 0.1, 100, boom, 0.5))
    for item in (0, 2):
        writer.handle(
            AttemptFinished(run_id, "fan", 1, item, "succeeded", 1002.4, 0.3, 0.1, 100, None, None, item * 10)
        )
        writer.handle(LogLines(run_id, "fan", 1, item, "log", f"item {item}", 1002.4))
    writer.handle(AttemptStarted(run_id, "fan", 2, 1, 1003.0))
    writer.handle(ContextChanged(run_id, (change(2, "fan", 1, "fan", 2, 1, 1), change(2, "more", "x", "fan", 2, 1, 1))))
    writer.handle(AttemptFinished(run_id, "fan", 2, 1, "succeeded", 1003.2, 0.2, 0.1, 100, None, None, 10))
    writer.handle(StepFinished(run_id, "fan", "succeeded", 1003.2, 1.2, 2, None, [0, 10, 20], 1002.0, 1003.2, items=3))
    writer.handle(StepStarted(run_id, "b", 1004.0))
    writer.handle(AttemptStarted(run_id, "b", 1, None, 1004.0))
    writer.handle(ContextChanged(run_id, (change(3, "seen", ["a", "b"], "b", 1, None, 1),)))
    writer.handle(AttemptFinished(run_id, "b", 1, None, "failed", 1004.1, 0.1, 0.0, 0, boom, None))
    writer.handle(StepFinished(run_id, "b", "failed", 1004.1, 0.1, 1, boom, None, 1004.0, 1004.1))
    writer.handle(RunFinished(run_id, "failed", 1005.0, 5.0, ErrorInfo("StepFailed", "step 'b' failed")))
    writer.close()

    final_context = {"seen": ["a", "b"], "fan": 1, "more": "x"}
    stored_run = db.store.find_run(run_id)
    assert stored_run["status"] == "failed"
    assert stored_run["finished_at"] == 1005.0
    assert (stored_run["error_type"], stored_run["error_message"]) == ("StepFailed", "step 'b' failed")
    assert json.loads(stored_run["context"]) == final_context
    assert stored_run["context_version"] == 3
    assert json.loads(stored_run["params"]) == {"region": "eu"}
    assert [(s["session"], s["kind"], s["status"], s["finished_at"]) for s in db.store.sessions(run_id)] == [
        (1, "run", "failed", 1005.0)
    ]

    stored_steps = {row["name"]: row for row in db.store.steps(run_id)}
    assert list(stored_steps) == ["a", "fan", "b"]  # by position
    a, fan, b = stored_steps["a"], stored_steps["fan"], stored_steps["b"]
    assert (a["status"], a["attempts"], json.loads(a["output"])) == ("succeeded", 1, output_a)
    assert (a["started_at"], a["finished_at"], a["cpu_s"], a["peak_rss_bytes"]) == (1001.0, 1001.5, 0.25, 1 << 33)
    assert (fan["status"], fan["attempts"], fan["items"], json.loads(fan["output"])) == ("succeeded", 2, 3, [0, 10, 20])
    assert (b["status"], b["error_type"], b["error_message"]) == ("failed", "ValueError", "the widget is on fire")
    assert b["error_traceback"] == boom.traceback

    attempts = [
        (r["step"], r["item"], r["attempt"], r["status"], json.loads(r["output"]) if r["output"] is not None else None)
        for r in db.store.attempts(run_id)
    ]
    assert attempts == [
        ("a", -1, 1, "succeeded", None),  # a step's own output is on its row
        ("fan", 0, 1, "succeeded", 0),
        ("fan", 1, 1, "failed", None),
        ("fan", 2, 1, "succeeded", 20),
        ("fan", 1, 2, "succeeded", 10),
        ("b", -1, 1, "failed", None),
    ]
    fan_1 = [r for r in db.store.attempts(run_id, "fan") if r["item"] == 1]
    assert [(r["attempt"], r["retry_in_s"], r["error_type"]) for r in fan_1] == [
        (1, 0.5, "ValueError"),
        (2, None, None),
    ]
    assert fan_1[0]["error_traceback"] == boom.traceback

    versions = db.store.context_versions(run_id)
    assert [(v["version"], v["step"], v["attempt"], v["item"], v["seq"]) for v in versions] == [
        (1, "a", 1, -1, 1),
        (2, "fan", 2, 1, 1),
        (3, "b", 1, -1, 1),
    ]
    assert json.loads(versions[1]["changes"]) == [["set", "fan", 1], ["set", "more", "x"]]
    assert [v["version"] for v in db.store.context_versions(run_id, after=1, upto=2)] == [2]
    snapshot = db.store.snapshot_before(run_id, 3)
    assert snapshot is not None  # snapshot_every=2: one when the versions crossed 2
    states = {1: {"seen": ["a"]}, 2: {"seen": ["a"], "fan": 1, "more": "x"}, 3: final_context}
    assert unpack_snapshot(snapshot[1]) == states[snapshot[0]]
    assert db.store.snapshot_before(run_id, 1) is None

    logs = [row for row in db.store.logs(run_id) if row["stream"] != "framework"]  # the writer adds its own
    assert [(r["step"], r["item"], r["attempt"], r["stream"], r["text"]) for r in logs] == [
        ("a", -1, 1, "stdout", "hello from a\n"),
        ("fan", 0, 1, "log", "item 0"),
        ("fan", 2, 1, "log", "item 2"),
    ]
    assert [r["text"] for r in db.store.logs(run_id, "fan") if r["stream"] == "log"] == ["item 0", "item 2"]
    after_first = db.store.logs(run_id, after=logs[0]["id"], limit=1)
    assert [r["id"] for r in after_first] == [min(r["id"] for r in db.store.logs(run_id) if r["id"] > logs[0]["id"])]


def test_writing_a_row_again_replaces_it(db: Backend):
    run_id = "run-upsert"
    db.sink.write({"runs": [run_row(run_id)], "steps": [dict(step_row(run_id, "a", 0, 1), status="running")]})
    db.sink.write({"attempts": [attempt_row(run_id, "a")]})
    db.sink.write(
        {
            "runs": [run_row(run_id, status="succeeded", finished_at=1009.0, context='{"k":1}')],
            "steps": [dict(step_row(run_id, "a", 0, 1), status="succeeded", attempts=1, output='"done"')],
            "attempts": [attempt_row(run_id, "a", status="succeeded", finished_at=1002.0, output='"done"')],
        }
    )
    assert [(s["name"], s["status"], s["output"]) for s in db.store.steps(run_id)] == [("a", "succeeded", '"done"')]
    assert [(a["status"], a["finished_at"]) for a in db.store.attempts(run_id)] == [("succeeded", 1002.0)]
    run = db.store.find_run(run_id)
    assert (run["status"], run["finished_at"], run["context"]) == ("succeeded", 1009.0, '{"k":1}')
    assert len(db.store.list_runs()) == 1


def test_the_last_of_two_rows_with_one_key_in_a_batch_wins(db: Backend):
    """Two steps with the same inputs share a cache key, and may finish within one batch."""
    entry = {"key": "same", "run_id": "r", "step": "a", "created_at": 1.0, "inputs": "{}"}
    db.sink.write(
        {
            "runs": [run_row("r"), run_row("r", status="succeeded")],
            "cache": [dict(entry, output="1"), dict(entry, step="b", output="2")],
        }
    )
    assert db.store.find_run("r")["status"] == "succeeded"
    assert db.sink.cache_get("same") == dict(entry, step="b", output="2")


def test_a_context_write_recorded_twice_is_kept_once(db: Backend):
    run_id = "run-idempotent"
    snapshot = {"run_id": run_id, "version": 2, "data": pack_snapshot({"k1": 1, "k2": 2})}
    batch = {
        "runs": [run_row(run_id)],
        "context_versions": [version_row(run_id, 1), version_row(run_id, 2, seq=2)],
        "context_snapshots": [snapshot],
    }
    db.sink.write(batch)
    db.sink.write(batch)  # the same batch again (a retried write)
    # a replayed attempt's write: same (run, step, attempt, item, seq), another version number
    db.sink.write({"context_versions": [dict(version_row(run_id, 3, seq=2), changes='[["set","other",0]]')]})
    # a foreach item's write with the same seq is another write
    db.sink.write({"context_versions": [version_row(run_id, 4, item=0, seq=2)]})
    versions = db.store.context_versions(run_id)
    assert [(v["version"], v["item"], v["seq"]) for v in versions] == [(1, -1, 1), (2, -1, 2), (4, 0, 2)]
    assert json.loads(versions[1]["changes"]) == [["set", "k2", 2]]
    found = db.store.snapshot_before(run_id, 10)
    assert found is not None and unpack_snapshot(found[1]) == {"k1": 1, "k2": 2}


def test_a_failed_batch_writes_nothing(db: Backend):
    run_id = "run-atomic"
    db.sink.write({"runs": [run_row(run_id)]})
    for attempts in ([None], ["running", None]):  # one row, and several (the fast path writes those at once)
        bad = {
            "steps": [step_row(run_id, "a", 0, 1)],
            "attempts": [attempt_row(run_id, "a", attempt=n, status=status) for n, status in enumerate(attempts, 1)],
        }
        with pytest.raises(framework0.StoreError, match="cannot write the run store|store "):
            db.sink.write(bad)  # status is NOT NULL: the whole batch is refused
        assert db.store.steps(run_id) == []
        assert db.store.attempts(run_id) == []
    db.sink.write({"steps": [step_row(run_id, "a", 0, 1)]})  # the connection is usable afterwards
    assert [s["name"] for s in db.store.steps(run_id)] == ["a"]


# -- finding runs ---------------------------------------------------------------------------------


def test_list_runs_filters_by_recipe_status_and_time_newest_first(db: Backend):
    rows = [
        run_row("r1", test_id="NIGHTLY", recipe_path="/x/nightly.yaml", status="succeeded", started_at=100.0),
        run_row("r2", test_id="NIGHTLY", recipe_path="/x/nightly.yaml", status="failed", started_at=300.0),
        run_row("r3", test_id=None, recipe_path="/y/etl_eu.yaml", status="succeeded", started_at=200.0),
        run_row("r4", test_id=None, recipe_path="/y/etlxeu.yaml", status="running", started_at=400.0),
        run_row("r5", test_id="OTHER", recipe_path="/z/nightly.yaml.bak", status="succeeded", started_at=500.0),
    ]
    db.sink.write({"runs": rows})

    def ids(**filters: Any) -> list[str]:
        return [row["run_id"] for row in db.store.list_runs(**filters)]

    assert ids() == ["r5", "r4", "r2", "r3", "r1"]
    assert ids(recipe="NIGHTLY") == ["r2", "r1"]  # by test id
    assert ids(recipe="nightly.yaml") == ["r2", "r1"]  # by the end of the recipe path
    assert ids(recipe="etl_eu.yaml") == ["r3"]  # "_" is a character, not a wildcard
    assert ids(recipe="%.yaml") == []
    assert ids(recipe="Nightly.yaml") == []  # paths match exactly, as on the file system
    assert ids(recipe="no-such") == []
    assert ids(status="succeeded") == ["r5", "r3", "r1"]
    assert ids(since=300.0) == ["r5", "r4", "r2"]
    assert ids(recipe="NIGHTLY", status="succeeded") == ["r1"]
    assert ids(limit=2) == ["r5", "r4"]


def test_find_run_takes_a_unique_prefix_of_four_characters_or_more(db: Backend):
    runs = ("abcd123", "abcd456", "abce789", "x_1yz", "xy1yz")
    db.sink.write({"runs": [run_row(run_id) for run_id in runs]})
    assert db.store.find_run("abcd123")["run_id"] == "abcd123"
    assert db.store.find_run("abce")["run_id"] == "abce789"
    with pytest.raises(RunNotFound, match="'abcd' is ambiguous; give more of it"):
        db.store.find_run("abcd")
    with pytest.raises(RunNotFound, match="no run 'abc' in the store"):
        db.store.find_run("abc")  # too short to be taken for the start of a run id
    with pytest.raises(RunNotFound, match="no run 'zzzz' in the store"):
        db.store.find_run("zzzz")
    assert db.store.find_run("x_1y")["run_id"] == "x_1yz"  # "_" is not a wildcard
    with pytest.raises(RunNotFound):
        db.store.find_run("x%1y")
    with pytest.raises(RunNotFound):
        db.store.find_run("ABCE")  # ids match exactly, on every database


def test_delete_runs_removes_those_runs_from_every_table_and_nothing_else(db: Backend):
    for run_id in ("keep-1", "gone-1", "gone-2", "keep-2"):
        db.sink.write(full_run(run_id))

    def rows_of(run_id: str) -> dict[str, int]:
        with db.store.engine.connect() as connection:
            return {
                table: connection.execute(
                    sa.text(f"SELECT count(*) FROM {table} WHERE run_id = :run"), {"run": run_id}
                ).scalar_one()
                for table in TABLE_ORDER
            }

    every_table_once = dict.fromkeys(TABLE_ORDER, 1)
    assert rows_of("gone-1") == every_table_once
    counts = db.store.delete_runs(["gone-1", "gone-2", "never-was"])
    assert {table: counts[table] for table in TABLE_ORDER} == dict.fromkeys(TABLE_ORDER, 2)
    assert counts["bytes"] > 0
    assert rows_of("gone-1") == rows_of("gone-2") == dict.fromkeys(TABLE_ORDER, 0)
    assert rows_of("keep-1") == rows_of("keep-2") == every_table_once
    assert [r["run_id"] for r in db.store.list_runs()] == ["keep-1", "keep-2"]
    assert db.store.delete_runs([]) == {"bytes": 0}


def test_the_cache_gives_the_newest_entries_of_a_step(db: Backend):
    entries = [
        {"key": f"k{i}", "run_id": "r", "step": "a", "output": str(i), "created_at": float(i), "inputs": "{}"}
        for i in range(3)
    ]
    db.sink.write({"runs": [run_row("r")], "cache": entries})
    db.sink.write({"cache": [dict(entries[0], output="10")]})  # a newer output for the same key replaces it
    assert db.sink.cache_get("k0") == dict(entries[0], output="10")
    assert db.sink.cache_get("nope") is None
    assert [e["key"] for e in db.sink.cache_candidates("a")] == ["k2", "k1", "k0"]
    assert db.sink.cache_candidates("b") == []


# -- a real run ----------------------------------------------------------------------------------

TASKS = """\
from pathlib import Path

def square(n):
    return {"n": n, "square": n * n}

def flaky(marker):
    if not Path(marker).exists():
        Path(marker).write_text("tried")
        raise ConnectionError("first try fails")
    return "second try"

def boom():
    raise ValueError("the widget is on fire")
"""

RECIPE = """\
test_meta: {test_id: STORE-RUN}
steps:
  - {name: a, uses: python, args: {call: "store_run_tasks:square", args: [2]}}
  - {name: b, uses: python, args: {call: "store_run_tasks:square", args: [3]}}
  - {name: remember, uses: set_context, args: {values: {region: eu, sizes: [1, 2]}}}
  - name: fan
    uses: python
    foreach: [1, 2, 3]
    args: {call: "store_run_tasks:square", args: ["{{ item }}"]}
    depends_on: [a, b]
  - {name: flaky, uses: python, args: {call: "store_run_tasks:flaky", args: ["MARKER"]}, retry: 2}
  - {name: boom, uses: python, args: {call: "store_run_tasks:boom"}, continue_on_error: true}
  - {name: after_boom, uses: hello_world, when: "{{ steps.boom.status == 'succeeded' }}"}
"""


def test_a_run_is_recorded_as_the_result_says(db: Backend, tmp_path: Path):
    # a module name of its own: it stays imported in this process, and other tests' tasks.py must not meet it
    (tmp_path / "store_run_tasks.py").write_text(TASKS)
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(RECIPE.replace("MARKER", str(tmp_path / "flaky.marker")))
    result = framework0.run(recipe_path, store=db.url, max_parallel=4)

    assert result.status == "succeeded"  # boom may fail (continue_on_error)
    run = db.store.find_run(result.run_id)
    assert (run["status"], run["test_id"], run["recipe_path"]) == ("succeeded", "STORE-RUN", str(recipe_path))
    assert run["started_at"] == pytest.approx(result.started_at)
    assert run["finished_at"] == pytest.approx(result.finished_at)
    assert json.loads(run["context"]) == result.context == {"region": "eu", "sizes": [1, 2]}
    assert [s["status"] for s in db.store.sessions(result.run_id)] == ["succeeded"]
    stored = {row["name"]: row for row in db.store.steps(result.run_id)}
    assert list(stored) == list(result.steps)
    for name, step in result.steps.items():
        row = stored[name]
        assert (row["status"], row["attempts"], row["items"]) == (step.status, step.attempts, step.items), name
        assert (json.loads(row["output"]) if row["output"] is not None else None) == step.output, name
        assert row["error_type"] == (step.error.type if step.error else None), name
    assert stored["after_boom"]["status"] == "skipped"
    attempts = [(a["step"], a["item"], a["attempt"], a["status"]) for a in db.store.attempts(result.run_id)]
    assert sorted(attempts) == [
        ("a", -1, 1, "succeeded"),
        ("b", -1, 1, "succeeded"),
        ("boom", -1, 1, "failed"),
        ("fan", 0, 1, "succeeded"),
        ("fan", 1, 1, "succeeded"),
        ("fan", 2, 1, "succeeded"),
        ("flaky", -1, 1, "failed"),
        ("flaky", -1, 2, "succeeded"),
        ("remember", -1, 1, "succeeded"),
    ]
    versions = db.store.context_versions(result.run_id)
    assert [(v["step"], v["version"]) for v in versions] == [("remember", 1)]
    assert run["context_version"] == 1


def test_a_run_from_a_package_is_recorded_naming_it_and_an_ordinary_run_names_none(db: Backend, tmp_path: Path):
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text("steps:\n  - {name: hi, uses: hello_world}\n")
    package = {"path": "/packages/etl.f0.zip", "digest": "d" * 64, "entry": "recipe.yaml"}

    from_package = framework0.run(recipe_path, store=db.url, config=framework0.Config(package=package))
    ordinary = framework0.run(recipe_path, store=db.url)

    assert from_package.package == package
    assert json.loads(db.store.find_run(from_package.run_id)["package"]) == package
    assert ordinary.package is None
    assert db.store.find_run(ordinary.run_id)["package"] is None


# -- opening --------------------------------------------------------------------------------------

OPEN_AT_ONCE = """\
import sys, time
from pathlib import Path
from framework0.store import open_sink, open_store
url, go, how, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
go.with_name(name).touch()  # ready
while not go.exists():
    time.sleep(0.002)
store = open_sink(url) if how == "sink" else open_store(url)
store.write({"runs": [{"run_id": name, "status": "running", "started_at": 1.0, "params": "{}",
    "fingerprint": "{}", "node": "n", "pid": 1, "test_id": None, "recipe_path": None, "finished_at": None,
    "error_type": None, "error_message": None, "context": None, "context_version": 0, "sessions": 1, "graph": None,
    "package": None}]})
store.close()
"""


def test_processes_opening_a_new_database_at_once_create_it_once(db: Backend, tmp_path: Path):
    with contextlib.ExitStack() as stack:
        if db.name == "postgresql":
            url = stack.enter_context(postgres_schema())  # a second, bare schema
        else:
            url = f"sqlite:///{tmp_path / 'fresh' / 'new.db'}"  # not created yet: the processes race to
        race_to_open(url, "store" if db.name == "sqlite-sqlalchemy" else "sink", tmp_path)


def race_to_open(url: str, how: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT_ONCE, url, str(go), how, f"proc-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    try:
        ready = [tmp_path / f"proc-{i}" for i in range(3)]
        eventually(lambda: all(path.exists() for path in ready), "the processes to start")
        go.touch()  # all at once
        for process in processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    store = open_store(url)
    try:
        assert sorted(r["run_id"] for r in store.list_runs()) == ["proc-0", "proc-1", "proc-2"]
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [HEAD]
    finally:
        store.close()


def test_the_sink_a_url_opens(tmp_path: Path):
    """SQLite files take the sqlite3 fast path; URLs with a query, and every other database, SQLAlchemy."""
    path = tmp_path / "s.db"
    sink = open_sink(f"sqlite:///{path}")
    assert isinstance(sink, SqliteSink) and sink.url == f"sqlite:///{path}"
    sink.close()
    other = open_sink(f"sqlite:///{path}?timeout=5")
    assert isinstance(other, Store)
    other.close()


def test_postgresql_urls_use_psycopg_3():
    from framework0.store.database import engine_url

    assert engine_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert engine_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert engine_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert engine_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize("text", ["{}", '{"a": [1, "x"], "b": "café"}'])
def test_snapshots_round_trip(text: str):
    assert unpack_snapshot(pack_snapshot(json.loads(text))) == json.loads(text)
