"""Enumeration of the simple cycles of bounded length in the pair graph.

Each cycle is listed once, starting at its smallest vertex. The search runs from each start
vertex ``u`` over vertices greater than ``u`` only, extending all partial paths of one length
at once with NumPy, and cuts every path whose last vertex cannot get back to ``u`` within
the remaining budget (distances to ``u`` come from a short backward breadth-first search).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from possible.graph.csr import ranges
from possible.graph.prune import _neighbours

__all__ = ["Cycles", "enumerate_cycles"]


@dataclass(frozen=True, slots=True)
class Cycles:
    """Cycles as a padded array.

    Attributes
    ----------
    vertices
        ``(n_cycles, max_cycle)`` vertex ids in cycle order, starting at the smallest vertex,
        padded with ``-1``. Sorted by length, then lexicographically: deterministic.
    length
        Number of vertices (= transplants) of each cycle.
    """

    vertices: NDArray[np.int32]
    length: NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.length.shape[0])


def enumerate_cycles(
    indptr: NDArray[np.int64],
    target: NDArray[np.int32],
    n_vertices: int,
    max_cycle: int,
    *,
    deadline: float | None = None,
) -> Cycles:
    """All simple cycles with 2 to `max_cycle` vertices of a simple directed graph.

    Parameters
    ----------
    indptr, target
        CSR adjacency without parallel arcs or loops (restrict it to the arcs that may lie on
        a cycle first: see :func:`possible.graph.prune.reach`).
    n_vertices
        Number of vertices.
    max_cycle
        Longest cycle, in vertices.
    deadline
        A :func:`time.perf_counter` reading after which to stop.

    Returns
    -------
    Cycles

    Raises
    ------
    TimeoutError
        If the deadline passes first (checked before each start vertex).

    Examples
    --------
    >>> import numpy as np
    >>> indptr = np.array([0, 1, 3, 4]); target = np.array([1, 0, 2, 0], dtype=np.int32)
    >>> enumerate_cycles(indptr, target, 3, 3).vertices.tolist()
    [[0, 1, -1], [0, 1, 2]]
    """
    width = max(max_cycle, 2)
    if max_cycle < 2 or target.size == 0:
        return Cycles(np.zeros((0, width), np.int32), np.zeros(0, np.int32))
    # Reverse adjacency, for the backward search from each start.
    counts = np.diff(indptr)
    src = np.repeat(np.arange(n_vertices, dtype=np.int32), counts)
    order = np.argsort(target, kind="stable")
    r_indptr = np.zeros(n_vertices + 1, dtype=np.int64)
    np.cumsum(np.bincount(target, minlength=n_vertices), out=r_indptr[1:])
    r_target = src[order]

    far = np.int32(max_cycle + 1)
    dist = np.full(n_vertices, far, dtype=np.int32)
    found: list[list[NDArray[np.int32]]] = [[] for _ in range(max_cycle + 1)]
    for u in range(n_vertices):
        if indptr[u + 1] == indptr[u] or r_indptr[u + 1] == r_indptr[u]:
            continue
        if deadline is not None and time.perf_counter() > deadline:
            raise TimeoutError(f"cycle enumeration stopped at its deadline ({u} of {n_vertices})")
        # dist[w] = hops from w back to u through vertices > u, up to max_cycle - 1.
        touched = [np.array([u], dtype=np.int64)]
        dist[u] = 0
        frontier = touched[0]
        for hop in range(1, max_cycle):
            prev = _neighbours(r_indptr, r_target, frontier)
            prev = prev[(prev > u) & (dist[prev] == far)]
            if prev.size == 0:
                break
            if hop < max_cycle - 1:  # the next hop starts from these: once each
                prev = np.unique(prev)
            dist[prev] = hop
            touched.append(prev)
            frontier = prev
        paths = np.array([[u]], dtype=np.int32)
        for j in range(1, max_cycle):
            last = paths[:, -1].astype(np.int64)
            starts = indptr[last]
            cnt = indptr[last + 1] - starts
            total = int(cnt.sum())
            if total == 0:
                break
            row = np.repeat(np.arange(paths.shape[0]), cnt)
            w = target[ranges(starts, cnt)]
            # w must be able to return to u with the vertices still allowed.
            keep = (w > u) & (dist[w] <= max_cycle - j)
            for col in range(1, j):
                keep &= w != paths[row, col]
            row, w = row[keep], w[keep]
            if w.size == 0:
                break
            paths = np.column_stack([paths[row], w]).astype(np.int32)
            closing = dist[w] == 1
            if closing.any():
                found[j + 1].append(paths[closing])
        for t in touched:
            dist[t] = far
    blocks = []
    lengths = []
    for k in range(2, max_cycle + 1):
        if not found[k]:
            continue
        block = np.concatenate(found[k])
        block = block[np.lexsort(block.T[::-1])]
        padded = np.full((block.shape[0], width), -1, dtype=np.int32)
        padded[:, :k] = block
        blocks.append(padded)
        lengths.append(np.full(block.shape[0], k, dtype=np.int32))
    if not blocks:
        return Cycles(np.zeros((0, width), np.int32), np.zeros(0, np.int32))
    return Cycles(np.concatenate(blocks), np.concatenate(lengths))
