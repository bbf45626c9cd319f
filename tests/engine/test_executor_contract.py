"""Every executor runs the same recipe to the same result (the Executor interface's contract suite)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import framework0
from framework0.engine.executors.base import Executor

HERE = Path(__file__).parent

RECIPE = """
params: {n: 3}
steps:
  - {name: numbers, module: engine_steps, function: echo, args: {value: [1, 2, 3]}}
  - name: plus
    module: engine_steps
    function: add
    foreach: "{{ steps.numbers.output }}"
    args: {a: "{{ item }}", b: "{{ params.n }}"}
  - {name: total, module: engine_steps, function: echo, args: {value: "{{ steps.plus.output | sum }}"}}
  - {name: remember, uses: set_context, args: {values: {total: "{{ steps.total.output }}"}}}
  - {name: broken, module: engine_steps, function: fail, continue_on_error: true}
  - {name: skipped, module: engine_steps, function: noop, depends_on: [broken]}
  - name: check
    uses: assert
    args: {that: ["ctx.total == 15", "steps.broken.status == 'failed'"]}
    depends_on: [remember]
"""


def outcome(executor: str | Executor) -> dict[str, object]:
    recipe = framework0.load_recipe_text(textwrap.dedent(RECIPE), file="t.yaml", base_dir=HERE)
    result = framework0.run(recipe, executor=executor)
    return {
        "status": result.status,
        "steps": {n: (s.status, s.output, s.attempts, s.items) for n, s in result.steps.items()},
        "context": result.context,
    }


def dask_executor(config: pytest.Config) -> Executor:
    """A dask executor on the dask tests' shared cluster (tests/engine/dask/dask_steps.py)."""
    if str(HERE / "dask") not in sys.path:
        sys.path.insert(0, str(HERE / "dask"))
    if TYPE_CHECKING:  # mypy names that folder's modules tests.engine.dask.*
        from tests.engine.dask.dask_steps import shared_cluster
    else:
        from dask_steps import shared_cluster

    cluster = shared_cluster(config)
    cluster.make_ready()
    return framework0.DaskExecutor(cluster.address)


@pytest.mark.parametrize("executor", ["local", "process", "dask"])
def test_the_executor_gives_the_same_result_as_running_inline(executor, request):
    chosen = dask_executor(request.config) if executor == "dask" else executor
    assert outcome(chosen) == outcome("inline")


def test_the_contract_recipe_succeeds():
    assert outcome("inline")["status"] == "succeeded"
