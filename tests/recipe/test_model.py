"""The recipe model's fast step constructor builds what the dataclass builds."""

from __future__ import annotations

import dataclasses
from typing import Any

from framework0.errors import Span
from framework0.recipe.model import RetryPolicy, Step, new_step
from framework0.scriptlets.registry import resolve_name


def test_new_step_with_only_a_name_and_scriptlet_equals_the_dataclass_with_its_defaults() -> None:
    spec = resolve_name("hello_world")
    assert new_step({"name": "a", "scriptlet": spec}, ()) == Step(name="a", scriptlet=spec)


def test_new_step_sets_every_field_it_is_given() -> None:
    spec = resolve_name("hello_world")
    values: dict[str, Any] = {
        "name": "a",
        "scriptlet": spec,
        "args": {"x": 1},
        "idx": 3,
        "description": "d",
        "foreach": [1, 2],
        "depends_on": ("b",),
        "when": "{{ true }}",
        "retry": RetryPolicy(attempts=2),
        "timeout": 5.0,
        "continue_on_error": True,
        "cache": True,
        "trigger": "always",
        "span": Span("r.yaml", 1, 2),
        "templated_args": frozenset({"x"}),
        "reads_context": True,
        "digest": "abc",
    }
    assert {field.name for field in dataclasses.fields(Step)} == {*values, "upstream"}
    assert new_step(values, ("b",)) == Step(**values, upstream=("b",))
