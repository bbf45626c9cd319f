"""The JSON form of the bus events: what a runner sends to the context server and the server sends to viewers.

An event becomes a JSON object with its ``type`` (``"step_finished"``, see ``EVENT_TYPES``) and one member per
field. An ``ErrorInfo`` becomes ``{"type", "message", "traceback"}``, tuples become lists, and each ``Change`` of a
``ContextChanged`` becomes its ``Change.to_dict()`` form plus ``seq``. Values (params, outputs, context values) are
JSON already and are passed through as they are, not copied.

Both directions follow the fields' declared types, so a field added later with a default round-trips without a
change here, and an older sender's message without it decodes to the default. Decoding ignores members it does not
know (a newer sender's fields).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, Union

from framework0.context.changes import Change, ChangeSource
from framework0.events.types import (
    AttemptFinished,
    AttemptStarted,
    ContextChanged,
    ErrorInfo,
    Event,
    LogLines,
    Notice,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)

__all__ = ["EVENT_TYPES", "from_wire", "to_wire"]

EVENT_TYPES: dict[str, type] = {
    "run_started": RunStarted,
    "run_finished": RunFinished,
    "step_started": StepStarted,
    "step_finished": StepFinished,
    "attempt_started": AttemptStarted,
    "attempt_finished": AttemptFinished,
    "log_lines": LogLines,
    "context_changed": ContextChanged,
    "notice": Notice,
}
"""The wire name of each event class."""

# A record whose fields are written into the object that holds it instead of as a nested object, as
# Change.to_dict() does with its source: {"version", ..., "step", "attempt", "item", "node", "seq"}.
_INLINED: tuple[type, ...] = (ChangeSource,)
# events/types.py imports Change for type checking only; its annotations name it
_TYPE_NAMES = {"Change": Change, "ChangeSource": ChangeSource, "ErrorInfo": ErrorInfo}
_MISSING = object()


class _Field(typing.NamedTuple):
    name: str
    hint: Any
    required: bool  # False when the field has a default


def to_wire(event: Event) -> dict[str, Any]:
    """Return ``event`` as a JSON-ready dict: ``{"type": "step_finished", "run_id": ..., ...}``.

    Raises TypeError for an object that is not one of the ``EVENT_TYPES``.
    """
    for name, cls in EVENT_TYPES.items():
        if type(event) is cls:
            return {"type": name, **_encode_record(cls, event)}
    raise TypeError(f"not a bus event: {type(event).__name__}; expected one of {', '.join(EVENT_TYPES)}")


def from_wire(data: Mapping[str, Any]) -> Event:
    """Return the event ``data`` describes, the exact inverse of ``to_wire``.

    Raises ValueError, with one line that names the field, for an unknown ``type`` or a required field that is
    missing or has the wrong JSON type. Members the event does not have are ignored.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"an event is a JSON object, not {_describe(data)}")
    name = data.get("type", _MISSING)
    if name is _MISSING:
        raise ValueError("event has no 'type' field")
    cls = EVENT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown event type {_describe(name)}; expected one of {', '.join(EVENT_TYPES)}")
    try:
        event: Event = _decode_record(cls, data, "")
    except _WireError as error:
        raise ValueError(f"{name} event: {error}") from None
    return event


class _WireError(Exception):
    pass


@functools.cache
def _fields(cls: type) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls, localns=_TYPE_NAMES)
    if dataclasses.is_dataclass(cls):
        no_default = dataclasses.MISSING
        return tuple(
            _Field(field.name, hints[field.name], field.default is no_default and field.default_factory is no_default)
            for field in dataclasses.fields(cls)
        )
    names: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    defaults: dict[str, Any] = cls._field_defaults  # type: ignore[attr-defined]
    return tuple(_Field(name, hints[name], name not in defaults) for name in names)


def _is_record(hint: Any) -> bool:
    return isinstance(hint, type) and (
        dataclasses.is_dataclass(hint) or (issubclass(hint, tuple) and hasattr(hint, "_fields"))
    )


def _optional_of(hint: Any) -> Any:
    """The X of ``X | None``, or None when ``hint`` is not such a union."""
    if typing.get_origin(hint) not in (Union, types.UnionType):
        return None
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if len(args) != 1 or len(typing.get_args(hint)) != 2:
        raise TypeError(f"events have no field of type {hint}: only X | None unions go on the wire")
    return args[0]


def _encode_record(cls: type, record: Any) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    for field in _fields(cls):
        value = getattr(record, field.name)
        if field.hint in _INLINED:
            encoded.update(_encode_record(field.hint, value))
        else:
            encoded[field.name] = _encode(field.hint, value)
    return encoded


def _encode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    inner = _optional_of(hint)
    if inner is not None:
        return _encode(inner, value)
    if typing.get_origin(hint) is tuple:
        (item_hint, _) = typing.get_args(hint)
        return [_encode(item_hint, item) for item in value]
    if _is_record(hint):
        return _encode_record(hint, value)
    return value  # str, int, float, bool, and JSON values (Any, dict[str, Any])


def _decode_record(cls: type, data: Mapping[str, Any], path: str) -> Any:
    values: dict[str, Any] = {}
    for field in _fields(cls):
        if field.hint in _INLINED:
            values[field.name] = _decode_record(field.hint, data, path)
            continue
        where = f"{path}{field.name}"
        value = data.get(field.name, _MISSING)
        if value is _MISSING:
            if field.required:
                raise _WireError(f"missing required field {where!r}")
            continue  # the field's default
        values[field.name] = _decode(field.hint, value, where)
    return cls(**values)


def _decode(hint: Any, value: Any, where: str) -> Any:
    if hint is Any:
        return value
    inner = _optional_of(hint)
    if inner is not None:
        return None if value is None else _decode(inner, value, where)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _wrong_type(where, "a list", value)
        (item_hint, _) = typing.get_args(hint)
        return tuple(_decode(item_hint, item, f"{where}[{index}]") for index, item in enumerate(value))
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise _wrong_type(where, "an object", value)
        for key in value:
            if not isinstance(key, str):
                raise _WireError(f"field {where!r} must have string keys, not {_describe(key)}")
        return dict(value)
    if _is_record(hint):
        if not isinstance(value, Mapping):
            raise _wrong_type(where, "an object", value)
        return _decode_record(hint, value, f"{where}.")
    if hint is str:
        if not isinstance(value, str):
            raise _wrong_type(where, "a string", value)
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise _wrong_type(where, "true or false", value)
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _wrong_type(where, "an integer", value)
        return value
    if hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _wrong_type(where, "a number", value)
        try:
            return float(value)
        except OverflowError:
            raise _wrong_type(where, "a number a float can hold", value) from None
    raise TypeError(f"events have no field of type {hint}")


def _wrong_type(where: str, expected: str, value: Any) -> _WireError:
    return _WireError(f"field {where!r} must be {expected}, not {_describe(value)}")


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
