"""The ``hello_world`` built-in: the smallest useful scriptlet, kept as an example and a smoke test."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from framework0.scriptlets.base import BaseScriptlet

if TYPE_CHECKING:
    from framework0.context import Context


class HelloWorldScriptlet(BaseScriptlet):
    """Greet someone and remember who in the context.

    Args: ``name`` (default ``"world"``). Sets the context key ``greeted`` to the name and returns
    the greeting, ``"Hello, {name}!"``.
    """

    class Params(BaseScriptlet.Params):
        name: str = Field(default="world", description="Who to greet.")

    def run(self, ctx: Context, params: Params) -> str:
        ctx.set("greeted", params.name)
        return f"Hello, {params.name}!"
