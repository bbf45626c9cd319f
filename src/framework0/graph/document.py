"""A run's dependency graph as a JSON document: kept with the run and sent in ``RunStarted``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework0.recipe.model import Recipe


def graph_document(recipe: Recipe) -> dict[str, Any]:
    """``{"steps": [{"name", "scriptlet", "upstream"}]}`` in recipe order: what the dashboard and reports
    draw, even for steps that never ran or a recipe that has changed since. A step with
    ``trigger: always`` or ``continue_on_error: true`` has that key too (what ``f0 explain`` tells)."""
    steps: list[dict[str, Any]] = []
    for step in recipe.steps:
        entry: dict[str, Any] = {
            "name": step.name,
            "scriptlet": step.scriptlet.name if step.foreach is None else step.scriptlet.name + " (foreach)",
            "upstream": list(step.upstream),
        }
        if step.trigger != "on_success":
            entry["trigger"] = step.trigger
        if step.continue_on_error:
            entry["continue_on_error"] = True
        steps.append(entry)
    return {"steps": steps}
