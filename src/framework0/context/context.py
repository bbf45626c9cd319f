"""The Context a step sees: get, set, update, delete and history over the run's shared state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framework0.context.cancel import CancelToken
from framework0.context.changes import Change, ChangeSource, Operation, check_key, copy_value, to_json_value
from framework0.context.state import ContextState


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
