"""The ``assert`` built-in: fail the step when a condition written in the recipe does not hold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from framework0.scriptlets.base import BaseScriptlet

if TYPE_CHECKING:
    from framework0.context import Context


class AssertScriptlet(BaseScriptlet):
    """Check one or more conditions; a false one fails the step and says which.

    Args: ``that``, an expression or a list of them (``steps.fetch.output.status == 200``); the
    runner evaluates each one, with or without ``{{ }}``, before the step runs. ``message``
    (optional) is appended to the failure. Returns ``true``. The first falsy value raises
    ``AssertionError: assertion 2 of 3 failed: <expression as written>: <message>``; a single
    expression reads ``assertion failed: <expression>``.
    """

    expression_args: ClassVar[frozenset[str]] = frozenset({"that"})

    class Params(BaseScriptlet.Params):
        that: Any = Field(description="An expression, or a list of expressions, that must all be true.")
        message: str | None = Field(default=None, description="Added to the failure message.")

    def run(self, ctx: Context, params: Params) -> bool:
        raw = self.raw_args.get("that", params.that)
        if isinstance(raw, list):
            values = params.that if isinstance(params.that, list) else [params.that]
            if not values:
                raise ValueError("'that' is an empty list: there is nothing to assert")
            self._check_all(values, raw, params.message)
        elif not params.that:
            raise AssertionError(_failure("assertion failed", raw, params.that, params.message))
        return True

    @staticmethod
    def _check_all(values: Sequence[Any], raw: Sequence[Any], message: str | None) -> None:
        for index, value in enumerate(values):
            if not value:
                text = raw[index] if index < len(raw) else value
                where = f"assertion {index + 1} of {len(values)} failed"
                raise AssertionError(_failure(where, text, value, message))


def _failure(where: str, expression: Any, value: Any, message: str | None) -> str:
    # Without the runner (a direct call) there is no expression text: show the value instead.
    text = expression.strip() if isinstance(expression, str) else repr(value)
    return f"{where}: {text}" + (f": {message}" if message else "")
