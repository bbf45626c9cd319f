"""Workers in other processes (the process and dask executors) read and write a run's context on
its context server directly: a step on one worker sees what a step on another wrote, live."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.server.servers import server_thread

import framework0

RECIPE = """
steps:
  - {name: waiter, uses: wait_for, args: {key: go, equals: true, timeout: 30s}}
  - {name: setter, uses: set_context, args: {values: {go: true}}, depends_on: [pause]}
  - {name: pause, uses: sleep, args: {seconds: 0.5}}
  - {name: after, uses: wait_for, args: {key: go, equals: true, timeout: 1s}, depends_on: [setter]}
"""


def executor(name: str) -> Any:
    if name == "dask":
        pytest.importorskip("distributed", reason="the dask executor needs the dask extra")
        return framework0.DaskExecutor(n_workers=2, threads_per_worker=1)
    return name


@pytest.mark.parametrize("name", ["process", "dask"])
def test_a_step_on_one_worker_sees_another_workers_write_to_the_server(tmp_path: Path, monkeypatch, name):
    with server_thread(f"sqlite:///{tmp_path / 'server.db'}") as server:
        monkeypatch.setenv("F0_TOKEN", server.token)
        recipe = framework0.load_recipe_text(textwrap.dedent(RECIPE), file="r.yaml", base_dir=tmp_path)
        result = framework0.run(
            recipe, executor=executor(name), max_parallel=2, store=None, context_server=server.url, context="live"
        )
        with server.client() as client:
            history = client.get("/api/v1/contexts/live/history").json()["changes"]
    assert result.status == "succeeded", {n: s.error for n, s in result.steps.items()}
    assert result.steps["waiter"].output is True
    assert result.context == {"go": True}
    assert [(change["key"], change["source"]["step"]) for change in history] == [("go", "setter")]
    assert history[0]["source"]["node"] == framework0_node()


def framework0_node() -> str:
    from framework0.engine.attempt import NODE

    return os.environ.get("F0_NODE") or NODE
