"""Reduced-cost fixing: the Lagrangian bound is valid for any multipliers, and never cuts off
an optimum. Checked against exhaustive search on small random set-packing problems."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.sparse import csc_matrix

from oracles import SETTINGS, brute_force, random_pool
from possible.graph import build_graph
from possible.optimise import MipProblem, MipStatus
from possible.optimise.fixing import lagrangian_bound, restrict, solve_level
from possible.optimise.formulation import build_formulation
from possible.optimise.highs import HighsBackend


def packing_problem(seed: int, n_cols: int, n_rows: int, integral: bool) -> MipProblem:
    """A random set packing: each column takes 1 to 3 rows of capacity 1."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((n_rows, n_cols))
    for j in range(n_cols):
        dense[rng.choice(n_rows, size=int(rng.integers(1, 4)), replace=False), j] = 1.0
    matrix = csc_matrix(dense)
    matrix.sort_indices()
    if integral:
        objective = rng.integers(1, 4, size=n_cols).astype(np.float64)
    else:
        objective = rng.uniform(0.5, 3.0, size=n_cols).round(3)
    return MipProblem(
        objective=objective,
        a_start=matrix.indptr.astype(np.int32),
        a_index=matrix.indices.astype(np.int32),
        a_value=matrix.data.astype(np.float64),
        row_lower=np.full(n_rows, -np.inf),
        row_upper=np.ones(n_rows),
    )


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    duals=st.lists(st.floats(-3.0, 3.0), min_size=8, max_size=8),
)
def test_the_bound_holds_for_any_multipliers(seed: int, duals: list[float]) -> None:
    problem = packing_problem(seed, n_cols=14, n_rows=8, integral=True)
    lag = lagrangian_bound(problem, np.array(duals))
    best = brute_force(problem)
    assert lag.bound >= best.objective - 1e-9
    # No solution using column j is worth more than the column's bound.
    for j in range(problem.n_cols):
        keep = np.ones(problem.n_cols, dtype=bool)
        forced = restrict(problem, keep)
        lower = np.zeros(problem.n_cols)
        lower[j] = 1.0
        with_j = _best_with(forced, j)
        if with_j is not None:
            assert lag.column_bound[j] >= with_j - 1e-9


def _best_with(problem: MipProblem, j: int) -> float | None:
    """Best value of a solution with column j set, by exhaustive search."""
    start, stop = problem.a_start[j], problem.a_start[j + 1]
    rows = problem.a_index[start:stop]
    upper = problem.row_upper.copy()
    upper[rows] -= problem.a_value[start:stop]
    if np.any(upper < 0):
        return None
    others = np.ones(problem.n_cols, dtype=bool)
    others[j] = False
    rest = restrict(problem, others)
    rest = MipProblem(
        rest.objective, rest.a_start, rest.a_index, rest.a_value, rest.row_lower, upper
    )
    return float(problem.objective[j]) + brute_force(rest).objective


def test_restrict_keeps_the_chosen_columns_exactly() -> None:
    problem = packing_problem(3, n_cols=12, n_rows=6, integral=True)
    keep = np.arange(12) % 3 != 1
    sub = restrict(problem, keep)
    full = csc_matrix((problem.a_value, problem.a_index, problem.a_start), shape=(6, 12)).toarray()
    part = csc_matrix((sub.a_value, sub.a_index, sub.a_start), shape=(6, sub.n_cols)).toarray()
    np.testing.assert_array_equal(part, full[:, keep])
    np.testing.assert_array_equal(sub.objective, problem.objective[keep])


@pytest.mark.parametrize("integral", [True, False])
@pytest.mark.parametrize("seed", range(8))
def test_solve_level_finds_the_exhaustive_optimum(seed: int, integral: bool) -> None:
    problem = packing_problem(seed, n_cols=22, n_rows=10, integral=integral)
    outcome = solve_level(
        HighsBackend(),
        problem,
        np.ones(problem.n_cols, dtype=bool),
        integral=integral,
        start=None,
        time_limit=None,
    )
    best = brute_force(problem)
    assert outcome.solution.status is MipStatus.OPTIMAL
    assert outcome.solution.objective == pytest.approx(best.objective, abs=1e-6)
    x = outcome.solution.x
    assert x.shape == (problem.n_cols,)
    assert float(problem.objective @ x) == pytest.approx(outcome.solution.objective)
    # Every column the optimum uses survives fixing at the optimum's value.
    alive = outcome.alive_after(np.ones(problem.n_cols, dtype=bool), best.objective - 1e-6)
    assert alive[x > 0.5].all()


@pytest.mark.parametrize("feature", ["transplants", "score"])
def test_fixing_agrees_with_one_full_solve_on_a_real_model(feature: str) -> None:
    pool = random_pool(11, n_pairs=60, n_ndds=4, density=0.15)
    form = build_formulation(build_graph(pool), max_cycle=3, max_chain=2, uk=False)
    problem = MipProblem(
        getattr(form.features, feature),
        form.problem.a_start,
        form.problem.a_index,
        form.problem.a_value,
        form.problem.row_lower,
        form.problem.row_upper,
    )
    outcome = solve_level(
        HighsBackend(),
        problem,
        np.ones(problem.n_cols, dtype=bool),
        integral=feature == "transplants",
        start=None,
        time_limit=None,
    )
    full = HighsBackend().solve(problem)
    assert outcome.solution.objective == pytest.approx(full.objective, abs=1e-9)
    assert outcome.columns <= problem.n_cols


def test_a_level_with_every_column_fixed_selects_nothing() -> None:
    problem = packing_problem(5, n_cols=10, n_rows=5, integral=True)
    outcome = solve_level(
        HighsBackend(),
        problem,
        np.zeros(problem.n_cols, dtype=bool),
        integral=True,
        start=None,
        time_limit=None,
    )
    assert outcome.solution.status is MipStatus.OPTIMAL
    assert outcome.solution.objective == 0.0
    np.testing.assert_array_equal(outcome.solution.x, np.zeros(problem.n_cols))
