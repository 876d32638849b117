"""The HiGHS backend: its search for feasibility and its LP and presolve settings."""

from __future__ import annotations

import dataclasses
import math
import threading
from pathlib import Path

import highspy
import numpy as np
import pytest
from scipy.sparse import csc_matrix, vstack

from oracles import brute_force, packing_problem
from possible.errors import SolverError
from possible.optimise import MipProblem, MipStatus, deadline
from possible.optimise import highs as highs_module
from possible.optimise.fixing import lagrangian_bound, solve_level
from possible.optimise.highs import (
    DENSE_ROW_SHARE,
    HOPELESS_BELOW,
    PROBING_RULE,
    HighsBackend,
    _check_rows,
    _usable_relaxation,
)


def _activity(problem: MipProblem, x: np.ndarray) -> np.ndarray:
    activity: np.ndarray = problem.matrix() @ x
    return activity


@pytest.mark.parametrize("seed", range(6))
def test_find_feasible_answers_with_a_solution_of_the_rows(seed: int) -> None:
    problem = packing_problem(seed, n_cols=30, n_rows=12, integral=True)
    # Force the rows that the first few columns cover: a solution exists (those columns are
    # disjoint by construction below) but selecting nothing no longer does.
    chosen: list[int] = []
    covered: set[int] = set()
    for j in range(problem.n_cols):
        rows = set(problem.a_index[problem.a_start[j] : problem.a_start[j + 1]].tolist())
        if not rows & covered:
            chosen.append(j)
            covered |= rows
    lower = problem.row_lower.copy()
    lower[sorted(covered)] = 1.0
    forced = MipProblem(
        problem.objective,
        problem.a_start,
        problem.a_index,
        problem.a_value,
        lower,
        problem.row_upper,
    )
    found = HighsBackend().find_feasible(forced)
    assert found.status is MipStatus.FEASIBLE
    assert set(np.unique(found.x)) <= {0.0, 1.0}
    activity = _activity(forced, found.x)
    assert np.all(activity >= forced.row_lower - 1e-9)
    assert np.all(activity <= forced.row_upper + 1e-9)
    # Its value is reported under the problem's own objective, with no bound claimed.
    assert found.objective == pytest.approx(float(problem.objective @ found.x))
    assert math.isnan(found.bound)


def test_find_feasible_claims_nothing_when_the_rows_cannot_be_met() -> None:
    # Three columns, each covering two of three rows that must each be covered exactly once:
    # any one column leaves a row bare, any two overlap.
    dense = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    matrix = csc_matrix(dense)
    matrix.sort_indices()
    problem = MipProblem(
        objective=np.ones(3),
        a_start=matrix.indptr.astype(np.int32),
        a_index=matrix.indices.astype(np.int32),
        a_value=matrix.data.astype(np.float64),
        row_lower=np.ones(3),
        row_upper=np.ones(3),
    )
    found = HighsBackend().find_feasible(problem)
    assert found.status in (MipStatus.INFEASIBLE, MipStatus.TIME_LIMIT)
    assert found.x.size == 0


@pytest.mark.parametrize("mip_lp_solver", ["choose", "simplex", "ipm"])
def test_each_lp_solver_for_the_mip_reaches_the_exhaustive_optimum(mip_lp_solver: str) -> None:
    for seed in range(4):
        problem = packing_problem(seed, n_cols=24, n_rows=10, integral=True)
        sol = HighsBackend(mip_lp_solver=mip_lp_solver).solve(problem)
        assert sol.status is MipStatus.OPTIMAL
        assert sol.objective == pytest.approx(brute_force(problem).objective)


def test_an_unknown_lp_solver_is_refused() -> None:
    with pytest.raises(ValueError, match="mip_lp_solver"):
        HighsBackend(mip_lp_solver="barrier")


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Every HiGHS option set during the test, as (name, value), in order."""
    options: list[tuple[str, object]] = []
    original = highspy.Highs.setOptionValue

    def record(self: highspy.Highs, name: str, value: object) -> object:
        options.append((name, value))
        return original(self, name, value)

    monkeypatch.setattr(highspy.Highs, "setOptionValue", record)
    return options


@pytest.mark.parametrize("limit", [0, 10_000])
def test_presolve_is_off_exactly_above_the_column_limit(
    limit: int, monkeypatch: pytest.MonkeyPatch, seen: list[tuple[str, object]]
) -> None:
    monkeypatch.setattr("possible.optimise.highs.PRESOLVE_MAX_COLUMNS", limit)
    for seed in range(4):
        problem = packing_problem(seed, n_cols=24, n_rows=10, integral=True)
        sol = HighsBackend().solve(problem)
        assert sol.status is MipStatus.OPTIMAL
        assert sol.objective == pytest.approx(brute_force(problem).objective)
    assert (("presolve", "off") in seen) == (limit == 0)


@pytest.mark.parametrize(
    ("limit", "incumbent", "time_limit", "jumps"),
    [
        (0, 0.0, 600.0, False),  # a big model, a solution held, a time limit: no jump
        (0, None, 60.0, True),  # nothing held: the jump may be all there is in time
        (0, 0.0, None, True),  # no time limit to overrun
        (10_000, 0.0, 60.0, True),  # a model small enough for the jump to be quick
    ],
)
def test_feasibility_jump_is_left_out_only_where_it_would_overrun_the_limit(
    limit: int,
    incumbent: float | None,
    time_limit: float | None,
    jumps: bool,
    monkeypatch: pytest.MonkeyPatch,
    seen: list[tuple[str, object]],
) -> None:
    monkeypatch.setattr("possible.optimise.highs.PRESOLVE_MAX_COLUMNS", limit)
    for seed in range(3):
        problem = packing_problem(seed, n_cols=24, n_rows=10, integral=True)
        sol = HighsBackend().solve_stoppable(
            problem, stop=threading.Event(), time_limit=time_limit, incumbent=incumbent
        )
        assert sol.status is MipStatus.OPTIMAL
        assert sol.objective == pytest.approx(brute_force(problem).objective)
    assert (("mip_heuristic_run_feasibility_jump", False) in seen) == (not jumps)


@pytest.mark.parametrize(
    ("incumbent", "time_limit", "soft_limit", "gives_up"),
    [
        (0.0, 60.0, None, True),
        (0.0, HOPELESS_BELOW, None, False),  # time enough to try
        (None, 60.0, None, False),  # nothing held: any solution helps
        (0.0, None, None, False),  # no time limit: the proof is wanted
        (0.0, HOPELESS_BELOW, 60.0, True),  # only the soft limit is sure
    ],
)
def test_a_huge_mip_is_not_started_when_a_solution_is_held_and_time_is_short(
    incumbent: float | None,
    time_limit: float | None,
    soft_limit: float | None,
    gives_up: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("possible.optimise.highs.PRESOLVE_MAX_COLUMNS", 0)
    problem = packing_problem(0, n_cols=24, n_rows=10, integral=True)
    sol = HighsBackend().solve_stoppable(
        problem,
        stop=threading.Event(),
        time_limit=time_limit,
        incumbent=incumbent,
        soft_limit=soft_limit,
    )
    if gives_up:
        assert sol.status is MipStatus.TIME_LIMIT
        assert not sol.x.size
    else:
        assert sol.status is MipStatus.OPTIMAL
        assert sol.objective == pytest.approx(brute_force(problem).objective)


@pytest.mark.parametrize(
    ("soft_limit", "run_on_from", "runs_on"),
    [
        (0.0, math.inf, False),
        (0.0, -math.inf, True),
        (30.0, math.inf, True),  # it ends long before its soft limit
    ],
)
def test_a_soft_limit_stops_a_solve_unless_its_best_is_near(
    soft_limit: float, run_on_from: float, runs_on: bool
) -> None:
    # HiGHS does not settle this one in presolve, so it asks the interrupt callback.
    problem = packing_problem(0, n_cols=40, n_rows=20, integral=True)
    sol = HighsBackend().solve_stoppable(
        problem,
        stop=threading.Event(),
        time_limit=60.0,
        soft_limit=soft_limit,
        run_on_from=run_on_from,
    )
    if runs_on:
        assert sol.status is MipStatus.OPTIMAL
        assert sol.objective == pytest.approx(brute_force(problem).objective)
    else:
        assert sol.status in (MipStatus.TIME_LIMIT, MipStatus.FEASIBLE)


def test_a_guarded_solve_keeps_its_soft_limit_in_the_parent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HiGHS may be where it does not ask the callback: the parent judges the child's last
    solution at the soft limit, by its value against `run_on_from`."""
    problem = packing_problem(1, n_cols=40, n_rows=15, integral=True)
    best = HighsBackend().solve(problem)
    ones = np.flatnonzero(best.x > 0.5)
    seen: dict[str, object] = {}

    def fake_run(*args: object, **kwargs: object) -> object:
        seen.update(kwargs)
        return best

    monkeypatch.setattr(highs_module, "GUARD_ABOVE_COLUMNS", 0)
    monkeypatch.setattr(deadline, "available", lambda: True)
    monkeypatch.setattr(deadline, "run", fake_run)
    HighsBackend().solve_stoppable(
        problem,
        stop=threading.Event(),
        time_limit=60.0,
        soft_limit=5.0,
        run_on_from=best.objective,
    )
    assert seen["seconds"] == 60.0
    assert seen["soft"] == 5.0
    run_on = seen["run_on"]
    assert callable(run_on)
    assert run_on(ones)
    assert not run_on(ones[:-1])
    assert not run_on(None)


@pytest.mark.parametrize("proof", [True, False])
def test_a_solve_without_proof_skips_probing_and_stays_exact(
    proof: bool, seen: list[tuple[str, object]]
) -> None:
    for seed in range(4):
        problem = packing_problem(seed, n_cols=24, n_rows=10, integral=True)
        best = brute_force(problem)
        stop = threading.Event()
        exact = HighsBackend().solve_stoppable(problem, stop=stop, proof=proof)
        assert exact.status is MipStatus.OPTIMAL
        assert exact.objective == pytest.approx(best.objective)
        # With a target out of reach, the answer says so truthfully.
        beyond = HighsBackend().solve_stoppable(
            problem, stop=stop, target=best.objective + 1, proof=proof
        )
        assert beyond.status is MipStatus.OPTIMAL
        assert beyond.objective == pytest.approx(best.objective)
    assert (("presolve_rule_off", PROBING_RULE) in seen) == (not proof)


def test_the_probing_rule_is_probing(tmp_path: Path) -> None:
    # Rule bits are HiGHS' own numbering: a new HiGHS could renumber them.
    log = tmp_path / "highs.log"
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("log_file", str(log))
    h.setOptionValue("presolve_rule_logging", True)
    h.setOptionValue("presolve_rule_off", PROBING_RULE)
    problem = packing_problem(0, n_cols=12, n_rows=6, integral=True)
    h.passModel(
        problem.n_cols,
        problem.n_rows,
        int(problem.a_index.shape[0]),
        1,
        -1,
        0.0,
        problem.objective,
        np.zeros(problem.n_cols),
        np.ones(problem.n_cols),
        problem.row_lower,
        problem.row_upper,
        problem.a_start[:-1].astype(np.int32),
        problem.a_index.astype(np.int32),
        problem.a_value,
        np.ones(problem.n_cols, dtype=np.int32),
    )
    h.run()
    text = log.read_text()
    switched_off = text.split("Presolve rules switched off:", 1)[1].splitlines()[1]
    assert f"= {PROBING_RULE:7d}): Probing" in switched_off


def test_a_search_answer_that_breaks_a_row_is_refused() -> None:
    problem = packing_problem(1, n_cols=12, n_rows=6, integral=True)
    _check_rows(problem, np.zeros(problem.n_cols))  # selecting nothing meets every row
    with pytest.raises(SolverError, match="breaks"):
        _check_rows(problem, np.ones(problem.n_cols))


def _solution(duals: list[float], *, valid: bool) -> highspy.HighsSolution:
    solution = highspy.HighsSolution()
    solution.row_dual = duals
    solution.dual_valid = valid
    return solution


@pytest.mark.parametrize(
    ("status", "central", "valid", "usable"),
    [
        ("kOptimal", True, True, True),
        ("kOptimal", False, True, True),
        # PDLP converged but postsolve found residuals just above tolerance: still usable.
        ("kUnknown", False, True, True),
        ("kUnknown", False, False, False),
        # Interior point is expected to finish; an unknown status there is a failure.
        ("kUnknown", True, True, False),
        # Stopped before convergence: PDLP's duals then give absurd bounds.
        ("kTimeLimit", False, True, False),
        ("kIterationLimit", False, True, False),
    ],
)
def test_which_relaxations_give_usable_duals(
    status: str, central: bool, valid: bool, usable: bool
) -> None:
    model_status = getattr(highspy.HighsModelStatus, status)
    solution = _solution([1.0, 0.5], valid=valid)
    assert _usable_relaxation(model_status, solution, central=central) is usable
    # Without duals nothing is usable.
    empty = _solution([], valid=valid)
    assert not _usable_relaxation(model_status, empty, central=central)


@pytest.fixture
def pdlp_at_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send every relaxation with a whole-number objective to PDLP, however small."""
    monkeypatch.setattr("possible.optimise.highs.FIRST_ORDER_COLUMNS", 0)
    monkeypatch.setattr("possible.optimise.highs.DENSE_ROW_SHARE", 1.0)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.usefixtures("pdlp_at_any_size")
def test_the_first_order_relaxation_bounds_and_solves_exactly(seed: int) -> None:
    # Every relaxation goes to PDLP: its duals must give a valid bound, and a level solved
    # with them must still reach the exhaustive optimum.
    problem = packing_problem(seed, n_cols=24, n_rows=10, integral=True)
    best = brute_force(problem).objective
    lp = HighsBackend().solve_relaxation(problem)
    assert lp.status is MipStatus.OPTIMAL
    assert not lp.central
    assert lagrangian_bound(problem, lp.row_dual).bound >= best - 1e-6
    alive = np.ones(problem.n_cols, dtype=bool)
    level = solve_level(HighsBackend(), problem, alive, integral=True, start=None, time_limit=None)
    assert level.solution.status is MipStatus.OPTIMAL
    assert level.solution.objective == pytest.approx(best)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.usefixtures("pdlp_at_any_size")
def test_interior_point_takes_over_a_first_order_relaxation_that_does_not_converge(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = packing_problem(seed, n_cols=24, n_rows=10, integral=True)
    first_order = HighsBackend().solve_relaxation(problem)
    assert not first_order.central  # PDLP converges within the default limit
    # One iteration is never enough: interior point answers instead, with the same value.
    monkeypatch.setattr("possible.optimise.highs.PDLP_ITERATION_LIMIT", 1)
    lp = HighsBackend().solve_relaxation(problem)
    assert lp.status is MipStatus.OPTIMAL
    assert lp.central
    assert lp.objective == pytest.approx(first_order.objective, abs=1e-4)
    assert lagrangian_bound(problem, lp.row_dual).bound >= brute_force(problem).objective - 1e-6


@pytest.mark.usefixtures("pdlp_at_any_size")
def test_a_fractional_relaxation_stays_with_interior_point_at_any_size() -> None:
    # PDLP crawls on fractional costs (a 2,000-patient scored pool: not converged in 300 s,
    # interior point 20 s), so only whole-number objectives go to it above the size limit.
    scored = packing_problem(1, n_cols=24, n_rows=10, integral=False)
    counted = packing_problem(1, n_cols=24, n_rows=10, integral=True)
    assert HighsBackend().solve_relaxation(scored).central
    assert not HighsBackend().solve_relaxation(counted).central


def test_a_relaxation_with_a_dense_row_stays_with_interior_point_at_any_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An earlier level's objective, fixed as a row over most columns, stalls PDLP (level 2 of
    # the UK hierarchy at 1,000 patients: no answer in 150 s, interior point 1.4 s).
    monkeypatch.setattr("possible.optimise.highs.FIRST_ORDER_COLUMNS", 0)
    sparse = packing_problem(2, n_cols=400, n_rows=200, integral=True)
    counts = np.bincount(sparse.a_index, minlength=sparse.n_rows)
    assert counts.max() <= DENSE_ROW_SHARE * sparse.n_cols  # each row covers a few columns
    matrix = vstack([sparse.matrix(), csc_matrix(sparse.objective[None, :])]).tocsc()
    level_row = dataclasses.replace(
        sparse,
        a_start=matrix.indptr.astype(np.int32),
        a_index=matrix.indices.astype(np.int32),
        a_value=matrix.data.astype(np.float64),
        row_lower=np.append(sparse.row_lower, 1.0),
        row_upper=np.append(sparse.row_upper, np.inf),
    )
    assert not HighsBackend().solve_relaxation(sparse).central
    dense = HighsBackend().solve_relaxation(level_row)
    assert dense.central
    assert dense.status is MipStatus.OPTIMAL


class UnknownRelaxation(HighsBackend):
    """HiGHS whose relaxations all end with model status "unknown", as PDLP's did at 2,000
    patients when postsolve found residuals just above tolerance."""

    def solve_relaxation(self, problem: MipProblem, *, time_limit: float | None = None) -> object:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(
                highspy.Highs, "getModelStatus", lambda _h: highspy.HighsModelStatus.kUnknown
            )
            return super().solve_relaxation(problem, time_limit=time_limit)


@pytest.mark.parametrize("first_order", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_an_unknown_relaxation_is_used_only_from_the_first_order_method(
    seed: int, first_order: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("possible.optimise.highs.FIRST_ORDER_COLUMNS", 0 if first_order else 10_000)
    monkeypatch.setattr("possible.optimise.highs.DENSE_ROW_SHARE", 1.0)
    problem = packing_problem(seed, n_cols=24, n_rows=10, integral=True)
    best = brute_force(problem).objective
    lp = UnknownRelaxation().solve_relaxation(problem)
    assert (lp.status is MipStatus.OPTIMAL) is first_order
    alive = np.ones(problem.n_cols, dtype=bool)
    level = solve_level(
        UnknownRelaxation(), problem, alive, integral=True, start=None, time_limit=None
    )
    # Used or not, the level ends at the exhaustive optimum; used, it gave a valid bound.
    assert level.solution.status is MipStatus.OPTIMAL
    assert level.solution.objective == pytest.approx(best)
    assert (level.bound is not None) is first_order
    if level.bound is not None:
        assert level.bound.bound >= best - 1e-6


def _triples(seed: int, n_rows: int, n_cols: int) -> MipProblem:
    """A random packing of triples with scores 1 to 5: its relaxation is fractional, and
    HiGHS needs cuts and branching to prove the optimum (seconds for 400 columns)."""
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.choice(n_rows, 3, replace=False) for _ in range(n_cols)])
    matrix = csc_matrix(
        (np.ones(rows.size), (rows, np.repeat(np.arange(n_cols), 3))), shape=(n_rows, n_cols)
    )
    return MipProblem(
        rng.integers(1, 6, n_cols).astype(np.float64),
        matrix.indptr.astype(np.int32),
        matrix.indices.astype(np.int32),
        matrix.data,
        np.full(n_rows, -np.inf),
        np.ones(n_rows),
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_a_solve_gives_up_once_its_bound_is_below_what_is_wanted(seed: int) -> None:
    problem = _triples(seed, 60, 400)
    backend = HighsBackend()
    optimum = backend.solve(problem).objective
    bound = backend.solve_relaxation(problem).objective
    assert bound > optimum + 1  # the relaxation alone does not settle it
    # Above the relaxation's bound: the root LP shows that nothing is worth it.
    wanted = math.floor(bound) + 1
    sol = backend.solve_stoppable(
        problem, stop=threading.Event(), target=wanted, give_up_below=wanted - 1e-6
    )
    assert sol.status is MipStatus.INFEASIBLE
    assert sol.bound < wanted
    assert sol.x.size == 0 or sol.objective < wanted  # what was found below it, if anything
    # Just above the optimum: given up once cuts or branching bring the bound down (or, if
    # the search ends first, its optimum is below what is wanted).
    wanted = optimum + 1
    sol = backend.solve_stoppable(
        problem, stop=threading.Event(), target=wanted, give_up_below=wanted - 1e-6
    )
    assert sol.status in (MipStatus.INFEASIBLE, MipStatus.OPTIMAL)
    assert sol.status is MipStatus.INFEASIBLE or sol.objective < wanted
    # At or below the optimum, a solution worth it is never given up.
    for wanted in (optimum, optimum - 2):
        sol = backend.solve_stoppable(
            problem, stop=threading.Event(), target=wanted, give_up_below=wanted - 1e-6
        )
        assert sol.status in (MipStatus.FEASIBLE, MipStatus.OPTIMAL)
        assert sol.objective >= wanted
