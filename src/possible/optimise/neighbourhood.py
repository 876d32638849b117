"""Large-neighbourhood search: better solutions near a known one, when chains are long.

With chains longer than 3 the relaxation ignores the caps, and HiGHS' search over the whole
model rarely beats the solution with chains of at most 3 that seeds it (see
:func:`possible.optimise.solve._seed` and docs/engine.md). Small models with long chains are
another matter: a few hundred pairs solve in seconds. So :func:`improve` keeps most of a
solution's exchanges as they are and solves again over everything else (a few of its cycles
and chains, drawn at random, and every pair and NDD it leaves out), several times.

The exchanges to free are counted in the vertices they hold, not in exchanges: a chain of
6 frees as much of the model as two three-way cycles. The count grows after a neighbourhood
solved without gain, and shrinks after one that ran out of its time, so the search settles
on neighbourhoods it can solve (see :data:`FREED_VERTICES`).

:func:`possible.optimise.solve.solve` runs it under a time limit only, and only after the
rounds have had their share of the time (see ``IMPROVE_TIME_SHARE`` there) without settling
the first level, and after generated chains were packed with the cycles where that applies
(:mod:`possible.optimise.chaingen`). On kep_solver's UK pools with chains of 6 and a 170 s
limit, the whole run ends at 716 on uk_1000_1 (bound 718) and 734 on uk_1000_2 (bound 736);
at 500 patients the rounds settle uk_500_2 (349) first, and on uk_500_1 the search finds
nothing above the rounds' 345 (optimum 346). See docs/engine.md for the measurements.

Its sub-solves stop on time, so where it ends depends on the machine's speed, as any answer
under a time limit does; a run without a time limit never uses it and stays deterministic.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix

from possible.graph.compatibility import CompatibilityGraph
from possible.optimise.backend import Backend, MipStatus, solve_to_beat
from possible.optimise.fixing import fix_at_one, restrict
from possible.optimise.formulation import Formulation, picef_chains

__all__ = [
    "FREED_VERTICES",
    "GROW",
    "NEIGHBOURHOOD_TIME_SHARE",
    "SHRINK",
    "STALL",
    "improve",
    "touched_vertices",
]

logger = logging.getLogger(__name__)

FREED_VERTICES = 200
"""Vertices of the current solution's exchanges freed in the first neighbourhood.

Exchanges are drawn until they hold this many distinct pairs and NDDs. Measured from a
chains-of-6 solution worth 703 on uk_1000_1 (bound 718), 60 s of search: 120 or 150 to
start, growing and shrinking, reached 713 and 712; the old rule (every chain and 20 cycles)
708. A count that weighed chains about twice did a little better (714 to 715); see
docs/engine.md."""
GROW = 1.3
"""Factor on the vertices to free after a neighbourhood solved to its optimum without gain."""
SHRINK = 0.8
"""Factor on the vertices to free after a neighbourhood that ran out of time without gain."""
STALL = 6
"""The search stops after this many neighbourhoods in a row that found nothing better."""
NEIGHBOURHOOD_TIME_SHARE = 0.25
"""The share of the search's time one neighbourhood may use: a neighbourhood that is slow to
solve is seldom the one that pays, and the next draw may be quick."""


def touched_vertices(graph: CompatibilityGraph, form: Formulation) -> csr_matrix:
    """Return the columns x vertices 0/1 matrix of the vertices each column of `form` uses.

    A cycle uses its pairs; an explicit chain and a PICEF column, both ends of their arcs.
    """
    n_cyc, n_ch = form.n_cycle_cols, form.n_chain_cols
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    r, c = np.nonzero(form.cycles.vertices >= 0)
    rows.append(r.astype(np.int64))
    cols.append(form.cycles.vertices[r, c].astype(np.int64))
    source = graph.source()
    for k in range(form.chain_arcs.shape[1] if n_ch else 0):
        arc = form.chain_arcs[:, k]
        used = np.flatnonzero(arc >= 0)
        for ends in (source, graph.target):
            rows.append(n_cyc + used)
            cols.append(ends[arc[used]].astype(np.int64))
    picef = np.arange(form.arc_id.shape[0], dtype=np.int64)
    for node in (form.arc_src, form.arc_dst):
        rows.append(n_cyc + n_ch + picef)
        cols.append(form.node_vertex[node].astype(np.int64))
    row = np.concatenate(rows)
    col = np.concatenate(cols)
    matrix = csr_matrix(
        (np.ones(row.shape[0]), (row, col)), shape=(form.problem.n_cols, graph.n_vertices)
    )
    matrix.data[:] = 1.0  # a vertex counted twice by one column (an arc's two ends) is one use
    return matrix


def improve(
    graph: CompatibilityGraph,
    form: Formulation,
    objective: NDArray[np.float64],
    x: NDArray[np.float64],
    *,
    backend: Backend,
    time_limit: float,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Look for a better solution than `x` by solving again around it.

    Each neighbourhood keeps the exchanges of the current solution but a few, drawn at random
    (with a generator seeded by `seed`) until they hold :data:`FREED_VERTICES` pairs and
    NDDs (scaled by :data:`GROW` and :data:`SHRINK` as the search goes), and solves the model
    over the columns that use none of the kept exchanges' vertices: the freed exchanges and
    every pair and NDD left out are decided again. A better solution becomes the current one.
    The search stops when `time_limit` seconds have passed, after :data:`STALL`
    neighbourhoods in a row found nothing better, or when a draw would free every exchange
    (the neighbourhood would be the whole model, which is the rounds' work). The first draw
    frees at most half of the solution's vertices.

    Parameters
    ----------
    graph, form
        The graph and the model built from it.
    objective
        Per-column values to maximise.
    x
        A 0/1 solution of ``form.problem``.
    backend
        The solver for each neighbourhood.
    time_limit
        Seconds for the whole search.
    seed
        Seed of the random draw of freed exchanges.

    Returns
    -------
    numpy.ndarray
        The best solution found (`x` itself if none was better), a solution of
        ``form.problem``.

    Raises
    ------
    ValueError
        For a model of unbounded chains: its neighbourhoods would need the loops of chain arcs
        cut (:mod:`possible.optimise.cutsets`), and :func:`possible.optimise.solve.solve`
        never searches there.
    """
    if form.unbounded_chains:
        raise ValueError("the neighbourhood search needs a chain cap")
    began = time.perf_counter()
    problem = dataclasses.replace(form.problem, objective=objective)
    touches = touched_vertices(graph, form).tocsr()
    rng = np.random.default_rng(seed)
    best = x.copy()
    value = float(objective @ best)
    exchanges = _exchanges(form, best)
    sizes = _vertices_held(touches, exchanges)
    # Exchanges share no vertex, so their sizes add up to the solution's.
    budget = float(min(FREED_VERTICES, sum(sizes) / 2))
    stalled = 0
    tries = 0
    while stalled < STALL:
        if time_limit - (time.perf_counter() - began) <= 0:
            break
        kept = np.zeros(problem.n_cols, dtype=bool)
        for columns in exchanges:
            kept[columns] = True
        freed = 0
        for i in rng.permutation(len(exchanges)).tolist():
            if freed >= budget:
                break
            kept[exchanges[i]] = False
            freed += sizes[i]
        if not kept.any():
            break  # the neighbourhood would be the whole model: nothing to gain here
        # A freed exchange's own columns are always free, so the neighbourhood is never empty.
        blocked = np.asarray(touches[kept].sum(axis=0)).ravel() > 0
        free = (touches @ blocked.astype(np.float64) == 0) & ~kept
        shifted, fixed_value = fix_at_one(problem, kept)
        sub = restrict(shifted, free)
        # Building a neighbourhood of a large model takes time of its own.
        left = time_limit - (time.perf_counter() - began)
        if left <= 0:
            break
        tries += 1
        each = min(left, time_limit * NEIGHBOURHOOD_TIME_SHARE)
        sol = solve_to_beat(backend, sub, time_limit=each, held=value - fixed_value)
        found = fixed_value + sol.objective if sol.x.size else -np.inf
        if sol.status in (MipStatus.OPTIMAL, MipStatus.FEASIBLE) and found > value + 1e-9:
            candidate = kept.astype(np.float64)
            candidate[free] = sol.x
            if problem.broken_rows(candidate, 1e-9).size == 0:
                best, value, stalled = candidate, float(objective @ candidate), 0
                exchanges = _exchanges(form, best)
                sizes = _vertices_held(touches, exchanges)
                logger.debug("neighbourhood %d (%d vertices freed): %.6g", tries, freed, value)
                continue
        stalled += 1
        # Solved without gain: look wider next time; out of time: narrower.
        budget *= GROW if sol.status is MipStatus.OPTIMAL else SHRINK
    logger.debug(
        "neighbourhood search: %.6g after %d neighbourhoods in %.1fs",
        value,
        tries,
        time.perf_counter() - began,
    )
    return best


def _exchanges(form: Formulation, x: NDArray[np.float64]) -> list[NDArray[np.int64]]:
    """Return the model columns of each exchange in solution `x`.

    A cycle or an explicit chain is one column; a chain of PICEF columns is all of its arcs.
    """
    explicit = np.flatnonzero(x[: form.arc_base] > 0.5)
    exchanges = [explicit[i : i + 1] for i in range(explicit.size)]
    for chain in picef_chains(form, x):
        exchanges.append(form.arc_base + np.asarray(chain, dtype=np.int64))
    return exchanges


def _vertices_held(touches: csr_matrix, exchanges: list[NDArray[np.int64]]) -> list[int]:
    """Return how many distinct pairs and NDDs each exchange holds."""
    return [int(np.unique(touches[columns].indices).size) for columns in exchanges]
