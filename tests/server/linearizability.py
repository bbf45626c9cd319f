"""A linearizability checker for the context server's histories (as Jepsen's Knossos or Go's Porcupine).

A history is a list of ``Operation``s, each with the time it was invoked (``call``) and the time
its answer came back (``ret``), what it asked (``input``) and what it was told (``output``). An
operation whose answer was lost (its server was killed under it) has ``output=UNKNOWN`` and a
``ret`` no earlier than the last moment it could have taken effect (``math.inf`` when unbounded):
it may have taken effect at any moment in between, or never.

The history is linearizable when every operation can be given one instant between its call and
its return such that, taken in the order of those instants, each output is what a single copy of
the data (the ``Model``) would have answered. ``check`` searches for that order as Wing & Gong do,
with Lowe's memoization: a (set of operations linearized, model state) pair already explored is
never explored again. Histories are checked one key at a time (P-compositionality: a history of
independent keys is linearizable if and only if each key's sub-history is), which keeps every
search small; an operation on several keys contributes one sub-operation to each key.

A model's ``step(state, input, output)`` returns the states the operation may leave (none: the
output is impossible in that state). Models are pure and states hashable. The models here:
``register`` (a key: its value and the version that wrote it; reads, writes, compare-and-set and
increments) and ``version_counter`` (the context's version: each write makes the next one).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

UNKNOWN: Any = "unknown"  # the output of an operation whose answer was lost
ABSENT: Any = None  # a key that does not exist


@dataclass(frozen=True)
class Operation:
    """One operation on one key: invoked at ``call``, answered at ``ret``."""

    key: str
    call: float
    ret: float
    input: Any
    output: Any
    process: int = 0

    def __post_init__(self) -> None:
        if not self.call <= self.ret:
            raise ValueError(f"operation {self}: answered ({self.ret}) before it was invoked ({self.call})")


Step = Callable[[Hashable, Any, Any], Sequence[Hashable]]


@dataclass(frozen=True)
class Model:
    """A sequential specification: the initial state and the transition function."""

    name: str
    init: Hashable
    step: Step


@dataclass(frozen=True)
class Result:
    """The verdict on one key's history; when not linearizable, the operation the search could not
    place (the first one whose answer came back before any valid order could include it)."""

    key: str
    ok: bool
    operations: int
    stuck: Operation | None = None
    linearized: int = 0  # the most operations placed in one order before the search gave up

    def __str__(self) -> str:
        if self.ok:
            return f"{self.key}: linearizable ({self.operations} operations)"
        return (
            f"{self.key}: NOT linearizable: after {self.linearized} of {self.operations} operations placed, "
            f"no order explains {self.stuck}"
        )


def check(model: Model, history: Sequence[Operation], key: str = "") -> Result:
    """Whether ``history`` (of one key) is linearizable with respect to ``model``."""
    ops = list(history)
    count = len(ops)
    # events: a call at its time, a return at its time; at equal times calls first (more overlap: never a false alarm)
    events = sorted(
        [(op.call, 0, index) for index, op in enumerate(ops)] + [(op.ret, 1, index) for index, op in enumerate(ops)]
    )
    # a doubly linked list of events; node 0 is the head, nodes 1.. are the events in time order
    size = len(events) + 1
    nxt = list(range(1, size + 1))
    nxt[-1] = -1
    prv = list(range(-1, size - 1))
    is_call = [False] * size
    op_of = [0] * size
    match = [0] * size  # a call's return node
    call_node = [0] * count
    for node, (_time, kind, index) in enumerate(events, start=1):
        op_of[node] = index
        if kind == 0:
            is_call[node] = True
            call_node[index] = node
        else:
            match[call_node[index]] = node

    def lift(node: int) -> None:
        for n in (node, match[node]):
            nxt[prv[n]] = nxt[n]
            if nxt[n] != -1:
                prv[nxt[n]] = prv[n]

    def unlift(node: int) -> None:
        for n in (match[node], node):
            if nxt[n] != -1:
                prv[nxt[n]] = n
            nxt[prv[n]] = n

    state: Hashable = model.init
    linearized = 0  # a bit per operation placed
    seen: set[tuple[int, Hashable]] = set()
    stack: list[tuple[int, Hashable]] = []  # (call node, the state before it)
    best, stuck = 0, None
    node = nxt[0]
    while nxt[0] != -1:
        if is_call[node]:
            op = ops[op_of[node]]
            placed = False
            for after in model.step(state, op.input, op.output):
                bits = linearized | (1 << op_of[node])
                if (bits, after) in seen:
                    continue
                seen.add((bits, after))
                stack.append((node, state))
                state, linearized = after, bits
                lift(node)
                placed = True
                break
            node = nxt[0] if placed else nxt[node]
        else:  # an operation returned before any order placed it: undo the last choice
            if len(stack) >= best:
                best, stuck = len(stack), ops[op_of[node]]
            if not stack:
                return Result(key, False, count, stuck, best)
            node, state = stack.pop()
            linearized &= ~(1 << op_of[node])
            unlift(node)
            # try the same operation again: its outputs already explored are in ``seen``
    return Result(key, True, count)


def check_all(models: Callable[[str], Model], history: Iterable[Operation]) -> list[Result]:
    """Check each key's sub-history against its model (``models(key)``); one result per key."""
    by_key: dict[str, list[Operation]] = {}
    for op in history:
        by_key.setdefault(op.key, []).append(op)
    return [check(models(key), ops, key) for key, ops in sorted(by_key.items())]


# -- models -------------------------------------------------------------------------------------------
#
# Inputs are tuples ("read",), ("write", value), ("cas", expected_version, value), ("increment",
# amount). Outputs: a read gives (value, version) or ABSENT (version None when the read does not
# say it); a write gives the version it made; a compare-and-set gives its version or ("conflict",
# current_version); any operation may give UNKNOWN. A state's version is None while it is unknown
# (written by an operation whose answer was lost); the next read that tells it fills it in.


def _same(known: int | None, told: int | None) -> bool:
    return known is None or told is None or known == told


def register_step(state: Hashable, input: Any, output: Any) -> Sequence[Hashable]:
    """A key: ABSENT or (value, version). Reads, writes, compare-and-set (0: must be absent), increments."""
    value: Any = ABSENT
    version: int | None = 0
    if state is not ABSENT:
        value, version = state  # type: ignore[misc]
    kind = input[0]
    if kind == "read":
        if output is ABSENT:
            return [state] if state is ABSENT else []
        told_value, told_version = output
        if state is ABSENT or told_value != value or not _same(version, told_version):
            return []
        return [(value, version if told_version is None else told_version)]
    if kind == "write":
        written = input[1]
        return [(written, None), state] if output is UNKNOWN else [(written, output)]
    if kind == "increment":
        if state is not ABSENT and not isinstance(value, (int, float)):
            return [state] if output is UNKNOWN else []
        total = (0 if state is ABSENT else value) + input[1]
        return [(total, None), state] if output is UNKNOWN else [(total, output)]
    if kind == "cas":
        expected, written = input[1], input[2]
        if output is UNKNOWN:
            return ([(written, None)] if _same(version, expected) else []) + [state]
        if isinstance(output, tuple) and output[0] == "conflict":
            current = output[1]
            if version is not None and (version == expected or version != current):
                return []
            return [state if state is ABSENT else (value, current)]
        return [(written, output)] if _same(version, expected) else []
    raise ValueError(f"register: unknown operation {input!r}")


def version_step(state: Hashable, input: Any, output: Any) -> Sequence[Hashable]:
    """The context's version: each write makes the next version (None: unknown after a lost answer)."""
    kind = input[0]
    if kind == "commit":  # a write that made a version
        if output is UNKNOWN:
            return [None, state]
        return [output] if state is None or output == state + 1 else []  # type: ignore[operator]
    if kind == "read":
        return [output] if state is None or output == state else []
    raise ValueError(f"version: unknown operation {input!r}")


def register() -> Model:
    return Model("register", ABSENT, register_step)


def version_counter() -> Model:
    return Model("version", 0, version_step)
