"""The ``set_context`` built-in: write several context keys from a recipe, as one atomic batch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from framework0.scriptlets.base import BaseScriptlet

if TYPE_CHECKING:
    from framework0.context import Context


class SetContextScriptlet(BaseScriptlet):
    """Write keys into the shared context in one atomic batch.

    Args: ``values``, a mapping of dotted keys (``"db.host"``) to JSON values. Every key is written
    in a single change batch, so other steps never see half of them. Returns the sorted list of
    keys written. A value that is not JSON fails the step with ``ContextError`` and writes nothing.
    """

    class Params(BaseScriptlet.Params):
        values: dict[str, Any] = Field(description="The keys to write and their JSON values.")

    def run(self, ctx: Context, params: Params) -> list[str]:
        ctx.update(params.values)
        return sorted(params.values)
