"""The Context API of RECIPES.md section 3: values, versions, batches, history, threads; CancelToken."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from framework0 import Change, Context, ContextError
from framework0.context import CancelToken, ChangeSource, ContextState


def make_context(
    state: ContextState | None = None, *, step: str | None = "load", attempt: int | None = 2, node: str = "node-1"
) -> Context:
    return Context(state if state is not None else ContextState(), ChangeSource(node=node, step=step, attempt=attempt))


def versions(changes: list[Change]) -> list[int]:
    return [change.version for change in changes]


def test_get_returns_the_value_set() -> None:
    ctx = make_context()
    ctx.set("db.host", "localhost")
    assert ctx.get("db.host") == "localhost"


def test_get_of_an_absent_key_returns_the_default() -> None:
    ctx = make_context()
    assert ctx.get("missing") is None
    assert ctx.get("missing", 5) == 5


def test_each_set_gets_the_next_version_without_gaps() -> None:
    ctx = make_context()
    ctx.set("a", 1)
    ctx.set("b", 2)
    ctx.set("a", 3)
    assert versions(ctx.history()) == [1, 2, 3]
    assert ctx.version == 3


def test_setting_the_same_value_again_is_still_recorded() -> None:
    ctx = make_context()
    ctx.set("a", 1)
    ctx.set("a", 1)
    assert [(c.version, c.old, c.new) for c in ctx.history()] == [(1, None, 1), (2, 1, 1)]


def test_update_is_one_version_shared_by_every_key_it_writes() -> None:
    ctx = make_context()
    ctx.set("first", 0)
    ctx.update({"a": 1, "b": 2, "c": 3})
    assert [(c.version, c.key, c.new) for c in ctx.history()] == [
        (1, "first", 0),
        (2, "a", 1),
        (2, "b", 2),
        (2, "c", 3),
    ]
    assert ctx.version == 2
    assert ctx.as_dict() == {"first": 0, "a": 1, "b": 2, "c": 3}


def test_update_is_one_batch() -> None:
    batches: list[list[Change]] = []
    ctx = make_context(ContextState(on_change=batches.append))
    ctx.update({"a": 1, "b": 2, "c": 3})
    assert [versions(batch) for batch in batches] == [[1, 1, 1]]


def test_update_with_one_bad_value_writes_nothing() -> None:
    ctx = make_context()
    with pytest.raises(ContextError):
        ctx.update({"a": 1, "b": object()})
    assert ctx.as_dict() == {}
    assert ctx.history() == []


def test_delete_removes_the_key_and_records_its_old_value() -> None:
    ctx = make_context()
    ctx.set("a", 1)
    ctx.delete("a")
    assert "a" not in ctx
    assert ctx.get("a") is None
    assert [(c.version, c.key, c.op, c.old, c.new) for c in ctx.history()] == [
        (1, "a", "set", None, 1),
        (2, "a", "delete", 1, None),
    ]


def test_delete_of_an_absent_key_records_nothing() -> None:
    batches: list[list[Change]] = []
    ctx = make_context(ContextState(on_change=batches.append))
    ctx.delete("never-set")
    assert ctx.history() == []
    assert ctx.version == 0
    assert batches == []


def test_history_with_a_key_keeps_only_that_keys_changes() -> None:
    ctx = make_context()
    ctx.set("a", 1)
    ctx.set("b", 2)
    ctx.set("a", 3)
    assert [(c.version, c.new) for c in ctx.history("a")] == [(1, 1), (3, 3)]
    assert ctx.history("nothing") == []


def test_a_change_records_old_new_step_attempt_node_and_time() -> None:
    ctx = make_context(step="load", attempt=2, node="node-1")
    before = time.time()
    ctx.set("a", 1)
    ctx.set("a", 2)
    after = time.time()
    change = ctx.history()[1]
    assert (change.version, change.key, change.op, change.old, change.new) == (2, "a", "set", 1, 2)
    assert (change.source.step, change.source.attempt, change.source.node) == ("load", 2, "node-1")
    assert before <= change.at <= after


def test_a_change_as_a_dict_has_every_field() -> None:
    ctx = make_context(step="load", attempt=2, node="node-1")
    ctx.set("a", [1])
    assert ctx.history()[0].to_dict() == {
        "version": 1,
        "key": "a",
        "op": "set",
        "old": None,
        "new": [1],
        "at": ctx.history()[0].at,
        "step": "load",
        "attempt": 2,
        "item": None,
        "node": "node-1",
    }


def test_a_context_outside_a_step_records_no_step_or_attempt() -> None:
    ctx = make_context(step=None, attempt=None)
    ctx.set("a", 1)
    change = ctx.history()[0]
    assert (change.source.step, change.source.attempt) == (None, None)


def test_contexts_of_two_steps_over_one_state_share_data_and_versions() -> None:
    state = ContextState()
    first, second = make_context(state, step="first"), make_context(state, step="second")
    first.set("a", 1)
    second.set("b", 2)
    assert first.as_dict() == second.as_dict() == {"a": 1, "b": 2}
    assert [(c.version, c.source.step) for c in second.history()] == [(1, "first"), (2, "second")]


def test_a_tuple_is_stored_as_a_list() -> None:
    ctx = make_context()
    ctx.set("pair", (1, (2, 3)))
    assert ctx.get("pair") == [1, [2, 3]]
    assert ctx.history()[0].new == [1, [2, 3]]


def test_mutating_the_original_after_set_does_not_change_the_context() -> None:
    ctx = make_context()
    original: dict[str, Any] = {"rows": [1, 2]}
    ctx.set("data", original)
    original["rows"].append(3)
    original["new"] = True
    assert ctx.get("data") == {"rows": [1, 2]}
    assert ctx.history()[0].new == {"rows": [1, 2]}


def test_mutating_the_original_after_update_does_not_change_the_context() -> None:
    ctx = make_context()
    rows = [1, 2]
    ctx.update({"rows": rows})
    rows.append(3)
    assert ctx.get("rows") == [1, 2]


@pytest.mark.parametrize(
    ("value", "type_name", "reason"),
    [
        (object(), "object", "Object of type object is not JSON serializable"),
        ({1, 2}, "set", "Object of type set is not JSON serializable"),
        (b"bytes", "bytes", "Object of type bytes is not JSON serializable"),
        ({"when": time}, "dict", "Object of type module is not JSON serializable"),
    ],
    ids=["object", "set", "bytes", "nested-module"],
)
def test_a_value_that_is_not_json_raises_a_clear_context_error(value: Any, type_name: str, reason: str) -> None:
    ctx = make_context()
    with pytest.raises(ContextError) as raised:
        ctx.set("bad", value)
    assert str(raised.value) == (
        f"context value for 'bad' is not JSON ({type_name}): {reason}; "
        "store strings, numbers, booleans, None, lists and dicts"
    )
    assert ctx.history() == []


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), [float("nan")], {"x": float("-inf")}], ids=["nan", "inf", "list", "dict"]
)
def test_a_float_that_json_cannot_hold_raises_a_context_error(value: Any) -> None:
    ctx = make_context()
    with pytest.raises(ContextError, match=r"^context value for 'bad' is not JSON \(\w+\): "):
        ctx.set("bad", value)
    assert ctx.history() == []


WRITES: dict[str, Callable[[Context, Any], None]] = {
    "set": lambda ctx, key: ctx.set(key, 1),
    "update": lambda ctx, key: ctx.update({key: 1}),
    "delete": lambda ctx, key: ctx.delete(key),
    "get": lambda ctx, key: ctx.get(key),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
@pytest.mark.parametrize("key", [1, None, ("a", "b"), ""], ids=["int", "none", "tuple", "empty"])
def test_a_key_that_is_not_a_non_empty_string_raises_a_clear_context_error(
    key: Any, write: Callable[[Context, Any], None]
) -> None:
    ctx = make_context()
    with pytest.raises(ContextError) as raised:
        write(ctx, key)
    assert str(raised.value) == f"context keys are non-empty strings, not {key!r}"
    assert ctx.history() == []


def test_on_change_is_called_once_per_batch_in_order() -> None:
    batches: list[list[tuple[int, str, str]]] = []
    ctx = make_context(
        ContextState(on_change=lambda changes: batches.append([(c.version, c.op, c.key) for c in changes]))
    )
    ctx.set("a", 1)
    ctx.update({"b": 2, "c": 3})
    ctx.delete("missing")
    ctx.delete("a")
    assert batches == [[(1, "set", "a")], [(2, "set", "b"), (2, "set", "c")], [(3, "delete", "a")]]


def test_concurrent_sets_get_every_version_exactly_once() -> None:
    state_batches: list[int] = []
    state = ContextState(on_change=lambda changes: state_batches.extend(versions(changes)))
    threads_count, per_thread = 8, 1000
    barrier = threading.Barrier(threads_count)

    def write(index: int) -> None:
        ctx = make_context(state, step=f"step{index}")
        barrier.wait()
        for n in range(per_thread):
            ctx.set(f"k{index}", n)

    threads = [threading.Thread(target=write, args=(index,)) for index in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = make_context(state).history()
    assert len(history) == threads_count * per_thread
    assert versions(history) == list(range(1, threads_count * per_thread + 1))
    assert state_batches == list(range(1, threads_count * per_thread + 1))
    assert state.version == threads_count * per_thread
    assert state.snapshot() == {f"k{index}": per_thread - 1 for index in range(threads_count)}


def test_cancel_token_is_not_set_until_set() -> None:
    token = CancelToken()
    assert not token.is_set()
    token.set()
    assert token.is_set()


def test_cancel_token_wait_returns_true_at_once_when_set() -> None:
    token = CancelToken()
    token.set()
    started = time.monotonic()
    assert token.wait(10) is True
    assert time.monotonic() - started < 1


def test_cancel_token_wait_returns_false_after_the_timeout() -> None:
    token = CancelToken()
    started = time.monotonic()
    assert token.wait(0.02) is False
    assert time.monotonic() - started >= 0.02


def test_cancel_token_set_from_another_thread_wakes_a_waiter() -> None:
    token = CancelToken()
    timer = threading.Timer(0.05, token.set)
    timer.start()
    started = time.monotonic()
    try:
        assert token.wait(10) is True
    finally:
        timer.cancel()
    assert time.monotonic() - started < 5


def test_context_wait_wakes_when_its_step_is_cancelled() -> None:
    token = CancelToken()
    ctx = Context(ContextState(), ChangeSource(node="n"), cancelled=token)
    assert ctx.cancelled is False
    assert ctx.wait(0.01) is False
    threading.Timer(0.05, token.set).start()
    assert ctx.wait(10) is True
    assert ctx.cancelled is True


def test_each_batch_of_an_attempt_is_numbered_for_its_idempotency_key() -> None:
    ctx = make_context(step="load", attempt=1)
    ctx.set("a", 1)
    ctx.update({"b": 2, "c": 3})
    other = make_context(ctx._state, step="other", attempt=1)
    other.set("a", 4)
    assert [(c.source.step, c.seq, c.version) for c in ctx.history()] == [
        ("load", 1, 1),
        ("load", 2, 2),
        ("load", 2, 2),
        ("other", 1, 3),
    ]


def test_an_attempt_run_again_after_a_crash_records_its_repeated_writes_once() -> None:
    state = ContextState()
    state.replay[("load", 1, None)] = [[("set", "a", 1)], [("set", "b", 2)]]
    state.restore({"a": 1, "b": 2}, 2, [])
    ctx = make_context(state, step="load", attempt=1)
    ctx.set("a", 1)
    ctx.set("b", 2)
    ctx.set("c", 3)
    assert [(c.key, c.version) for c in ctx.history()] == [("c", 3)]
    assert ctx.as_dict() == {"a": 1, "b": 2, "c": 3}


def test_an_attempt_that_writes_differently_when_run_again_records_the_new_writes() -> None:
    state = ContextState()
    state.replay[("load", 1, None)] = [[("set", "a", 1)], [("set", "b", 2)]]
    state.restore({"a": 1, "b": 2}, 2, [])
    ctx = make_context(state, step="load", attempt=1)
    ctx.set("a", 5)
    ctx.set("b", 2)
    assert [(c.key, c.new, c.version) for c in ctx.history()] == [("a", 5, 3), ("b", 2, 4)]
