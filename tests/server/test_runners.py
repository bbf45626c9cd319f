"""Runners on a context server: ``f0 run --context-server URL --context NAME`` keeps the run's
context there, shared live with other runners, and sends the run's events for viewers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.server.servers import Server, server_thread

import framework0
from framework0.engine.attempt import NODE
from framework0.store import open_store
from framework0.store.context_history import context_at

WORKER = """\
meta: {test_id: WORKER}
params:
  who: a
steps:
  - name: arrive
    uses: barrier
    args: {name: start, parties: 2, timeout: 60s}
  - name: count
    module: marks
    function: mark
    args: {who: "{{ params.who }}"}
    depends_on: [arrive]
  - name: both_done
    uses: wait_for
    args: {key: "done.{{ 'b' if params.who == 'a' else 'a' }}", equals: true, timeout: 60s}
    depends_on: [count]
"""


def f0_run(recipe: Path, server: Server, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "framework0", "run", str(recipe), "--context-server", server.url, "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "F0_TOKEN": server.token},
        cwd=recipe.parent,
    )


def test_two_runners_meet_at_a_barrier_and_see_each_others_writes(tmp_path: Path):
    recipe = tmp_path / "worker.yaml"
    recipe.write_text(WORKER)
    (tmp_path / "marks.py").write_text("def mark(ctx, who: str):\n    ctx.set(f'done.{who}', True)\n")
    with server_thread(f"sqlite:///{tmp_path / 'server.db'}") as server:
        runners = [f0_run(recipe, server, "--context", "shared", "-p", f"who={who}") for who in ("a", "b")]
        outputs = [runner.communicate(timeout=90) for runner in runners]
        with server.client() as client:
            shared = client.get("/api/v1/contexts/shared").json()
    for runner, (out, err) in zip(runners, outputs, strict=True):
        assert runner.returncode == 0, err
        assert json.loads(out)["status"] == "succeeded"
    assert shared["data"]["done.a"] is True and shared["data"]["done.b"] is True
    assert sorted(shared["data"]["barrier.start"]) == sorted(
        f"{json.loads(out)['run_id']}/arrive" for out, _ in outputs
    )


def test_a_runs_events_are_recorded_by_the_server(tmp_path: Path):
    steps = tmp_path / "steps.py"
    steps.write_text("def bump(ctx):\n    return ctx.increment('hits')\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        textwrap.dedent(
            """\
            meta: {test_id: EVENTS-1}
            steps:
              - {name: one, module: steps, function: bump}
              - {name: two, module: steps, function: bump, depends_on: [one]}
            """
        )
    )
    with server_thread(f"sqlite:///{tmp_path / 'server.db'}") as server:
        os.environ["F0_TOKEN"] = server.token
        try:
            result = framework0.run(recipe, context_server=server.url, context="counts", store=None)
        finally:
            del os.environ["F0_TOKEN"]
        with server.client() as client:
            shown = client.get(f"/api/v1/runs/{result.run_id}").json()
            events = client.get(f"/api/v1/runs/{result.run_id}/events").json()["events"]
            counts = client.get("/api/v1/contexts/counts").json()
    assert result.status == "succeeded"
    assert [result.steps["one"].output, result.steps["two"].output] == [1, 2]
    assert shown["status"] == "succeeded"
    assert {name: step["status"] for name, step in shown["steps"].items()} == {"one": "succeeded", "two": "succeeded"}
    assert events[0]["type"] == "run_started" and events[-1]["type"] == "run_finished"
    assert counts["data"] == {"hits": 2} == result.context


def test_a_run_without_a_context_name_gets_a_context_named_after_it(tmp_path: Path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - {name: s, uses: set_context, args: {values: {x: 1}}}\n")
    with server_thread(f"sqlite:///{tmp_path / 'server.db'}") as server:
        os.environ["F0_TOKEN"] = server.token
        try:
            result = framework0.run(recipe, context_server=server.url, store=None)
        finally:
            del os.environ["F0_TOKEN"]
        with server.client() as client:
            assert client.get(f"/api/v1/contexts/{result.run_id}").json()["data"] == {"x": 1}


def test_context_without_a_context_server_is_a_usage_error(tmp_path: Path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - {name: s, uses: sleep, args: {seconds: 0}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "framework0", "run", str(recipe), "--context", "shared"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --context NAME names a context on a context server: add --context-server URL"
    ]


def test_an_unreachable_context_server_is_one_line_and_nothing_runs(tmp_path: Path):
    recipe = tmp_path / "r.yaml"
    marker = tmp_path / "ran"
    recipe.write_text(f"steps:\n  - {{name: s, uses: files, args: {{action: write, path: '{marker}', content: x}}}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "framework0", "run", str(recipe), "--context-server", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "F0_TOKEN": "t" * 32, "F0_CONTEXT_SERVER_RETRY": "0"},
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the context server at http://127.0.0.1:9" in lines[0], done.stderr
    assert not marker.exists()


def test_a_runner_recording_in_the_servers_store_is_the_only_writer_of_its_run(tmp_path: Path):
    steps = tmp_path / "one_writer_steps.py"
    steps.write_text("def say(ctx):\n    print('said once')\n    ctx.set('said', True)\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - {name: say, module: one_writer_steps, function: say}\n")
    store_url = f"sqlite:///{tmp_path / 'shared.db'}"
    with server_thread(store_url) as server:
        os.environ["F0_TOKEN"] = server.token
        try:
            result = framework0.run(recipe, context_server=server.url, store=store_url)
        finally:
            del os.environ["F0_TOKEN"]
    store = open_store(store_url)
    try:
        run = store.find_run(result.run_id)
        logs = [line["text"] for line in store.logs(result.run_id)]
        context = context_at(store, run)[1]
    finally:
        store.close()
    assert (run["node"], run["pid"]) == (NODE, os.getpid())
    assert logs == ["said once"]
    assert json.loads(run["context"]) == context == result.context == {"said": True}


def test_a_run_that_joined_a_context_others_wrote_is_recorded_by_the_server_without_it(tmp_path: Path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - {name: s, uses: set_context, args: {values: {x: 1}}}\n")
    store_url = f"sqlite:///{tmp_path / 'server.db'}"
    with server_thread(store_url) as server:
        with server.client() as client:
            assert client.put("/api/v1/contexts/joined/keys/owner", json={"value": "ops"}).status_code == 200
        os.environ["F0_TOKEN"] = server.token
        try:
            result = framework0.run(recipe, context_server=server.url, context="joined", store=None)
        finally:
            del os.environ["F0_TOKEN"]
    store = open_store(store_url)
    try:
        run = store.find_run(result.run_id)
        recorded = context_at(store, run)
    finally:
        store.close()
    assert result.context == {"owner": "ops", "x": 1}
    # the server saw only the run's own change (version 2), not the context it found: it records
    # no context rather than a wrong one (the runner's store, had it one, would have it all)
    assert (run["status"], recorded, json.loads(run["context"])) == ("succeeded", (0, {}), {})
