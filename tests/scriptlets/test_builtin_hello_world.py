from __future__ import annotations

from framework0.context import ChangeSource, Context, ContextState
from framework0.scriptlets.builtin.hello_world import HelloWorldScriptlet
from framework0.scriptlets.registry import import_ref


def make_context() -> Context:
    return Context(ContextState(), ChangeSource(node="test", step="s", attempt=1))


def test_hello_world_greets_the_name_and_remembers_it() -> None:
    ctx = make_context()
    scriptlet = HelloWorldScriptlet()
    scriptlet.setup(ctx)
    assert scriptlet.run(ctx, HelloWorldScriptlet.parse_params({"name": "Ada"})) == "Hello, Ada!"
    assert ctx.get("greeted") == "Ada"


def test_hello_world_greets_the_world_by_default() -> None:
    ctx = make_context()
    assert HelloWorldScriptlet().run(ctx, HelloWorldScriptlet.parse_params({})) == "Hello, world!"
    assert ctx.get("greeted") == "world"


def test_the_seed_module_path_names_the_same_class() -> None:
    assert import_ref("scriptlets.steps.hello_world:HelloWorldScriptlet") is HelloWorldScriptlet
