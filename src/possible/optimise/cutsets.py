"""Unbounded chains: find the loops of chain arcs that no NDD starts, and cut them off.

With unbounded chains, :func:`~possible.optimise.formulation.build_formulation` models chains
by their arcs alone (an NDD's arc, then *tail* arcs; a pair passes a chain on only if it
received one). Nothing in those rows says that a chain starts at an NDD, so a solution can
hold a closed loop of tail arcs: a cycle in disguise, possibly longer than the cycle cap. The
rows that forbid every such loop are exponentially many, so they are added only when a
solution breaks one, and the level is solved again (a cutting-plane loop, as in the
prize-collecting travelling salesman formulation of Anderson et al., PNAS 2015):

    for a set S of pairs and each v in S:   in(v)  <=  sum of chain arcs into S from outside S

where ``in(v)`` sums the chain arcs into ``v``. A real chain reaches ``v`` from its NDD, which
is outside S, so it enters S somewhere; a loop inside S breaks the row.

A loop is not always worse than what the caps allow: one of at most ``max_cycle`` pairs whose
arcs are those of a cycle column is that cycle (same transplants, same score), so
:func:`repair` swaps it in, and the level needs no further solve.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix, csr_matrix

from possible.optimise.formulation import Formulation, picef_chains

__all__ = ["cut_rows", "loops", "repair"]


def loops(form: Formulation, x: NDArray[np.float64]) -> list[NDArray[np.int64]]:
    """Return the loops of chain arcs in `x` that no NDD starts.

    Parameters
    ----------
    form
        A formulation with unbounded chains.
    x
        A 0/1 solution over its columns.

    Returns
    -------
    list of numpy.ndarray
        Per loop, its PICEF columns (indices among ``form.arc_*``) in the order of the loop,
        from its smallest chain node; loops in the order of that node.
    """
    base = form.arc_base
    chosen = np.flatnonzero(x[base:] > 0.5) if x.size else np.zeros(0, np.int64)
    if not chosen.size:
        return []
    n_nodes = form.node_vertex.shape[0]
    # A pair receives at most once, so each node has at most one chosen arc in and, passing
    # on only what it received, at most one out.
    out = np.full(n_nodes, -1, dtype=np.int64)
    out[form.arc_src[chosen]] = chosen
    seen = np.zeros(n_nodes, dtype=bool)  # the nodes the NDDs' chains reach
    for chain in picef_chains(form, x):
        seen[form.arc_dst[chain]] = True
    found: list[NDArray[np.int64]] = []
    for start in np.sort(form.arc_dst[chosen]).tolist():
        if seen[start]:
            continue
        members: list[int] = []
        node = start
        while not seen[node] and out[node] >= 0:  # always a loop for a feasible x
            seen[node] = True
            members.append(int(out[node]))
            node = int(form.arc_dst[out[node]])
        if members:
            found.append(np.asarray(members, dtype=np.int64))
    return found


def cut_rows(form: Formulation, found: list[NDArray[np.int64]]) -> csr_matrix:
    """Return one row ``in(v) - (arcs into S from outside S) <= 0`` per loop.

    ``S`` is the loop's pairs and ``v`` its first (smallest) chain node. One row per loop is
    enough to cut it off; a row for each of its pairs would be stronger for the solver's own
    relaxation, but each row holds every arc into ``S``, and loops of hundreds of pairs made
    the model many times larger (a review measured re-solves 3 to 4 times slower on pools
    of 800 pairs with the score objective, same optimum).

    Parameters
    ----------
    form
        A formulation with unbounded chains.
    found
        Loops, as :func:`loops` returns them.

    Returns
    -------
    scipy.sparse.csr_matrix
        One row per loop, over all of `form`'s columns (upper bound 0).
    """
    base = form.arc_base
    n_nodes = form.node_vertex.shape[0]
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    vals: list[NDArray[np.float64]] = []
    for k, loop in enumerate(found):
        inside = np.zeros(n_nodes, dtype=bool)
        inside[form.arc_src[loop]] = True
        entering = np.flatnonzero(~inside[form.arc_src] & inside[form.arc_dst])
        into = np.flatnonzero(form.arc_dst == form.arc_src[loop].min())
        rows += [np.full(into.size, k), np.full(entering.size, k)]
        cols += [into, entering]
        vals += [np.ones(into.size), -np.ones(entering.size)]
    matrix = coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), base + np.concatenate(cols))),
        shape=(len(found), form.problem.n_cols),
    ).tocsr()
    matrix.sum_duplicates()  # an arc into v from outside S: +1 - 1
    matrix.eliminate_zeros()
    return matrix


def repair(
    form: Formulation,
    x: NDArray[np.float64],
    found: list[NDArray[np.int64]],
    objective: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Return `x` without its loops, keeping as many of their transplants as it can.

    Each loop:

    * if it is a cycle column (at most ``max_cycle`` pairs), it becomes that cycle: a
      pair-level chain arc is the pair's best parallel arc, as a cycle's step is, so the
      cycle has the loop's transplants and score;
    * otherwise, if an NDD that gives to no one, or the last pair of a chain, has an arc to one
      of its pairs, the loop is *opened* there: that arc replaces the loop's arc into the same
      pair, and the loop becomes a chain (or the chain's continuation) with every transplant
      it had, ending with the pair before. Of the arcs that can, the one that loses the least
      `objective` is taken (then the lowest column);
    * otherwise it is dropped, and its pairs receive nothing.

    Loops are opened in rounds until none opens, so that a loop only the end of another,
    opened, loop reaches is opened too.

    Parameters
    ----------
    form
        A formulation with unbounded chains.
    x
        A 0/1 solution over its columns.
    found
        Its loops, as :func:`loops` returns them.
    objective
        Value of each column (to choose where to open a loop).
    """
    out = x.copy()
    base = form.arc_base
    for loop in found:
        out[base + loop] = 0.0
    cycles = form.cycles
    width = cycles.vertices.shape[1] if len(cycles) else 0
    n_nodes = form.node_vertex.shape[0]
    chosen = np.flatnonzero(out[base:] > 0.5)
    # Where a chain can go on: NDDs that give to no one, and chains' last pairs.
    gives = np.zeros(n_nodes, dtype=bool)
    gives[form.arc_src[chosen]] = True
    can_give = np.zeros(n_nodes, dtype=bool)
    can_give[form.arc_dst[chosen]] = True
    can_give[form.arc_src[form.arc_pos == 1]] = True  # the NDDs
    can_give &= ~gives
    waiting: list[NDArray[np.int64]] = []
    for loop in found:
        vertices = form.node_vertex[form.arc_src[loop]]
        if 2 <= vertices.size <= width:
            first = int(np.argmin(vertices))
            key = np.full(width, -1, dtype=np.int32)
            key[: vertices.size] = np.roll(vertices, -first)
            same = np.flatnonzero((cycles.vertices == key).all(axis=1))
            arcs = np.roll(form.arc_id[loop], -first)
            if same.size and np.array_equal(form.cycle_arcs[same[0], : vertices.size], arcs):
                out[same[0]] = 1.0
                continue
        waiting.append(loop)
    # A loop opened into a chain ends at a pair that may open another loop: go round until
    # no loop opens.
    opened = True
    while opened and waiting:
        opened = False
        for i, loop in enumerate(waiting):
            if _open(form, out, loop, can_give, objective):
                del waiting[i]
                opened = True
                break
    return out


def _open(
    form: Formulation,
    out: NDArray[np.float64],
    loop: NDArray[np.int64],
    can_give: NDArray[np.bool_],
    objective: NDArray[np.float64],
) -> bool:
    """Open `loop` into a chain in `out` from a node that can give (updated); tell if it did."""
    base = form.arc_base
    nodes = form.arc_src[loop]
    # Loop arc k goes from nodes[k] into nodes[k + 1]: the arc into nodes[k] is loop[k - 1].
    position = np.full(form.node_vertex.shape[0], -1, dtype=np.int64)
    position[nodes] = np.arange(nodes.size)
    entries = np.flatnonzero(can_give[form.arc_src] & (position[form.arc_dst] >= 0))
    if not entries.size:
        return False
    at = position[form.arc_dst[entries]]
    replaced = loop[at - 1]
    loss = objective[base + replaced] - objective[base + entries]
    best = int(np.lexsort((entries, loss))[0])
    out[base + loop] = 1.0
    out[base + replaced[best]] = 0.0
    out[base + entries[best]] = 1.0
    can_give[form.arc_src[entries[best]]] = False
    can_give[nodes[int(at[best]) - 1]] = True  # the pair before the entry now ends the chain
    return True
