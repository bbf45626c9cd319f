"""The Context a step sees: get, set, update, delete and history over the run's shared state,
atomic increments and set additions, compare-and-set, and waiting for a key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import BuiltinFunctionType, FunctionType, MethodType
from typing import Any

from framework0.context.cancel import CancelToken
from framework0.context.changes import Change, ChangeSource, Operation, check_key, copy_value, to_json_value
from framework0.context.deltas import same_value
from framework0.context.merge import ChangeRequest
from framework0.context.state import ContextState
from framework0.errors import StepCancelled, WaitTimeout

_MISSING: Any = object()


class Context:
    """The run's shared key-value state, as one step attempt sees and changes it.

    Keys are dotted strings (``"db.host"``), values are JSON. Every write is recorded with its
    version, the step and attempt that made it, the time and the machine.

    >>> ctx.set("greeted", "world")
    >>> ctx.get("greeted")
    'world'
    """

    def __init__(
        self,
        state: ContextState,
        source: ChangeSource,
        *,
        cancelled: CancelToken | None = None,
    ) -> None:
        self._state = state
        self._source = source
        self._cancelled = cancelled if cancelled is not None else CancelToken()

    @property
    def step(self) -> str | None:
        """The name of the step this context belongs to (None outside a step)."""
        return self._source.step

    @property
    def attempt(self) -> int | None:
        return self._source.attempt

    @property
    def item(self) -> int | None:
        """The index of the item this attempt works on, for a step with ``foreach`` (else None)."""
        return self._source.item

    @property
    def run_id(self) -> str | None:
        """The id of the run this context belongs to (None when it belongs to none)."""
        return self._state.run_id

    @property
    def version(self) -> int:
        """The context's version: the number of changes made so far."""
        return self._state.version

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` (a copy: changing it does not change the context), or ``default``."""
        return copy_value(self._state.get(check_key(key), default))

    def __getitem__(self, key: str) -> Any:
        if not self._state.contains(key):
            raise KeyError(key)
        return copy_value(self._state.get(key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._state.contains(key)

    def set(self, key: str, value: Any) -> None:
        """Write one key; the value must be JSON (it is stored as a normalised copy)."""
        check_key(key)
        self._state.apply([Operation("set", key, to_json_value(key, value))], self._source)

    def update(self, values: Mapping[str, Any]) -> None:
        """Write several keys as one atomic batch."""
        operations = [Operation("set", check_key(key), to_json_value(key, value)) for key, value in values.items()]
        self._state.apply(operations, self._source)

    def delete(self, key: str) -> None:
        """Remove a key; removing an absent key is not an error and records nothing."""
        self._state.apply([Operation("delete", check_key(key))], self._source)

    def increment(self, key: str, by: int | float = 1) -> int | float:
        """Add ``by`` to the number at ``key`` (an absent key counts as 0), atomically: concurrent
        increments never lose one. Returns the new value.

        >>> ctx.increment("jobs.done")
        1
        >>> ctx.increment("jobs.done", 2)
        3
        """
        changes = self._state.apply_request(ChangeRequest.from_json({"increment": {key: by}}), self._source)
        value: int | float = self._written(key, changes)
        return value

    def add(self, key: str, *items: Any) -> list[Any]:
        """Add items to the list at ``key`` (created when absent) unless they are already in it,
        atomically, keeping the order they came in. Returns the new list.

        >>> ctx.add("hosts", "web-1", "web-2")
        ['web-1', 'web-2']
        >>> ctx.add("hosts", "web-2", "db-1")
        ['web-1', 'web-2', 'db-1']
        """
        return self._write_items("add", key, items)

    def remove(self, key: str, *items: Any) -> list[Any]:
        """Remove items from the list at ``key``, atomically; an absent key stays absent. Returns
        the new list.

        >>> ctx.remove("hosts", "web-2")
        ['web-1', 'db-1']
        """
        return self._write_items("remove", key, items)

    def _write_items(self, field: str, key: str, items: tuple[Any, ...]) -> list[Any]:
        changes = self._state.apply_request(ChangeRequest.from_json({field: {key: list(items)}}), self._source)
        value = self._written(key, changes)
        return [] if value is None else value

    def _written(self, key: str, changes: list[Change]) -> Any:
        # the value this change wrote, not one another thread wrote since; when nothing was
        # written (an attempt run again wrote it before), the current value
        for change in changes:
            if change.key == key:
                return copy_value(change.new)
        return copy_value(self._state.get(key))

    def key_version(self, key: str) -> int:
        """The version of the change that last wrote ``key``; 0 when it does not exist."""
        return self._state.key_version(check_key(key))

    def compare_and_set(self, key: str, value: Any, expected_version: int) -> int:
        """Write ``key`` only if it is still at ``expected_version`` (0: only if it does not exist);
        otherwise raise ContextConflict and write nothing. Returns the new version.

        >>> version = ctx.key_version("leader")
        >>> ctx.compare_and_set("leader", "web-1", version)
        4
        """
        return self._change(ChangeRequest.from_json({"set": {key: value}, "expected": {key: expected_version}}))

    def change(self, request: ChangeRequest) -> int:
        """Apply a ``ChangeRequest`` (sets, deletes, increments, additions, removals and the
        versions expected) as one atomic change; ContextConflict when an expected version is
        stale, and then nothing is written. Returns the context's version after it.

        >>> ctx.change(ChangeRequest(set={"phase": "load"}, increment={"loads": 1}))
        5
        """
        return self._change(request)

    def _change(self, request: ChangeRequest) -> int:
        changes = self._state.apply_request(request, self._source)
        return changes[0].version if changes else self._state.version

    def wait_for(self, key: str, condition: Any = _MISSING, *, timeout: float | None = None) -> Any:
        """Block until ``key`` exists and its value meets ``condition``; return that value.

        ``condition`` is a function of the value (called only while the key exists), or a plain
        value the key must equal (as JSON: ``1``, ``1.0`` and ``true`` differ); without one, any
        value will do. Wakes on every change, from any step. Raises WaitTimeout after ``timeout``
        seconds (None: no limit), and StepCancelled when the step is cancelled meanwhile. Their
        messages name the condition: a function by its name, another callable by its ``str()``.

        >>> ctx.wait_for("db.ready", True, timeout=60)
        True
        >>> ctx.wait_for("jobs.done", lambda done: done >= 3, timeout=60)
        3
        """
        check_key(key)
        if condition is _MISSING:
            return self._wait(key, _exists, "exists", timeout)
        if callable(condition):
            return self._wait(key, condition, _describe(condition), timeout)
        expected = to_json_value(key, condition)
        return self._wait(key, lambda value: same_value(value, expected), f"equals {expected!r}", timeout)

    def wait_for_absent(self, key: str, *, timeout: float | None = None) -> None:
        """Block until ``key`` does not exist (never written, or deleted). Raises WaitTimeout after
        ``timeout`` seconds (None: no limit), and StepCancelled when the step is cancelled.

        >>> ctx.wait_for_absent("lock.db", timeout=60)
        """
        check_key(key)
        self._wait(key, None, "absent", timeout)

    def _wait(self, key: str, test: Callable[[Any], bool] | None, what: str, timeout: float | None) -> Any:
        last: list[Any] = [_MISSING]

        def met(state: ContextState) -> bool:
            value = state.get(key, _MISSING)
            last[0] = value
            if test is None:
                return value is _MISSING
            return value is not _MISSING and bool(test(copy_value(value)))

        if self._state.wait_until(met, timeout, self._cancelled.is_set):
            return None if last[0] is _MISSING else copy_value(last[0])
        if self._cancelled.is_set():
            raise StepCancelled(f"cancelled while waiting for {key!r} ({what})")
        seen = "absent" if last[0] is _MISSING else repr(last[0])
        raise WaitTimeout(f"timed out after {timeout:g}s waiting for {key!r} ({what}); last value: {seen}")

    def history(self, key: str | None = None) -> list[Change]:
        """Every change so far, oldest first; with ``key``, only that key's changes."""
        return self._state.history(key)

    def as_dict(self) -> dict[str, Any]:
        """A copy of the whole context."""
        return {key: copy_value(value) for key, value in self._state.snapshot().items()}

    @property
    def cancelled(self) -> bool:
        """True once the runner has asked this step to stop (timeout or Ctrl-C)."""
        return self._cancelled.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early when the step is cancelled; True if cancelled."""
        return self._cancelled.wait(seconds)


def _exists(value: Any) -> bool:
    return True


def _describe(condition: Callable[..., Any]) -> str:
    # a function by its name (``<lambda>`` for a lambda), any other callable as it prints itself
    if isinstance(condition, (FunctionType, BuiltinFunctionType, MethodType)):
        return condition.__name__
    return str(condition)
