"""The dependency graph of a recipe: edges both ways, cycles named as a path, layers for display."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dag:
    """Steps in recipe order with their upstream and downstream neighbours."""

    nodes: tuple[str, ...]
    upstream: Mapping[str, tuple[str, ...]]
    downstream: Mapping[str, tuple[str, ...]]

    def layers(self) -> list[list[str]]:
        """Steps grouped by depth: layer 0 has no upstream, layer n waits on layer n - 1 at most."""
        depth: dict[str, int] = {}
        for node in self.topological_order():
            depth[node] = 1 + max((depth[up] for up in self.upstream[node]), default=-1)
        grouped: list[list[str]] = [[] for _ in range(1 + max(depth.values(), default=-1))]
        for node in self.nodes:
            grouped[depth[node]].append(node)
        return grouped

    def topological_order(self) -> list[str]:
        """Kahn's order, ties broken by recipe order; assumes no cycle (``find_cycle`` first)."""
        remaining = {node: len(self.upstream[node]) for node in self.nodes}
        ready = [node for node in self.nodes if remaining[node] == 0]
        order: list[str] = []
        while ready:
            node = ready.pop(0)
            order.append(node)
            for child in self.downstream[node]:
                remaining[child] -= 1
                if remaining[child] == 0:
                    ready.append(child)
        return order

    def descendants(self, node: str) -> set[str]:
        """Every step downstream of ``node``, transitively."""
        seen: set[str] = set()
        stack = list(self.downstream[node])
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(self.downstream[current])
        return seen


def build_dag(edges: Iterable[tuple[str, Iterable[str]]]) -> Dag:
    """Build from ``(node, upstream nodes)`` pairs in recipe order; unknown upstreams are ignored."""
    pairs = [(node, tuple(dict.fromkeys(ups))) for node, ups in edges]
    nodes = tuple(node for node, _ in pairs)
    known = set(nodes)
    upstream = {node: tuple(up for up in ups if up in known) for node, ups in pairs}
    downstream: dict[str, list[str]] = {node: [] for node in nodes}
    for node, ups in upstream.items():
        for up in ups:
            downstream[up].append(node)
    return Dag(nodes, upstream, {node: tuple(children) for node, children in downstream.items()})


def find_cycle(dag: Dag) -> list[str] | None:
    """A cycle as a closed path ``[a, b, c, a]`` (each waits on the next), or None."""
    return find_cycle_in(dag.upstream)


def find_cycle_in(upstream: Mapping[str, Sequence[str]]) -> list[str] | None:
    """``find_cycle`` over ``upstream`` alone: nodes in its order, each with its known, distinct upstreams."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(upstream, white)
    for start, ups in upstream.items():
        if not ups or colour[start] != white:
            continue  # a node that waits for nothing is on no cycle
        path: list[str] = [start]
        iterators = [iter(ups)]
        colour[start] = grey
        while iterators:
            nxt = next(iterators[-1], None)
            if nxt is None:
                colour[path.pop()] = black
                iterators.pop()
            elif colour[nxt] == grey:
                return [*path[path.index(nxt) :], nxt]
            elif colour[nxt] == white:
                colour[nxt] = grey
                path.append(nxt)
                iterators.append(iter(upstream[nxt]))
    return None
