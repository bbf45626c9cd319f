"""A recipe's DAG as text: Mermaid (for Markdown) and Graphviz DOT."""

from __future__ import annotations

from framework0.recipe.model import Recipe, Step


def _caption(step: Step) -> str:
    return step.scriptlet.name + (" (foreach)" if step.foreach is not None else "")


def to_mermaid(recipe: Recipe) -> str:
    """``flowchart LR`` with one node per step and one edge per dependency."""
    ids = {step.name: f"s{index}" for index, step in enumerate(recipe.steps)}
    lines = ["flowchart LR"]
    for step in recipe.steps:
        label = f"{step.name}<br/>{_caption(step)}".replace('"', "#quot;")
        lines.append(f'    {ids[step.name]}["{label}"]')
    for step in recipe.steps:
        for up in step.upstream:
            lines.append(f"    {ids[up]} --> {ids[step.name]}")
    return "\n".join(lines) + "\n"


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(recipe: Recipe) -> str:
    """A ``digraph`` laid out left to right."""
    lines = ["digraph recipe {", "    rankdir=LR;", '    node [shape=box, style=rounded, fontname="Helvetica"];']
    for step in recipe.steps:
        label = _dot_string(step.name)[:-1] + "\\n" + _dot_string(_caption(step))[1:]
        lines.append(f"    {_dot_string(step.name)} [label={label}];")
    for step in recipe.steps:
        for up in step.upstream:
            lines.append(f"    {_dot_string(up)} -> {_dot_string(step.name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
