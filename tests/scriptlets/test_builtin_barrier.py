from __future__ import annotations

import textwrap
import threading
import time
from typing import Any

import pytest
from pydantic import ValidationError

import framework0
from framework0 import RunResult
from framework0.context import CancelToken, ChangeSource, Context, ContextState
from framework0.errors import StepCancelled, WaitTimeout
from framework0.scriptlets.builtin.barrier import BarrierScriptlet


def make_context(
    state: ContextState | None = None,
    *,
    step: str = "s",
    attempt: int = 1,
    item: int | None = None,
    cancelled: CancelToken | None = None,
) -> Context:
    source = ChangeSource(node="test", step=step, attempt=attempt, item=item)
    return Context(state if state is not None else ContextState(run_id="r1"), source, cancelled=cancelled)


def run_barrier(args: dict[str, Any], ctx: Context | None = None) -> Any:
    ctx = ctx or make_context()
    return BarrierScriptlet().run(ctx, BarrierScriptlet.parse_params(args))


def run_recipe(text: str) -> RunResult:
    recipe = framework0.load_recipe_text(textwrap.dedent(text), file="t.yaml")
    return framework0.run(recipe, max_parallel=4)


# -- params ---------------------------------------------------------------------------------------


def test_barrier_waits_five_minutes_by_default() -> None:
    assert BarrierScriptlet.parse_params({"name": "sync", "parties": 2}).timeout == 300.0


@pytest.mark.parametrize("parties", [0, -1, True, 1.5, "many"])
def test_barrier_needs_a_whole_number_of_parties_of_one_or_more(parties: Any) -> None:
    with pytest.raises(ValidationError, match="parties"):
        BarrierScriptlet.parse_params({"name": "sync", "parties": parties})


def test_barrier_needs_a_name() -> None:
    with pytest.raises(ValidationError, match="name"):
        BarrierScriptlet.parse_params({"name": "", "parties": 1})


# -- one participant at a time --------------------------------------------------------------------


def test_a_barrier_of_one_passes_at_once_and_returns_its_participant() -> None:
    ctx = make_context()
    assert run_barrier({"name": "sync", "parties": 1}, ctx) == ["r1/s"]
    assert ctx.get("barrier.sync") == ["r1/s"]


def test_the_default_id_of_a_foreach_item_names_the_item() -> None:
    assert run_barrier({"name": "sync", "parties": 1}, make_context(item=2)) == ["r1/s[2]"]


def test_the_default_id_outside_a_run_is_the_step() -> None:
    assert run_barrier({"name": "sync", "parties": 1}, make_context(ContextState())) == ["s"]


def test_an_id_given_is_used_as_the_participant() -> None:
    assert run_barrier({"name": "sync", "parties": 1, "id": "web-1"}) == ["web-1"]


def test_an_attempt_retried_does_not_count_twice() -> None:
    state = ContextState(run_id="r1")
    run_barrier({"name": "sync", "parties": 1}, make_context(state, attempt=1))
    with pytest.raises(WaitTimeout):
        run_barrier({"name": "sync", "parties": 2, "timeout": 0.01}, make_context(state, attempt=2))
    assert state.get("barrier.sync") == ["r1/s"]


def test_a_barrier_not_full_in_time_fails_naming_who_arrived() -> None:
    with pytest.raises(WaitTimeout) as raised:
        run_barrier({"name": "sync", "parties": 3, "timeout": 0.01})
    assert str(raised.value) == (
        "timed out after 0.01s waiting for 'barrier.sync' (3 participants); last value: ['r1/s']"
    )


def test_cancelling_stops_the_wait() -> None:
    cancelled = CancelToken()
    timer = threading.Timer(0.05, cancelled.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(StepCancelled, match=r"^cancelled while waiting for 'barrier.sync' \(2 participants\)$"):
        run_barrier({"name": "sync", "parties": 2, "timeout": 30}, make_context(cancelled=cancelled))
    assert time.monotonic() - started < 5
    timer.join()


def test_threads_meeting_at_a_barrier_all_pass_with_every_participant() -> None:
    state = ContextState(run_id="r1")
    outputs: dict[str, Any] = {}

    def arrive(step: str) -> None:
        outputs[step] = run_barrier({"name": "sync", "parties": 3, "timeout": 30}, make_context(state, step=step))

    threads = [threading.Thread(target=arrive, args=(step,)) for step in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outputs) == ["a", "b", "c"]
    assert all(sorted(output) == ["r1/a", "r1/b", "r1/c"] for output in outputs.values())


# -- in a recipe ----------------------------------------------------------------------------------


def test_three_parallel_steps_meet_at_a_barrier() -> None:
    result = run_recipe(
        """
        steps:
          - {name: a, uses: barrier, args: {name: sync, parties: 3, timeout: 30s}}
          - {name: b, uses: barrier, args: {name: sync, parties: 3, timeout: 30s}}
          - {name: c, uses: barrier, args: {name: sync, parties: 3, timeout: 30s}}
        """
    )
    assert result.status == "succeeded"
    run = result.run_id
    assert sorted(result.context["barrier.sync"]) == [f"{run}/a", f"{run}/b", f"{run}/c"]
    assert {len(result.steps[name].output) for name in "abc"} == {3}


def test_the_items_of_a_foreach_step_meet_at_a_barrier() -> None:
    result = run_recipe(
        """
        steps:
          - {name: b, uses: barrier, foreach: [x, y, z], args: {name: items, parties: 3, timeout: 30s}}
        """
    )
    assert result.status == "succeeded"
    run = result.run_id
    assert sorted(result.context["barrier.items"]) == [f"{run}/b[0]", f"{run}/b[1]", f"{run}/b[2]"]


def test_a_barrier_short_of_parties_fails_the_step_with_the_reason() -> None:
    result = run_recipe(
        """
        steps:
          - {name: a, uses: barrier, args: {name: sync, parties: 2, timeout: 50ms}}
        """
    )
    assert result.status == "failed"
    error = result.steps["a"].error
    assert error is not None
    assert (error.type, error.message) == (
        "WaitTimeout",
        f"timed out after 0.05s waiting for 'barrier.sync' (2 participants); last value: ['{result.run_id}/a']",
    )
