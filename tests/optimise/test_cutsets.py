"""Unbounded chains: loops of chain arcs found, cut off, or turned into cycles."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given

from oracles import (
    SETTINGS,
    approx_equal,
    assert_valid,
    best_packing,
    pool_of,
    pools,
    result_values,
)
from possible.domain import Pool
from possible.errors import PolicyError
from possible.graph import build_graph
from possible.optimise import MipStatus, Status, solve
from possible.optimise.backend import MipProblem, MipSolution
from possible.optimise.cutsets import cut_rows, loops, repair
from possible.optimise.formulation import Formulation, build_formulation
from possible.optimise.highs import HighsBackend
from possible.optimise.objectives import TotalScore, Transplants
from possible.optimise.solve import _without_loops


def ring(size: int, *, into_ring: bool, extra: bool = True) -> Pool:
    """Pairs p0..p{size-1}, each donor giving to the next patient round a ring; one NDD n0.

    n0 gives to p0 if `into_ring` (otherwise no chain reaches the ring); with `extra`, also to
    a pair q whose donor gives to no one.
    """
    donors: dict[str, str | None] = {f"d{i}": f"p{i}" for i in range(size)}
    donors["n0"] = None
    arcs = [(f"d{i}", f"p{(i + 1) % size}", 1.0) for i in range(size)]
    if into_ring:
        arcs.append(("n0", "p0", 1.0))
    if extra:
        donors["dq"] = "q"
        arcs.append(("n0", "q", 1.0))
    return pool_of(donors, arcs)


def model(pool: Pool, max_cycle: int = 3) -> Formulation:
    return build_formulation(build_graph(pool), max_cycle=max_cycle, max_chain=None, uk=False)


def vertex(pool: Pool, patient: str) -> int:
    """The graph vertex of a patient's pair."""
    return int(build_graph(pool).patient_vertex[pool.patient_index(patient)])


def vertices(pool: Pool, size: int) -> tuple[list[int], int, int]:
    """Vertices of the ring's pairs, of q (-1 if none), and of n0."""
    p = [vertex(pool, f"p{i}") for i in range(size)]
    q = vertex(pool, "q") if "q" in {x.id for x in pool.patients} else -1
    return p, q, build_graph(pool).n_pairs


def with_arcs(form: Formulation, pairs: list[tuple[int, int]]) -> np.ndarray:
    """A solution choosing the chain columns from vertex u to vertex v, for each (u, v)."""
    x = np.zeros(form.problem.n_cols)
    base = form.arc_base
    src = form.node_vertex[form.arc_src]
    dst = form.node_vertex[form.arc_dst]
    for u, v in pairs:
        (col,) = np.flatnonzero((src == u) & (dst == v))
        x[base + col] = 1.0
    return x


def test_the_model_has_one_column_per_arc_and_one_flow_row_per_pair() -> None:
    form = model(ring(5, into_ring=True))
    g = build_graph(ring(5, into_ring=True))
    assert form.unbounded_chains
    assert form.arc_id.size == g.n_arcs  # n0 -> p0, n0 -> q, and the five ring arcs
    assert sorted(set(form.arc_pos.tolist())) == [1, 2]
    assert form.problem.n_rows == g.n_vertices + g.n_pairs  # every pair a chain reaches


def test_a_loop_no_ndd_starts_is_found_and_its_rows_cut_it_off() -> None:
    pool = ring(5, into_ring=True)
    form = model(pool)
    p, q, n0 = vertices(pool, 5)
    x = with_arcs(form, [(p[i], p[(i + 1) % 5]) for i in range(5)] + [(n0, q)])
    assert not form.problem.broken_rows(x, 1e-9).size  # the edge rows alone allow it
    (found,) = loops(form, x)
    assert sorted(form.node_vertex[form.arc_src[found]].tolist()) == sorted(p)
    cuts = cut_rows(form, [found])
    assert cuts.shape == (1, form.problem.n_cols)
    assert (cuts @ x > 0).all()  # the loop breaks its row
    real = with_arcs(form, [(n0, q)])
    assert (cuts @ real <= 0).all()
    assert loops(form, real) == []


def test_a_chain_round_the_ring_from_the_ndd_is_no_loop() -> None:
    pool = ring(5, into_ring=True, extra=False)
    form = model(pool)
    p, _, n0 = vertices(pool, 5)
    x = with_arcs(form, [(n0, p[0])] + [(p[i], p[i + 1]) for i in range(4)])
    assert not form.problem.broken_rows(x, 1e-9).size
    assert loops(form, x) == []


def test_a_loop_that_is_a_cycle_becomes_that_cycle() -> None:
    pool = ring(3, into_ring=True)
    form = model(pool)
    p, _, _ = vertices(pool, 3)
    x = with_arcs(form, [(p[0], p[1]), (p[1], p[2]), (p[2], p[0])])
    found = loops(form, x)
    fixed = repair(form, x, found, form.features.transplants)
    assert fixed[: form.n_cycle_cols].sum() == 1.0
    assert fixed[form.n_cycle_cols :].sum() == 0.0
    assert form.features.transplants @ fixed == form.features.transplants @ x == 3


def test_a_loop_an_idle_ndd_reaches_is_opened_into_a_chain() -> None:
    pool = ring(4, into_ring=True, extra=False)
    form = model(pool, max_cycle=3)
    p, _, n0 = vertices(pool, 4)
    x = with_arcs(form, [(p[i], p[(i + 1) % 4]) for i in range(4)])
    fixed = repair(form, x, loops(form, x), form.features.transplants)
    # n0 gives to p0 in place of p3: the chain n0 -> p0 -> p1 -> p2 -> p3, four transplants.
    assert np.array_equal(
        fixed, with_arcs(form, [(n0, p[0]), (p[0], p[1]), (p[1], p[2]), (p[2], p[3])])
    )
    assert loops(form, fixed) == []
    assert not form.problem.broken_rows(fixed, 1e-9).size


def test_a_loop_a_chain_end_reaches_continues_that_chain() -> None:
    donors: dict[str, str | None] = {f"d{i}": f"p{i}" for i in range(4)} | {"dq": "q", "n0": None}
    arcs = [(f"d{i}", f"p{(i + 1) % 4}", 1.0) for i in range(4)]
    arcs += [("n0", "q", 1.0), ("n0", "p0", 1.0), ("dq", "p2", 1.0)]
    pool = pool_of(donors, arcs)
    form = model(pool, max_cycle=3)
    p, q, n0 = vertices(pool, 4)
    x = with_arcs(form, [(n0, q)] + [(p[i], p[(i + 1) % 4]) for i in range(4)])
    fixed = repair(form, x, loops(form, x), form.features.transplants)
    chain = [(n0, q), (q, p[2]), (p[2], p[3]), (p[3], p[0]), (p[0], p[1])]
    assert np.array_equal(fixed, with_arcs(form, chain))
    assert not form.problem.broken_rows(fixed, 1e-9).size


def two_rings(*, into_a: bool, c_to_a: bool) -> Pool:
    """Rings a0..a3 and c0..c3; n0 gives to c0 (and to a0 if `into_a`); c3's donor to a0 if
    `c_to_a`."""
    donors: dict[str, str | None] = {f"d{r}{i}": f"{r}{i}" for r in "ac" for i in range(4)}
    donors["n0"] = None
    arcs = [(f"d{r}{i}", f"{r}{(i + 1) % 4}", 1.0) for r in "ac" for i in range(4)]
    arcs.append(("n0", "c0", 1.0))
    if into_a:
        arcs.append(("n0", "a0", 1.0))
    if c_to_a:
        arcs.append(("dc3", "a0", 1.0))
    return pool_of(donors, arcs)


def ring_arcs(pool: Pool, ring: str) -> list[tuple[int, int]]:
    v = [vertex(pool, f"{ring}{i}") for i in range(4)]
    return [(v[i], v[(i + 1) % 4]) for i in range(4)]


def test_a_loop_opened_from_another_loops_new_end_keeps_its_transplants() -> None:
    # Found by a review: the a-ring comes first and nothing reaches it until the c-ring is
    # opened by n0 and ends at c3, whose donor gives to a0.
    pool = two_rings(into_a=False, c_to_a=True)
    form = model(pool, max_cycle=3)
    x = with_arcs(form, ring_arcs(pool, "a") + ring_arcs(pool, "c"))
    found = loops(form, x)
    assert len(found) == 2
    fixed = repair(form, x, found, form.features.transplants)
    assert form.features.transplants @ fixed == 8
    assert loops(form, fixed) == []
    assert not form.problem.broken_rows(fixed, 1e-9).size


def test_an_idle_ndd_opens_one_loop_only() -> None:
    pool = two_rings(into_a=True, c_to_a=False)
    form = model(pool, max_cycle=3)
    x = with_arcs(form, ring_arcs(pool, "a") + ring_arcs(pool, "c"))
    fixed = repair(form, x, loops(form, x), form.features.transplants)
    assert form.features.transplants @ fixed == 4
    assert not form.problem.broken_rows(fixed, 1e-9).size


def test_a_loop_nothing_reaches_is_dropped() -> None:
    pool = ring(4, into_ring=True)  # n0 gives to q, whose donor gives to no one
    form = model(pool, max_cycle=3)
    p, q, n0 = vertices(pool, 4)
    x = with_arcs(form, [(n0, q)] + [(p[i], p[(i + 1) % 4]) for i in range(4)])
    fixed = repair(form, x, loops(form, x), form.features.transplants)
    assert np.array_equal(fixed, with_arcs(form, [(n0, q)]))


@pytest.mark.parametrize("extra", [True, False])
def test_solve_cuts_off_a_ring_longer_than_the_cycle_cap(extra: bool) -> None:
    # The edge rows allow the ring of five as a loop beside n0 -> q: six transplants. The
    # best real answer is the chain from n0 round the ring: five.
    result = solve(ring(5, into_ring=True, extra=extra), max_cycle=3, max_chain=None)
    assert result.status is Status.OPTIMAL
    assert result.objective == (5.0,)
    assert [(e.kind, e.length) for e in result.exchanges] == [("chain", 5)]
    assert result.exchanges[0].to_waiting_list == "d4"
    assert result.policy["max_chain"] is None


LEVELS = {"transplants": Transplants, "score": TotalScore}


# (The UK levels count chains by their explicit columns, which this model has not.)
@pytest.mark.parametrize(
    "names", ["transplants", "score", "score,transplants", "transplants,score"]
)
@SETTINGS
@given(pool=pools(max_pairs=7, max_ndds=2))
def test_unbounded_chains_reach_the_brute_force_optimum(names: str, pool: Pool) -> None:
    # A chain has at most one transplant per pair, so a cap of the number of pairs is none.
    n_pairs = len({d.patient for d in pool.donors if d.patient is not None})
    levels = [LEVELS[name] for name in names.split(",")]
    result = solve(pool, max_cycle=3, max_chain=None, objective=levels)
    expected = best_packing(pool, max_cycle=3, max_chain=n_pairs, objective=names)
    assert result.status is Status.OPTIMAL
    assert approx_equal(result.objective, expected)
    assert approx_equal(result.bound, expected)
    assert_valid(pool, result, max_cycle=3, max_chain=n_pairs)


def test_a_repaired_solution_must_keep_the_earlier_levels() -> None:
    # Found by a review: the best score (8: n0 -> p0 at 5 round the ring of four) has four
    # transplants. With the loop p0..p3 beside n0 -> q (score 8, five transplants) the
    # transplant level is tempted by a repair that drops the loop, losing score.
    donors: dict[str, str | None] = {f"d{i}": f"p{i}" for i in range(4)} | {"dq": "q", "n0": None}
    arcs = [(f"d{i}", f"p{(i + 1) % 4}", 1.0) for i in range(4)]
    arcs += [("n0", "p0", 5.0), ("n0", "q", 4.0), ("dq", "p2", 0.5)]
    pool = pool_of(donors, arcs)
    result = solve(pool, max_cycle=3, max_chain=None, objective=[TotalScore, Transplants])
    assert result.objective == (8.0, 4.0)
    assert result_values(pool, result, max_cycle=3, objective="score,transplants") == (8.0, 4.0)


def test_unbounded_chains_are_refused_with_the_uk_hierarchy() -> None:
    with pytest.raises(PolicyError, match="unbounded chains"):
        solve(ring(3, into_ring=True), max_chain=None, objective="uk")
    with pytest.raises(ValueError, match="chain cap"):
        build_formulation(
            build_graph(ring(3, into_ring=True)), max_cycle=3, max_chain=None, uk=True
        )


# --- a level that runs out of time with loops in its solution ---------------------------------


def test_out_of_time_the_better_of_the_repaired_solution_and_the_start_stands() -> None:
    pool = ring(5, into_ring=True)
    form = model(pool)
    p, q, n0 = vertices(pool, 5)
    looped = with_arcs(form, [(p[i], p[(i + 1) % 5]) for i in range(5)] + [(n0, q)])
    problem = dataclasses.replace(form.problem, objective=form.features.transplants)
    sol = MipSolution(MipStatus.FEASIBLE, looped, 6.0, 6.0, 1.0)
    repaired = repair(form, looped, loops(form, looped), form.features.transplants)
    answer = _without_loops(sol, problem, repaired, None)
    assert answer.status is MipStatus.FEASIBLE
    assert answer.objective == 1.0
    assert answer.bound == 6.0
    assert loops(form, answer.x) == []
    # Nothing usable at all: the level reports no solution, and keeps its bound.
    none = _without_loops(sol, problem, None, None)
    assert none.status is MipStatus.TIME_LIMIT
    assert not none.x.size
    assert none.bound == 6.0
    assert math.isnan(none.objective)


class GivesUpAfterOneSolve:
    """HiGHS for the first MIP (no relaxation, so no reduced-cost fixing); every later MIP
    runs out of time with nothing."""

    name = "gives-up"
    version = "0"

    def __init__(self) -> None:
        self.inner = HighsBackend()
        self.calls = 0

    def solve(self, problem: MipProblem, **kw: object) -> MipSolution:
        self.calls += 1
        if self.calls > 1:
            return MipSolution(MipStatus.TIME_LIMIT, np.zeros(0), math.nan, math.nan, 0.0)
        return self.inner.solve(problem)


def test_a_round_that_held_loops_still_bounds_the_level_when_the_next_gives_up() -> None:
    # The first MIP's optimum (6: the ring of five as a loop, and n0 -> q) bounds the level;
    # dropping the loop leaves 1; the second MIP, with the loop cut off, gives up. The level
    # reports that bound, not the weaker one of the capacity rows (7: p0's donor can also give
    # to r).
    pool = ring(5, into_ring=True, extra=True)
    donors = {d.id: d.patient for d in pool.donors} | {"dr": "r"}
    arcs = [
        (pool.donors[d].id, pool.patients[p].id, 1.0)
        for d, p in zip(pool.arcs.donor, pool.arcs.patient, strict=True)
    ]
    pool = pool_of(donors, [*arcs, ("d0", "r", 1.0)])
    backend = GivesUpAfterOneSolve()
    result = solve(pool, max_cycle=3, max_chain=None, backend=backend)  # type: ignore[arg-type]
    assert backend.calls == 2
    assert result.status is Status.FEASIBLE
    assert result.objective == (1.0,)
    assert result.bound == (6.0,)
