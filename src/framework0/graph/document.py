"""A run's dependency graph as a JSON document: kept with the run and sent in ``RunStarted``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework0.recipe.model import Recipe


def graph_document(recipe: Recipe) -> dict[str, Any]:
    """``{"steps": [{"name", "scriptlet", "upstream"}]}`` in recipe order: what the dashboard and reports
    draw, even for steps that never ran or a recipe that has changed since. A step with
    ``trigger: always`` or ``continue_on_error: true`` has that key too (what ``f0 explain`` tells)."""
    return {
        "steps": [
            {
                "name": step.name,
                "scriptlet": step.scriptlet.name + (" (foreach)" if step.foreach is not None else ""),
                "upstream": list(step.upstream),
                **({"trigger": step.trigger} if step.trigger != "on_success" else {}),
                **({"continue_on_error": True} if step.continue_on_error else {}),
            }
            for step in recipe.steps
        ]
    }
