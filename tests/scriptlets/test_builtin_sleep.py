from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from pydantic import ValidationError

from framework0.context import CancelToken, ChangeSource, Context, ContextState
from framework0.errors import StepCancelled
from framework0.scriptlets.builtin.sleep import SleepScriptlet


def make_context(cancelled: CancelToken | None = None) -> Context:
    return Context(ContextState(), ChangeSource(node="test", step="s", attempt=1), cancelled=cancelled)


def run_sleep(args: dict[str, Any], ctx: Context | None = None) -> Any:
    ctx = ctx or make_context()
    scriptlet = SleepScriptlet()
    scriptlet.setup(ctx)
    return scriptlet.run(ctx, SleepScriptlet.parse_params(args))


def test_sleep_waits_the_given_seconds_and_returns_none() -> None:
    started = time.monotonic()
    assert run_sleep({"seconds": 0.05}) is None
    assert time.monotonic() - started >= 0.05


@pytest.mark.parametrize(("given", "seconds"), [("50ms", 0.05), ("2s", 2.0), ("1m", 60.0), ("1h", 3600.0), (0, 0.0)])
def test_sleep_accepts_numbers_and_duration_strings(given: object, seconds: float) -> None:
    assert SleepScriptlet.parse_params({"seconds": given}).seconds == seconds


@pytest.mark.parametrize("given", ["soon", -1, True])
def test_sleep_rejects_what_is_not_a_duration(given: object) -> None:
    with pytest.raises(ValidationError, match="seconds"):
        SleepScriptlet.parse_params({"seconds": given})


def test_cancelling_wakes_a_sleep_at_once() -> None:
    cancelled = CancelToken()
    timer = threading.Timer(0.05, cancelled.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(StepCancelled, match="^cancelled while sleeping$"):
        run_sleep({"seconds": 30}, make_context(cancelled))
    assert time.monotonic() - started < 2
    timer.join()
