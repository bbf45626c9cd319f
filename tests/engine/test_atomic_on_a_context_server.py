"""Atomic context changes from workers in other processes, when the run's context lives on a
context server (``--context-server``): the server makes them, so none is lost either."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.server.servers import server_thread

import framework0

HERE = Path(__file__).parent

if TYPE_CHECKING:
    from tests.engine.test_executor_contract import ATOMIC, dask_executor
else:  # the module pytest imported (its folder is on sys.path), not a second copy of it
    from test_executor_contract import ATOMIC, dask_executor


@pytest.mark.parametrize("executor", ["process", "dask"])
def test_workers_increments_on_a_context_server_lose_nothing(tmp_path: Path, monkeypatch, request, executor):
    chosen = dask_executor(request.config) if executor == "dask" else executor
    with server_thread(f"sqlite:///{tmp_path / 'server.db'}") as server:
        monkeypatch.setenv("F0_TOKEN", server.token)
        recipe = framework0.load_recipe_text(textwrap.dedent(ATOMIC), file="t.yaml", base_dir=HERE)
        result = framework0.run(
            recipe, executor=chosen, max_parallel=6, store=None, context_server=server.url, context="atomic"
        )
        with server.client() as client:
            history = client.get("/api/v1/contexts/atomic/history").json()["changes"]
    assert result.status == "succeeded", {name: step.error for name, step in result.steps.items()}
    assert sorted(result.steps["count"].output) == [1, 2, 3, 4, 5, 6]
    assert sorted(result.steps["elect"].output) == ["lost"] * 5 + ["won"]
    assert result.steps["after"].output["n"] == 16
    assert [(change["old"], change["new"]) for change in history if change["key"] == "n"] == [
        (None, 1),
        (1, 2),
        (2, 3),
        (3, 4),
        (4, 5),
        (5, 6),
        (6, 16),
    ]
