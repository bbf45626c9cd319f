"""Merge strategies and change requests (context/merge.py): patterns, request shapes, resolution."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework0.context.changes import Operation
from framework0.context.merge import (
    STRATEGIES,
    ChangeRequest,
    Conflict,
    Resolution,
    Strategies,
    deep_merge,
    resolve,
)
from framework0.errors import ContextError

LWW = "last-writer-wins"


def reader(data: Mapping[str, tuple[Any, int]]):
    return data.get


def resolved(request: ChangeRequest, data: Mapping[str, tuple[Any, int]], rules: Mapping[str, str] | None = None):
    return resolve(request, reader(data), Strategies(rules))


def ops(request: ChangeRequest, data: Mapping[str, tuple[Any, int]], rules: Mapping[str, str] | None = None):
    return [(op.op, op.key, op.value) for op in resolved(request, data, rules).operations]


# -- Strategies -----------------------------------------------------------------------------------


def test_the_strategies_are_the_five_of_the_design() -> None:
    assert STRATEGIES == ("reject", "last-writer-wins", "deep-merge", "counter", "set")


def test_a_key_no_rule_matches_is_reject() -> None:
    assert Strategies().for_key("anything") == "reject"
    assert Strategies({"jobs.done": "counter"}).for_key("jobs.other") == "reject"


def test_an_exact_rule_matches_only_its_key() -> None:
    strategies = Strategies({"jobs.done": "counter"})
    assert strategies.for_key("jobs.done") == "counter"
    assert strategies.for_key("jobs.done.x") == "reject"


def test_a_prefix_rule_matches_keys_below_it_at_any_depth() -> None:
    strategies = Strategies({"counters.*": "counter"})
    assert strategies.for_key("counters.a") == "counter"
    assert strategies.for_key("counters.a.b") == "counter"


def test_a_prefix_rule_does_not_match_its_stem_or_a_longer_word() -> None:
    strategies = Strategies({"counters.*": "counter"})
    assert strategies.for_key("counters") == "reject"
    assert strategies.for_key("countersx.a") == "reject"


def test_the_star_rule_matches_every_key() -> None:
    assert Strategies({"*": LWW}).for_key("x") == LWW


def test_an_exact_rule_beats_a_prefix_rule() -> None:
    strategies = Strategies({"jobs.*": "counter", "jobs.hosts": "set"})
    assert strategies.for_key("jobs.hosts") == "set"


def test_the_longest_prefix_wins_whatever_the_declaration_order() -> None:
    strategies = Strategies({"a.*": "counter", "a.b.*": "set", "*": LWW})
    assert strategies.for_key("a.b.c") == "set"
    assert strategies.for_key("a.c") == "counter"
    assert strategies.for_key("b") == LWW


def test_an_unknown_strategy_is_refused_naming_the_pattern_and_the_choices() -> None:
    with pytest.raises(ContextError) as raised:
        Strategies({"jobs.*": "counters"})
    assert str(raised.value) == (
        "unknown merge strategy 'counters' for 'jobs.*' (did you mean 'counter'?); "
        "choose one of reject, last-writer-wins, deep-merge, counter, set"
    )


@pytest.mark.parametrize("pattern", ["", "a.*.b", "*x", ".*", "a*", "*.a"])
def test_a_malformed_pattern_is_refused_with_the_forms_allowed(pattern: str) -> None:
    with pytest.raises(ContextError) as raised:
        Strategies({pattern: "set"})
    assert str(raised.value) == (
        f"merge strategy pattern {pattern!r} is not allowed; use an exact key ('jobs.done'), "
        "a prefix ending in '.*' ('counters.*'), or '*' for every key"
    )


def test_a_strategy_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ContextError, match=r"^unknown merge strategy 3 for 'a'; choose one of"):
        Strategies({"a": 3})  # type: ignore[dict-item]


def test_strategies_give_back_their_rules_as_declared() -> None:
    rules = {"counters.*": "counter", "*": LWW}
    assert Strategies(rules).to_dict() == rules


def test_to_dict_is_a_copy() -> None:
    strategies = Strategies({"a": "set"})
    strategies.to_dict()["a"] = "counter"
    assert strategies.for_key("a") == "set"


def test_strategies_with_the_same_rules_are_equal_and_hash_alike() -> None:
    first = Strategies({"a": "set", "b.*": "counter"})
    second = Strategies({"b.*": "counter", "a": "set"})
    assert first == second
    assert hash(first) == hash(second)
    assert first != Strategies({"a": "set"})
    assert first != {"a": "set", "b.*": "counter"}


def test_strategies_show_their_rules() -> None:
    assert repr(Strategies({"a.*": "counter"})) == "Strategies({'a.*': 'counter'})"


# -- ChangeRequest --------------------------------------------------------------------------------


def test_a_request_is_built_from_its_json_form() -> None:
    request = ChangeRequest.from_json(
        {
            "set": {"a": {"x": 1}},
            "delete": ["b"],
            "increment": {"c": 2},
            "add": {"d": ["web-1"]},
            "remove": {"e": [1]},
            "expected": {"a": 3},
        }
    )
    assert request == ChangeRequest(
        set={"a": {"x": 1}},
        delete=("b",),
        increment={"c": 2},
        add={"d": ("web-1",)},
        remove={"e": (1,)},
        expected={"a": 3},
    )


def test_to_json_names_only_the_fields_that_are_not_empty() -> None:
    request = ChangeRequest(increment={"c": 1.5}, add={"d": ("x",)})
    assert request.to_json() == {"increment": {"c": 1.5}, "add": {"d": ["x"]}}


def test_a_request_survives_a_round_trip_through_json() -> None:
    body = {"set": {"a": [1]}, "delete": ["b"], "increment": {"c": 1}, "remove": {"e": [2]}, "expected": {"b": 0}}
    assert ChangeRequest.from_json(body).to_json() == body


def test_values_are_normalised_as_json() -> None:
    request = ChangeRequest.from_json({"set": {"a": (1, 2)}, "add": {"b": [(3,)]}})
    assert request.set == {"a": [1, 2]}
    assert request.add == {"b": ([3],)}


def test_a_key_deleted_twice_is_deleted_once() -> None:
    assert ChangeRequest.from_json({"delete": ["a", "a"]}).delete == ("a",)


def test_null_fields_are_empty() -> None:
    assert ChangeRequest.from_json({"set": None, "delete": None}).is_empty()


def test_a_request_with_no_writes_is_empty_even_with_expected_versions() -> None:
    assert ChangeRequest().is_empty()
    assert ChangeRequest(expected={"a": 1}).is_empty()
    assert not ChangeRequest(delete=("a",)).is_empty()


def test_a_key_in_two_kinds_of_write_is_refused() -> None:
    with pytest.raises(ContextError) as raised:
        ChangeRequest.from_json({"set": {"a": 1}, "increment": {"a": 1}})
    assert str(raised.value) == "key 'a' is in both 'set' and 'increment' of one change; write each key once per change"


def test_a_key_in_two_kinds_of_write_is_refused_when_built_directly() -> None:
    with pytest.raises(ContextError, match=r"^key 'a' is in both 'add' and 'remove'"):
        ChangeRequest(add={"a": (1,)}, remove={"a": (2,)})


def test_a_key_may_be_both_written_and_expected() -> None:
    assert ChangeRequest.from_json({"set": {"a": 1}, "expected": {"a": 0}}).expected == {"a": 0}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], "a change is a JSON object, not list"),
        (
            {"sett": {}},
            "unknown change field 'sett' (did you mean 'set'?); expected set, delete, increment, add, remove, expected",
        ),
        ({"set": [1]}, "change field 'set' must be an object of keys, not list"),
        ({"set": {"": 1}}, "context keys are non-empty strings, not ''"),
        ({"delete": "a"}, "change field 'delete' must be a list of keys, not str"),
        ({"delete": [1]}, "context keys are non-empty strings, not 1"),
        ({"increment": {"a": True}}, "increment of 'a' must be a number, not True"),
        ({"increment": {"a": "1"}}, "increment of 'a' must be a number, not '1'"),
        ({"increment": {"a": math.inf}}, "increment of 'a' must be a finite number, not inf"),
        ({"add": {"a": 1}}, "add of 'a' must be a list of items, not 1"),
        ({"remove": {"a": "xy"}}, "remove of 'a' must be a list of items, not 'xy'"),
        ({"expected": {"a": -1}}, "expected version of 'a' must be an integer >= 0, not -1"),
        ({"expected": {"a": 1.0}}, "expected version of 'a' must be an integer >= 0, not 1.0"),
        ({"expected": {"a": False}}, "expected version of 'a' must be an integer >= 0, not False"),
    ],
    ids=lambda value: None if isinstance(value, str) else repr(value)[:40],
)
def test_a_malformed_request_is_refused_in_one_line(body: Any, message: str) -> None:
    with pytest.raises(ContextError) as raised:
        ChangeRequest.from_json(body)
    assert str(raised.value) == message


def test_a_value_that_is_not_json_is_refused_naming_its_key() -> None:
    with pytest.raises(ContextError, match=r"^context value for 'a' is not JSON \(object\)"):
        ChangeRequest.from_json({"set": {"a": object()}})


# -- resolve: conflicts ---------------------------------------------------------------------------


def test_an_expected_version_that_is_current_is_no_conflict() -> None:
    request = ChangeRequest(set={"a": 2}, expected={"a": 4})
    assert resolved(request, {"a": (1, 4)}) == Resolution((Operation("set", "a", 2),), ())


def test_a_stale_expected_version_is_a_conflict_and_nothing_is_written() -> None:
    request = ChangeRequest(set={"a": 2, "b": 1}, expected={"a": 3})
    assert resolved(request, {"a": (1, 4)}) == Resolution((), (Conflict("a", 3, 4),))


def test_expected_version_zero_means_the_key_must_not_exist() -> None:
    request = ChangeRequest(set={"a": 1}, expected={"a": 0})
    assert resolved(request, {}).conflicts == ()
    assert resolved(request, {"a": (1, 2)}).conflicts == (Conflict("a", 0, 2),)


def test_an_absent_key_expected_at_a_version_is_a_conflict_at_zero() -> None:
    assert resolved(ChangeRequest(set={"a": 1}, expected={"a": 2}), {}).conflicts == (Conflict("a", 2, 0),)


def test_an_expected_key_the_request_does_not_write_is_a_guard() -> None:
    request = ChangeRequest(set={"b": 1}, expected={"a": 1})
    assert resolved(request, {"a": (0, 2)}).conflicts == (Conflict("a", 1, 2),)


def test_every_stale_key_is_reported() -> None:
    request = ChangeRequest(expected={"a": 1, "b": 1, "c": 3})
    data = {"a": (0, 2), "b": (0, 1), "c": (0, 4)}
    assert resolved(request, data).conflicts == (Conflict("a", 1, 2), Conflict("c", 3, 4))


@pytest.mark.parametrize("strategy", [LWW, "deep-merge", "counter", "set"])
def test_expected_versions_are_ignored_for_keys_not_under_reject(strategy: str) -> None:
    request = ChangeRequest(set={"a": 2}, expected={"a": 1})
    assert resolved(request, {"a": (1, 9)}, {"a": strategy}).conflicts == ()


# -- resolve: operations --------------------------------------------------------------------------


def test_set_replaces_the_value_under_reject() -> None:
    assert ops(ChangeRequest(set={"a": {"y": 2}}), {"a": ({"x": 1}, 1)}) == [("set", "a", {"y": 2})]


def test_set_of_an_object_onto_an_object_merges_under_deep_merge() -> None:
    request = ChangeRequest(set={"cfg": {"db": {"port": 2}, "debug": True}})
    data = {"cfg": ({"db": {"host": "h", "port": 1}}, 1)}
    assert ops(request, data, {"cfg": "deep-merge"}) == [
        ("set", "cfg", {"db": {"host": "h", "port": 2}, "debug": True})
    ]


def test_set_of_a_non_object_replaces_under_deep_merge() -> None:
    assert ops(ChangeRequest(set={"cfg": [1]}), {"cfg": ({"a": 1}, 1)}, {"*": "deep-merge"}) == [("set", "cfg", [1])]


def test_set_onto_an_absent_key_under_deep_merge_writes_the_value() -> None:
    assert ops(ChangeRequest(set={"cfg": {"a": 1}}), {}, {"*": "deep-merge"}) == [("set", "cfg", {"a": 1})]


def test_delete_of_an_absent_key_is_no_operation() -> None:
    assert ops(ChangeRequest(delete=("a", "b")), {"b": (1, 1)}) == [("delete", "b", None)]


def test_increment_adds_to_the_current_number() -> None:
    assert ops(ChangeRequest(increment={"n": 2}), {"n": (3, 1)}) == [("set", "n", 5)]


def test_increment_of_an_absent_key_starts_from_zero() -> None:
    assert ops(ChangeRequest(increment={"n": 1.5}), {}) == [("set", "n", 1.5)]


@pytest.mark.parametrize(
    ("value", "kind"), [(True, "a boolean"), ("3", "a string"), ([1], "a list"), ({}, "an object"), (None, "null")]
)
def test_increment_of_a_value_that_is_not_a_number_is_refused_naming_key_and_type(value: Any, kind: str) -> None:
    with pytest.raises(ContextError) as raised:
        resolved(ChangeRequest(increment={"n": 1}), {"n": (value, 1)})
    assert str(raised.value) == f"cannot increment 'n': its value is {kind} ({value!r}), not a number"


def test_increment_that_overflows_to_infinity_is_refused() -> None:
    with pytest.raises(ContextError, match=r"^cannot increment 'n' by 1e\+308: 1e\+308 \+ 1e\+308 is not a finite"):
        resolved(ChangeRequest(increment={"n": 1e308}), {"n": (1e308, 1)})


def test_add_appends_new_items_in_order_and_skips_those_present() -> None:
    assert ops(ChangeRequest(add={"s": ("b", "c", "b")}), {"s": (["a", "b"], 1)}) == [("set", "s", ["a", "b", "c"])]


def test_add_to_an_absent_key_creates_the_list() -> None:
    assert ops(ChangeRequest(add={"s": ("a",)}), {}) == [("set", "s", ["a"])]


def test_add_compares_items_as_json() -> None:
    request = ChangeRequest(add={"s": (1.0, True, {"b": 1, "a": 2})})
    assert ops(request, {"s": ([1, {"a": 2, "b": 1}], 1)}) == [("set", "s", [1, {"a": 2, "b": 1}, 1.0, True])]


def test_add_to_a_value_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(ContextError) as raised:
        resolved(ChangeRequest(add={"s": (1,)}), {"s": ("x", 1)})
    assert str(raised.value) == "cannot add to 's': its value is a string ('x'), not a list"


def test_remove_drops_every_copy_of_the_items_and_keeps_the_order() -> None:
    assert ops(ChangeRequest(remove={"s": ("b", "z")}), {"s": (["a", "b", "c", "b"], 1)}) == [("set", "s", ["a", "c"])]


def test_remove_from_an_absent_key_is_no_operation() -> None:
    assert ops(ChangeRequest(remove={"s": ("a",)}), {}) == []


def test_remove_from_a_value_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(ContextError, match=r"^cannot remove from 's': its value is an object \(\{\}\), not a list$"):
        resolved(ChangeRequest(remove={"s": (1,)}), {"s": ({}, 1)})


def test_operations_come_in_the_order_set_delete_increment_add_remove() -> None:
    request = ChangeRequest(remove={"r": (1,)}, add={"a": (1,)}, increment={"i": 1}, delete=("d",), set={"s": 1})
    data = {"r": ([1], 1), "d": (0, 1)}
    assert [(op, key) for op, key, _ in ops(request, data)] == [
        ("set", "s"),
        ("delete", "d"),
        ("set", "i"),
        ("set", "a"),
        ("set", "r"),
    ]


def test_increment_add_and_remove_work_whatever_the_strategy() -> None:
    request = ChangeRequest(increment={"i": 1}, add={"a": (1,)})
    assert ops(request, {}, {"*": "deep-merge"}) == [("set", "i", 1), ("set", "a", [1])]


# -- deep_merge -----------------------------------------------------------------------------------


def test_deep_merge_merges_nested_objects_and_the_new_value_wins_at_leaves() -> None:
    old = {"db": {"host": "a", "port": 1}, "tags": [1]}
    new = {"db": {"port": 2}, "tags": [2], "debug": None}
    assert deep_merge(old, new) == {"db": {"host": "a", "port": 2}, "tags": [2], "debug": None}


def test_deep_merge_does_not_change_its_arguments() -> None:
    old = {"db": {"host": "a"}}
    deep_merge(old, {"db": {"port": 2}})
    assert old == {"db": {"host": "a"}}


# -- properties -----------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=4), json_values, max_size=5)
increments = st.integers(min_value=-(10**6), max_value=10**6)


@given(json_objects)
def test_merging_an_empty_object_changes_nothing(value: dict[str, Any]) -> None:
    assert deep_merge(value, {}) == value
    assert deep_merge({}, value) == value


@given(json_objects)
def test_merging_an_object_onto_itself_changes_nothing(value: dict[str, Any]) -> None:
    assert deep_merge(value, value) == value


@given(json_values, json_values)
def test_merging_twice_is_merging_once(old: Any, new: Any) -> None:
    once = deep_merge(old, new)
    assert deep_merge(once, new) == once


@given(json_values, json_values)
def test_every_key_of_the_new_object_is_in_the_merge(old: Any, new: Any) -> None:
    merged = deep_merge(old, new)
    if isinstance(new, dict):
        assert merged.keys() >= new.keys()
    else:
        assert merged == new


def apply_all(request_list: list[ChangeRequest], data: dict[str, tuple[Any, int]]) -> dict[str, tuple[Any, int]]:
    data = dict(data)
    for version, request in enumerate(request_list, start=1):
        for op in resolve(request, data.get, Strategies()).operations:
            if op.op == "delete":
                data.pop(op.key, None)
            else:
                data[op.key] = (op.value, version)
    return data


@given(st.lists(increments, max_size=8), st.randoms())
def test_counter_increments_commute(amounts: list[int], random: Any) -> None:
    shuffled = list(amounts)
    random.shuffle(shuffled)
    forward = apply_all([ChangeRequest(increment={"n": by}) for by in amounts], {})
    other = apply_all([ChangeRequest(increment={"n": by}) for by in shuffled], {})
    assert forward.get("n", (0, 0))[0] == other.get("n", (0, 0))[0] == sum(amounts)


@given(st.lists(st.lists(st.integers(0, 5), max_size=4), max_size=6))
def test_added_items_end_up_once_each_in_first_seen_order(batches: list[list[int]]) -> None:
    data = apply_all([ChangeRequest(add={"s": tuple(items)}) for items in batches], {})
    expected = list(dict.fromkeys(item for items in batches for item in items))
    assert data.get("s", ([], 0))[0] == expected


@given(st.lists(st.integers(0, 5), max_size=8), st.lists(st.integers(0, 5), max_size=4))
def test_removed_items_are_gone_and_the_rest_keep_their_order(start: list[int], gone: list[int]) -> None:
    data = apply_all([ChangeRequest(add={"s": tuple(start)}), ChangeRequest(remove={"s": tuple(gone)})], {})
    assert data["s"][0] == [item for item in dict.fromkeys(start) if item not in gone]
