"""A layered, left-to-right layout of a DAG (Sugiyama style): pure, and fast for thousands of steps.

Python has no well-kept layered-layout library (grandalf is unmaintained, Graphviz is a system binary), hence this one.

1. **Layers**: a node's column is its longest path from a source (``Dag.layers``), so every edge points right.
2. **Dummy nodes** split an edge spanning several columns into one segment per column gap; they are laid out
   like thin nodes, so a long edge passes between the nodes of the columns it crosses, never through one.
3. **Crossing reduction**: barycenter sweeps down and up the columns, keeping the order with the fewest
   crossings seen.
4. **Vertical positions**: sweeps that move each node towards the mean of its neighbours, resolved per column
   by isotonic regression (pool adjacent violators) so that the order holds and no two boxes overlap; dummy
   nodes weigh more, which keeps long edges straight.
5. **Routes**: each edge leaves its source's right side and enters its target's left side at a port spread
   by the neighbour's height, runs straight through the columns it crosses and curves (cubic, horizontal
   tangents) in the gaps between columns.

Every step is linear or ``n log n`` in nodes plus dummy nodes per sweep: a fan-out to 500 children costs no
more than a chain of 500.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from types import MappingProxyType

from framework0.graph.dag import build_dag, find_cycle

Point = tuple[float, float]

#: average advance of a glyph in the sans-serif faces we use, as a fraction of the font size (a little generous)
AVERAGE_ADVANCE = 0.6
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Spacing:
    """Distances of a layout, in SVG user units (pixels at zoom 1)."""

    node_height: float = 44.0
    default_width: float = 160.0
    layer_gap: float = 72.0  # between two columns, where edges curve
    node_gap: float = 16.0  # between two boxes of a column
    edge_gap: float = 8.0  # between two long edges passing through a column
    port_gap: float = 5.0  # between two edges meeting one side of a box
    margin: float = 16.0


@dataclass(frozen=True, slots=True)
class NodeBox:
    """A node's box: top-left corner, size, and its column (0 for sources)."""

    x: float
    y: float
    width: float
    height: float
    layer: int


@dataclass(frozen=True, slots=True)
class EdgeRoute:
    """An edge as a polyline through its ports and dummy points, and as a smooth SVG path ``d``."""

    source: str
    target: str
    points: tuple[Point, ...]
    path: str


@dataclass(frozen=True, slots=True)
class Layout:
    """Where everything goes: overall size, a box per node (input order), a route per edge."""

    width: float
    height: float
    nodes: Mapping[str, NodeBox]
    edges: tuple[EdgeRoute, ...]
    crossings: int  # edge crossings between adjacent columns in the chosen order


def text_width(text: str, font_size: float) -> float:
    """An estimate of ``text``'s rendered width: no font metrics in a pure module."""
    return len(text) * font_size * AVERAGE_ADVANCE


def fit_text(text: str, max_width: float, font_size: float) -> str:
    """``text``, or its beginning and an ellipsis if its estimated width exceeds ``max_width``."""
    if text_width(text, font_size) <= max_width + 0.01:
        return text
    keep = max(1, int(max_width / (font_size * AVERAGE_ADVANCE)) - 1)
    return text[:keep] + ELLIPSIS


def layered_layout(
    graph: Iterable[tuple[str, Iterable[str]]],
    *,
    widths: Mapping[str, float] | None = None,
    spacing: Spacing = Spacing(),
    sweeps: int = 6,
) -> Layout:
    """Lay out ``(node, upstream nodes)`` pairs (recipe order) left to right; unknown upstreams are ignored.

    ``widths`` gives each box's width (``spacing.default_width`` for the others); every box is
    ``spacing.node_height`` high. ``sweeps`` bounds the passes of crossing reduction and of vertical
    placement (0: no crossing reduction, columns in recipe order). The result is deterministic for the
    same input. Raises ValueError on a cycle, naming it as a path.
    """
    dag = build_dag(graph)
    cycle = find_cycle(dag)
    if cycle is not None:
        raise ValueError("the graph has a cycle: " + " -> ".join(reversed(cycle)))
    names = dag.nodes
    index = {name: i for i, name in enumerate(names)}
    plan = _Plan(len(names))
    for depth, members in enumerate(dag.layers()):
        plan.layers.append([index[name] for name in members])
        for name in members:
            plan.layer_of[index[name]] = depth
    for node in names:
        for up in dag.upstream[node]:
            plan.add_edge(index[up], index[node])
    crossings = plan.reduce_crossings(sweeps)
    width_of = [(widths or {}).get(name, spacing.default_width) for name in names]
    y = plan.place(spacing, sweeps)
    return _finish(plan, names, width_of, y, spacing, crossings)


class _Plan:
    """The layered graph with integer ids: real nodes first, then dummy nodes, neighbours both ways."""

    def __init__(self, real: int) -> None:
        self.real = real
        self.layers: list[list[int]] = []
        self.layer_of: list[int] = [0] * real
        self.ups: list[list[int]] = [[] for _ in range(real)]
        self.downs: list[list[int]] = [[] for _ in range(real)]
        self.chains: list[list[int]] = []  # every edge: source, its dummy nodes, target
        self.chain_of: list[int] = []  # per dummy node (id - real): its chain

    def add_edge(self, up: int, down: int) -> None:
        """Link ``up`` to ``down`` through a dummy node per column between them (one chain)."""
        chain = [up]
        for depth in range(self.layer_of[up] + 1, self.layer_of[down]):
            dummy = len(self.layer_of)
            self.layer_of.append(depth)
            self.chain_of.append(len(self.chains))
            self.ups.append([])
            self.downs.append([])
            self.layers[depth].append(dummy)
            chain.append(dummy)
        chain.append(down)
        for a, b in pairwise(chain):
            self.downs[a].append(b)
            self.ups[b].append(a)
        self.chains.append(chain)

    # -- order within columns -----------------------------------------------------------------------

    def reduce_crossings(self, sweeps: int) -> int:
        """Reorder the columns (down and up ``sweeps`` times, then swaps); 0 keeps the recipe order."""
        layers = self.layers
        best = self.crossings()
        if sweeps == 0 or best == 0:
            return best
        rank = [0.0] * len(self.layer_of)
        self._rank(rank, range(len(layers)))
        best_order = [list(layer) for layer in layers]
        stale = 0
        for _ in range(sweeps):
            improved = False
            for span, neighbours in ((range(1, len(layers)), self.ups), (range(len(layers) - 2, -1, -1), self.downs)):
                self._sweep(rank, span, neighbours)
                count = self.crossings()
                if count < best:
                    best, best_order, improved = count, [list(layer) for layer in layers], True
            stale = 0 if improved else stale + 1
            if best == 0 or stale == 2:
                break
        self.layers[:] = best_order
        return best - self._transpose(passes=sweeps) if best else 0

    def _transpose(self, passes: int) -> int:
        """Swap neighbours of a column while that removes crossings; returns how many it removed."""
        where = [0] * len(self.layer_of)
        for layer in self.layers:
            for i, node in enumerate(layer):
                where[node] = i
        removed = 0
        for _ in range(passes):
            gained = 0
            for layer in self.layers:
                # the other ends' positions, sorted; swapping in this column moves none of them
                ups = [sorted([where[other] for other in self.ups[node]]) for node in layer]
                downs = [sorted([where[other] for other in self.downs[node]]) for node in layer]
                for i in range(len(layer) - 1):
                    gain = _gain(ups[i], ups[i + 1]) + _gain(downs[i], downs[i + 1])
                    if gain > 0:
                        upper, lower = layer[i], layer[i + 1]
                        layer[i], layer[i + 1] = lower, upper
                        where[upper], where[lower] = i + 1, i
                        ups[i], ups[i + 1] = ups[i + 1], ups[i]
                        downs[i], downs[i + 1] = downs[i + 1], downs[i]
                        gained += gain
            removed += gained
            if not gained:
                break
        return removed

    def _rank(self, rank: list[float], span: Iterable[int]) -> None:
        # positions as fractions of the column, so that columns of different sizes compare
        for depth in span:
            layer = self.layers[depth]
            size = len(layer)
            for i, node in enumerate(layer):
                rank[node] = (i + 0.5) / size

    def _sweep(self, rank: list[float], span: Iterable[int], neighbours: list[list[int]]) -> None:
        for depth in span:
            layer = self.layers[depth]
            key: dict[int, tuple[float, float]] = {}
            for node in layer:
                around = neighbours[node]
                if len(around) == 1:
                    key[node] = (rank[around[0]], rank[node])
                elif around:
                    key[node] = (sum([rank[other] for other in around]) / len(around), rank[node])
                else:
                    key[node] = (rank[node], rank[node])
            layer.sort(key=key.__getitem__)
            self._rank(rank, (depth,))

    def crossings(self) -> int:
        """Crossings between adjacent columns: inversions of the lower ends, upper ends in order."""
        total = 0
        where = [0] * len(self.layer_of)
        for layer in self.layers:
            for i, node in enumerate(layer):
                where[node] = i
        downs = self.downs
        for layer in self.layers[:-1]:
            ends: list[int] = []
            for node in layer:
                below = downs[node]
                if len(below) == 1:
                    ends.append(where[below[0]])
                else:
                    ends += sorted([where[other] for other in below])
            seen: list[int] = []
            for count, end in enumerate(ends):
                total += count - bisect_right(seen, end)
                insort(seen, end)
        return total

    # -- vertical positions -------------------------------------------------------------------------

    def place(self, spacing: Spacing, sweeps: int) -> list[float]:
        """Centre y of every node: each column packed, then pulled towards the neighbours' mean."""
        real = self.real
        count = len(self.layer_of)
        y = [0.0] * count
        weight = [8.0] * count  # dummy nodes hold their line against the boxes around them
        around: list[list[int]] = [[] for _ in range(real)]
        ends: list[list[int]] = [[] for _ in range(real)]  # the long edges a real node starts or ends
        for node in range(real):
            around[node] = self.ups[node] + self.downs[node]
            weight[node] = max(1.0, len(around[node]) / 2)
            ends[node] = [self.chain_of[other - real] for other in around[node] if other >= real]
        offsets = [self._offsets(layer, spacing) for layer in self.layers]
        for layer, offset in zip(self.layers, offsets, strict=True):
            middle = offset[-1] / 2
            for node, value in zip(layer, offset, strict=True):
                y[node] = value - middle
        # the dummy nodes of an edge all aim for one height (the mean of the edge's points), so a long
        # edge runs straight and bends only next to its ends or around a node in its way
        chain_sum = [sum(y[node] for node in chain) for chain in self.chains]
        chain_size = [len(chain) for chain in self.chains]
        last = len(self.layers) - 1
        for _ in range(max(2, sweeps)):
            for depth in [*range(1, last + 1), *range(last - 1, -1, -1)]:
                layer = self.layers[depth]
                wants: list[float] = []
                for node in layer:
                    if node >= real:
                        chain = self.chain_of[node - real]
                        wants.append(chain_sum[chain] / chain_size[chain])
                    else:
                        near = around[node]
                        wants.append(sum([y[other] for other in near]) / len(near) if near else y[node])
                for node, value in zip(layer, _pack(layer, wants, weight, offsets[depth]), strict=True):
                    moved = value - y[node]
                    if node >= real:
                        chain_sum[self.chain_of[node - real]] += moved
                    else:
                        for chain in ends[node]:
                            chain_sum[chain] += moved
                    y[node] = value
        return y

    def _offsets(self, layer: list[int], spacing: Spacing) -> list[float]:
        """Each node's least distance below the column's first, packed as tightly as allowed."""
        real = self.real
        both = spacing.node_height + spacing.node_gap
        mixed = spacing.node_height / 2 + spacing.node_gap * 0.75
        offsets = [0.0]
        total = 0.0
        for above, below in pairwise(layer):
            dummies = (above >= real) + (below >= real)
            total += both if dummies == 0 else mixed if dummies == 1 else spacing.edge_gap
            offsets.append(total)
        return offsets


def _gain(above: list[int], below: list[int]) -> int:
    """Crossings removed by swapping two neighbours of a column, from their edges' sorted other ends."""
    if not above or not below:
        return 0
    if len(above) == 1 and len(below) == 1:
        return (above[0] > below[0]) - (above[0] < below[0])
    return _crossed(above, below) - _crossed(below, above)


def _crossed(above: list[int], below: list[int]) -> int:
    """Crossings of the edges of two neighbours of a column (``above`` first), from their sorted other ends."""
    if len(above) == 1:
        return bisect_left(below, above[0])
    return sum([bisect_left(below, end) for end in above])


def _pack(layer: list[int], wants: list[float], weight: list[float], offsets: list[float]) -> list[float]:
    """Heights as close to ``wants`` as the column's order and spacing allow (least weighted squares).

    With z_i = y_i - offset_i the constraint y_{i+1} - y_i >= gap_i is z non-decreasing, an isotonic
    regression that pool adjacent violators solves exactly in linear time.
    """
    blocks: list[tuple[float, float, int]] = []  # weight sum, mean of z, members
    for node, want, offset in zip(layer, wants, offsets, strict=True):
        total, mean, members = weight[node], want - offset, 1
        while blocks and blocks[-1][1] >= mean:
            before_total, before_mean, before_members = blocks.pop()
            mean = (before_total * before_mean + total * mean) / (before_total + total)
            total += before_total
            members += before_members
        blocks.append((total, mean, members))
    placed: list[float] = []
    for _, mean, members in blocks:
        for _ in range(members):
            placed.append(mean + offsets[len(placed)])
    return placed


def _finish(
    plan: _Plan,
    names: tuple[str, ...],
    width_of: list[float],
    y: list[float],
    spacing: Spacing,
    crossings: int,
) -> Layout:
    half = spacing.node_height / 2
    column_width = [max((width_of[node] for node in layer if node < plan.real), default=0.0) for layer in plan.layers]
    left: list[float] = []
    x = spacing.margin
    for width in column_width:
        left.append(x)
        x += width + spacing.layer_gap
    right = [start + width for start, width in zip(left, column_width, strict=True)]
    top = min([*(y[node] - half for node in range(plan.real)), *y[plan.real :]], default=0.0)
    # whole units: with an even node height, box edges fall on pixel boundaries and draw crisp at zoom 1
    y = [float(round(value - top + spacing.margin)) for value in y]
    bottom = max([*(y[node] + half for node in range(plan.real)), *y[plan.real :]], default=0.0)
    boxes = {
        name: NodeBox(left[plan.layer_of[i]], y[i] - half, width_of[i], spacing.node_height, plan.layer_of[i])
        for i, name in enumerate(names)
    }
    ports = _ports(plan, y, spacing)
    routes = tuple(_route(chain, plan, names, width_of, y, left, right, ports) for chain in plan.chains)
    height = bottom + spacing.margin if names else 2 * spacing.margin
    width = right[-1] + spacing.margin if right else 2 * spacing.margin
    return Layout(width, height, MappingProxyType(boxes), routes, crossings)


def _ports(plan: _Plan, y: list[float], spacing: Spacing) -> dict[tuple[int, int], float]:
    """The y offset from a box's centre where the segment to ``(node, neighbour)`` meets its side."""
    offsets: dict[tuple[int, int], float] = {}
    room = spacing.node_height - 2 * spacing.port_gap
    for node in range(plan.real):
        for neighbours in (plan.ups[node], plan.downs[node]):
            count = len(neighbours)
            if count < 2:
                continue
            step = min(spacing.port_gap, room / (count - 1))
            for i, other in enumerate(sorted(neighbours, key=lambda other: (y[other], other))):
                offsets[node, other] = (i - (count - 1) / 2) * step
    return offsets


def _route(
    chain: list[int],
    plan: _Plan,
    names: tuple[str, ...],
    width_of: list[float],
    y: list[float],
    left: list[float],
    right: list[float],
    ports: Mapping[tuple[int, int], float],
) -> EdgeRoute:
    source, target = chain[0], chain[-1]
    start_y = y[source] + ports.get((source, chain[1]), 0.0)
    end_y = y[target] + ports.get((target, chain[-2]), 0.0)
    column = plan.layer_of[source]
    points: list[Point] = [(left[column] + width_of[source], start_y)]
    if points[0][0] < right[column]:
        points.append((right[column], start_y))
    for dummy in chain[1:-1]:
        column = plan.layer_of[dummy]
        points += [(left[column], y[dummy]), (right[column], y[dummy])]
    points.append((left[plan.layer_of[target]], end_y))
    return EdgeRoute(names[source], names[target], tuple(points), _path(points))


def _path(points: list[Point]) -> str:
    """Straight where the route runs along a column, a cubic with horizontal tangents across a gap."""
    parts = [f"M{_number(points[0][0])},{_number(points[0][1])}"]
    for (x0, y0), (x1, y1) in pairwise(points):
        if y0 == y1:
            parts.append(f"H{_number(x1)}")
        else:
            middle = _number((x0 + x1) / 2)
            parts.append(f"C{middle},{_number(y0)} {middle},{_number(y1)} {_number(x1)},{_number(y1)}")
    return "".join(parts)


def _number(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text
