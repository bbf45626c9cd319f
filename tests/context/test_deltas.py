"""Context history as deltas (framework0.context.deltas): rebuilding, old values, diffs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework0.context.changes import ChangeSource
from framework0.context.deltas import ContextDiff, Delta, apply_ops, diff, rebuild, replay, same_value
from framework0.errors import ContextError

STEP_A = ChangeSource(node="n1", step="a", attempt=1)
STEP_B = ChangeSource(node="n1", step="b", attempt=2, item=0)

DELTAS = [
    Delta(1, [["set", "x", 1], ["set", "y", "one"]], at=10.0, source=STEP_A, seq=1),
    Delta(2, [["set", "x", 2], ["delete", "y", None]], at=11.0, source=STEP_A, seq=2),
    Delta(3, [["set", "z", [1, 2]], ["set", "x", 3], ["set", "x", 4]], at=12.0, source=STEP_B, seq=1),
]


def test_apply_ops_sets_and_deletes_in_order() -> None:
    data: dict[str, Any] = {"gone": 0}
    apply_ops(data, [["set", "a", 1], ["set", "a", 2], ["delete", "gone", None], ["delete", "absent", None]])
    assert data == {"a": 2}


def test_apply_ops_refuses_an_unknown_operation() -> None:
    with pytest.raises(ContextError) as error:
        apply_ops({}, [["merge", "a", 1]], version=7)
    assert (
        str(error.value) == "context version 7 has an unknown operation 'merge' on key 'a'; expected 'set' or 'delete'"
    )


@pytest.mark.parametrize(
    ("version", "expected"),
    [(0, {}), (1, {"x": 1, "y": "one"}), (2, {"x": 2}), (3, {"x": 4, "z": [1, 2]}), (None, {"x": 4, "z": [1, 2]})],
    ids=["v0", "v1", "v2", "v3", "last"],
)
def test_rebuild_from_the_empty_context_replays_the_deltas_up_to_the_version(
    version: int | None, expected: dict[str, Any]
) -> None:
    assert rebuild({}, DELTAS, version=version) == expected


def test_rebuild_from_a_snapshot_skips_the_deltas_it_already_holds() -> None:
    snapshot = {"x": 2}
    assert rebuild(snapshot, DELTAS, base_version=2) == {"x": 4, "z": [1, 2]}
    assert rebuild(snapshot, DELTAS[2:], base_version=2, version=2) == {"x": 2}


def test_rebuild_does_not_change_the_snapshot() -> None:
    snapshot = {"x": 2}
    rebuild(snapshot, DELTAS, base_version=2)
    assert snapshot == {"x": 2}


def test_rebuild_refuses_a_gap_in_the_versions() -> None:
    with pytest.raises(ContextError) as error:
        rebuild({}, [DELTAS[0], DELTAS[2]])
    assert str(error.value) == (
        "context version 2 is missing from the history (the next stored version is 3); "
        "versions after 1 cannot be rebuilt"
    )


def test_rebuild_refuses_a_version_past_the_end_of_the_history() -> None:
    with pytest.raises(ContextError) as error:
        rebuild({}, DELTAS, version=5)
    assert str(error.value) == "the context history stops at version 3; version 5 cannot be rebuilt"


def test_replay_gives_each_change_its_old_value_and_source() -> None:
    changes = replay({}, DELTAS)
    assert [(c.version, c.key, c.op, c.old, c.new) for c in changes] == [
        (1, "x", "set", None, 1),
        (1, "y", "set", None, "one"),
        (2, "x", "set", 1, 2),
        (2, "y", "delete", "one", None),
        (3, "z", "set", None, [1, 2]),
        (3, "x", "set", 2, 3),
        (3, "x", "set", 3, 4),
    ]
    assert changes[-1].source == STEP_B
    assert (changes[-1].at, changes[-1].seq) == (12.0, 1)


def test_replay_of_one_key_starts_from_its_value_in_the_base() -> None:
    changes = replay({"x": 2, "other": 5}, DELTAS[2:], key="x")
    assert [(c.version, c.old, c.new) for c in changes] == [(3, 2, 3), (3, 3, 4)]


def test_replay_of_one_key_follows_deletes() -> None:
    deltas = [Delta(1, [["set", "k", 1]]), Delta(2, [["delete", "k", None]]), Delta(3, [["set", "k", 3]])]
    assert [(c.op, c.old, c.new) for c in replay({}, deltas, key="k")] == [
        ("set", None, 1),
        ("delete", 1, None),
        ("set", None, 3),
    ]


def test_diff_sorts_keys_into_added_removed_and_changed() -> None:
    found = diff(
        {"same": 1, "old": "a", "moved": 1, "nested": {"a": [1]}},
        {"same": 1, "new": True, "moved": 2, "nested": {"a": [1]}},
    )
    assert found == ContextDiff(added={"new": True}, removed={"old": "a"}, changed={"moved": (1, 2)})
    assert found.to_dict() == {
        "added": {"new": True},
        "removed": {"old": "a"},
        "changed": {"moved": {"old": 1, "new": 2}},
    }
    assert found
    assert not diff({"a": 1}, {"a": 1})


@pytest.mark.parametrize(
    ("a", "b"),
    [(1, 1.0), (1, True), (0, False), ([1], [1.0]), ({"a": 1}, {"a": True}), (None, 0), ("1", 1)],
    ids=["int-float", "int-bool", "zero-false", "nested-float", "nested-bool", "null-zero", "text-int"],
)
def test_values_that_python_calls_equal_but_json_does_not_are_changed(a: Any, b: Any) -> None:
    assert not same_value(a, b)
    assert diff({"k": a}, {"k": b}).changed == {"k": (a, b)}


def test_key_order_inside_an_object_is_no_difference() -> None:
    assert same_value({"a": 1, "b": 2}, {"b": 2, "a": 1})


KEYS = st.sampled_from(["a", "b", "c", "d.e", "f"])
VALUES = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3) | st.lists(st.integers(0, 3), max_size=2)
OPS = st.one_of(st.tuples(st.just("set"), KEYS, VALUES), st.tuples(st.just("delete"), KEYS, st.none()))


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(st.lists(OPS, min_size=1, max_size=4), max_size=30), every=st.integers(1, 8))
def test_rebuilding_any_version_from_its_snapshot_equals_replaying_from_version_0(
    batches: list[list[tuple[str, str, Any]]], every: int
) -> None:
    deltas = [Delta(number, [list(op) for op in batch]) for number, batch in enumerate(batches, start=1)]
    states: list[dict[str, Any]] = [{}]
    for delta in deltas:
        state = dict(states[-1])
        apply_ops(state, delta.ops)
        states.append(state)
    snapshots = {version: states[version] for version in range(every, len(deltas) + 1, every)}
    for version in range(len(deltas) + 1):
        base_version = version - version % every
        base = snapshots.get(base_version, {})
        after = deltas[base_version:version]
        assert rebuild(base, after, base_version=base_version, version=version) == states[version]
        assert rebuild(base, deltas, base_version=base_version, version=version) == states[version]
        assert rebuild({}, deltas, version=version) == states[version]
    changes = replay({}, deltas)
    assert len(changes) == sum(len(batch) for batch in batches)
    data: dict[str, Any] = {}
    for change in changes:
        assert change.old == data.get(change.key)
        apply_ops(data, [[change.op, change.key, change.new]])
    assert data == states[-1]
