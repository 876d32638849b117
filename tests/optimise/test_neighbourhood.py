"""The neighbourhood search: what each column touches, and search results that stay valid."""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import Fakes
from oracles import SETTINGS, assert_valid, best_packing, pool_of, pools, random_pool
from possible.domain import Pool
from possible.graph import CompatibilityGraph, build_graph
from possible.optimise import MipProblem, MipSolution, MipStatus, Status, solve
from possible.optimise.formulation import Formulation, build_formulation, carry_over
from possible.optimise.highs import HighsBackend
from possible.optimise.neighbourhood import _exchanges, improve, touched_vertices
from possible.optimise.objectives import hierarchy


def gadget(i: int) -> tuple[dict[str, str | None], list[tuple[str, str, float]]]:
    """An NDD and seven pairs where chains of 3 give 4 transplants and chains of 5 give 5.

    With chains of at most 3 the best is the three-way cycle a -> b -> k and the chain n -> z
    (4). With chains of 5, the chain n -> a -> b -> e -> g -> h (5) is better: it needs the
    cycle broken up.
    """
    donors: dict[str, str | None] = {f"n{i}": None}
    donors.update({f"d{x}{i}": f"{x}{i}" for x in "abkeghz"})
    arcs = [
        (f"n{i}", f"a{i}", 1.0),
        (f"da{i}", f"b{i}", 1.0),
        (f"db{i}", f"e{i}", 1.0),
        (f"de{i}", f"g{i}", 1.0),
        (f"dg{i}", f"h{i}", 1.0),
        (f"db{i}", f"k{i}", 1.0),
        (f"dk{i}", f"a{i}", 1.0),
        (f"n{i}", f"z{i}", 1.0),
    ]
    return donors, arcs


def two_gadgets() -> Pool:
    donors, arcs = gadget(1)
    more_donors, more_arcs = gadget(2)
    donors.update(more_donors)
    return pool_of(donors, arcs + more_arcs)


def optimum(problem: MipProblem, objective: np.ndarray) -> MipSolution:
    """HiGHS' optimum of `problem` under `objective`."""
    best = HighsBackend().solve(dataclasses.replace(problem, objective=objective))
    assert best.status is MipStatus.OPTIMAL
    return best


def seeded(
    pool: Pool, max_chain: int
) -> tuple[CompatibilityGraph, Formulation, np.ndarray, np.ndarray]:
    """The graph, the model with `max_chain`, the transplants objective, and the optimum with
    chains of at most 3 as a solution of that model (as the seeding pass gives it)."""
    graph = build_graph(pool)
    form = build_formulation(graph, max_cycle=3, max_chain=max_chain, uk=False)
    shorter = build_formulation(graph, max_cycle=3, max_chain=3, uk=False)
    (level,) = hierarchy("transplants")
    x_short = np.zeros(shorter.problem.n_cols)
    if shorter.problem.n_cols:
        x_short = optimum(shorter.problem, level.values(shorter.features)).x
    x = carry_over(shorter, form, x_short)
    assert x is not None
    return graph, form, level.values(form.features), x


def test_each_column_touches_its_pairs_and_ndds() -> None:
    pool = two_gadgets()
    graph = build_graph(pool)
    form = build_formulation(graph, max_cycle=3, max_chain=5, uk=False)
    touches = touched_vertices(graph, form).tocsr()
    for j in range(form.n_cycle_cols):
        cycle = form.cycles.vertices[j]
        assert set(touches[j].indices) == set(cycle[cycle >= 0].tolist())
    for k in range(form.arc_id.shape[0]):
        ends = {int(form.node_vertex[form.arc_src[k]]), int(form.node_vertex[form.arc_dst[k]])}
        assert set(touches[form.n_cycle_cols + k].indices) == ends
    assert set(np.unique(touches.data)) == {1.0}


def test_explicit_chains_touch_every_vertex_they_pass() -> None:
    pool = two_gadgets()
    graph = build_graph(pool)
    form = build_formulation(graph, max_cycle=3, max_chain=5, uk=True)
    assert form.n_chain_cols
    touches = touched_vertices(graph, form).tocsr()
    source = graph.source()
    for j in range(form.n_chain_cols):
        arcs = form.chain_arcs[j][form.chain_arcs[j] >= 0]
        expected = set(source[arcs].tolist()) | set(graph.target[arcs].tolist())
        assert set(touches[form.n_cycle_cols + j].indices) == expected


def small_neighbourhoods(patch: pytest.MonkeyPatch, vertices: int) -> None:
    """Free exchanges holding `vertices` pairs and NDDs each time, neither more nor fewer."""
    patch.setattr("possible.optimise.neighbourhood.FREED_VERTICES", vertices)
    patch.setattr("possible.optimise.neighbourhood.GROW", 1.0)
    patch.setattr("possible.optimise.neighbourhood.SHRINK", 1.0)


def test_a_freed_cycle_and_chain_let_a_long_chain_through(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each gadget's solution is a three-way cycle and a chain n -> z: five vertices. Freeing
    # exchanges until five vertices are free frees a gadget's cycle and chain together (its
    # long chain is then found) or two exchanges of which one stays in the way.
    small_neighbourhoods(monkeypatch, 5)
    values = []
    for seed in range(4):
        graph, form, objective, x = seeded(two_gadgets(), max_chain=5)
        assert float(objective @ x) == 8.0  # 4 per gadget with chains of 3
        better = improve(
            graph, form, objective, x, backend=HighsBackend(), time_limit=60.0, seed=seed
        )
        assert form.problem.broken_rows(better, 1e-9).size == 0
        values.append(float(objective @ better))
    assert all(8.0 <= value <= 10.0 for value in values)
    assert max(values) >= 9.0


class Recording:
    """A backend that records each neighbourhood's size and answers `status`, finding nothing
    better than what is held."""

    name = "recording"
    version = "0"

    def __init__(self, status: MipStatus) -> None:
        self.status = status
        self.sizes: list[int] = []

    def solve(
        self,
        problem: MipProblem,
        *,
        time_limit: float | None = None,
        start: np.ndarray | None = None,
        target: float | None = None,
    ) -> MipSolution:
        self.sizes.append(problem.n_cols)
        if self.status is MipStatus.OPTIMAL:
            return MipSolution(self.status, np.zeros(problem.n_cols), 0.0, 0.0, 0.0)
        return MipSolution(self.status, np.zeros(0), np.nan, np.nan, 0.0)


def two_way_swaps(n: int) -> Pool:
    """`n` disjoint two-way exchanges: every exchange holds two pairs and is one column."""
    donors: dict[str, str | None] = {}
    arcs = []
    for i in range(n):
        donors[f"da{i}"], donors[f"db{i}"] = f"a{i}", f"b{i}"
        arcs += [(f"da{i}", f"b{i}", 1.0), (f"db{i}", f"a{i}", 1.0)]
    return pool_of(donors, arcs)


@pytest.mark.parametrize(
    ("status", "sizes"),
    [
        # 40 vertices (half of 80) free 20 swaps; each neighbourhood solved without gain
        # frees 1.3 times as many vertices, until every swap would be freed.
        (MipStatus.OPTIMAL, [20, 26, 34]),
        # Each neighbourhood out of time frees 0.8 times as many, until the search stalls.
        (MipStatus.TIME_LIMIT, [20, 16, 13, 11, 9, 7]),
    ],
)
def test_the_freed_vertices_follow_how_each_neighbourhood_ended(
    status: MipStatus, sizes: list[int]
) -> None:
    graph, form, objective, x = seeded(two_way_swaps(40), max_chain=5)
    assert int(x.sum()) == 40
    backend = Recording(status)
    better = improve(graph, form, objective, x, backend=backend, time_limit=60.0)
    assert np.array_equal(better, x)
    assert backend.sizes == sizes


def test_a_draw_that_would_free_every_exchange_is_left_to_the_rounds() -> None:
    # One exchange: half of its vertices already free all of it, the whole model.
    graph, form, objective, x = seeded(two_way_swaps(1), max_chain=5)
    backend = Recording(MipStatus.OPTIMAL)
    assert np.array_equal(improve(graph, form, objective, x, backend=backend, time_limit=60.0), x)
    assert backend.sizes == []


def test_a_model_of_unbounded_chains_is_refused() -> None:
    graph = build_graph(two_gadgets())
    form = build_formulation(graph, max_cycle=3, max_chain=None, uk=False)
    x = np.zeros(form.problem.n_cols)
    with pytest.raises(ValueError, match="chain cap"):
        improve(graph, form, x, x, backend=HighsBackend(), time_limit=1.0)


def test_the_freed_vertices_grow_after_a_neighbourhood_without_gain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One vertex at first frees one exchange: alone, neither a cycle nor a chain can be
    # bettered. Growing by half each time, the search frees two, then three exchanges.
    monkeypatch.setattr("possible.optimise.neighbourhood.FREED_VERTICES", 1)
    monkeypatch.setattr("possible.optimise.neighbourhood.GROW", 1.5)
    graph, form, objective, x = seeded(two_gadgets(), max_chain=5)
    better = improve(graph, form, objective, x, backend=HighsBackend(), time_limit=60.0)
    assert form.problem.broken_rows(better, 1e-9).size == 0
    assert float(objective @ better) >= 9.0


@pytest.mark.parametrize("uk", [False, True])
def test_each_exchange_of_a_solution_is_found_whole(uk: bool) -> None:
    # The UK model holds chains of one or two transplants as explicit columns, and longer
    # ones as donor-level PICEF columns.
    graph = build_graph(two_gadgets())
    form = build_formulation(graph, max_cycle=3, max_chain=5, uk=uk)
    (level,) = hierarchy("transplants")
    objective = level.values(form.features)
    short = np.zeros(form.problem.n_cols)
    if uk:
        # Two three-way cycles and two explicit chains n -> z: four columns.
        picked = [j for j in range(form.n_cycle_cols) if (form.cycles.vertices[j] >= 0).sum() == 3]
        ends = graph.target[form.chain_arcs[:, 0]]
        picked += [
            form.n_cycle_cols + j
            for j in range(form.n_chain_cols)
            if form.chain_arcs[j, 1] < 0 and graph.vertex_label(int(ends[j])).startswith("z")
        ]
        short[picked] = 1.0
    else:
        _, _, _, short = seeded(two_gadgets(), max_chain=5)
    assert form.problem.broken_rows(short, 1e-9).size == 0
    exchanges = _exchanges(form, short)
    # Two three-way cycles and two chains of one transplant each.
    assert sorted(len(columns) for columns in exchanges) == [1, 1, 1, 1]
    together = np.concatenate(exchanges)
    assert np.array_equal(np.sort(together), np.flatnonzero(short > 0.5))
    longest = optimum(form.problem, objective).x  # two chains of 5 transplants
    exchanges = _exchanges(form, longest)
    assert sorted(len(columns) for columns in exchanges) == [5, 5]
    assert np.array_equal(np.sort(np.concatenate(exchanges)), np.flatnonzero(longest > 0.5))


def cycles_only(form: Formulation) -> np.ndarray:
    """A weak start: disjoint cycles picked greedily in column order, no chain."""
    x = np.zeros(form.problem.n_cols)
    used: set[int] = set()
    for j in range(form.n_cycle_cols):
        cycle = form.cycles.vertices[j]
        pairs = set(cycle[cycle >= 0].tolist())
        if not pairs & used:
            x[j] = 1.0
            used |= pairs
    return x


def test_from_a_weak_start_the_search_improves_and_stays_valid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small_neighbourhoods(monkeypatch, 6)
    (level,) = hierarchy("transplants")
    improved = 0
    for seed in range(8):
        pool = random_pool(seed, n_pairs=30, n_ndds=4, density=0.12)
        graph = build_graph(pool)
        form = build_formulation(graph, max_cycle=3, max_chain=5, uk=False)
        objective = level.values(form.features)
        x = cycles_only(form)
        better = improve(
            graph, form, objective, x, backend=HighsBackend(), time_limit=60.0, seed=seed
        )
        assert form.problem.broken_rows(better, 1e-9).size == 0
        assert set(np.unique(better).tolist()) <= {0.0, 1.0}
        # The whole model's optimum (pools too large for the brute-force oracle).
        best = optimum(form.problem, objective)
        assert float(objective @ x) <= float(objective @ better) <= best.objective + 1e-9
        improved += float(objective @ better) > float(objective @ x)
    assert improved >= 4  # the chains the start left out are found


def test_a_hierarchy_under_a_time_limit_settles_every_level(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every level after the first holds the previous level's solution. Were its rounds told
    # of it, a backend could give up on them at once (HiGHS does, on models above
    # PRESOLVE_MAX_COLUMNS under a short limit) with no search after them to use the time.
    monkeypatch.setattr("possible.optimise.highs.PRESOLVE_MAX_COLUMNS", 0)
    pool = random_pool(3, n_pairs=40, n_ndds=4, density=0.1)
    exact = solve(pool, max_cycle=3, max_chain=5, objective="uk")
    limited = solve(pool, max_cycle=3, max_chain=5, objective="uk", time_limit=100.0)
    assert limited.status is Status.OPTIMAL
    assert limited.objective == exact.objective


@SETTINGS
@given(pool=pools(max_pairs=8, max_ndds=2), freed=st.integers(1, 8), seed=st.integers(0, 3))
def test_the_search_never_loses_value_or_breaks_a_row(pool: Pool, freed: int, seed: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("possible.optimise.neighbourhood.FREED_VERTICES", freed)
        graph, form, objective, x = seeded(pool, max_chain=5)
        better = improve(
            graph, form, objective, x, backend=HighsBackend(), time_limit=60.0, seed=seed
        )
    assert form.problem.broken_rows(better, 1e-9).size == 0
    assert set(np.unique(better).tolist()) <= {0.0, 1.0}
    value = float(objective @ better)
    assert value >= float(objective @ x)
    (best,) = best_packing(pool, max_cycle=3, max_chain=5, objective="transplants")
    assert value <= best + 1e-9


@pytest.mark.parametrize("generate_chains", [False, True])
def test_a_run_whose_rounds_stop_keeps_what_the_search_finds(
    monkeypatch: pytest.MonkeyPatch, fakes: Fakes, generate_chains: bool
) -> None:
    small_neighbourhoods(monkeypatch, 5)
    if not generate_chains:
        solve_module = importlib.import_module("possible.optimise.solve")
        monkeypatch.setattr(solve_module, "CHAINS_TIME_SHARE", 0.0)
    pool = two_gadgets()
    # The rounds run out of time with nothing; the search after them gets HiGHS again.
    backend = fakes.expiring_highs(revive_on="looking for better solutions")
    result = solve(
        pool, max_cycle=3, max_chain=5, time_limit=60.0, backend=backend, progress=backend.watch
    )
    if generate_chains:
        # Generated chains find both long chains: the bound, so the run is optimal.
        assert result.status is Status.OPTIMAL
        assert result.objective == (10.0,)
    else:
        # The neighbourhood search alone betters at least one gadget; with both, the run
        # reaches the bound and is optimal.
        (value,) = result.objective
        assert value >= 9.0
        assert (result.status is Status.OPTIMAL) == (value == 10.0)
    assert result.bound == (10.0,)
    assert "improve" in result.timings
    assert_valid(pool, result, max_cycle=3, max_chain=5)


@pytest.mark.parametrize("objective", ["transplants", "uk"])
def test_only_a_run_under_a_time_limit_searches(objective: str) -> None:
    pool = two_gadgets()
    exact = solve(pool, max_cycle=3, max_chain=5, objective=objective)
    assert exact.status is Status.OPTIMAL
    assert "improve" not in exact.timings
    # Rounds that settle the first level leave nothing to search for, and the later levels
    # of a hierarchy keep the whole time limit.
    limited = solve(pool, max_cycle=3, max_chain=5, objective=objective, time_limit=60.0)
    assert limited.status is Status.OPTIMAL
    assert limited.objective == exact.objective
    assert "improve" not in limited.timings
    if objective == "transplants":
        assert exact.objective == (10.0,)


def test_later_levels_keep_the_whole_time_limit(level_calls: list[dict[str, object]]) -> None:
    # Only the first level's rounds give time up to the search. (Not the UK hierarchy: it
    # never needs chains longer than 2, so it has no seeding pass and no search.)
    from possible.optimise.objectives import TotalScore, Transplants

    hierarchy = [Transplants, TotalScore]
    result = solve(two_gadgets(), max_cycle=3, max_chain=5, objective=hierarchy, time_limit=100.0)
    assert result.status is Status.OPTIMAL
    assert len(level_calls) == 2 + 2  # the seeding pass's two levels, then the two levels
    limits = [call["time_limit"] for call in level_calls]
    seeding, first, later = limits[:2], limits[2], limits[3:]
    assert all(isinstance(limit, float) and limit <= 50.0 for limit in seeding)
    assert isinstance(first, float)
    # The first level: half of what the seeding pass left; the later one: all the rest.
    assert first <= 50.0
    assert all(isinstance(limit, float) and limit > 90.0 for limit in later)
