"""The compatibility graph as arrays, its pruning, and the enumeration of cycles and chains."""

from __future__ import annotations

from possible.graph.compatibility import CompatibilityGraph, build_graph
from possible.graph.cycles import Cycles, enumerate_cycles
from possible.graph.prune import Reach, chain_distances, reach

__all__ = [
    "CompatibilityGraph",
    "Cycles",
    "Reach",
    "build_graph",
    "chain_distances",
    "enumerate_cycles",
    "reach",
]
