"""A step recorded as finished survives the runner being killed (kill -9), on SQLite and PostgreSQL,
because every write is committed durably: WAL with synchronous=FULL, or synchronous_commit=on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from framework0.errors import StoreError
from framework0.store import open_sink, open_store
from framework0.store.database import Store
from framework0.store.sqlite_sink import SqliteSink
from framework0.store.url import sqlite_path

if TYPE_CHECKING:  # mypy names this folder's modules tests.store.*; pytest puts the folder on sys.path
    from tests.store.store_backends import backend_url, postgres_schema, sqlite_integrity
else:
    from store_backends import backend_url, postgres_schema, sqlite_integrity


TASKS = """\
def square(n):
    return {"n": n, "square": n * n}
"""

# q1, q2 and remember run on worker threads; block, alone and without a timeout, runs on the
# scheduler's own thread, and must be recorded as running all the same.
RECIPE = """\
test_meta: {test_id: KILLED}
steps:
  - {name: q1, uses: python, args: {call: "tasks:square", args: [1]}}
  - {name: q2, uses: python, args: {call: "tasks:square", args: [2]}}
  - {name: q3, uses: python, args: {call: "tasks:square", args: [3]}, depends_on: [q1]}
  - {name: remember, uses: set_context, args: {values: {region: eu}}}
  - {name: block, uses: sleep, args: {seconds: 60}, depends_on: [q1, q2, q3, remember]}
"""

QUICK = {"q1": {"n": 1, "square": 1}, "q2": {"n": 2, "square": 4}, "q3": {"n": 3, "square": 9}, "remember": ["region"]}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as found:
        yield found


def test_kill_9_loses_no_finished_step(url: str, tmp_path: Path):
    (tmp_path / "tasks.py").write_text(TASKS)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    env = {name: value for name, value in os.environ.items() if name != "F0_STORE_DURABILITY"}
    process = subprocess.Popen(
        [sys.executable, "-m", "framework0", "run", "recipe.yaml", "--store", url],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        store = wait_until_block_runs(url, process)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL
    store.close()

    store = open_store(url)  # afresh: what is on disk
    try:
        [run] = store.list_runs()
        assert (run["status"], run["finished_at"], run["test_id"]) == ("running", None, "KILLED")
        steps = {row["name"]: row for row in store.steps(run["run_id"])}
        for name, output in QUICK.items():
            assert (steps[name]["status"], json.loads(steps[name]["output"])) == ("succeeded", output), name
        assert steps["block"]["status"] == "running"
        attempts = {(row["step"], row["attempt"]): row["status"] for row in store.attempts(run["run_id"])}
        assert attempts == {**{(name, 1): "succeeded" for name in QUICK}, ("block", 1): "running"}
        versions = store.context_versions(run["run_id"])
        assert [(v["step"], json.loads(v["changes"])) for v in versions] == [("remember", [["set", "region", "eu"]])]
    finally:
        store.close()
    path = sqlite_path(url)
    if path is not None:
        assert sqlite_integrity(path) == "ok"


def wait_until_block_runs(url: str, process: subprocess.Popen[str]) -> Store:
    """Poll the store (bounded) until it shows ``block`` running; return the open store."""
    deadline = time.monotonic() + 30
    store = None
    path = sqlite_path(url)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"f0 run ended early with {process.returncode}:\n{out}\n{err}")
        if store is None and (path is None or path.exists()):
            try:
                store = open_store(url)
            except Exception:  # the run is still creating the database
                store = None
        if store is not None:
            runs = store.list_runs()
            if runs and any(s["name"] == "block" and s["status"] == "running" for s in store.steps(runs[0]["run_id"])):
                return store
        time.sleep(0.02)
    pytest.fail("the store never showed the step 'block' running within 30 s")


# -- the settings that make a commit durable ----------------------------------------------------


def test_sqlite_writes_are_durable_unless_asked_otherwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("F0_STORE_DURABILITY", raising=False)
    url = f"sqlite:///{tmp_path / 's.db'}"
    sink = open_sink(url)
    assert isinstance(sink, SqliteSink)
    connection = sink._connection  # the writer's own connection
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert connection.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    sink.close()

    store = open_store(url)  # SQLAlchemy's connections (reads, cleaning, other URLs)
    with store.engine.connect() as sa_connection:
        assert sa_connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert sa_connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    store.close()

    weaker = open_sink(url, durability="fast")  # opt-in only
    assert isinstance(weaker, SqliteSink)
    assert weaker._connection.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    weaker.close()


def test_an_unknown_sqlite_synchronous_mode_is_refused(tmp_path: Path):
    with pytest.raises(StoreError, match="SQLite synchronous mode 'SOMETIMES' is not one of OFF, NORMAL, FULL"):
        SqliteSink(tmp_path / "s.db", synchronous="SOMETIMES")
    with pytest.raises(StoreError, match="synchronous"):
        open_store(f"sqlite:///{tmp_path / 's.db'}", synchronous="FULL; DROP TABLE runs")


def test_postgresql_commits_are_durable_whatever_the_url_says(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("F0_STORE_DURABILITY", raising=False)
    with postgres_schema() as url:
        weakened = url + "%20-csynchronous_commit%3Doff"  # the URL's own options ask for less
        for store in (open_store(weakened), open_sink(weakened)):
            assert isinstance(store, Store)
            with store.engine.connect() as connection:
                assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
                assert connection.exec_driver_sql("SHOW search_path").scalar() == url.rsplit("%3D", 1)[1]
            store.close()
        opted = open_sink(url, durability="fast")  # opt-in only
        assert isinstance(opted, Store)
        with opted.engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
        opted.close()
