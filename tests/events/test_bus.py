"""The in-process event bus: subscribe, unsubscribe, delivery order, failing handlers."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from framework0.events import Event, EventBus, StepFinished, StepStarted


def started(step: str) -> StepStarted:
    return StepStarted(run_id="run-1", step=step, at=1.0)


def test_a_subscriber_receives_each_published_event() -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    first, second = started("a"), started("b")
    bus.publish(first)
    bus.publish(second)
    assert seen == [first, second]


def test_publishing_without_subscribers_does_nothing() -> None:
    EventBus().publish(started("a"))


def test_an_unsubscribed_handler_receives_nothing_more() -> None:
    bus = EventBus()
    seen: list[Event] = []
    unsubscribe = bus.subscribe(seen.append)
    bus.publish(started("a"))
    unsubscribe()
    bus.publish(started("b"))
    assert seen == [started("a")]


def test_unsubscribing_twice_is_harmless() -> None:
    bus = EventBus()
    unsubscribe = bus.subscribe(lambda event: None)
    unsubscribe()
    unsubscribe()
    assert not bus.has_subscribers


def test_unsubscribing_one_handler_keeps_the_others() -> None:
    bus = EventBus()
    kept: list[Event] = []
    dropped: list[Event] = []
    bus.subscribe(kept.append)
    unsubscribe = bus.subscribe(dropped.append)
    unsubscribe()
    bus.publish(started("a"))
    assert (kept, dropped) == ([started("a")], [])


def test_handlers_are_called_in_subscription_order_for_each_event() -> None:
    bus = EventBus()
    calls: list[tuple[str, str]] = []

    def recorder(name: str) -> Callable[[Event], None]:
        def record(event: Event) -> None:
            assert isinstance(event, StepStarted)
            calls.append((name, event.step))

        return record

    for name in ("first", "second", "third"):
        bus.subscribe(recorder(name))
    bus.publish(started("a"))
    bus.publish(started("b"))
    assert calls == [
        ("first", "a"),
        ("second", "a"),
        ("third", "a"),
        ("first", "b"),
        ("second", "b"),
        ("third", "b"),
    ]


def test_a_handler_that_unsubscribes_while_handling_does_not_stop_the_current_delivery() -> None:
    bus = EventBus()
    seen: list[Event] = []

    def once(event: Event) -> None:
        unsubscribe()

    unsubscribe = bus.subscribe(once)
    bus.subscribe(seen.append)
    bus.publish(started("a"))
    bus.publish(started("b"))
    assert seen == [started("a"), started("b")]
    assert bus.has_subscribers


def test_a_failing_handler_is_logged_and_the_others_still_receive_the_event(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    before: list[Event] = []
    after: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("handler bug")

    bus.subscribe(before.append)
    bus.subscribe(broken)
    bus.subscribe(after.append)
    event = StepFinished(run_id="run-1", step="a", status="succeeded", at=2.0, duration_s=1.0, attempts=1, error=None)
    with caplog.at_level(logging.ERROR, logger="framework0.events.bus"):
        bus.publish(event)
    assert before == after == [event]
    [record] = caplog.records
    assert record.name == "framework0.events.bus"
    assert record.levelno == logging.ERROR
    assert record.getMessage() == f"event handler {broken!r} failed on StepFinished"
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert str(record.exc_info[1]) == "handler bug"


def test_a_failing_handler_keeps_receiving_later_events(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    calls: list[Event] = []

    def flaky(event: Event) -> None:
        calls.append(event)
        raise ValueError("always")

    bus.subscribe(flaky)
    with caplog.at_level(logging.ERROR, logger="framework0.events.bus"):
        bus.publish(started("a"))
        bus.publish(started("b"))
    assert calls == [started("a"), started("b")]
    assert len(caplog.records) == 2


def test_has_subscribers_follows_subscribe_and_unsubscribe() -> None:
    bus = EventBus()
    states = [bus.has_subscribers]
    first = bus.subscribe(lambda event: None)
    second = bus.subscribe(lambda event: None)
    states.append(bus.has_subscribers)
    first()
    states.append(bus.has_subscribers)
    second()
    states.append(bus.has_subscribers)
    assert states == [False, True, True, False]
