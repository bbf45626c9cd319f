"""Turning a step's templates into values just before it runs: ``when``, ``foreach`` and args (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framework0.errors import TemplateError
from framework0.recipe.model import Step


def evaluate_when(step: Step, namespace: Mapping[str, Any]) -> bool:
    """Whether the step should run: its ``when`` (a bool, an expression or a template) is truthy."""
    if isinstance(step.when, bool):
        return step.when
    from framework0.recipe import templates

    return bool(templates.evaluate(step.when, namespace))


def foreach_items(step: Step, namespace: Mapping[str, Any]) -> list[Any]:
    """The items of a foreach step; a template that gives anything but a list is an error."""
    from framework0.recipe import templates

    value = templates.render_value(step.foreach, namespace)
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TemplateError(f"'foreach' must give a list, got {type(value).__name__} {value!r:.80}")


def render_args(step: Step, namespace: Mapping[str, Any]) -> Mapping[str, Any]:
    """The step's args with every template rendered once; the recipe's own mapping when none has one."""
    if not step.templated_args:
        return step.args
    from framework0.recipe import templates

    expression_args = step.scriptlet.scriptlet.expression_args
    args = dict(step.args)
    for name in step.templated_args:
        value = args[name]
        if name in expression_args:
            if isinstance(value, list):
                args[name] = [templates.evaluate(v, namespace) if isinstance(v, str) else v for v in value]
            elif isinstance(value, str):
                args[name] = templates.evaluate(value, namespace)
        else:
            args[name] = templates.render_value(value, namespace)
    return args
