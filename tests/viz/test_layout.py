"""The layered layout: edges point right, boxes never overlap, long edges go around nodes, crossings are
reduced, and big or awkward graphs stay fast and deterministic."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from itertools import combinations, pairwise
from pathlib import Path

import pytest

from framework0.viz.layout import ELLIPSIS, Layout, fit_text, layered_layout, text_width

Graph = list[tuple[str, list[str]]]


def random_dag(size: int, *, seed: int = 6, window: int = 30) -> Graph:
    """Steps that each wait on up to three of the ``window`` steps before them, like a big recipe."""
    rng = random.Random(seed)
    graph: Graph = []
    for i in range(size):
        count = min(i, rng.randint(0 if i < 8 else 1, 3))
        graph.append((f"step_{i}", [f"step_{j}" for j in sorted(rng.sample(range(max(0, i - window), i), count))]))
    return graph


def gap_segments(layout: Layout) -> dict[float, list[tuple[float, float]]]:
    """Every edge's pieces that cross the gap between two columns, as (y leaving, y arriving), by gap."""
    gaps: dict[float, list[tuple[float, float]]] = {}
    for edge in layout.edges:
        for (x0, y0), (x1, y1) in pairwise(edge.points):
            if x1 > x0 and not any(box.x <= x0 < box.x + box.width for box in layout.nodes.values()):
                gaps.setdefault(x0, []).append((y0, y1))
    return gaps


def crossings(layout: Layout) -> int:
    """Pairs of edge pieces that cross in a gap, counted on the drawing itself."""
    return sum(
        (a0 - b0) * (a1 - b1) < 0
        for pieces in gap_segments(layout).values()
        for (a0, a1), (b0, b1) in combinations(pieces, 2)
    )


def overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def test_every_edge_runs_left_to_right_from_its_sources_right_side_to_its_targets_left_side() -> None:
    layout = layered_layout(random_dag(120))

    assert len(layout.edges) == sum(len(ups) for _, ups in random_dag(120))
    for edge in layout.edges:
        source, target = layout.nodes[edge.source], layout.nodes[edge.target]
        assert source.layer < target.layer
        xs = [x for x, _ in edge.points]
        assert xs == sorted(xs)
        assert xs[0] == source.x + source.width
        assert xs[-1] == target.x
        assert source.y <= edge.points[0][1] <= source.y + source.height
        assert target.y <= edge.points[-1][1] <= target.y + target.height


def test_a_step_sits_in_the_column_of_its_longest_path_from_a_source() -> None:
    layout = layered_layout([("a", []), ("b", ["a"]), ("c", ["b"]), ("d", ["a", "c"]), ("e", [])])

    assert {name: box.layer for name, box in layout.nodes.items()} == {"a": 0, "b": 1, "c": 2, "d": 3, "e": 0}


def test_no_two_boxes_overlap() -> None:
    layout = layered_layout(random_dag(200))

    boxes = [(box.x, box.y, box.width, box.height) for box in layout.nodes.values()]
    assert [pair for pair in combinations(boxes, 2) if overlaps(*pair)] == []


def test_a_long_edge_passes_between_the_steps_of_the_columns_it_crosses() -> None:
    # start -> end skips three columns full of steps
    graph: Graph = [("start", [])]
    for column in range(1, 4):
        before = [f"s{column - 1}_{i}" for i in range(4)] if column > 1 else ["start"]
        graph += [(f"s{column}_{i}", before) for i in range(4)]
    graph.append(("end", ["start", "s3_0", "s3_3"]))
    layout = layered_layout(graph)

    (long_edge,) = [edge for edge in layout.edges if (edge.source, edge.target) == ("start", "end")]
    inner = long_edge.points[1:-1]
    assert len(inner) >= 6  # in and out of each of the three columns it crosses
    for (x0, y0), (x1, y1) in pairwise(inner):
        if y0 == y1:  # a straight run along a column: clear of every step in it
            for name, box in layout.nodes.items():
                if name not in ("start", "end") and box.x < x1 and x0 < box.x + box.width:
                    assert not box.y <= y0 <= box.y + box.height, name


def test_crossing_reduction_untangles_what_the_recipe_order_crosses() -> None:
    # in recipe order a b c over x y z, the edges a-z, b-y, c-x cross three times; p-q twice more
    graph: Graph = [("a", []), ("b", []), ("c", []), ("p", []), ("x", ["c"]), ("q", ["p"]), ("y", ["b"]), ("z", ["a"])]
    assert crossings(layered_layout(graph, sweeps=0)) > 0

    layout = layered_layout(graph)

    assert crossings(layout) == layout.crossings == 0


def test_crossing_reduction_leaves_fewer_crossings_than_the_recipe_order_on_a_random_dag() -> None:
    graph = random_dag(150)
    layout = layered_layout(graph)

    assert crossings(layout) == layout.crossings
    assert layout.crossings < 0.6 * layered_layout(graph, sweeps=0).crossings


def test_a_200_step_layout_fits_its_size_and_is_the_same_every_time() -> None:
    first = layered_layout(random_dag(200))

    assert first == layered_layout(random_dag(200))
    assert len(first.nodes) == 200
    for box in first.nodes.values():
        assert 0 <= box.x and box.x + box.width <= first.width
        assert 0 <= box.y and box.y + box.height <= first.height
    for edge in first.edges:
        for x, y in edge.points:
            assert 0 <= x <= first.width and 0 <= y <= first.height


CHECKOUT = Path(__file__).resolve().parents[2]  # the child imports this file as tests.viz.test_layout

CHILD = """
import json
from tests.viz.test_layout import random_dag
from framework0.viz.layout import layered_layout
layout = layered_layout(random_dag(200))
print(json.dumps([[name, box.x, box.y] for name, box in layout.nodes.items()] + [e.path for e in layout.edges]))
"""


def test_the_layout_does_not_depend_on_the_hash_seed() -> None:
    def run(seed: str) -> list[object]:
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(CHECKOUT)}
        result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        return list(json.loads(result.stdout))

    assert run("1") == run("2")


def test_a_wide_fan_out_and_in_is_laid_out_quickly_with_the_hub_between_its_children() -> None:
    graph: Graph = [("hub", [])] + [(f"child_{i}", ["hub"]) for i in range(500)]
    graph.append(("sink", [f"child_{i}" for i in range(500)]))
    started = time.perf_counter()
    layout = layered_layout(graph)
    elapsed = time.perf_counter() - started

    assert elapsed < 10.0  # a fraction of a second; the margin is for a loaded machine under coverage
    children = [layout.nodes[f"child_{i}"] for i in range(500)]
    assert {box.layer for box in children} == {1}
    assert layout.crossings == 0
    middle = layout.nodes["hub"].y
    assert min(box.y for box in children) < middle < max(box.y for box in children)
    assert abs(layout.nodes["sink"].y - middle) < 1


def test_a_long_chain_is_one_straight_row() -> None:
    layout = layered_layout([(f"n{i}", [f"n{i - 1}"] if i else []) for i in range(300)])

    assert [box.layer for box in layout.nodes.values()] == list(range(300))
    assert len({box.y for box in layout.nodes.values()}) == 1
    assert all(len({y for _, y in edge.points}) == 1 for edge in layout.edges)


def test_2000_steps_are_laid_out_in_reasonable_time() -> None:
    started = time.perf_counter()
    layout = layered_layout(random_dag(2000))

    assert len(layout.nodes) == 2000
    assert time.perf_counter() - started < 30.0  # about a second; a quadratic layout would take minutes


def test_widths_set_each_box_and_a_column_is_as_wide_as_its_widest_box() -> None:
    layout = layered_layout([("a", []), ("b", []), ("c", ["a", "b"])], widths={"a": 100, "b": 250})

    a, b, c = layout.nodes["a"], layout.nodes["b"], layout.nodes["c"]
    assert (a.width, b.width, c.width) == (100, 250, 160)
    assert a.x == b.x and c.x > b.x + 250


def test_unknown_upstream_names_are_ignored() -> None:
    layout = layered_layout([("a", ["ghost"]), ("b", ["a"])])

    assert [(edge.source, edge.target) for edge in layout.edges] == [("a", "b")]


def test_a_cycle_is_refused_with_its_path() -> None:
    with pytest.raises(ValueError, match=r"the graph has a cycle: a -> b -> a|the graph has a cycle: b -> a -> b"):
        layered_layout([("a", ["b"]), ("b", ["a"])])


def test_an_empty_graph_is_an_empty_layout() -> None:
    layout = layered_layout([])

    assert (layout.nodes, layout.edges, layout.crossings) == ({}, (), 0)
    assert layout.width > 0 and layout.height > 0


@pytest.mark.parametrize(
    ("text", "max_width", "expected"),
    [("load", 100, "load"), ("a_rather_long_step_name", 100, "a_rather_lo" + ELLIPSIS)],
    ids=["short-kept", "long-ellipsised"],
)
def test_fit_text_ellipsises_what_would_overflow(text: str, max_width: float, expected: str) -> None:
    fitted = fit_text(text, max_width, 13)

    assert fitted == expected
    assert text_width(fitted, 13) <= max_width
