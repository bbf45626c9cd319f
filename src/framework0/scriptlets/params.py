"""Pydantic parameter models for scriptlets: the base model, models from signatures, arg checks.

Importing this module imports pydantic; the rest of Framework0 imports it only when a scriptlet
actually has parameters, which keeps ``f0 run`` of parameterless steps fast to start.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any

from framework0.errors import did_you_mean
from pydantic import BaseModel, ConfigDict, ValidationError, create_model


class ScriptletParams(BaseModel):
    """Base of every scriptlet's ``Params``: unknown args are errors."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


def model_from_signature(
    function: Callable[..., Any], *, name: str, skip: Collection[str]
) -> type[ScriptletParams]:
    """Build a Params model from a function's parameters (annotations and defaults)."""
    fields: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name in skip or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        annotation = Any if parameter.annotation is parameter.empty else parameter.annotation
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    model: type[ScriptletParams] = create_model(
        f"{name}Params", __base__=ScriptletParams, __module__=function.__module__, **fields
    )
    return model


def describe_validation_error(
    error: ValidationError, *, fields: Collection[str], ignore_missing: Collection[str] = ()
) -> list[str]:
    """One readable line per problem: ``arg 'seconds': Input should be a valid number``."""
    problems: list[str] = []
    for detail in error.errors(include_url=False):
        location = ".".join(str(part) for part in detail["loc"])
        kind = detail["type"]
        if kind == "missing":
            if location in ignore_missing:
                continue
            problems.append(f"missing required arg {location!r}")
        elif kind == "extra_forbidden":
            problems.append(f"unknown arg {location!r}{did_you_mean(location, fields)}")
        else:
            problems.append(f"arg {location!r}: {detail['msg']} (got {detail.get('input')!r})")
    return problems


def check_args(
    model: type[ScriptletParams], static_args: Mapping[str, Any], templated: Collection[str]
) -> list[str]:
    """Check args known before the run; templated ones are only checked for being known names."""
    problems: list[str] = []
    fields = list(model.model_fields)
    if model.model_config.get("extra") == "forbid":
        for name in templated:
            if name not in model.model_fields:
                problems.append(f"unknown arg {name!r}{did_you_mean(name, fields)}")
    try:
        model.model_validate(dict(static_args))
    except ValidationError as error:
        problems.extend(describe_validation_error(error, fields=fields, ignore_missing=templated))
    except Exception as error:  # a model validator of the scriptlet's own raised something else
        problems.append(f"args rejected: {type(error).__name__}: {error}")
    return problems
