from __future__ import annotations

import pytest

from framework0.context import ChangeSource, Context, ContextState
from framework0.errors import ContextError
from framework0.scriptlets.builtin.set_context import SetContextScriptlet


def make_context() -> Context:
    return Context(ContextState(), ChangeSource(node="test", step="s", attempt=1))


def test_set_context_writes_every_value_and_returns_the_sorted_keys() -> None:
    ctx = make_context()
    params = SetContextScriptlet.parse_params({"values": {"b.port": 5432, "a.host": "db", "c": [1, 2]}})
    assert SetContextScriptlet().run(ctx, params) == ["a.host", "b.port", "c"]
    assert ctx.as_dict() == {"a.host": "db", "b.port": 5432, "c": [1, 2]}
    assert [change.source.step for change in ctx.history()] == ["s", "s", "s"]


def test_set_context_with_a_non_json_value_writes_nothing() -> None:
    ctx = make_context()
    params = SetContextScriptlet.parse_params({"values": {"ok": 1, "bad": object()}})
    with pytest.raises(ContextError, match=r"^context value for 'bad' is not JSON \(object\)"):
        SetContextScriptlet().run(ctx, params)
    assert ctx.as_dict() == {}
