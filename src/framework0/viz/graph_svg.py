"""A recipe's DAG as SVG, laid out left to right, optionally coloured by step status.

The class names and ``data-*`` attributes are the contract with ``web/static/graph.css`` and the run
page's script, which updates a node by setting ``data-status`` and the icon and status texts. There is no
``style`` attribute anywhere (the dashboard's Content-Security-Policy forbids inline styles):

    <svg class="f0-graph" ...>
      <defs><marker id="f0-arrow">...</marker></defs>
      <g class="f0-edges"><path class="f0-edge" data-from="A" data-to="B" d="..." marker-end="url(#f0-arrow)"/></g>
      <g class="f0-nodes">
        <g class="f0-node" data-step="B" data-status="running" transform="translate(x,y)" tabindex="0">
          <title>B: shell (running)</title>
          <rect class="f0-node-box" .../> <text class="f0-node-icon">▶</text> <text class="f0-node-name">B</text>
          <text class="f0-node-caption">shell</text> <text class="f0-node-status">running</text>
        </g>
      </g>
    </svg>
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from framework0.viz.layout import Layout, NodeBox, Spacing, fit_text, layered_layout, text_width

if TYPE_CHECKING:
    from framework0.recipe.model import Recipe

#: the icon beside each status, so that a status reads without colour (the run page's script has the same map)
STATUS_ICONS: Mapping[str, str] = {
    "pending": "○",
    "running": "▶",
    "succeeded": "✓",
    "failed": "✗",
    "skipped": "⤼",
    "cached": "♻",
    "cancelled": "⊘",
    "restored": "↺",
}
#: the icon of a status not in STATUS_ICONS
OTHER_STATUS_ICON = "•"

GRAPH_CSS = Path(__file__).parent / "web" / "static" / "graph.css"

NAME_SIZE = 13.0  # font sizes in graph.css: .f0-node-name and .f0-node-caption / .f0-node-status
CAPTION_SIZE = 11.0
PADDING = 10.0
ICON_ROOM = 18.0
MIN_WIDTH = 96.0
MAX_WIDTH = 232.0
STATUS_ROOM = text_width("succeeded", CAPTION_SIZE) + 8  # the longest status word and a gap
SPACING = Spacing(node_height=44.0)

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A step as the graph draws it: its name, a caption (the scriptlet) and the steps it waits for."""

    name: str
    caption: str
    upstream: tuple[str, ...]


def recipe_graph(recipe: Recipe) -> list[GraphNode]:
    """The recipe's steps in order; a foreach step's caption says so."""
    return [
        GraphNode(
            step.name,
            step.scriptlet.name + (" (foreach)" if step.foreach is not None else ""),
            tuple(step.upstream),
        )
        for step in recipe.steps
    ]


def status_icon(status: str) -> str:
    """The icon of ``status`` (OTHER_STATUS_ICON for one without an icon of its own)."""
    return STATUS_ICONS.get(status, OTHER_STATUS_ICON)


def graph_svg(
    nodes: Sequence[GraphNode],
    *,
    statuses: Mapping[str, str] | None = None,
    standalone: bool = True,
    title: str = "",
) -> str:
    """The graph as an ``<svg>`` element, laid out left to right.

    With ``statuses`` every node shows its status (``pending`` when missing) as an icon and a word, and
    carries ``data-status`` for the colours of graph.css; without, nodes have no status at all.
    ``standalone`` embeds graph.css in a ``<style>`` (a file that renders alone); pages that link
    graph.css pass False. ``title`` names the graph in its ``aria-label`` (and ``<title>`` if standalone).
    """
    widths = {node.name: node_width(node, with_status=statuses is not None) for node in nodes}
    layout = layered_layout(((node.name, node.upstream) for node in nodes), widths=widths, spacing=SPACING)
    return render_svg(nodes, layout, statuses=statuses, standalone=standalone, title=title)


def render_svg(
    nodes: Sequence[GraphNode],
    layout: Layout,
    *,
    statuses: Mapping[str, str] | None = None,
    standalone: bool = True,
    title: str = "",
) -> str:
    """The SVG of ``nodes`` placed by ``layout`` (see graph_svg)."""
    width, height = _number(layout.width), _number(layout.height)
    label = title or "Step graph"
    count = len(nodes)
    aria = f"{label}: {count} step{'s' if count != 1 else ''}, dependencies point right"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="f0-graph" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="group" aria-label="{_attr(aria)}">'
    ]
    if standalone:
        if title:  # in a page it would be every blank spot's tooltip
            parts.append(f"<title>{_text(title)}</title>")
        parts.append(f"<style>{_text(GRAPH_CSS.read_text(encoding='utf-8'))}</style>")
    parts.append(
        '<defs><marker id="f0-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path class="f0-arrow-head" d="M0,0L10,5L0,10z"/></marker></defs>'
    )
    parts.append('<g class="f0-edges">')
    for edge in layout.edges:
        parts.append(
            f'<path class="f0-edge" data-from="{_attr(edge.source)}" data-to="{_attr(edge.target)}" '
            f'd="{edge.path}" marker-end="url(#f0-arrow)"/>'
        )
    parts.append('</g><g class="f0-nodes">')
    for node in nodes:
        status = None if statuses is None else statuses.get(node.name) or "pending"
        parts.append(_node(node, layout.nodes[node.name], status))
    parts.append("</g></svg>")
    return "".join(parts)


def _node(node: GraphNode, box: NodeBox, status: str | None) -> str:
    width = box.width
    name_room = width - 2 * PADDING - (ICON_ROOM if status is not None else 0)
    caption_room = width - 2 * PADDING - (STATUS_ROOM if status is not None else 0)
    tip = f"{node.name}: {node.caption}" + (f" ({status})" if status is not None else "")
    data_status = f' data-status="{_attr(status)}"' if status is not None else ""
    parts = [
        f'<g class="f0-node" data-step="{_attr(node.name)}"{data_status} '
        f'transform="translate({_number(box.x)},{_number(box.y)})" tabindex="0">',
        f"<title>{_text(tip)}</title>",
        f'<rect class="f0-node-box" width="{_number(width)}" height="{_number(box.height)}" rx="6"/>',
    ]
    name_x = PADDING
    if status is not None:
        parts.append(f'<text class="f0-node-icon" x="{_number(PADDING)}" y="19">{_text(status_icon(status))}</text>')
        name_x += ICON_ROOM
    parts.append(
        f'<text class="f0-node-name" x="{_number(name_x)}" y="19">{_text(fit_text(node.name, name_room, NAME_SIZE))}'
        "</text>"
    )
    parts.append(
        f'<text class="f0-node-caption" x="{_number(PADDING)}" y="35">'
        f"{_text(fit_text(node.caption, caption_room, CAPTION_SIZE))}</text>"
    )
    if status is not None:
        right = _number(width - PADDING)
        parts.append(f'<text class="f0-node-status" x="{right}" y="35" text-anchor="end">{_text(status)}</text>')
    parts.append("</g>")
    return "".join(parts)


def node_width(node: GraphNode, *, with_status: bool) -> float:
    """The box width that fits the name and caption (and the status word), within MIN_WIDTH..MAX_WIDTH."""
    name = text_width(node.name, NAME_SIZE) + (ICON_ROOM if with_status else 0)
    caption = text_width(node.caption, CAPTION_SIZE) + (STATUS_ROOM if with_status else 0)
    return min(MAX_WIDTH, max(MIN_WIDTH, math.ceil(max(name, caption) + 2 * PADDING)))


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", value), quote=False)


def _attr(value: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", value), quote=True)


def _number(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text
