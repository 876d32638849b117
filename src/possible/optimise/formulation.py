"""The cycle formulation for cycles and the position-indexed edge formulation (PICEF) for chains.

Columns, in this order:

* one binary per cycle of at most ``max_cycle`` pairs (the cycle formulation);
* for the UK hierarchy, one binary per chain of one or two transplants (their UK values
  depend on the whole chain, not on single arcs);
* one binary per (arc, position) for chains (PICEF, Dickerson et al. 2016): an arc used as the
  k-th transplant of a chain. For the UK hierarchy these model only chains of three or more
  transplants, and their nodes are donors, not pairs, so that the age bonus of each transplant
  is known from the arc alone.

Rows: each pair receives at most once; each NDD gives at most once; a pair node passes a chain
on at position k+1 only if it received at position k.

Unbounded chains (``max_chain=None``) keep two positions: an NDD's arc, and every later arc (the
*tail*). A pair passes a chain on only if it received one, at either position. That is the edge
formulation of chains: its solutions can hold closed loops of tail arcs that no NDD starts,
which :mod:`possible.optimise.cutsets` finds and cuts off.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix

from possible.graph.compatibility import CompatibilityGraph
from possible.graph.csr import ranges
from possible.graph.cycles import Cycles, enumerate_cycles
from possible.graph.prune import reach
from possible.optimise.backend import MipProblem
from possible.optimise.objectives import Features, age_bonus

__all__ = ["Formulation", "build_formulation", "carry_over", "picef_chains"]

I32 = NDArray[np.int32]
F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Formulation:
    """A built model and what is needed to read its solutions back.

    Attributes
    ----------
    problem
        The constraint matrix and bounds (objective zero: set per level).
    features
        Per-column quantities the objectives are made of.
    cycles, cycle_arcs
        Enumerated cycles and, per cycle, the graph arc used at each step (``-1`` padded).
    chain_arcs
        ``(n, 2)`` graph arcs of the explicit short chains (``-1`` for a one-transplant chain).
    chain_end_donor
        Donor who gives to the waiting list at the end of each explicit chain.
    arc_id, arc_pos, arc_src, arc_dst
        PICEF columns: graph arc, position (1-based), source and target chain node.
    node_donor
        Donor of each chain node, or ``-1`` for a pair-level node (any donor of the pair).
    node_vertex
        Graph vertex of each chain node.
    unbounded_chains
        Whether chains have no cap: position 2 is then every arc after the NDD's (see the
        module docstring).
    """

    problem: MipProblem
    features: Features
    cycles: Cycles
    cycle_arcs: I32
    chain_arcs: I32
    chain_end_donor: I32
    arc_id: I32
    arc_pos: I32
    arc_src: I32
    arc_dst: I32
    node_vertex: I32
    node_donor: I32
    seconds_enumerate: float = 0.0
    unbounded_chains: bool = False

    @property
    def n_cycle_cols(self) -> int:
        """Number of cycle columns (they come first)."""
        return len(self.cycles)

    @property
    def n_chain_cols(self) -> int:
        """Number of explicit-chain columns (after the cycles)."""
        return int(self.chain_arcs.shape[0])

    @property
    def arc_base(self) -> int:
        """Model column of the first PICEF column (``form.arc_*`` index 0)."""
        return self.n_cycle_cols + self.n_chain_cols


class _ArcIndex:
    """Find the arc from a given donor to a given vertex."""

    def __init__(self, g: CompatibilityGraph) -> None:
        self._n = g.n_vertices
        keys = g.donor.astype(np.int64) * self._n + g.target
        self._order = np.argsort(keys, kind="stable")
        self._keys = keys[self._order]

    def find(self, donor: NDArray[np.int64], vertex: NDArray[np.int64]) -> NDArray[np.int64]:
        """Arc ids, ``-1`` where the donor has no arc to the vertex."""
        keys = np.asarray(donor, np.int64) * self._n + np.asarray(vertex, np.int64)
        return _search(self._keys, self._order, keys)


def _search(
    ordered: NDArray[np.generic], order: NDArray[np.int64], wanted: NDArray[np.generic]
) -> NDArray[np.int64]:
    """Position (through `order`) of each of `wanted` among the sorted keys `ordered`.

    ``ordered`` is ``keys[order]``; the answer is an index into ``keys``, ``-1`` where absent.
    """
    pos = np.searchsorted(ordered, wanted)
    pos_c = np.minimum(pos, max(ordered.shape[0] - 1, 0))
    hit = (
        (pos < ordered.shape[0]) & (ordered[pos_c] == wanted)
        if ordered.size
        else np.zeros(pos.shape, dtype=bool)
    )
    out = np.full(pos.shape, -1, dtype=np.int64)
    out[hit] = order[pos_c[hit]]
    return out


def build_formulation(
    g: CompatibilityGraph,
    *,
    max_cycle: int,
    max_chain: int | None,
    uk: bool,
    deadline: float | None = None,
) -> Formulation:
    """Enumerate cycles (and short chains), prune, and build the model's rows and columns.

    Parameters
    ----------
    g
        The compatibility graph.
    max_cycle, max_chain
        Caps, in transplants; ``max_chain=None`` leaves chains unbounded (not with `uk`).
    uk
        Build the columns the UK hierarchy needs (explicit short chains, donor-level PICEF).
    deadline
        A :func:`time.perf_counter` reading after which to stop.

    Raises
    ------
    TimeoutError
        If the deadline passes first (checked during cycle enumeration and between phases).
    ValueError
        For unbounded chains with `uk` (its chains are modelled by position).
    """
    unbounded = max_chain is None
    if unbounded and uk:
        raise ValueError("the UK hierarchy's model needs a chain cap")
    # Unbounded: every pair a chain can reach is within n_pairs hops.
    cap = g.n_pairs + 1 if max_chain is None else max_chain

    def in_time() -> None:
        if deadline is not None and time.perf_counter() > deadline:
            raise TimeoutError("building the model stopped at its deadline")

    s_indptr, s_target, s_score, s_arc = g.simple()
    r = reach(s_indptr, s_target, g.n_pairs, g.n_ndds, max_cycle=max_cycle, max_chain=cap)
    s_src = np.repeat(np.arange(g.n_vertices, dtype=np.int32), np.diff(s_indptr))
    arc_index = _ArcIndex(g)
    # Donors' ages for the UK age bonus; unknown (no bonus) where the arcs' scores hold it.
    ages = np.array(
        [d.age if d.age is not None and not g.pool.age_scored else np.nan for d in g.pool.donors],
        dtype=np.float64,
    ).reshape(len(g.pool.donors))
    first_donor = g.donor_index[g.donor_indptr[:-1]] if g.n_vertices else np.zeros(0, np.int32)
    multi = np.diff(g.donor_indptr) > 1

    # --- cycles -------------------------------------------------------------------------
    m = r.cycle_arc
    c_indptr = np.zeros(g.n_pairs + 1, dtype=np.int64)
    np.cumsum(np.bincount(s_src[m], minlength=g.n_vertices)[: g.n_pairs], out=c_indptr[1:])
    began = time.perf_counter()
    cycles = enumerate_cycles(c_indptr, s_target[m], g.n_pairs, max_cycle, deadline=deadline)
    seconds_enumerate = time.perf_counter() - began
    in_time()
    nxt = np.roll(cycles.vertices, -1, axis=1)
    nxt[np.arange(len(cycles)), cycles.length - 1] = cycles.vertices[:, 0]
    valid = cycles.vertices >= 0
    simple_key = s_src.astype(np.int64) * g.n_vertices + s_target
    step_simple = np.full(cycles.vertices.shape, -1, dtype=np.int64)
    if len(cycles):
        keys = cycles.vertices[valid].astype(np.int64) * g.n_vertices + nxt[valid]
        step_simple[valid] = np.searchsorted(simple_key, keys)
    cycle_arcs = np.where(valid, s_arc[np.maximum(step_simple, 0)], -1).astype(np.int32)
    c_len = cycles.length.astype(np.float64)
    c_score = np.where(valid, s_score[np.maximum(step_simple, 0)], 0.0).sum(axis=1)
    c_eff = np.zeros(len(cycles))
    c_three = (cycles.length == 3).astype(np.float64)
    c_back = np.zeros(len(cycles))
    c_uk = c_score.copy()
    if uk and len(cycles):
        tri = cycles.length == 3
        back = np.zeros(len(cycles))
        if tri.any():
            v = cycles.vertices[tri][:, :3].astype(np.int64)
            for a, b in ((1, 0), (2, 1), (0, 2)):  # reverse of each step of the cycle
                keys = v[:, a] * g.n_vertices + v[:, b]
                pos = np.minimum(np.searchsorted(simple_key, keys), simple_key.shape[0] - 1)
                back[tri] += simple_key[pos] == keys
        c_back = back
        c_eff = ((cycles.length == 2) | (tri & (back >= 1))).astype(np.float64)
        c_uk, cycle_arcs = _uk_cycles(g, cycles, cycle_arcs, arc_index, ages, multi)

    in_time()

    # --- explicit short chains (UK only) -------------------------------------------------
    ch_arcs, ch_end, ch_feat = (
        _short_chains(
            g, s_indptr, s_target, s_arc, simple_key, arc_index, ages, multi, cap, max_cycle
        )
        if uk and cap >= 1
        else (np.zeros((0, 2), np.int32), np.zeros(0, np.int32), None)
    )

    in_time()

    # --- PICEF arcs ----------------------------------------------------------------------
    first_pos = 3 if uk else 1
    nodes_vertex, nodes_donor, p_arc, p_pos, p_src, p_dst = _picef_columns(
        g, s_src, s_target, s_arc, r.chain_distance, cap, first_pos, uk, first_donor, unbounded
    )
    p_score = g.score[p_arc] if p_arc.size else np.zeros(0)
    p_uk = p_score.copy()
    if uk and p_arc.size:
        giver = g.donor[p_arc]
        nxt_donor = nodes_donor[p_dst]
        p_uk = p_score + age_bonus(ages[giver], ages[nxt_donor])

    in_time()

    # --- rows -----------------------------------------------------------------------------
    n_cyc, n_ch, n_arc = len(cycles), int(ch_arcs.shape[0]), int(p_arc.shape[0])
    rows: list[I32] = []
    cols: list[I32] = []
    vals: list[F64] = []

    def add(r_: NDArray[np.integer], c_: NDArray[np.integer], v_: float | F64) -> None:
        rows.append(np.asarray(r_, np.int32))
        cols.append(np.asarray(c_, np.int32))
        vals.append(np.broadcast_to(np.asarray(v_, np.float64), np.shape(r_)).copy())

    # Capacity rows 0..n_pairs-1 (pairs), n_pairs..n_vertices-1 (NDDs).
    cyc_rows, cyc_cols = np.nonzero(valid)
    add(cycles.vertices[cyc_rows, cyc_cols], cyc_rows, 1.0)
    if n_ch:
        ch_vertices = _chain_vertices(g, ch_arcs)
        rr, cc = np.nonzero(ch_vertices >= 0)
        add(ch_vertices[rr, cc], n_cyc + rr, 1.0)
    base = n_cyc + n_ch
    if n_arc:
        a_cols = base + np.arange(n_arc)
        add(nodes_vertex[p_dst], a_cols, 1.0)  # the receiving pair
        from_ndd = p_pos == 1
        add(nodes_vertex[p_src[from_ndd]], a_cols[from_ndd], 1.0)  # the NDD gives once
    n_rows = g.n_vertices
    row_lower: list[F64] = [np.full(n_rows, -np.inf)]
    row_upper: list[F64] = [np.ones(n_rows)]
    if n_arc:
        # Flow rows, one per (pair node, position k) with k < max_chain:
        # out(node, k+1) - in(node, k) <= 0, or == 0 where the chain must go on.
        # Unbounded: one per pair node, out(node, 2) - in(node, 1) - in(node, 2) <= 0.
        into = np.ones(n_arc, dtype=bool) if unbounded else p_pos < cap
        out = p_pos >= 2
        keys = np.concatenate(
            [
                p_dst[into] * (cap + 1) + (1 if unbounded else p_pos[into]),
                p_src[out] * (cap + 1) + (1 if unbounded else p_pos[out] - 1),
            ]
        )
        uniq, inv = np.unique(keys, return_inverse=True)
        flow_row = n_rows + inv
        n_in = int(into.sum())
        add(flow_row[:n_in], (base + np.arange(n_arc))[into], -1.0)
        add(flow_row[n_in:], (base + np.arange(n_arc))[out], 1.0)
        row_pos = uniq % (cap + 1)
        forced = (row_pos < first_pos) if uk else np.zeros(uniq.shape[0], dtype=bool)
        row_lower.append(np.where(forced, 0.0, -np.inf))
        row_upper.append(np.zeros(uniq.shape[0]))
        n_rows += int(uniq.shape[0])
    n_cols = base + n_arc
    matrix = coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_rows, n_cols),
    ).tocsc()
    matrix.sort_indices()
    problem = MipProblem(
        objective=np.zeros(n_cols),
        a_start=matrix.indptr.astype(np.int32),
        a_index=matrix.indices.astype(np.int32),
        a_value=matrix.data.astype(np.float64),
        row_lower=np.concatenate(row_lower),
        row_upper=np.concatenate(row_upper),
    )
    zeros_arc = np.zeros(n_arc)
    if ch_feat is None:
        ch_feat = {key: np.zeros(0) for key in ("t", "s", "e", "3", "b", "u")}
    features = Features(
        transplants=np.concatenate([c_len, ch_feat["t"], np.ones(n_arc)]),
        score=np.concatenate([c_score, ch_feat["s"], p_score]),
        effective_two_way=np.concatenate([c_eff, ch_feat["e"], zeros_arc]),
        three_way=np.concatenate([c_three, ch_feat["3"], zeros_arc]),
        back_arcs=np.concatenate([c_back, ch_feat["b"], zeros_arc]),
        uk_score=np.round(np.concatenate([c_uk, ch_feat["u"], p_uk]), 5),
        n_ndds=g.n_ndds,
    )
    return Formulation(
        problem=problem,
        features=features,
        cycles=cycles,
        cycle_arcs=cycle_arcs,
        chain_arcs=ch_arcs,
        chain_end_donor=ch_end,
        arc_id=p_arc.astype(np.int32),
        arc_pos=p_pos.astype(np.int32),
        arc_src=p_src.astype(np.int32),
        arc_dst=p_dst.astype(np.int32),
        node_vertex=nodes_vertex.astype(np.int32),
        node_donor=nodes_donor.astype(np.int32),
        seconds_enumerate=seconds_enumerate,
        unbounded_chains=unbounded,
    )


def carry_over(
    shorter: Formulation, longer: Formulation, x: NDArray[np.float64]
) -> NDArray[np.float64] | None:
    """Map a solution of `shorter` onto the columns of `longer`.

    Both formulations must come from the same graph, cycle cap and objective family (``uk``);
    `longer` has a longer chain cap. Every exchange within the shorter caps is one within the
    longer caps, and its columns exist in both: the cycles are enumerated alike, the explicit
    short chains too, and each PICEF column (arc, position, source and target node) of the
    shorter model is one of the longer's.

    Parameters
    ----------
    shorter, longer
        The two formulations.
    x
        A 0/1 solution over the columns of `shorter`.

    Returns
    -------
    numpy.ndarray or None
        The same exchanges as a 0/1 vector over the columns of `longer`, or ``None`` if a
        column has no counterpart there (the formulations do not match).
    """
    chosen = np.flatnonzero(x > 0.5)
    out = np.zeros(longer.problem.n_cols)
    n_cyc, n_ch = shorter.n_cycle_cols, shorter.n_chain_cols
    groups = (
        (chosen[chosen < n_cyc], shorter.cycles.vertices, longer.cycles.vertices, 0),
        (
            chosen[(chosen >= n_cyc) & (chosen < n_cyc + n_ch)] - n_cyc,
            shorter.chain_arcs,
            longer.chain_arcs,
            longer.n_cycle_cols,
        ),
        (
            chosen[chosen >= n_cyc + n_ch] - n_cyc - n_ch,
            _picef_keys(shorter),
            _picef_keys(longer),
            longer.arc_base,
        ),
    )
    for picked, mine, theirs, offset in groups:
        if not picked.size:
            continue
        if mine.shape[1] != theirs.shape[1]:
            return None
        found = _find_rows(theirs, mine[picked])
        if (found < 0).any():
            return None
        out[offset + found] = 1.0
    return out


def picef_chains(form: Formulation, x: NDArray[np.float64]) -> list[list[int]]:
    """Follow the chains that solution `x` makes of PICEF columns.

    Parameters
    ----------
    form
        The formulation.
    x
        A 0/1 solution over its columns (empty: none chosen).

    Returns
    -------
    list of list of int
        Per chain, the indices of its PICEF columns among ``form.arc_*`` (add
        ``form.arc_base`` for model columns), from the NDD's arc on, in order of
        the first arc's column.
    """
    base = form.arc_base
    chosen = np.flatnonzero(x[base:] > 0.5) if x.size else np.zeros(0, np.int64)
    following = {(int(form.arc_src[c]), int(form.arc_pos[c])): c for c in chosen.tolist()}
    chains: list[list[int]] = []
    for c in chosen[form.arc_pos[chosen] == 1].tolist():
        chain = [c]
        # Unbounded chains: every arc after the first is at position 2. A pair passes on
        # at most one chain, so the chain to follow is still unique.
        while (key := (int(form.arc_dst[chain[-1]]), _next(form, len(chain)))) in following:
            chain.append(following[key])
        chains.append(chain)
    return chains


def _next(form: Formulation, length: int) -> int:
    """Position of the arc that follows a chain of `length` arcs."""
    return 2 if form.unbounded_chains else length + 1


def _picef_keys(form: Formulation) -> I32:
    """Each PICEF column as a row ``(arc, position, source node, target node)``."""
    return np.column_stack([form.arc_id, form.arc_pos, form.arc_src, form.arc_dst]).astype(np.int32)


def _find_rows(table: NDArray[np.int32], rows: NDArray[np.int32]) -> NDArray[np.int64]:
    """Index in `table` of each of `rows` (whole-row equality), ``-1`` where absent."""
    width = table.shape[1]
    kind = np.dtype((np.void, np.dtype(np.int32).itemsize * width))
    keys = np.ascontiguousarray(table, dtype=np.int32).view(kind).ravel()
    wanted = np.ascontiguousarray(rows, dtype=np.int32).view(kind).ravel()
    order = np.argsort(keys, kind="stable")
    return _search(keys[order], order, wanted)


def _picef_columns(
    g: CompatibilityGraph,
    s_src: I32,
    s_target: I32,
    s_arc: I32,
    dist: I32,
    max_chain: int,
    first_pos: int,
    donor_level: bool,
    first_donor: I32,
    tail: bool = False,
) -> tuple[I32, I32, I32, I32, I32, I32]:
    """Chain nodes and the (arc, position) columns of PICEF.

    Pair-level: one node per vertex, arcs collapsed to the best parallel arc. Donor-level:
    one node per donor (so the next donor of every transplant is known), all arcs kept. With
    `tail` (unbounded chains), each arc from a pair is one column, at position 2.
    Returns ``node_vertex, node_donor, arc, pos, src_node, dst_node``.
    """
    empty = np.zeros(0, np.int32)
    if max_chain < first_pos or g.n_ndds == 0:
        return empty, empty, empty, empty, empty, empty
    if donor_level:
        n_donors = len(g.pool.donors)
        node_vertex = g.donor_vertex.astype(np.int32)
        node_donor = np.arange(n_donors, dtype=np.int32)
        src_all = g.source()
        tgt_all = g.target
        ok = dist[src_all] < max_chain
        arcs = np.flatnonzero(ok)
        # One column per target donor: the donor of the receiving pair who passes it on.
        t_counts = np.diff(g.donor_indptr)[tgt_all[arcs]]
        rep_arc = np.repeat(arcs, t_counts)
        starts = g.donor_indptr[tgt_all[arcs]]
        dst_node = g.donor_index[ranges(starts, t_counts)]
        src_node = g.donor[rep_arc]
        arc_ids = rep_arc
    else:
        node_vertex = np.arange(g.n_vertices, dtype=np.int32)
        node_donor = np.where(np.arange(g.n_vertices) >= g.n_pairs, first_donor, -1).astype(
            np.int32
        )
        ok = dist[s_src] < max_chain
        arc_ids = s_arc[ok].astype(np.int64)
        src_node = s_src[ok]
        dst_node = s_target[ok]
    src_vertex = node_vertex[src_node]
    is_ndd = src_vertex >= g.n_pairs
    # A pair's arc: from the first position a chain can reach it at (the tail's only, 2).
    first_from_pair = 2 if tail else np.maximum(dist[src_vertex].astype(np.int64) + 1, 2)
    lo = np.where(is_ndd, 1, first_from_pair)
    hi = np.where(is_ndd, 1, 2 if tail else max_chain)
    counts = np.maximum(hi - lo + 1, 0)
    col_arc = np.repeat(arc_ids, counts)
    col_pos = ranges(lo, counts)
    col_src = np.repeat(src_node, counts)
    col_dst = np.repeat(dst_node, counts)
    return (
        node_vertex,
        node_donor,
        col_arc.astype(np.int32),
        col_pos.astype(np.int32),
        col_src.astype(np.int32),
        col_dst.astype(np.int32),
    )


def _chain_vertices(g: CompatibilityGraph, chain_arcs: I32) -> I32:
    """Vertices of explicit chains: ``[ndd, first pair, second pair or -1]``."""
    src = g.source()
    out = np.full((chain_arcs.shape[0], 3), -1, dtype=np.int32)
    out[:, 0] = src[chain_arcs[:, 0]]
    out[:, 1] = g.target[chain_arcs[:, 0]]
    two = chain_arcs[:, 1] >= 0
    out[two, 2] = g.target[chain_arcs[two, 1]]
    return out


CHOICES_PER_BATCH = 1 << 20
"""Donor choices scored at once by :func:`_uk_cycles` (memory: about 100 bytes per choice
and cycle step)."""


def _first_best(
    group: NDArray[np.int64], value: F64, n_groups: int, tolerance: float
) -> tuple[NDArray[np.int64], F64]:
    """Per group, the first element within `tolerance` of the group's largest value.

    `group` is non-decreasing and covers ``0 .. n_groups - 1``, each at least once. Returns
    the chosen element of each group and the group's largest value.
    """
    if not value.size:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    best = np.maximum.reduceat(value, starts)
    near = value >= best[group] - tolerance
    chosen = np.full(n_groups, value.shape[0], dtype=np.int64)
    np.minimum.at(chosen, group[near], np.flatnonzero(near))
    return chosen, best


def _uk_cycles(
    g: CompatibilityGraph,
    cycles: Cycles,
    cycle_arcs: I32,
    arc_index: _ArcIndex,
    ages: F64,
    multi: NDArray[np.bool_],
) -> tuple[F64, I32]:
    """UK score of each cycle with its best choice of donors, and the arcs of that choice.

    Each transplant scores its arc plus the age bonus between its donor and the donor of the
    receiving pair who gives next in the cycle. Cycles through a pair with several donors try
    every choice of donors, all cycles at once: a choice is a mixed-radix number whose digit
    at each step picks one of that pair's donors (the last step's digit varying fastest). The
    first choice within 1e-9 of the best is kept.
    """
    arcs = cycle_arcs.copy()
    valid = arcs >= 0
    donors = np.where(valid, g.donor[np.maximum(arcs, 0)], -1)
    nxt = np.roll(donors, -1, axis=1)
    nxt[np.arange(len(cycles)), cycles.length - 1] = donors[:, 0]
    bonus = age_bonus(ages[np.maximum(donors, 0)], ages[np.maximum(nxt, 0)])
    score = np.where(valid, g.score[np.maximum(arcs, 0)] + bonus, 0.0).sum(axis=1)
    touched = np.flatnonzero((multi[np.maximum(cycles.vertices, 0)] & valid).any(axis=1))
    if not touched.size:
        return score, arcs
    verts = cycles.vertices[touched]
    # The donors each step may choose from (1 past the cycle's end).
    radix = np.where(verts >= 0, np.diff(g.donor_indptr)[np.maximum(verts, 0)], 1)
    # Cycles are taken in batches of at most CHOICES_PER_BATCH choices, so that memory stays
    # bounded for long cycles through pairs with many donors.
    batch = np.cumsum(radix.prod(axis=1)) // CHOICES_PER_BATCH
    for part in np.split(np.arange(touched.shape[0]), np.flatnonzero(np.diff(batch)) + 1):
        _uk_cycles_part(g, cycles, touched[part], radix[part], arcs, score, arc_index, ages)
    return score, arcs


def _uk_cycles_part(
    g: CompatibilityGraph,
    cycles: Cycles,
    touched: NDArray[np.int64],
    radix: NDArray[np.int64],
    arcs: I32,
    score: F64,
    arc_index: _ArcIndex,
    ages: F64,
) -> None:
    """Set `score` and `arcs` of the cycles `touched` to their best choice of donors.

    `radix` holds, per cycle and step, how many donors that step may choose from.
    """
    verts = cycles.vertices[touched].astype(np.int64)  # (t, k), -1 padded
    length = cycles.length[touched].astype(np.int64)
    width = verts.shape[1]
    on = np.arange(width)[None, :] < length[:, None]
    n_choices = radix.prod(axis=1)
    which = np.repeat(np.arange(touched.shape[0]), n_choices)  # the cycle of each choice
    rest = ranges(np.zeros(touched.shape[0], np.int64), n_choices)  # its number in the cycle
    digit = np.zeros((which.shape[0], width), dtype=np.int64)
    for k in range(width - 1, -1, -1):
        digit[:, k] = rest % radix[which, k]
        rest //= radix[which, k]
    v_c = verts[which]
    on_c = on[which]
    giver = g.donor_index[g.donor_indptr[np.maximum(v_c, 0)] + digit].astype(np.int64)
    to = np.roll(v_c, -1, axis=1)  # the receiving vertex of each step
    last = length[which] - 1
    to[np.arange(which.shape[0]), last] = v_c[:, 0]
    ids = np.where(on_c, arc_index.find(giver, np.maximum(to, 0)), 0)
    next_giver = np.roll(giver, -1, axis=1)
    next_giver[np.arange(which.shape[0]), last] = giver[:, 0]
    step_value = g.score[np.maximum(ids, 0)] + age_bonus(ages[giver], ages[next_giver])
    value = np.where(on_c, step_value, 0.0).sum(axis=1)
    possible = ~(on_c & (ids < 0)).any(axis=1)
    value[~possible] = -np.inf
    chosen, best = _first_best(which, value, touched.shape[0], 1e-9)
    found = np.isfinite(best)
    score[touched[found]] = best[found]
    pick = ids[chosen[found]]
    arcs[touched[found]] = np.where(on[found], pick, arcs[touched[found]])


def _donors_of_each(
    g: CompatibilityGraph, vertex: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Every donor of each of `vertex`: the position in `vertex` it belongs to, and the donor."""
    counts = np.diff(g.donor_indptr)[vertex]
    which = np.repeat(np.arange(vertex.shape[0]), counts)
    return which, g.donor_index[ranges(g.donor_indptr[vertex], counts)].astype(np.int64)


def _best_end(
    g: CompatibilityGraph, ages: F64, giver: NDArray[np.integer], vertex: NDArray[np.int64]
) -> tuple[F64, NDArray[np.int32]]:
    """Choose the donor who gives to the waiting list after each `giver` to pair `vertex`.

    That is the pair's donor with the largest age bonus with the giver (the first of equals).
    Returns the bonus and the donor, one per giver.
    """
    which, ends = _donors_of_each(g, vertex)
    bonus = age_bonus(ages[np.asarray(giver)[which]], ages[ends])
    chosen, best = _first_best(which, bonus, vertex.shape[0], 0.0)
    return best, ends[chosen].astype(np.int32)


def _short_chains(
    g: CompatibilityGraph,
    s_indptr: NDArray[np.int64],
    s_target: I32,
    s_arc: I32,
    simple_key: NDArray[np.int64],
    arc_index: _ArcIndex,
    ages: F64,
    multi: NDArray[np.bool_],
    max_chain: int,
    max_cycle: int,
) -> tuple[I32, I32, dict[str, F64]]:
    """Chains of one and two transplants as explicit columns, with their UK features."""
    n = g.n_vertices
    ndds = np.arange(g.n_pairs, n)
    counts = s_indptr[ndds + 1] - s_indptr[ndds]
    first = ranges(s_indptr[ndds], counts)  # simple arcs out of NDDs
    one_ndd = np.repeat(ndds, counts)
    one_v = s_target[first].astype(np.int64)
    arcs1 = np.column_stack([s_arc[first], np.full(first.shape[0], -1)])
    blocks_arcs = [arcs1]
    t = [np.ones(first.shape[0])]
    sc = [g.score[s_arc[first]]]
    e = [np.ones(first.shape[0])]
    three = [np.zeros(first.shape[0])]
    back = [np.zeros(first.shape[0])]
    # One transplant: the pair's donor who goes to the waiting list is the one with best bonus.
    uk1, end1 = _best_end(g, ages, g.ndd_donor[one_ndd - g.n_pairs], one_v)
    uk1 += g.score[s_arc[first]]
    uk = [uk1]
    ends = [end1]
    if max_chain >= 2 and first.size:
        c2 = s_indptr[one_v + 1] - s_indptr[one_v]
        rep = np.repeat(np.arange(first.shape[0]), c2)
        second = ranges(s_indptr[one_v], c2)
        w = s_target[second].astype(np.int64)
        v = one_v[rep]
        nd = one_ndd[rep].astype(np.int64)
        m2 = second.shape[0]

        def has(a: NDArray[np.int64], b: NDArray[np.int64]) -> NDArray[np.float64]:
            keys = a * n + b
            pos = np.minimum(np.searchsorted(simple_key, keys), max(simple_key.shape[0] - 1, 0))
            return (simple_key[pos] == keys).astype(np.float64) if keys.size else np.zeros(0)

        back2 = 1.0 + has(nd, w) + (has(w, v) if max_cycle >= 2 else 0.0)
        arcs2 = np.column_stack([s_arc[first][rep], s_arc[second]])
        uk2 = np.zeros(m2)
        end2 = np.zeros(m2, np.int32)
        giver0 = g.donor[arcs2[:, 0]]
        w1 = g.score[arcs2[:, 0]]
        single = ~multi[v] & ~multi[w]
        idx = np.flatnonzero(single)
        dv = g.donor[arcs2[idx, 1]]
        dw = g.donor_index[g.donor_indptr[w[idx]]]
        uk2[idx] = (
            w1[idx]
            + age_bonus(ages[giver0[idx]], ages[dv])
            + g.score[arcs2[idx, 1]]
            + age_bonus(ages[dv], ages[dw])
        )
        end2[idx] = dw
        # A pair v with several donors: each of v's donors with an arc to w, with w's best
        # end; the first within 1e-9 of the best.
        several = np.flatnonzero(~single)
        if several.size:
            which, d_v = _donors_of_each(g, v[several])
            i_w = w[several][which]
            a = arc_index.find(d_v, i_w)
            end_bonus, end_w = _best_end(g, ages, d_v, i_w)
            value = (
                w1[several][which]
                + age_bonus(ages[giver0[several][which]], ages[d_v])
                + g.score[np.maximum(a, 0)]
                + end_bonus
            )
            value[a < 0] = -np.inf
            chosen, best = _first_best(which, value, several.shape[0], 1e-9)
            uk2[several] = best
            arcs2[several, 1] = a[chosen]
            end2[several] = end_w[chosen]
        blocks_arcs.append(arcs2)
        t.append(np.full(m2, 2.0))
        sc.append(w1 + g.score[s_arc[second]])
        e.append(np.ones(m2))
        three.append(np.ones(m2))
        back.append(back2)
        uk.append(uk2)
        ends.append(end2)
    feats = {
        "t": np.concatenate(t),
        "s": np.concatenate(sc),
        "e": np.concatenate(e),
        "3": np.concatenate(three),
        "b": np.concatenate(back),
        "u": np.concatenate(uk),
    }
    return (
        np.concatenate(blocks_arcs).astype(np.int32),
        np.concatenate(ends).astype(np.int32),
        feats,
    )
