"""Context history as deltas: rebuild any version, recover old values, compare two contexts.

A stored context version is a ``Delta``: the operations of one atomic change, ``[op, key, new]``
with ``op`` ``"set"`` or ``"delete"``. Old values are not stored; they come from replaying. So:

- ``rebuild(snapshot, deltas)`` is the context a few versions after a snapshot;
- ``replay(base, deltas)`` turns deltas into ``Change`` values carrying their old values;
- ``diff(a, b)`` says which keys were added, removed or changed between two contexts.

Pure: values in, values out. The store reads the rows and hands them over
(``framework0.store.context_history``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from framework0.context.changes import Change, ChangeSource
from framework0.errors import ContextError

__all__ = ["ContextDiff", "Delta", "apply_ops", "diff", "rebuild", "replay", "same_value"]

_NOWHERE = ChangeSource(node="")


@dataclass(frozen=True, slots=True)
class Delta:
    """One context version as stored: its operations in order (``[op, key, new value]``, the new
    value is None for a delete), when and where it was made, and its write number."""

    version: int
    ops: Sequence[Sequence[Any]]
    at: float = 0.0
    source: ChangeSource = _NOWHERE
    seq: int = 0


def apply_ops(data: dict[str, Any], ops: Iterable[Sequence[Any]], *, version: int = 0) -> None:
    """Apply one version's operations to ``data`` in place. An unknown operation raises ContextError."""
    for op, key, new in ops:
        if op == "set":
            data[key] = new
        elif op == "delete":
            data.pop(key, None)
        else:
            raise ContextError(
                f"context version {version} has an unknown operation {op!r} on key {key!r}; expected 'set' or 'delete'"
            )


def rebuild(
    snapshot: Mapping[str, Any],
    deltas: Iterable[Delta],
    *,
    base_version: int = 0,
    version: int | None = None,
) -> dict[str, Any]:
    """The context at ``version`` (default: the last delta's), from the context at ``base_version``
    (a snapshot, or ``{}`` at version 0) and the deltas after it, oldest first.

    Deltas at or before ``base_version`` and after ``version`` are ignored. The ones between must
    follow each other without a gap; a missing version raises ContextError, since the context
    after it cannot be known.
    """
    data = dict(snapshot)
    reached = base_version
    for delta in deltas:
        if delta.version <= base_version:
            continue
        if version is not None and delta.version > version:
            break
        if delta.version != reached + 1:
            raise ContextError(
                f"context version {reached + 1} is missing from the history "
                f"(the next stored version is {delta.version}); versions after {reached} cannot be rebuilt"
            )
        apply_ops(data, delta.ops, version=delta.version)
        reached = delta.version
    if version is not None and reached < version:
        raise ContextError(f"the context history stops at version {reached}; version {version} cannot be rebuilt")
    return data


def replay(base: Mapping[str, Any], deltas: Iterable[Delta], *, key: str | None = None) -> list[Change]:
    """The changes the deltas made, oldest first, each with its old value (None when the key was
    absent), starting from ``base``: the context just before the first delta. With ``key``, only
    that key's changes (and ``base`` only needs to be right for that key)."""
    changes: list[Change] = []
    append = changes.append
    if key is not None:
        current = base.get(key)
        for delta in deltas:
            for op, changed, new in delta.ops:
                if changed == key:
                    append(Change(delta.version, key, op, current, new, delta.at, delta.source, delta.seq))
                    current = None if op == "delete" else new
        return changes
    data = dict(base)
    for delta in deltas:
        for op, changed, new in delta.ops:
            append(Change(delta.version, changed, op, data.get(changed), new, delta.at, delta.source, delta.seq))
            apply_ops(data, ((op, changed, new),), version=delta.version)
    return changes


@dataclass(frozen=True, slots=True)
class ContextDiff:
    """What differs from context A to context B, by key (each mapping sorted by key)."""

    #: keys only in B, with their values
    added: dict[str, Any]
    #: keys only in A, with their values
    removed: dict[str, Any]
    #: keys in both with different values: (value in A, value in B)
    changed: dict[str, tuple[Any, Any]]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": {key: {"old": old, "new": new} for key, (old, new) in self.changed.items()},
        }


def same_value(a: Any, b: Any) -> bool:
    """Whether two JSON values are the same JSON: ``1``, ``1.0`` and ``true`` all differ."""
    if a is b:
        return True
    if type(a) is not type(b) or a != b:
        return False
    if isinstance(a, (dict, list)):  # == says 1 == 1.0 == True inside containers too
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    return True


def diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> ContextDiff:
    """Compare context ``a`` with context ``b``: keys added in B, removed from A, changed between."""
    added = {key: b[key] for key in sorted(b.keys() - a.keys())}
    removed = {key: a[key] for key in sorted(a.keys() - b.keys())}
    changed = {key: (a[key], b[key]) for key in sorted(a.keys() & b.keys()) if not same_value(a[key], b[key])}
    return ContextDiff(added=added, removed=removed, changed=changed)
