"""The dependency graph of a recipe."""

from framework0.graph.dag import Dag, build_dag, find_cycle

__all__ = ["Dag", "build_dag", "find_cycle"]
