"""Every executor runs the same recipe to the same result (the Executor interface's contract suite)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import framework0
from framework0.context import Change
from framework0.engine.executors.base import Executor
from framework0.events import ContextChanged, EventBus

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


EXECUTORS = ["inline", "local", "process", "dask"]


@pytest.mark.parametrize("executor", ["local", "process", "dask"])
def test_the_executor_gives_the_same_result_as_running_inline(executor, request):
    chosen = dask_executor(request.config) if executor == "dask" else executor
    assert outcome(chosen) == outcome("inline")


def test_the_contract_recipe_succeeds():
    assert outcome("inline")["status"] == "succeeded"


ATOMIC = """
steps:
  - name: count
    module: atomic_steps
    function: count
    foreach: "{{ [1, 2, 3, 4, 5, 6] }}"
    args: {item: "{{ item }}"}
  - name: elect
    module: atomic_steps
    function: elect
    foreach: "{{ [1, 2, 3, 4, 5, 6] }}"
    args: {item: "{{ item }}"}
  - {name: swap, module: atomic_steps, function: set_then_swap, depends_on: [count]}
  - {name: after, module: atomic_steps, function: read, args: {names: [n, seen, phase]}, depends_on: [swap, elect]}
"""


def atomic_run(executor: str, request: pytest.FixtureRequest) -> tuple[framework0.RunResult, list[Change]]:
    chosen = dask_executor(request.config) if executor == "dask" else executor
    recipe = framework0.load_recipe_text(textwrap.dedent(ATOMIC), file="t.yaml", base_dir=HERE)
    bus = EventBus()
    changes: list[Change] = []
    bus.subscribe(lambda event: changes.extend(event.changes) if isinstance(event, ContextChanged) else None)
    result = framework0.run(recipe, executor=chosen, bus=bus, store=None, max_parallel=6)
    return result, changes


@pytest.mark.parametrize("executor", EXECUTORS)
def test_parallel_increments_and_additions_lose_nothing(executor, request):
    result, _ = atomic_run(executor, request)
    assert result.status == "succeeded", {name: step.error for name, step in result.steps.items()}
    assert sorted(result.steps["count"].output) == [1, 2, 3, 4, 5, 6]  # each increment's true new value
    assert result.context["n"] == 16
    assert sorted(result.context["seen"]) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_compare_and_set_against_a_stale_version_raises_a_conflict_in_the_step(executor, request):
    result, changes = atomic_run(executor, request)
    assert sorted(result.steps["elect"].output) == ["lost"] * 5 + ["won"]
    assert [change.new for change in changes if change.key == "leader"] == [result.context["leader"]]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_workers_atomic_writes_are_recorded_as_real_changes_in_order(executor, request):
    result, changes = atomic_run(executor, request)
    counted = [(change.old, change.new) for change in changes if change.key == "n"]
    assert counted == [(None, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 16)]
    assert [change.new for change in changes if change.key == "phase"] == ["one", "two"]
    assert [change.version for change in changes] == sorted(change.version for change in changes)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_later_step_reads_what_a_workers_atomic_writes_made(executor, request):
    result, _ = atomic_run(executor, request)
    assert result.steps["swap"].output == ["two", 16]
    seen = result.steps["after"].output
    assert (seen["n"], sorted(seen["seen"]), seen["phase"]) == (16, [1, 2, 3, 4, 5, 6], "two")


def held_run(executor: str, request: pytest.FixtureRequest, folder: Path) -> framework0.RunResult:
    """A failing step, then five that each write a file, one at a time: the five wait in the queue."""
    chosen = dask_executor(request.config) if executor == "dask" else executor
    writes = "\n".join(
        f"  - {{name: w{n}, uses: files, args: {{action: write, path: '{folder / f'w{n}'}', content: ran}}}}"
        for n in range(5)
    )
    text = f"sequential: false\nsteps:\n  - {{name: broken, module: engine_steps, function: fail}}\n{writes}\n"
    recipe = framework0.load_recipe_text(text, file="t.yaml", base_dir=HERE)
    return framework0.run(recipe, executor=chosen, store=None, max_parallel=1)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_after_a_failure_stops_the_run_no_queued_step_starts(executor, request, tmp_path):
    result = held_run(executor, request, tmp_path)
    assert result.steps["broken"].status == "failed"
    assert {step.status for name, step in result.steps.items() if name != "broken"} == {"pending"}
    assert list(tmp_path.iterdir()) == []
