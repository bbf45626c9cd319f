from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import framework0
from framework0 import RunResult
from framework0.context import CancelToken, ChangeSource, Context, ContextState
from framework0.errors import StepCancelled, WaitTimeout
from framework0.scriptlets.builtin.wait_for import WaitForScriptlet


def make_context(values: dict[str, Any] | None = None, cancelled: CancelToken | None = None) -> Context:
    return Context(ContextState(values), ChangeSource(node="test", step="s", attempt=1), cancelled=cancelled)


def run_wait_for(args: dict[str, Any], ctx: Context | None = None) -> Any:
    ctx = ctx or make_context()
    return WaitForScriptlet().run(ctx, WaitForScriptlet.parse_params(args))


def run_recipe(text: str, base_dir: Path | None = None) -> RunResult:
    recipe = framework0.load_recipe_text(textwrap.dedent(text), file="t.yaml", base_dir=base_dir)
    return framework0.run(recipe, max_parallel=4)


# -- params ---------------------------------------------------------------------------------------


def test_wait_for_waits_five_minutes_by_default() -> None:
    assert WaitForScriptlet.parse_params({"key": "k", "exists": True}).timeout == 300.0


def test_wait_for_takes_its_timeout_as_a_duration() -> None:
    assert WaitForScriptlet.parse_params({"key": "k", "exists": True, "timeout": "2m"}).timeout == 120.0


def test_wait_for_needs_a_condition() -> None:
    with pytest.raises(ValidationError, match="give exactly one condition of equals, not_equals, at_least, at_most"):
        WaitForScriptlet.parse_params({"key": "k"})


def test_wait_for_refuses_two_conditions_and_names_them() -> None:
    with pytest.raises(ValidationError, match=r"\(got equals, at_least\)"):
        WaitForScriptlet.parse_params({"key": "k", "equals": 1, "at_least": 1})


@pytest.mark.parametrize("name", ["exists", "at_least", "at_most"])
def test_a_condition_that_cannot_be_null_refuses_null(name: str) -> None:
    with pytest.raises(ValidationError, match=f"'{name}' cannot be null"):
        WaitForScriptlet.parse_params({"key": "k", name: None})


def test_at_least_refuses_a_boolean() -> None:
    with pytest.raises(ValidationError, match="at_least"):
        WaitForScriptlet.parse_params({"key": "k", "at_least": True})


# -- conditions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "value"),
    [
        ({"equals": {"a": [1]}}, {"a": [1]}),
        ({"equals": None}, None),
        ({"not_equals": "running"}, "done"),
        ({"at_least": 3}, 3),
        ({"at_least": 2.5}, 4),
        ({"at_most": 0}, -1.5),
        ({"exists": True}, False),
        ({"contains": "web-1"}, ["db-1", "web-1"]),
        ({"contains": {"id": 2}}, [{"id": 2}]),
        ({"contains": "ok"}, "all ok here"),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_a_condition_met_returns_the_value(condition: dict[str, Any], value: Any) -> None:
    assert run_wait_for({"key": "k", **condition, "timeout": 0}, make_context({"k": value})) == value


@pytest.mark.parametrize(
    ("condition", "value", "shown"),
    [
        ({"equals": 1}, True, "equals 1"),
        ({"not_equals": "running"}, "running", "not equals 'running'"),
        ({"at_least": 3}, 2, "at least 3"),
        ({"at_least": 3}, "9", "at least 3"),
        ({"at_most": 1.5}, 2, "at most 1.5"),
        ({"contains": "web-1"}, ["web-2"], "contains 'web-1'"),
        ({"contains": 1}, "1", "contains 1"),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_a_condition_not_met_times_out_naming_key_condition_and_last_value(
    condition: dict[str, Any], value: Any, shown: str
) -> None:
    with pytest.raises(WaitTimeout) as raised:
        run_wait_for({"key": "k", **condition, "timeout": 0.01}, make_context({"k": value}))
    assert str(raised.value) == f"timed out after 0.01s waiting for 'k' ({shown}); last value: {value!r}"


def test_a_condition_on_an_absent_key_is_not_met() -> None:
    with pytest.raises(WaitTimeout, match=r"\(not equals 'x'\); last value: absent$"):
        run_wait_for({"key": "k", "not_equals": "x", "timeout": 0.01})


def test_exists_false_waits_until_the_key_is_gone_and_returns_null() -> None:
    ctx = make_context({"lock": "me"})
    timer = threading.Timer(0.05, lambda: ctx.delete("lock"))
    timer.start()
    assert run_wait_for({"key": "lock", "exists": False, "timeout": 10}, ctx) is None
    timer.join()


def test_cancelling_stops_the_wait() -> None:
    cancelled = CancelToken()
    timer = threading.Timer(0.05, cancelled.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(StepCancelled, match=r"^cancelled while waiting for 'k' \(at least 1\)$"):
        run_wait_for({"key": "k", "at_least": 1, "timeout": 30}, make_context(cancelled=cancelled))
    assert time.monotonic() - started < 5
    timer.join()


# -- in a recipe ----------------------------------------------------------------------------------


def test_a_step_waits_for_a_key_another_step_sets_later() -> None:
    result = run_recipe(
        """
        steps:
          - {name: waiter, uses: wait_for, args: {key: db.ready, equals: true, timeout: 30s}}
          - {name: pause, uses: sleep, args: {seconds: 100ms}}
          - {name: ready, uses: set_context, depends_on: [pause], args: {values: {db.ready: true}}}
        """
    )
    assert result.status == "succeeded"
    assert result.steps["waiter"].output is True


def test_a_step_waits_for_a_counter_other_steps_increment(tmp_path: Path) -> None:
    (tmp_path / "wait_for_counting.py").write_text(
        "import time\n\ndef count_one(pause, ctx):\n    time.sleep(pause)\n    ctx.increment('done')\n"
    )
    result = run_recipe(
        """
        steps:
          - {name: waiter, uses: wait_for, args: {key: done, at_least: 3, timeout: 30s}}
          - {name: work, module: wait_for_counting, function: count_one, foreach: [1, 2, 3], args: {pause: 0.05}}
        """,
        base_dir=tmp_path,
    )
    assert result.status == "succeeded"
    assert result.steps["waiter"].output == 3


def test_a_wait_that_times_out_fails_the_step_with_the_reason() -> None:
    result = run_recipe(
        """
        steps:
          - {name: phase, uses: set_context, args: {values: {phase: load}}}
          - {name: waiter, uses: wait_for, depends_on: [phase], args: {key: phase, equals: done, timeout: 50ms}}
        """
    )
    assert result.status == "failed"
    error = result.steps["waiter"].error
    assert error is not None
    assert (error.type, error.message) == (
        "WaitTimeout",
        "timed out after 0.05s waiting for 'phase' (equals 'done'); last value: 'load'",
    )
