"""The documented live setup, recorded right: ``f0 serve`` and ``f0 run --context-server URL`` on one
store. The runner records its run; the server, which shares that store, only shows the run live, so
the run has one writer: its context (kept on the server under a name) is the run's recorded context,
each log line is stored once, and the run keeps its runner's node and what a resume compares.

A runner that records nowhere (``--store none``) or in another store is still recorded by the server.
Real processes throughout: ``f0 serve``, ``f0 run``, and the reading commands; on SQLite and on
PostgreSQL (a schema of its own; skipped without a server unless ``F0_STRICT=1``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import f0
from tests.server.servers import Server, server_process
from tests.store.store_backends import backend_url

from framework0.store import open_store
from framework0.viz.run_view import run_view

RECIPE = """\
meta: {test_id: LIVE-RECORD}
steps:
  - name: extract
    module: steps
    function: extract
  - name: count
    module: steps
    function: count
    depends_on: [extract]
  - name: settle
    uses: set_context
    args: {values: {report.ready: true}}
    depends_on: [count]
"""

STEPS = """\
def extract(ctx):
    for row in range(3):
        print(f"extract row {row}")
    ctx.set("rows.extracted", [1, 2, 3])
    return 3


def count(ctx):
    print("count once")
    ctx.increment("rows.counted", 3)
    ctx.delete("rows.extracted")
    return ctx.get("rows.counted")
"""

#: the run's context when it ends
FINAL = {"rows.counted": 3, "report.ready": True}
#: what the steps printed, each line once
PRINTED = ["extract | extract row 0", "extract | extract row 1", "extract | extract row 2", "count | count once"]
RUNNER_NODE = "runner-node-1"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text(RECIPE)
    (folder / "steps.py").write_text(STEPS)
    return folder


def run_on_server(project: Path, server: Server, store: str, *args: str, final: Any = FINAL) -> dict[str, Any]:
    """``f0 run pipeline.yaml --context-server URL --store STORE --json``: the run result."""
    done = f0(
        "run",
        "pipeline.yaml",
        "--context-server",
        server.url,
        "--store",
        store,
        "--json",
        *args,
        cwd=project,
        env={"F0_TOKEN": server.token, "F0_NODE": RUNNER_NODE},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["status"] == "succeeded" and result["context"] == final
    return result


def read(project: Path, store: str, *args: str) -> str:
    done = f0(*args, "--store", store, cwd=project)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_run_on_a_server_sharing_its_store_keeps_its_context(project: Path, store_url: str):
    with server_process(store_url, cwd=project) as server:
        run_id = run_on_server(project, server, store_url)["run_id"]
        shown = json.loads(read(project, store_url, "context", "show", run_id, "--json"))
        document = json.loads(read(project, store_url, "runs", "show", run_id, "--json"))
        with server.client() as client:
            named = client.get(f"/api/v1/contexts/{run_id}").json()
    assert named["data"] == FINAL  # the context the run kept on the server, under its id
    assert shown["context"] == FINAL and shown["version"] == shown["latest"] == named["version"]
    assert document["context"] == FINAL
    store = open_store(store_url)
    try:
        view = run_view(store, run_id)
    finally:
        store.close()
    assert view["context"]["values"] == FINAL  # the dashboard's context panel
    assert [(change["key"], change["op"]) for change in view["context"]["history"]] == [
        ("rows.extracted", "set"),
        ("rows.counted", "set"),
        ("rows.extracted", "delete"),
        ("report.ready", "set"),
    ]


def test_a_run_on_a_server_sharing_its_store_has_each_log_line_once(project: Path, store_url: str):
    with server_process(store_url, cwd=project) as server:
        run_id = run_on_server(project, server, store_url)["run_id"]
    assert read(project, store_url, "logs", run_id).splitlines() == PRINTED


def test_a_run_on_a_server_sharing_its_store_stays_its_runners(project: Path, store_url: str):
    with server_process(store_url, cwd=project) as server:
        run_id = run_on_server(project, server, store_url)["run_id"]
    store = open_store(store_url)
    try:
        run = store.find_run(run_id)
        sessions = store.sessions(run_id)
    finally:
        store.close()
    assert (run["node"], run["pid"] > 0) == (RUNNER_NODE, True)
    assert [(session["node"], session["status"]) for session in sessions] == [(RUNNER_NODE, "succeeded")]
    # what f0 resume compares with the recipe: each step's digest, not "{}"
    assert sorted(json.loads(run["fingerprint"])["steps"]) == ["count", "extract", "settle"]


def test_a_run_on_a_named_context_with_data_records_the_context_it_found(project: Path, store_url: str):
    with server_process(store_url, cwd=project) as server:
        with server.client() as client:
            answer = client.put("/api/v1/contexts/nightly/keys/owner", json={"value": "ops"})
            assert answer.status_code in (200, 201), answer.text
        result = run_on_server(project, server, store_url, "--context", "nightly", final={"owner": "ops", **FINAL})
        run_id = result["run_id"]
        shown = json.loads(read(project, store_url, "context", "show", run_id, "--json"))
        document = json.loads(read(project, store_url, "runs", "show", run_id, "--json"))
        history = json.loads(read(project, store_url, "context", "history", run_id, "--json"))
    assert shown["context"] == document["context"] == {"owner": "ops", **FINAL}
    # version 1 (the PUT): what the run found, outside any step; then the steps' changes
    assert [(change["version"], change["key"], change["step"]) for change in history["changes"]] == [
        (1, "owner", None),
        (2, "rows.extracted", "extract"),
        (3, "rows.counted", "count"),
        (4, "rows.extracted", "count"),
        (5, "report.ready", "settle"),
    ]
    store = open_store(store_url)
    try:
        view = run_view(store, run_id)
    finally:
        store.close()
    assert view["context"]["values"] == {"owner": "ops", **FINAL}
    assert [change["key"] for change in view["context"]["history"]][:2] == ["owner", "rows.extracted"]


def test_a_runner_that_records_nowhere_is_recorded_by_the_server(project: Path, store_url: str):
    with server_process(store_url, cwd=project) as server:
        result = run_on_server(project, server, "none")
    run_id = result["run_id"]
    document = json.loads(read(project, store_url, "runs", "show", run_id, "--json"))
    assert document["status"] == "succeeded"
    assert {name: step["status"] for name, step in document["steps"].items()} == {
        "extract": "succeeded",
        "count": "succeeded",
        "settle": "succeeded",
    }
    assert read(project, store_url, "logs", run_id).splitlines() == PRINTED
    assert document["context"] == FINAL
    assert json.loads(read(project, store_url, "context", "show", run_id, "--json"))["context"] == FINAL


def test_a_runner_with_a_store_of_its_own_is_recorded_by_both(project: Path, store_url: str, tmp_path: Path):
    own = f"sqlite:///{tmp_path / 'runner.db'}"
    with server_process(store_url, cwd=project) as server:
        run_id = run_on_server(project, server, own)["run_id"]
    for store in (own, store_url):
        document = json.loads(read(project, store, "runs", "show", run_id, "--json"))
        assert document["status"] == "succeeded"
        assert read(project, store, "logs", run_id).splitlines() == PRINTED
    for store in (own, store_url):
        assert json.loads(read(project, store, "context", "show", run_id, "--json"))["context"] == FINAL
