"""Small array idioms for compressed sparse rows, shared by the graph and the models."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ranges"]


def ranges(starts: ArrayLike, counts: ArrayLike) -> NDArray[np.int64]:
    """Concatenate the integer ranges ``starts[i], ..., starts[i] + counts[i] - 1``.

    With a CSR ``indptr``, ``ranges(indptr[v], indptr[v + 1] - indptr[v])`` lists the positions
    of the out-arcs of every vertex in ``v``, in order, without a Python loop.

    Examples
    --------
    >>> ranges([10, 0, 5], [2, 0, 3]).tolist()
    [10, 11, 5, 6, 7]
    """
    first = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(counts, dtype=np.int64)
    total = int(lengths.sum())
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out: NDArray[np.int64] = np.repeat(first, lengths) + offsets
    return out
