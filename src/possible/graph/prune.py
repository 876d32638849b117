"""Pruning: what cannot be part of any exchange within the caps.

An arc between two pairs can only close a cycle if both ends lie in the same strongly connected
component of the pair graph; an arc can only sit on a chain if its source is reachable from a
non-directed donor in fewer hops than the chain cap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from possible.graph.csr import ranges

__all__ = ["Reach", "chain_distances", "reach"]

UNREACHABLE = np.iinfo(np.int32).max


@dataclass(frozen=True, slots=True)
class Reach:
    """What survives pruning.

    Attributes
    ----------
    cycle_arc
        Mask over the (simple) arcs: both ends are pairs in one strongly connected component.
    chain_distance
        Hops from the nearest NDD to each vertex (0 for NDDs, ``UNREACHABLE`` if more than
        ``max_chain`` hops or never). With chains turned off (``max_chain == 0``) or no NDD,
        every vertex, NDDs included, is ``UNREACHABLE``.
    """

    cycle_arc: NDArray[np.bool_]
    chain_distance: NDArray[np.int32]


def strong_components(
    indptr: NDArray[np.int64], target: NDArray[np.int32], n_vertices: int
) -> NDArray[np.int32]:
    """Label of the strongly connected component of each vertex."""
    data = np.ones(target.shape[0], dtype=np.int8)
    matrix = csr_matrix((data, target, indptr), shape=(n_vertices, n_vertices))
    _, labels = connected_components(matrix, directed=True, connection="strong")
    out: NDArray[np.int32] = np.asarray(labels, dtype=np.int32)
    return out


def chain_distances(
    indptr: NDArray[np.int64],
    target: NDArray[np.int32],
    n_pairs: int,
    n_ndds: int,
    max_chain: int,
) -> NDArray[np.int32]:
    """Breadth-first hop counts from the set of NDDs, cut at `max_chain`.

    Parameters
    ----------
    indptr, target
        CSR arcs over ``n_pairs + n_ndds`` vertices.
    n_pairs, n_ndds
        Pairs come first, NDDs last.
    max_chain
        Longest chain, in transplants. Vertices further away are ``UNREACHABLE``.

    Returns
    -------
    numpy.ndarray
        ``dist[v]``: 0 for an NDD, k if a chain can give to pair v as its k-th transplant.
    """
    n = n_pairs + n_ndds
    dist = np.full(n, UNREACHABLE, dtype=np.int32)
    frontier = np.arange(n_pairs, n, dtype=np.int64)
    dist[frontier] = 0
    for hop in range(1, max_chain + 1):
        if frontier.size == 0:
            break
        nxt = _neighbours(indptr, target, frontier)
        nxt = np.unique(nxt[dist[nxt] == UNREACHABLE])
        dist[nxt] = hop
        frontier = nxt.astype(np.int64)
    return dist


def reach(
    indptr: NDArray[np.int64],
    target: NDArray[np.int32],
    n_pairs: int,
    n_ndds: int,
    *,
    max_cycle: int,
    max_chain: int,
) -> Reach:
    """Prune a simple (no parallel arcs) graph for the given caps."""
    n = n_pairs + n_ndds
    counts = np.diff(indptr)
    src = np.repeat(np.arange(n, dtype=np.int32), counts)
    if max_cycle >= 2 and n_pairs:
        labels = strong_components(indptr, target, n)
        cycle_arc = (src < n_pairs) & (labels[src] == labels[target])
    else:
        cycle_arc = np.zeros(target.shape[0], dtype=bool)
    if max_chain >= 1 and n_ndds:
        dist = chain_distances(indptr, target, n_pairs, n_ndds, max_chain)
    else:
        dist = np.full(n, UNREACHABLE, dtype=np.int32)
    return Reach(cycle_arc=cycle_arc, chain_distance=dist)


def _neighbours(
    indptr: NDArray[np.int64], target: NDArray[np.int32], vertices: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Concatenated out-neighbours of `vertices` (with repeats)."""
    starts = indptr[vertices]
    counts = indptr[vertices + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    out: NDArray[np.int64] = target[ranges(starts, counts)].astype(np.int64)
    return out
