"""Pydantic parameter models for scriptlets: the base model, models from signatures, arg checks.

Importing this module imports pydantic; the rest of Framework0 imports it only when a scriptlet
actually has parameters, which keeps ``f0 run`` of parameterless steps fast to start.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from framework0.errors import did_you_mean, short_repr


class ScriptletParams(BaseModel):
    """Base of every scriptlet's ``Params``: unknown args are errors."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class _OpenParams(ScriptletParams):
    """Params of a function with ``**kwargs``: args it does not name go there."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)


def model_from_signature(function: Callable[..., Any], *, name: str, skip: Collection[str]) -> type[ScriptletParams]:
    """Build a Params model from a function's parameters (annotations and defaults)."""
    fields: dict[str, Any] = {}
    parameters = inspect.signature(function).parameters.values()
    base = _OpenParams if any(p.kind is p.VAR_KEYWORD for p in parameters) else ScriptletParams
    for parameter in parameters:
        if parameter.name in skip or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        annotation = Any if parameter.annotation is parameter.empty else parameter.annotation
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    model: type[ScriptletParams] = create_model(
        f"{name}Params", __base__=base, __module__=function.__module__, **fields
    )
    return model


Problem = tuple[str | None, str]
"""An arg's name (None for the args as a whole) and what is wrong with it."""


def describe_validation_error(
    error: ValidationError, *, fields: Collection[str], ignore_missing: Collection[str] = ()
) -> list[Problem]:
    """One readable problem per error: ``arg 'seconds': Input should be a valid number``."""
    problems: list[Problem] = []
    for detail in error.errors(include_url=False):
        location = ".".join(str(part) for part in detail["loc"])
        top = str(detail["loc"][0]) if detail["loc"] else None
        kind = detail["type"]
        if kind == "missing":
            if location not in ignore_missing:
                problems.append((None, f"missing required arg {location!r}"))
        elif kind == "extra_forbidden":
            problems.append((top, f"unknown arg {location!r}{did_you_mean(location, fields)}"))
        elif location:
            message = detail["msg"].removeprefix("Value error, ")
            shown = short_repr(detail.get("input"))
            got = "" if shown in message else f" (got {shown})"
            problems.append((top, f"arg {location!r}: {message}{got}"))
        else:
            problems.append((None, f"args rejected: {detail['msg']}"))
    return problems


def check_args(
    model: type[ScriptletParams], static_args: Mapping[str, Any], templated: Collection[str]
) -> list[Problem]:
    """Check args known before the run; templated ones are only checked for being known names."""
    problems: list[Problem] = []
    fields = [info.alias or name for name, info in model.model_fields.items()]
    if model.model_config.get("extra") == "forbid":
        for name in templated:
            if name not in fields:
                problems.append((name, f"unknown arg {name!r}{did_you_mean(name, fields)}"))
    try:
        model.model_validate(dict(static_args))
    except ValidationError as error:
        found = describe_validation_error(error, fields=fields, ignore_missing=templated)
        # With templated args left out, checks across several args cannot be judged yet; the
        # rendered args are validated again before the step runs.
        problems.extend(p for p in found if p[0] is not None or not templated)
    except Exception as error:  # a model validator of the scriptlet's own raised something else
        if not templated:
            problems.append((None, f"args rejected: {type(error).__name__}: {error}"))
    return problems
