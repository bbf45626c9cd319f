"""The step graph's layout and SVG: how long 200, 500 and 2,000 steps take.

Shapes (fixed seeds, so every run measures the same graphs):

- ``fan``: one step fans out to N - 2 parallel steps that fan in to one (the widest column there is);
- ``random``: each step waits on one to three of the 30 steps before it, like a big recipe;
- ``random-any``: each step waits on one to three of *any* steps before it (long edges everywhere).

For each, the median of ``--repeat`` runs of ``layered_layout`` alone and of ``graph_svg`` (layout plus
rendering, with a status per step as on the run page), the SVG's size and the crossings left. Aims
(issue 6): 500 steps well under 100 ms of layout, a 500-step run page's first render under 1 s. Nothing
is asserted.

    python benchmarks/graph_layout.py [--repeat 7] [--sizes 200,500,2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from framework0.viz.graph_svg import SPACING, STATUS_ICONS, GraphNode, graph_svg, node_width
from framework0.viz.layout import layered_layout


def fan(size: int) -> list[GraphNode]:
    middle = [GraphNode(f"shard_{i}", "python", ("split",)) for i in range(size - 2)]
    return [GraphNode("split", "shell", ()), *middle, GraphNode("join", "python", tuple(n.name for n in middle))]


def random_dag(size: int, *, window: int | None = 30, seed: int = 6) -> list[GraphNode]:
    rng = random.Random(seed)
    nodes: list[GraphNode] = []
    for i in range(size):
        low = 0 if window is None else max(0, i - window)
        count = min(i, rng.randint(0 if i < 8 else 1, 3))
        upstream = tuple(nodes[j].name for j in sorted(rng.sample(range(low, i), count)))
        nodes.append(GraphNode(f"step_{i}_{rng.choice(['load', 'clean', 'report'])}", "python", upstream))
    return nodes


SHAPES: dict[str, Callable[[int], list[GraphNode]]] = {
    "fan": fan,
    "random": random_dag,
    "random-any": lambda size: random_dag(size, window=None),
}


def median_ms(repeat: int, action: Callable[..., object], *args: object, **kwargs: object) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action(*args, **kwargs)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sizes", default="200,500,2000")
    args = parser.parse_args()
    statuses = list(STATUS_ICONS)
    print(f"{'shape':<11} {'steps':>6} {'edges':>6} {'layout ms':>10} {'svg ms':>8} {'svg KB':>7} {'crossings':>10}")
    for shape, make in SHAPES.items():
        for size in (int(text) for text in args.sizes.split(",")):
            nodes = make(size)
            status_of = {node.name: statuses[i % len(statuses)] for i, node in enumerate(nodes)}
            widths = {node.name: node_width(node, with_status=True) for node in nodes}
            graph = [(node.name, node.upstream) for node in nodes]
            layout_ms = median_ms(args.repeat, layered_layout, graph, widths=widths, spacing=SPACING)
            svg_ms = median_ms(args.repeat, graph_svg, nodes, statuses=status_of, standalone=False)
            size_kb = len(graph_svg(nodes, statuses=status_of, standalone=False).encode()) / 1024
            crossings = layered_layout(graph, widths=widths, spacing=SPACING).crossings
            edges = sum(len(node.upstream) for node in nodes)
            print(f"{shape:<11} {size:>6} {edges:>6} {layout_ms:>10.1f} {svg_ms:>8.1f} {size_kb:>7.0f} {crossings:>10}")


if __name__ == "__main__":
    main()
