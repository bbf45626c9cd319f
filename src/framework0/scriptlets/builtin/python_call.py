"""The ``python`` built-in: call any importable function from a recipe, with ``ctx`` injected if asked."""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from framework0.errors import did_you_mean
from framework0.scriptlets.base import BaseScriptlet

if TYPE_CHECKING:
    from framework0.context import Context


class PythonScriptlet(BaseScriptlet):
    """Call a Python function by its import path and return what it returns.

    Args: ``call`` (``"package.module:function"``; the attribute may be dotted, ``"mod:Class.method"``),
    ``args`` (a list of positional arguments) and ``kwargs`` (a mapping of keyword arguments). If the
    function has a parameter named ``ctx``, the step's Context is passed as it. The recipe's folder
    and the working directory are importable, so ``call: "tasks:build"`` finds ``tasks.py`` there.
    Returns the function's return value, which must be JSON-serialisable.
    """

    class Params(BaseScriptlet.Params):
        call: str = Field(description='The function to call, as "module:function".')
        args: list[Any] = Field(default_factory=list, description="Positional arguments.")
        kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments.")

        @field_validator("call")
        @classmethod
        def _import_string(cls, value: str) -> str:
            module, sep, attribute = value.partition(":")
            if not sep or not module.strip() or not attribute.strip():
                raise ValueError(f'call {value!r} must be in format "<module>:<function>"')
            return value.strip()

    def run(self, ctx: Context, params: Params) -> Any:
        function = load_callable(params.call, self.search_path)
        kwargs = dict(params.kwargs)
        if _takes_ctx(function):
            if "ctx" in kwargs:
                raise ValueError(f"kwargs of {params.call!r} must not set 'ctx': the Context is passed as it")
            kwargs["ctx"] = ctx
        return function(*params.args, **kwargs)


def load_callable(call: str, search_path: Sequence[str] = ()) -> Callable[..., Any]:
    """Import ``"module:attr.path"`` (from ``search_path``, the recipe's folder and the working
    directory, then the installed packages) and return the callable; ValueError names what is missing."""
    module_name, _, attribute = call.partition(":")
    from framework0.scriptlets.registry import add_search_path

    add_search_path(search_path or [os.getcwd()])
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        # Only the module we were asked for; a missing dependency inside it keeps its own error.
        if error.name is None or not (module_name == error.name or module_name.startswith(error.name + ".")):
            raise
        raise ValueError(f"cannot import module {module_name!r} for call {call!r}: {error}") from None
    owner = f"module {module_name!r}"
    for part in attribute.split("."):
        if not hasattr(target, part):
            names = [name for name in dir(target) if not name.startswith("_")]
            raise ValueError(f"{owner} has no attribute {part!r}{did_you_mean(part, names)}")
        target = getattr(target, part)
        owner = f"{type(target).__name__} {part!r}"
    if not callable(target):
        raise ValueError(f"{call!r} is a {type(target).__name__}, not a callable")
    function: Callable[..., Any] = target
    return function


def _takes_ctx(function: Callable[..., Any]) -> bool:
    try:
        return "ctx" in inspect.signature(function).parameters
    except (TypeError, ValueError):  # some builtins have no readable signature
        return False
