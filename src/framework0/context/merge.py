"""Merge strategies and change requests: how one atomic change is resolved against a context.

A context declares a strategy per key pattern; a ``ChangeRequest`` (set, delete, increment, add,
remove, and the key versions it expects) is resolved against the current values into plain
``set``/``delete`` operations, or into conflicts when an expected version is stale:

- ``reject`` (the default): a stale ``expected`` version is a conflict, and nothing is written;
- ``last-writer-wins``: ``expected`` is ignored, a ``set`` replaces the value;
- ``deep-merge``: a ``set`` of an object onto an object merges them recursively, the new value
  winning at the leaves; ``expected`` is ignored;
- ``counter``: ``increment`` adds to the number; ``expected`` is ignored;
- ``set``: ``add``/``remove`` items of a JSON list without duplicates, in insertion order;
  ``expected`` is ignored.

Increment, add and remove work on any key whatever its strategy; the strategy only decides
whether ``expected`` is checked and how a ``set`` lands. Pure: values in, values out.

>>> strategies = Strategies({"counters.*": "counter"})
>>> request = ChangeRequest(increment={"counters.done": 1}, expected={"counters.done": 7})
>>> resolve(request, lambda key: (2, 7) if key == "counters.done" else None, strategies).operations
(Operation(op='set', key='counters.done', value=3),)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from framework0.context.changes import Operation, check_key, to_json_value
from framework0.errors import ContextError, did_you_mean

__all__ = ["STRATEGIES", "ChangeRequest", "Conflict", "Resolution", "Strategies", "deep_merge", "resolve"]

STRATEGIES: tuple[str, ...] = ("reject", "last-writer-wins", "deep-merge", "counter", "set")

_DEFAULT = "reject"
_WRITES = ("set", "delete", "increment", "add", "remove")
_FIELDS = (*_WRITES, "expected")
_PATTERN_FORMS = "use an exact key ('jobs.done'), a prefix ending in '.*' ('counters.*'), or '*' for every key"


class Strategies:
    """Which merge strategy each key follows, declared as ``{pattern: strategy}``; immutable.

    A pattern is an exact key (``"jobs.done"``), a prefix ending in ``.*`` (``"counters.*"``
    matches ``counters.a`` and ``counters.a.b``, not ``counters``) or ``*`` (every key). An exact
    key beats a prefix, the longest prefix wins, and a key no pattern matches is ``reject``.

    >>> Strategies({"counters.*": "counter", "*": "last-writer-wins"}).for_key("counters.done")
    'counter'
    """

    __slots__ = ("_rules", "_exact", "_prefixes", "_fallback")

    def __init__(self, rules: Mapping[str, str] | None = None) -> None:
        self._rules: dict[str, str] = {}
        self._exact: dict[str, str] = {}
        prefixes: list[tuple[str, str]] = []
        self._fallback = _DEFAULT
        for pattern, strategy in (rules or {}).items():
            _check_rule(pattern, strategy)
            self._rules[pattern] = strategy
            if pattern == "*":
                self._fallback = strategy
            elif pattern.endswith(".*"):
                prefixes.append((pattern[:-1], strategy))  # keep the dot: "a.*" must not match "ab"
            else:
                self._exact[pattern] = strategy
        self._prefixes = tuple(sorted(prefixes, key=lambda rule: len(rule[0]), reverse=True))

    def for_key(self, key: str) -> str:
        """The strategy ``key`` follows."""
        strategy = self._exact.get(key)
        if strategy is not None:
            return strategy
        for prefix, strategy in self._prefixes:
            if key.startswith(prefix):
                return strategy
        return self._fallback

    def to_dict(self) -> dict[str, str]:
        """The rules as declared (a copy)."""
        return dict(self._rules)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Strategies):
            return NotImplemented
        return self._rules == other._rules

    def __hash__(self) -> int:
        return hash(frozenset(self._rules.items()))

    def __repr__(self) -> str:
        return f"Strategies({self._rules!r})"


def _check_rule(pattern: object, strategy: object) -> None:
    if not isinstance(pattern, str) or not _valid_pattern(pattern):
        raise ContextError(f"merge strategy pattern {pattern!r} is not allowed; {_PATTERN_FORMS}")
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        hint = did_you_mean(strategy, STRATEGIES) if isinstance(strategy, str) else ""
        raise ContextError(
            f"unknown merge strategy {strategy!r} for {pattern!r}{hint}; choose one of {', '.join(STRATEGIES)}"
        )


def _valid_pattern(pattern: str) -> bool:
    if pattern == "*":
        return True
    stem = pattern[:-2] if pattern.endswith(".*") else pattern
    return bool(stem) and "*" not in stem


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """One atomic change as asked for, before it meets the context's current values.

    ``expected`` maps keys to the version the writer read (0: the key must not exist); it may name
    keys the request does not write, as guards. A key may appear in only one of ``set``,
    ``delete``, ``increment``, ``add`` and ``remove``.

    >>> ChangeRequest.from_json({"increment": {"jobs.done": 1}, "add": {"jobs.hosts": ["web-1"]}}).to_json()
    {'increment': {'jobs.done': 1}, 'add': {'jobs.hosts': ['web-1']}}
    """

    set: Mapping[str, Any] = field(default_factory=dict)
    delete: tuple[str, ...] = ()
    increment: Mapping[str, int | float] = field(default_factory=dict)
    add: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    remove: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    expected: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for name in _WRITES:
            for key in getattr(self, name):
                first = seen.setdefault(key, name)
                if first != name:
                    raise ContextError(
                        f"key {key!r} is in both {first!r} and {name!r} of one change; write each key once per change"
                    )

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ChangeRequest:
        """Check and build a request from its JSON form (the fields are all optional); a field of
        the wrong shape, a key that is not a non-empty string or a value that is not JSON raises
        ContextError naming it."""
        if not isinstance(body, Mapping):
            raise ContextError(f"a change is a JSON object, not {type(body).__name__}")
        for name in body:
            if name not in _FIELDS:
                hint = did_you_mean(str(name), _FIELDS)
                raise ContextError(f"unknown change field {name!r}{hint}; expected {', '.join(_FIELDS)}")
        return cls(
            set={key: to_json_value(key, value) for key, value in _object(body, "set").items()},
            delete=tuple(dict.fromkeys(_keys(body))),
            increment={key: _number(key, value) for key, value in _object(body, "increment").items()},
            add={key: _items("add", key, value) for key, value in _object(body, "add").items()},
            remove={key: _items("remove", key, value) for key, value in _object(body, "remove").items()},
            expected={key: _version(key, value) for key, value in _object(body, "expected").items()},
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form, naming only the fields that are not empty."""
        body: dict[str, Any] = {}
        if self.set:
            body["set"] = dict(self.set)
        if self.delete:
            body["delete"] = list(self.delete)
        if self.increment:
            body["increment"] = dict(self.increment)
        if self.add:
            body["add"] = {key: list(items) for key, items in self.add.items()}
        if self.remove:
            body["remove"] = {key: list(items) for key, items in self.remove.items()}
        if self.expected:
            body["expected"] = dict(self.expected)
        return body

    def is_empty(self) -> bool:
        """True when the request writes nothing (``expected`` alone writes nothing)."""
        return not (self.set or self.delete or self.increment or self.add or self.remove)


def _object(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ContextError(f"change field {name!r} must be an object of keys, not {type(value).__name__}")
    for key in value:
        check_key(key)
    return dict(value)


def _keys(body: Mapping[str, Any]) -> list[str]:
    value = body.get("delete")
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ContextError(f"change field 'delete' must be a list of keys, not {type(value).__name__}")
    return [check_key(key) for key in value]


def _number(key: str, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ContextError(f"increment of {key!r} must be a number, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ContextError(f"increment of {key!r} must be a finite number, not {value!r}")
    return value


def _items(name: str, key: str, value: Any) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise ContextError(f"{name} of {key!r} must be a list of items, not {value!r}")
    return tuple(to_json_value(key, item) for item in value)


def _version(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ContextError(f"expected version of {key!r} must be an integer >= 0, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Conflict:
    """A key whose version is not the one the request expected."""

    key: str
    expected: int
    current: int


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a request comes to: the operations to apply as one batch, or (and then no operations)
    the conflicts that refuse it."""

    operations: tuple[Operation, ...]
    conflicts: tuple[Conflict, ...]


def resolve(
    request: ChangeRequest, read: Callable[[str], tuple[Any, int] | None], strategies: Strategies
) -> Resolution:
    """Resolve ``request`` against the current values.

    ``read(key)`` returns ``(value, key version)``, or None when the key does not exist. Keys
    whose strategy is ``reject`` and whose version differs from ``expected`` are conflicts; when
    there is one, no operation is returned. Otherwise the operations come in the request's order
    (set, delete, increment, add, remove); deleting or removing from an absent key is no
    operation. Incrementing a value that is not a number, or adding to or removing from one that
    is not a list, raises ContextError naming the key.
    """
    conflicts = []
    for key, expected in request.expected.items():
        if strategies.for_key(key) == "reject":
            found = read(key)
            current = 0 if found is None else found[1]
            if current != expected:
                conflicts.append(Conflict(key, expected, current))
    if conflicts:
        return Resolution((), tuple(conflicts))

    operations: list[Operation] = []
    for key, value in request.set.items():
        if strategies.for_key(key) == "deep-merge":
            found = read(key)
            if found is not None:
                value = deep_merge(found[0], value)
        operations.append(Operation("set", key, value))
    for key in request.delete:
        if read(key) is not None:
            operations.append(Operation("delete", key))
    for key, by in request.increment.items():
        operations.append(Operation("set", key, _incremented(key, read(key), by)))
    for key, items in request.add.items():
        found = read(key)
        existing = [] if found is None else _list("add to", key, found[0])
        operations.append(Operation("set", key, _unique([*existing, *items])))
    for key, items in request.remove.items():
        found = read(key)
        if found is not None:
            gone = {_identity(item) for item in items}
            kept = [item for item in _list("remove from", key, found[0]) if _identity(item) not in gone]
            operations.append(Operation("set", key, _unique(kept)))
    return Resolution(tuple(operations), ())


def _incremented(key: str, found: tuple[Any, int] | None, by: int | float) -> int | float:
    current = 0 if found is None else found[0]
    if isinstance(current, bool) or not isinstance(current, (int, float)):
        raise ContextError(f"cannot increment {key!r}: its value is {_kind(current)} ({current!r}), not a number")
    total = current + by
    if isinstance(total, float) and not math.isfinite(total):
        raise ContextError(f"cannot increment {key!r} by {by!r}: {current!r} + {by!r} is not a finite number")
    return total


def _list(verb: str, key: str, current: Any) -> list[Any]:
    if not isinstance(current, list):
        raise ContextError(f"cannot {verb} {key!r}: its value is {_kind(current)} ({current!r}), not a list")
    return current


def _kind(value: Any) -> str:
    names = {bool: "a boolean", str: "a string", dict: "an object", list: "a list", type(None): "null"}
    return names.get(type(value), f"a {type(value).__name__}")


def _identity(item: Any) -> str:
    # JSON equality: 1, 1.0 and true are three different items; objects ignore their key order
    return json.dumps(item, sort_keys=True)


def _unique(items: list[Any]) -> list[Any]:
    unique: dict[str, Any] = {}
    for item in items:
        unique.setdefault(_identity(item), item)
    return list(unique.values())


def deep_merge(old: Any, new: Any) -> Any:
    """``new`` merged onto ``old``: two objects merge key by key, recursively; anywhere else
    (a list, a number, null, or an object meeting a non-object) ``new`` wins.

    >>> deep_merge({"db": {"host": "a", "port": 1}}, {"db": {"port": 2}, "debug": True})
    {'db': {'host': 'a', 'port': 2}, 'debug': True}
    """
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    merged = dict(old)
    for key, value in new.items():
        merged[key] = deep_merge(merged[key], value) if key in merged else value
    return merged
