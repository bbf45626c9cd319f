"""The JSON form of the bus events (framework0.events.wire): round trips, the exact shape, and bad input."""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework0.context.changes import Change, ChangeSource
from framework0.events import wire
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
from framework0.events.wire import EVENT_TYPES, from_wire, to_wire

texts = st.text(st.characters(codec="utf-8"), max_size=12)  # orjson refuses lone surrogates
maybe_texts = st.none() | texts
integers = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # the range orjson writes
maybe_integers = st.none() | integers
numbers = st.floats(allow_nan=False, allow_infinity=False)
maybe_numbers = st.none() | numbers
json_values = st.recursive(
    st.none() | st.booleans() | integers | numbers | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(texts, json_values, max_size=3)
errors = st.none() | st.builds(ErrorInfo, type=texts, message=texts, traceback=maybe_texts)
sources = st.builds(ChangeSource, node=texts, step=maybe_texts, attempt=maybe_integers, item=maybe_integers)
changes = st.builds(
    Change,
    version=integers,
    key=texts,
    op=st.sampled_from(["set", "delete"]),
    old=json_values,
    new=json_values,
    at=numbers,
    source=sources,
    seq=integers,
)

EVENTS: dict[str, st.SearchStrategy[Any]] = {
    "run_started": st.builds(
        RunStarted,
        run_id=texts,
        test_id=maybe_texts,
        recipe_path=maybe_texts,
        steps=st.lists(texts, max_size=3).map(tuple),
        params=json_objects,
        at=numbers,
        graph=st.none() | json_objects,
    ),
    "run_finished": st.builds(RunFinished, run_id=texts, status=texts, at=numbers, duration_s=numbers, error=errors),
    "step_started": st.builds(StepStarted, run_id=texts, step=texts, at=numbers),
    "step_finished": st.builds(
        StepFinished,
        run_id=texts,
        step=texts,
        status=texts,
        at=numbers,
        duration_s=numbers,
        attempts=integers,
        error=errors,
        output=json_values,
        started_at=maybe_numbers,
        finished_at=maybe_numbers,
        cpu_s=numbers,
        peak_rss_bytes=integers,
        items=maybe_integers,
        reason=maybe_texts,
        cache_key=maybe_texts,
        cache_inputs=st.none() | json_objects,
    ),
    "attempt_started": st.builds(
        AttemptStarted, run_id=texts, step=texts, attempt=integers, item=maybe_integers, at=numbers
    ),
    "attempt_finished": st.builds(
        AttemptFinished,
        run_id=texts,
        step=texts,
        attempt=integers,
        item=maybe_integers,
        status=texts,
        at=numbers,
        wall_s=numbers,
        cpu_s=numbers,
        peak_rss_bytes=integers,
        error=errors,
        will_retry_in_s=maybe_numbers,
        output=json_values,
    ),
    "notice": st.builds(
        Notice,
        run_id=texts,
        level=st.sampled_from(["note", "warning", "error", "interrupted"]),
        text=texts,
        at=numbers,
    ),
    "log_lines": st.builds(
        LogLines,
        run_id=texts,
        step=texts,
        attempt=integers,
        item=maybe_integers,
        stream=st.sampled_from(["stdout", "stderr", "log", "framework"]),
        text=texts,
        at=numbers,
    ),
    "context_changed": st.builds(
        ContextChanged, run_id=texts, changes=st.lists(changes, max_size=3).map(tuple), context=maybe_texts
    ),
}

SOURCE = ChangeSource(node="n1", step="load", attempt=2, item=None)
CHANGED = ContextChanged(
    run_id="run-1",
    changes=(
        Change(7, "jobs.done", "set", None, [1, 2], 10.5, SOURCE, seq=3),
        Change(7, "tmp", "delete", {"a": 1}, None, 10.5, SOURCE, seq=3),
    ),
)
FINISHED = StepFinished(
    run_id="run-1",
    step="load",
    status="failed",
    at=12.0,
    duration_s=1.5,
    attempts=2,
    error=ErrorInfo("KeyError", "'x'", "Traceback ..."),
)


def test_every_event_class_of_the_bus_has_a_snake_case_wire_name() -> None:
    classes = set(str(Event).replace(" ", "").split("|"))
    assert {cls.__name__ for cls in EVENT_TYPES.values()} == classes
    for name, cls in EVENT_TYPES.items():
        assert name == re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
        assert "type" not in cls._fields  # type: ignore[attr-defined]
    assert set(EVENTS) == set(EVENT_TYPES)


@pytest.mark.parametrize("name", list(EVENT_TYPES))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_event_survives_a_round_trip_through_json_text(name: str, data: st.DataObject) -> None:
    event = data.draw(EVENTS[name])
    message = to_wire(event)
    assert message["type"] == name
    assert from_wire(json.loads(json.dumps(message, allow_nan=False))) == event


@settings(max_examples=100, deadline=None)
@given(event=st.one_of(*EVENTS.values()))
def test_the_wire_form_is_what_orjson_writes_and_reads_back(event: Event) -> None:
    orjson = pytest.importorskip("orjson")
    message = to_wire(event)
    assert orjson.loads(orjson.dumps(message)) == json.loads(json.dumps(message))
    assert from_wire(orjson.loads(orjson.dumps(message))) == event


def test_a_finished_step_goes_on_the_wire_with_its_error_and_every_field() -> None:
    assert to_wire(FINISHED) == {
        "type": "step_finished",
        "run_id": "run-1",
        "step": "load",
        "status": "failed",
        "at": 12.0,
        "duration_s": 1.5,
        "attempts": 2,
        "error": {"type": "KeyError", "message": "'x'", "traceback": "Traceback ..."},
        "output": None,
        "started_at": None,
        "finished_at": None,
        "cpu_s": 0.0,
        "peak_rss_bytes": 0,
        "items": None,
        "reason": None,
        "cache_key": None,
        "cache_inputs": None,
    }


def test_a_context_change_goes_on_the_wire_as_change_dicts_with_their_seq() -> None:
    message = to_wire(CHANGED)
    assert message == {
        "type": "context_changed",
        "run_id": "run-1",
        "changes": [{**change.to_dict(), "seq": 3} for change in CHANGED.changes],
        "context": None,
    }
    assert message["changes"][0] == {
        "version": 7,
        "key": "jobs.done",
        "op": "set",
        "old": None,
        "new": [1, 2],
        "at": 10.5,
        "step": "load",
        "attempt": 2,
        "item": None,
        "node": "n1",
        "seq": 3,
    }


def test_tuples_become_lists() -> None:
    message = to_wire(RunStarted("run-1", None, "r.yaml", ("a", "b"), {"n": 1}, 1.0))
    assert message["steps"] == ["a", "b"]


def test_fields_missing_on_the_wire_take_their_declared_defaults() -> None:
    message = {
        "type": "step_finished",
        "run_id": "run-1",
        "step": "load",
        "status": "succeeded",
        "at": 12.0,
        "duration_s": 1.5,
        "attempts": 1,
        "error": {"type": "E", "message": "m"},
    }
    event = from_wire(message)
    assert event == StepFinished("run-1", "load", "succeeded", 12.0, 1.5, 1, ErrorInfo("E", "m"))
    assert isinstance(event, StepFinished) and event.cpu_s == 0.0 and event.error and event.error.traceback is None


def test_a_change_without_seq_decodes_to_seq_0() -> None:
    message = to_wire(CHANGED)
    del message["changes"][0]["seq"]
    decoded = from_wire(message)
    assert isinstance(decoded, ContextChanged)
    assert decoded.changes[0].seq == 0


def test_a_context_change_without_a_context_name_is_one_of_the_run_s_own_context() -> None:
    shared = CHANGED._replace(context="jobs")
    assert to_wire(shared)["context"] == "jobs"
    assert from_wire(to_wire(shared)) == shared
    message = to_wire(shared)
    del message["context"]
    assert from_wire(message) == CHANGED


def test_members_the_receiver_does_not_know_are_ignored() -> None:
    message = to_wire(CHANGED)
    message["added_later"] = {"x": 1}
    message["changes"][0]["added_later"] = 1
    assert from_wire(message) == CHANGED


def test_integers_on_the_wire_are_accepted_for_float_fields() -> None:
    event = from_wire({"type": "step_started", "run_id": "r", "step": "s", "at": 3})
    assert isinstance(event, StepStarted) and event.at == 3.0 and isinstance(event.at, float)


class StepStartedOnANode(NamedTuple):
    """StepStarted as a later change may extend it: a new field with a default."""

    run_id: str
    step: str
    at: float
    node: str | None = None


def test_a_new_field_with_a_default_round_trips_without_a_change_to_the_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EVENT_TYPES, "step_started", StepStartedOnANode)
    event: Any = StepStartedOnANode("run-1", "load", 1.0, node="n1")
    message = to_wire(event)
    assert message == {"type": "step_started", "run_id": "run-1", "step": "load", "at": 1.0, "node": "n1"}
    assert from_wire(message) == event
    del message["node"]  # from an older sender
    decoded: Any = from_wire(message)
    assert decoded == StepStartedOnANode("run-1", "load", 1.0, node=None)


class Flagged(NamedTuple):
    run_id: str
    flag: bool
    tags: frozenset[str] = frozenset()


def test_a_boolean_field_takes_true_or_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EVENT_TYPES, "step_started", Flagged)
    decoded: Any = from_wire({"type": "step_started", "run_id": "r", "flag": True})
    assert decoded == Flagged("r", True)
    with pytest.raises(ValueError) as error:
        from_wire({"type": "step_started", "run_id": "r", "flag": 1})
    assert str(error.value) == "step_started event: field 'flag' must be true or false, not 1"


def test_a_field_type_the_wire_cannot_carry_is_a_programming_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EVENT_TYPES, "step_started", Flagged)
    with pytest.raises(TypeError) as error:
        from_wire({"type": "step_started", "run_id": "r", "flag": True, "tags": ["a"]})
    assert str(error.value) == "events have no field of type frozenset[str]"


STEP_STARTED = {"type": "step_started", "run_id": "r", "step": "s", "at": 1.0}
RUN_FINISHED = {"type": "run_finished", "run_id": "r", "status": "failed", "at": 1.0, "duration_s": 0.5, "error": None}
CHANGE = {"version": 1, "key": "k", "op": "set", "old": None, "new": 1, "at": 1.0, "node": "n"}


BAD_INPUT: list[tuple[Any, str]] = [
    ([STEP_STARTED], "an event is a JSON object, not a list"),
    ({"run_id": "r"}, "event has no 'type' field"),
    (
        {**STEP_STARTED, "type": "step_paused"},
        "unknown event type 'step_paused'; expected one of run_started, run_finished, step_started,"
        " step_finished, attempt_started, attempt_finished, log_lines, context_changed, notice",
    ),
    (
        {**STEP_STARTED, "type": None},
        "unknown event type null; expected one of run_started, run_finished, step_started,"
        " step_finished, attempt_started, attempt_finished, log_lines, context_changed, notice",
    ),
    ({"type": "step_started", "run_id": "r", "at": 1.0}, "step_started event: missing required field 'step'"),
    ({**STEP_STARTED, "step": None}, "step_started event: field 'step' must be a string, not null"),
    ({**STEP_STARTED, "at": "now"}, "step_started event: field 'at' must be a number, not 'now'"),
    ({**STEP_STARTED, "at": True}, "step_started event: field 'at' must be a number, not true"),
    (
        {**STEP_STARTED, "at": 10**400},
        f"step_started event: field 'at' must be a number a float can hold, not 1{'0' * 56}...",
    ),
    (
        {**RUN_FINISHED, "error": "boom"},
        "run_finished event: field 'error' must be an object, not 'boom'",
    ),
    (
        {**RUN_FINISHED, "error": {"type": "E"}},
        "run_finished event: missing required field 'error.message'",
    ),
    (
        {**RUN_FINISHED, "error": {"type": "E", "message": ["m"]}},
        "run_finished event: field 'error.message' must be a string, not a list",
    ),
    (
        {"type": "run_started", "run_id": "r", "test_id": None, "recipe_path": None, "steps": "ab"}
        | {"params": {}, "at": 1.0},
        "run_started event: field 'steps' must be a list, not 'ab'",
    ),
    (
        {"type": "run_started", "run_id": "r", "test_id": None, "recipe_path": None, "steps": ["a", 1]}
        | {"params": {}, "at": 1.0},
        "run_started event: field 'steps[1]' must be a string, not 1",
    ),
    (
        {"type": "run_started", "run_id": "r", "test_id": None, "recipe_path": None, "steps": []}
        | {"params": [], "at": 1.0},
        "run_started event: field 'params' must be an object, not a list",
    ),
    (
        {"type": "run_started", "run_id": "r", "test_id": None, "recipe_path": None, "steps": []}
        | {"params": {1: "one"}, "at": 1.0},
        "run_started event: field 'params' must have string keys, not 1",
    ),
    (
        {"type": "log_lines", "run_id": "r", "step": "s", "attempt": 1.0, "item": None}
        | {"stream": "stdout", "text": "hi", "at": 1.0},
        "log_lines event: field 'attempt' must be an integer, not 1.0",
    ),
    (
        {"type": "attempt_started", "run_id": "r", "step": "s", "attempt": True, "item": None, "at": 1.0},
        "attempt_started event: field 'attempt' must be an integer, not true",
    ),
    (
        {"type": "context_changed", "run_id": "r", "changes": [CHANGE, {**CHANGE, "version": "2"}]},
        "context_changed event: field 'changes[1].version' must be an integer, not '2'",
    ),
    (
        {"type": "context_changed", "run_id": "r", "changes": [{k: v for k, v in CHANGE.items() if k != "node"}]},
        "context_changed event: missing required field 'changes[0].node'",
    ),
    (
        {"type": "context_changed", "run_id": "r", "changes": [{**CHANGE, "attempt": "1"}]},
        "context_changed event: field 'changes[0].attempt' must be an integer, not '1'",
    ),
    (
        {"type": "context_changed", "run_id": "r", "changes": [1]},
        "context_changed event: field 'changes[0]' must be an object, not 1",
    ),
]


@pytest.mark.parametrize(
    ("data", "message"), BAD_INPUT, ids=[message.partition(" event: ")[2] or message for _, message in BAD_INPUT]
)
def test_bad_input_is_refused_with_one_line_naming_the_field(data: Any, message: str) -> None:
    with pytest.raises(ValueError) as error:
        from_wire(data)
    assert str(error.value) == message
    assert "\n" not in str(error.value)


def test_a_long_wrong_value_is_shortened_in_the_message() -> None:
    with pytest.raises(ValueError) as error:
        from_wire({**STEP_STARTED, "at": "x" * 100})
    assert str(error.value) == f"step_started event: field 'at' must be a number, not '{'x' * 56}..."


def test_to_wire_refuses_an_object_that_is_not_an_event() -> None:
    with pytest.raises(TypeError) as error:
        to_wire(ErrorInfo("E", "m"))  # type: ignore[arg-type]
    assert str(error.value) == (
        "not a bus event: ErrorInfo; expected one of run_started, run_finished, step_started, step_finished,"
        " attempt_started, attempt_finished, log_lines, context_changed, notice"
    )


def test_the_module_exports_its_codec() -> None:
    assert wire.__all__ == ["EVENT_TYPES", "from_wire", "to_wire"]
