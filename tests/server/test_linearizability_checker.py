"""The linearizability checker (tests/server/linearizability.py) on small known histories: it
accepts what one copy of the data could have answered and refuses a stale read, a lost update or
two compare-and-sets that both won."""

from __future__ import annotations

import math
import random
from typing import Any

from tests.server.linearizability import ABSENT, UNKNOWN, Operation, check, check_all, register, version_counter


def op(call: float, ret: float, input: Any, output: Any, key: str = "k") -> Operation:
    return Operation(key, call, ret, input, output)


def read(call: float, ret: float, value: Any, version: int | None = None) -> Operation:
    return op(call, ret, ("read",), ABSENT if value is ABSENT else (value, version))


def test_a_read_overlapping_a_write_may_see_the_old_or_the_new_value():
    for seen in (ABSENT, "a"):
        history = [op(0, 10, ("write", "a"), 1), read(1, 2, seen)]
        assert check(register(), history).ok, seen


def test_a_read_that_starts_after_a_write_was_acknowledged_must_see_it():
    history = [op(0, 1, ("write", "a"), 1), read(2, 3, ABSENT)]
    result = check(register(), history)
    assert not result.ok
    assert result.stuck == history[1]


def test_a_read_of_the_previous_value_after_a_newer_write_was_acknowledged_is_stale():
    history = [
        op(0, 1, ("write", "a"), 1),
        op(2, 3, ("write", "b"), 2),
        read(4, 5, "a", 1),  # the 242-of-300 case of issue 13: another server's old copy
    ]
    assert not check(register(), history).ok


def test_reads_must_not_go_back_in_time_even_while_a_write_is_pending():
    history = [op(0, 10, ("write", "b"), 2), read(1, 2, "b", 2), read(3, 4, ABSENT)]
    assert not check(register(), history).ok


def test_a_read_must_report_the_version_that_wrote_the_value():
    assert check(register(), [op(0, 1, ("write", "a"), 7), read(2, 3, "a", 7)]).ok
    assert not check(register(), [op(0, 1, ("write", "a"), 7), read(2, 3, "a", 6)]).ok


def test_two_compare_and_sets_from_the_same_version_cannot_both_win():
    history = [op(0, 5, ("cas", 0, "x"), 1), op(0, 5, ("cas", 0, "y"), 2)]
    assert not check(register(), history).ok
    won_and_refused = [op(0, 5, ("cas", 0, "x"), 1), op(0, 5, ("cas", 0, "y"), ("conflict", 1))]
    assert check(register(), won_and_refused).ok


def test_a_conflict_must_name_the_current_version():
    history = [op(0, 1, ("write", "a"), 3), op(2, 3, ("cas", 1, "b"), ("conflict", 2))]
    assert not check(register(), history).ok
    assert check(register(), [op(0, 1, ("write", "a"), 3), op(2, 3, ("cas", 1, "b"), ("conflict", 3))]).ok


def test_an_acknowledged_increment_is_never_lost():
    increments = [op(0, 2, ("increment", 1), 1), op(1, 3, ("increment", 1), 2)]
    assert check(register(), [*increments, read(4, 5, 2, 2)]).ok
    assert not check(register(), [*increments, read(4, 5, 1, 1)]).ok


def test_an_operation_whose_answer_was_lost_may_have_taken_effect_or_not():
    lost = op(0, 6, ("write", "a"), UNKNOWN)
    assert check(register(), [lost, read(7, 8, "a")]).ok
    assert check(register(), [lost, read(7, 8, ABSENT)]).ok
    # but not both: once seen, it stays
    assert not check(register(), [lost, read(7, 8, "a"), read(9, 10, ABSENT)]).ok


def test_a_lost_increment_counts_once_at_most():
    lost = op(0, 6, ("increment", 1), UNKNOWN)
    done = op(1, 2, ("increment", 1), 5)
    assert check(register(), [lost, done, read(7, 8, 2)]).ok
    assert check(register(), [lost, done, read(7, 8, 1)]).ok
    assert not check(register(), [lost, done, read(7, 8, 3)]).ok


def test_a_whole_context_read_behind_an_acknowledged_version_is_stale():
    """The context's version: 1,505 acknowledged elsewhere, then a read answers 1,504."""
    commits = [op(float(v), v + 0.5, ("commit",), v, key="@version") for v in range(1, 1506)]
    fresh = op(1506.4, 1507, ("read",), 1505, key="@version")
    stale = op(1506.4, 1507, ("read",), 1504, key="@version")
    assert check(version_counter(), [*commits, fresh]).ok
    assert not check(version_counter(), [*commits, stale]).ok


def test_versions_are_made_one_after_another():
    assert not check(version_counter(), [op(0, 1, ("commit",), 1), op(2, 3, ("commit",), 3)]).ok
    assert check(
        version_counter(), [op(0, 1, ("commit",), 1), op(2, 3, ("commit",), UNKNOWN), op(4, 5, ("commit",), 3)]
    ).ok


def test_keys_are_checked_one_by_one():
    history = [
        op(0, 1, ("write", "a"), 1, key="x"),
        op(2, 3, ("read",), ("a", 1), key="x"),
        op(0, 1, ("write", "b"), 2, key="y"),
        op(2, 3, ("read",), ABSENT, key="y"),
    ]
    results = {result.key: result.ok for result in check_all(lambda key: register(), history)}
    assert results == {"x": True, "y": False}


def linearizable_history(rng: random.Random, count: int, clients: int) -> list[Operation]:
    """Operations of ``clients`` clients, each taking effect at an instant inside its interval, in
    the order of those instants (so linearizable by construction); 2% of the answers are lost."""
    history: list[Operation] = []
    value: int | None = None
    version = 0
    free = [0.0] * clients  # when each client's previous operation returned
    instant = 0.0
    for n in range(count):
        client = rng.randrange(clients)
        instant = max(instant, free[client]) + rng.uniform(0.0, 0.3)
        call = max(free[client], instant - rng.uniform(0.0, 1.0))
        ret = instant + rng.uniform(0.0, 1.0)
        free[client] = ret
        kind = rng.choice(["read", "write", "cas", "increment"])
        if kind == "read":
            history.append(op(call, ret, ("read",), ABSENT if value is None else (value, version)))
            continue
        if kind == "cas" and rng.random() < 0.5:
            history.append(op(call, ret, ("cas", version + 1, n), ("conflict", version)))
            continue
        inputs = {"write": ("write", n), "cas": ("cas", version, n), "increment": ("increment", 1)}
        value = (value or 0) + 1 if kind == "increment" else n
        version += 1
        lost = rng.random() < 0.02
        history.append(op(call, ret + 2.0 if lost else ret, inputs[kind], UNKNOWN if lost else version))
    return history


def test_a_long_concurrent_linearizable_history_passes():
    history = linearizable_history(random.Random(13), 1500, clients=8)
    assert check(register(), history).ok


def test_the_same_history_with_one_stale_read_fails():
    history = linearizable_history(random.Random(13), 1500, clients=8)
    # a read, well after the history, that answers a value older than the last one
    last = max(op.ret for op in history if op.ret != math.inf)
    values = [o.output for o in history if o.input[0] == "read" and o.output is not ABSENT]
    history.append(read(last + 1, last + 2, *values[len(values) // 2]))
    assert not check(register(), history).ok
