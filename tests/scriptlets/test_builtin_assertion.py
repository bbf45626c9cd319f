from __future__ import annotations

from typing import Any

import pytest

from framework0.context import ChangeSource, Context, ContextState
from framework0.scriptlets.builtin.assertion import AssertScriptlet


def run_assert(args: dict[str, Any], raw: dict[str, Any] | None = None) -> Any:
    ctx = Context(ContextState(), ChangeSource(node="test", step="s", attempt=1))
    scriptlet = AssertScriptlet()
    if raw is not None:
        scriptlet.raw_args = raw
    scriptlet.setup(ctx)
    return scriptlet.run(ctx, AssertScriptlet.parse_params(args))


def test_assert_marks_that_as_an_expression_arg() -> None:
    assert AssertScriptlet.expression_args == frozenset({"that"})


def test_assert_returns_true_when_every_value_is_true() -> None:
    assert run_assert({"that": [True, 1, "x"]}, {"that": ["a", "b", "c"]}) is True


def test_assert_names_the_failing_expression_of_a_list() -> None:
    raw = {"that": ["steps.a.ok", "steps.fetch.output.status == 200", "steps.c.ok"]}
    with pytest.raises(AssertionError) as caught:
        run_assert({"that": [True, False, False]}, raw)
    assert str(caught.value) == "assertion 2 of 3 failed: steps.fetch.output.status == 200"


def test_assert_appends_the_message() -> None:
    with pytest.raises(AssertionError) as caught:
        run_assert({"that": False, "message": "the API is down"}, {"that": "{{ steps.ping.output }}"})
    assert str(caught.value) == "assertion failed: {{ steps.ping.output }}: the API is down"


def test_assert_shows_the_value_when_there_is_no_expression_text() -> None:
    with pytest.raises(AssertionError) as caught:
        run_assert({"that": [1, 0]})
    assert str(caught.value) == "assertion 2 of 2 failed: 0"


def test_a_single_expression_whose_value_is_a_list_is_one_assertion() -> None:
    assert run_assert({"that": [0, 0]}, {"that": "steps.scan.output.findings"}) is True
    with pytest.raises(AssertionError) as caught:
        run_assert({"that": []}, {"that": "steps.scan.output.findings"})
    assert str(caught.value) == "assertion failed: steps.scan.output.findings"


def test_assert_rejects_an_empty_list_of_expressions() -> None:
    with pytest.raises(ValueError) as caught:
        run_assert({"that": []}, {"that": []})
    assert str(caught.value) == "'that' is an empty list: there is nothing to assert"
