"""Atomic changes on the local context (increment, add, remove, compare-and-set, change requests),
key versions, and waiting for a key (ContextState.wait_until, Context.wait_for)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from framework0.context import CancelToken, Change, ChangeSource, Context, ContextState
from framework0.context.merge import ChangeRequest, Strategies
from framework0.errors import ContextConflict, ContextError, StepCancelled, WaitTimeout


def make_context(
    state: ContextState | None = None, *, step: str = "s", item: int | None = None, cancelled: CancelToken | None = None
) -> Context:
    source = ChangeSource(node="n", step=step, attempt=1, item=item)
    return Context(state if state is not None else ContextState(), source, cancelled=cancelled)


def in_threads(count: int, work: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=work, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)


def later(seconds: float, action: Callable[[], object]) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


# -- increment, add, remove -----------------------------------------------------------------------


def test_increment_starts_an_absent_key_at_zero_and_returns_the_new_value() -> None:
    ctx = make_context()
    assert ctx.increment("n") == 1
    assert ctx.increment("n", 2.5) == 3.5
    assert ctx.get("n") == 3.5


def test_increment_is_recorded_as_a_set_of_the_new_value() -> None:
    ctx = make_context()
    ctx.set("n", 4)
    ctx.increment("n", -1)
    assert [(c.version, c.op, c.old, c.new) for c in ctx.history("n")] == [(1, "set", None, 4), (2, "set", 4, 3)]


def test_increment_of_a_string_is_refused_and_writes_nothing() -> None:
    ctx = make_context()
    ctx.set("n", "three")
    with pytest.raises(ContextError, match=r"^cannot increment 'n': its value is a string \('three'\), not a number$"):
        ctx.increment("n")
    assert ctx.version == 1


def test_increment_by_something_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ContextError, match=r"^increment of 'n' must be a number, not True$"):
        make_context().increment("n", True)


def test_add_returns_the_list_with_new_items_once_each() -> None:
    ctx = make_context()
    assert ctx.add("hosts", "web-1", "web-2") == ["web-1", "web-2"]
    assert ctx.add("hosts", "web-2", "db-1") == ["web-1", "web-2", "db-1"]


def test_the_list_add_returns_is_a_copy() -> None:
    ctx = make_context()
    ctx.add("hosts", "a").append("b")
    assert ctx.get("hosts") == ["a"]


def test_remove_returns_the_list_without_the_items() -> None:
    ctx = make_context()
    ctx.add("hosts", "a", "b", "c")
    assert ctx.remove("hosts", "b", "x") == ["a", "c"]


def test_remove_from_an_absent_key_leaves_it_absent_and_records_nothing() -> None:
    ctx = make_context()
    assert ctx.remove("hosts", "a") == []
    assert "hosts" not in ctx
    assert ctx.history() == []


def test_threads_incrementing_at_once_lose_no_increment() -> None:
    ctx = make_context()

    def work(number: int) -> None:
        for _ in range(200):
            ctx.increment("n")

    in_threads(8, work)
    assert ctx.get("n") == 1600
    assert ctx.version == 1600


def test_each_increment_returns_a_different_value_under_contention() -> None:
    ctx = make_context()
    seen: list[int | float] = []

    def work(number: int) -> None:
        for _ in range(100):
            seen.append(ctx.increment("n"))

    in_threads(6, work)
    assert sorted(seen) == list(range(1, 601))


def test_threads_adding_at_once_lose_no_item() -> None:
    ctx = make_context()

    def work(number: int) -> None:
        for index in range(50):
            ctx.add("items", f"{number}-{index}", "shared")

    in_threads(8, work)
    items = ctx.get("items")
    assert sorted(items) == sorted(["shared", *(f"{n}-{i}" for n in range(8) for i in range(50))])


# -- versions, compare-and-set, change requests ---------------------------------------------------


def test_a_key_version_is_the_version_of_the_change_that_last_wrote_it() -> None:
    ctx = make_context()
    ctx.set("a", 1)
    ctx.set("b", 1)
    ctx.update({"a": 2, "c": 3})
    assert [ctx.key_version(key) for key in ("a", "b", "c")] == [3, 2, 3]


def test_an_absent_or_deleted_key_is_at_version_zero() -> None:
    ctx = make_context()
    assert ctx.key_version("a") == 0
    ctx.set("a", 1)
    ctx.delete("a")
    assert ctx.key_version("a") == 0


def test_compare_and_set_writes_when_the_version_is_current_and_returns_the_new_version() -> None:
    ctx = make_context()
    ctx.set("leader", "web-1")
    assert ctx.compare_and_set("leader", "web-2", ctx.key_version("leader")) == 2
    assert ctx.get("leader") == "web-2"


def test_compare_and_set_at_version_zero_writes_only_an_absent_key() -> None:
    ctx = make_context()
    assert ctx.compare_and_set("leader", "web-1", 0) == 1
    with pytest.raises(ContextConflict):
        ctx.compare_and_set("leader", "web-2", 0)


def test_a_stale_compare_and_set_raises_and_leaves_nothing_written() -> None:
    ctx = make_context()
    ctx.set("leader", "web-1")
    ctx.set("leader", "web-2")
    with pytest.raises(ContextConflict) as raised:
        ctx.compare_and_set("leader", "web-3", 1)
    assert raised.value.conflicts == {"leader": (1, 2)}
    assert str(raised.value) == "stale write, nothing written: 'leader' is at version 2, not 1"
    assert ctx.get("leader") == "web-2"
    assert ctx.version == 2
    assert len(ctx.history()) == 2


def test_a_conflicting_change_writes_none_of_its_keys() -> None:
    ctx = make_context()
    ctx.set("guard", 1)
    with pytest.raises(ContextConflict):
        ctx.change(ChangeRequest(set={"a": 1}, increment={"n": 1}, expected={"guard": 0}))
    assert ctx.as_dict() == {"guard": 1}


def test_a_change_is_one_version_and_returns_it() -> None:
    ctx = make_context()
    ctx.set("old", 1)
    version = ctx.change(ChangeRequest(set={"a": 1}, delete=("old",), increment={"n": 2}, add={"s": ("x",)}))
    assert version == 2
    assert ctx.as_dict() == {"a": 1, "n": 2, "s": ["x"]}
    assert {change.version for change in ctx.history()} == {1, 2}


def test_a_change_that_writes_nothing_returns_the_current_version() -> None:
    ctx = make_context()
    ctx.set("a", 1)
    assert ctx.change(ChangeRequest(delete=("missing",))) == 1


def test_the_states_strategies_decide_how_a_change_lands() -> None:
    state = ContextState(strategies=Strategies({"cfg": "deep-merge", "n": "counter"}))
    ctx = make_context(state)
    ctx.set("cfg", {"db": {"host": "h"}})
    ctx.set("n", 1)
    ctx.change(ChangeRequest(set={"cfg": {"db": {"port": 5}}}, increment={"n": 1}, expected={"n": 99}))
    assert ctx.as_dict() == {"cfg": {"db": {"host": "h", "port": 5}}, "n": 2}


def test_a_state_by_default_rejects_stale_versions_on_every_key() -> None:
    assert ContextState().strategies == Strategies()


def test_apply_request_reports_its_batch_to_on_change_like_apply() -> None:
    batches: list[list[Change]] = []
    ctx = make_context(ContextState(on_change=batches.append))
    ctx.increment("n")
    ctx.add("s", 1)
    assert [[(c.version, c.key, c.new) for c in batch] for batch in batches] == [[(1, "n", 1)], [(2, "s", [1])]]


def test_an_increment_an_attempt_repeats_after_a_crash_is_counted_once() -> None:
    state = ContextState()
    state.replay[("s", 1, None)] = [[("set", "n", 1)]]
    state.restore({"n": 1}, 1, [])
    ctx = make_context(state)
    assert ctx.increment("n") == 1
    assert ctx.increment("n") == 2
    assert [(c.version, c.new) for c in ctx.history()] == [(2, 2)]


def test_restore_brings_back_each_keys_version_from_the_history() -> None:
    source = ChangeSource(node="n", step="s", attempt=1)
    history = [
        Change(1, "a", "set", None, 1, 0.0, source),
        Change(2, "b", "set", None, 1, 0.0, source),
        Change(3, "a", "set", 1, 2, 0.0, source),
        Change(4, "b", "delete", 1, None, 0.0, source),
    ]
    state = ContextState()
    state.restore({"a": 2}, 4, history)
    assert (state.key_version("a"), state.key_version("b")) == (3, 0)


# -- ContextState.wait_until ----------------------------------------------------------------------


def test_wait_until_returns_at_once_when_the_predicate_already_holds() -> None:
    assert ContextState({"a": 1}).wait_until(lambda state: state.get("a") == 1, timeout=0) is True


def test_wait_until_returns_false_after_the_timeout() -> None:
    started = time.monotonic()
    assert ContextState().wait_until(lambda state: state.contains("a"), timeout=0.05) is False
    assert time.monotonic() - started >= 0.05


def test_wait_until_wakes_on_a_batch_applied_by_another_thread() -> None:
    state = ContextState()
    writer = make_context(state, step="writer")
    timer = later(0.05, lambda: writer.set("a", 1))
    started = time.monotonic()
    assert state.wait_until(lambda s: s.contains("a"), timeout=10) is True
    assert time.monotonic() - started < 5
    timer.join()


def test_wait_until_wakes_on_restore() -> None:
    state = ContextState()
    timer = later(0.05, lambda: state.restore({"a": 1}, 1, []))
    assert state.wait_until(lambda s: s.contains("a"), timeout=10) is True
    timer.join()


def test_wait_until_returns_false_soon_after_cancelled_turns_true() -> None:
    flag = threading.Event()
    timer = later(0.05, flag.set)
    started = time.monotonic()
    assert ContextState().wait_until(lambda s: False, timeout=30, cancelled=flag.is_set) is False
    assert time.monotonic() - started < 5
    timer.join()


def test_a_predicate_may_read_the_whole_state_while_other_threads_write() -> None:
    state = ContextState()
    ctx = make_context(state)
    in_flight = threading.Thread(target=lambda: [ctx.increment("n") for _ in range(300)])
    in_flight.start()
    assert state.wait_until(lambda s: s.snapshot().get("n") == 300, timeout=30) is True
    in_flight.join()


# -- Context.wait_for -----------------------------------------------------------------------------


def test_wait_for_returns_the_value_once_the_key_exists() -> None:
    ctx = make_context()
    ctx.set("a", {"x": 1})
    assert ctx.wait_for("a", timeout=0) == {"x": 1}


def test_wait_for_wakes_on_another_threads_write() -> None:
    state = ContextState()
    writer = make_context(state, step="writer")
    timer = later(0.05, lambda: writer.set("ready", True))
    started = time.monotonic()
    assert make_context(state).wait_for("ready", True, timeout=10) is True
    assert time.monotonic() - started < 5
    timer.join()


def test_wait_for_a_plain_value_waits_for_an_equal_value() -> None:
    state = ContextState()
    writer = make_context(state, step="writer")

    def write() -> None:
        writer.set("phase", "load")
        writer.set("phase", "done")

    timer = later(0.05, write)
    assert make_context(state).wait_for("phase", "done", timeout=10) == "done"
    timer.join()


def test_wait_for_a_condition_returns_the_value_that_met_it() -> None:
    state = ContextState()
    writer = make_context(state, step="writer")
    timer = later(0.05, lambda: [writer.increment("n") for _ in range(5)])
    assert make_context(state).wait_for("n", lambda n: n >= 3, timeout=10) >= 3
    timer.join()


def test_wait_for_equality_is_json_equality() -> None:
    ctx = make_context()
    ctx.set("flag", 1)
    with pytest.raises(WaitTimeout):
        ctx.wait_for("flag", True, timeout=0)


def test_a_condition_is_not_called_while_the_key_is_absent() -> None:
    calls: list[object] = []
    with pytest.raises(WaitTimeout):
        make_context().wait_for("a", calls.append, timeout=0.01)
    assert calls == []


def test_wait_for_timeout_names_key_condition_last_value_and_timeout() -> None:
    ctx = make_context()
    ctx.set("jobs.done", 2)
    with pytest.raises(WaitTimeout) as raised:
        ctx.wait_for("jobs.done", 3, timeout=0.05)
    assert str(raised.value) == "timed out after 0.05s waiting for 'jobs.done' (equals 3); last value: 2"


def test_wait_for_timeout_names_a_function_condition_by_its_name() -> None:
    def at_least_three(value: int) -> bool:
        return value >= 3

    with pytest.raises(WaitTimeout) as raised:
        make_context().wait_for("jobs.done", at_least_three, timeout=0.01)
    assert str(raised.value) == "timed out after 0.01s waiting for 'jobs.done' (at_least_three); last value: absent"


def test_wait_for_timeout_without_a_condition_says_exists() -> None:
    with pytest.raises(WaitTimeout, match=r"^timed out after 0.01s waiting for 'a' \(exists\); last value: absent$"):
        make_context().wait_for("a", timeout=0.01)


def test_wait_for_raises_step_cancelled_when_the_step_is_cancelled() -> None:
    token = CancelToken()
    timer = later(0.05, token.set)
    started = time.monotonic()
    with pytest.raises(StepCancelled, match=r"^cancelled while waiting for 'a' \(exists\)$"):
        make_context(cancelled=token).wait_for("a", timeout=30)
    assert time.monotonic() - started < 5
    timer.join()


def test_wait_for_absent_returns_once_the_key_is_deleted() -> None:
    state = ContextState()
    writer = make_context(state, step="writer")
    writer.set("lock", "me")
    timer = later(0.05, lambda: writer.delete("lock"))
    make_context(state).wait_for_absent("lock", timeout=10)
    assert "lock" not in state.snapshot()
    timer.join()


def test_wait_for_absent_timeout_shows_the_value_still_there() -> None:
    ctx = make_context()
    ctx.set("lock", "me")
    with pytest.raises(WaitTimeout, match=r"^timed out after 0.01s waiting for 'lock' \(absent\); last value: 'me'$"):
        ctx.wait_for_absent("lock", timeout=0.01)


def test_context_knows_its_item_and_run() -> None:
    ctx = make_context(ContextState(run_id="r1"), item=2)
    assert (ctx.run_id, ctx.step, ctx.item) == ("r1", "s", 2)
