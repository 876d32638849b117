"""Reduced-cost fixing: shrink a model to the columns that can still be in a good solution.

For ``max c x`` over ``L <= A x <= U``, ``0 <= x <= 1``, any row multipliers ``y`` give the
Lagrangian bound

    c x  <=  B(y) + sum_{j : d_j < 0} d_j x_j,   with  d = c - A^T y,
    B(y) = sum_i (y_i U_i if y_i > 0 else y_i L_i) + sum_j max(d_j, 0),

for every feasible ``x``. So a column ``j`` with ``B + d_j < t`` is 0 in every solution worth at
least ``t``. The bound holds for *any* ``y`` (the LP optimum's duals make it tight), so a
slightly inaccurate LP solve can cost speed but never correctness.

:func:`possible.optimise.solve` uses this per level of an objective hierarchy: solve the
relaxation, keep only the columns that could reach ``t = floor(bound)`` and solve that small
MIP; if it reaches ``t`` it is optimal, otherwise its value ``v`` is a lower bound, and one more
solve over the columns that could reach ``v`` settles the optimum. Columns that cannot reach a
level's optimum are dropped for all later levels, whose rows keep that level at its optimum.
Kidney exchange models have tight relaxations, so the kept models are a small fraction of the
full one. (Delorme et al. 2023 report the same technique for kidney exchange as *reduced-cost
variable fixing*.)
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csc_matrix

from possible.graph.csr import ranges
from possible.optimise.backend import (
    Backend,
    ConcurrentBackend,
    MipProblem,
    MipSolution,
    MipStatus,
    RelaxationBackend,
)

logger = logging.getLogger(__name__)

__all__ = [
    "LagrangianBound",
    "LevelSolution",
    "lagrangian_bound",
    "restrict",
    "solve_level",
]

BOUND_TOLERANCE = 1e-6
"""Relative slack on Lagrangian bounds, for floating-point error in ``A^T y``."""
FRACTIONAL_BOUND = 1e-3
"""An integral level's bound this far above a whole number counts as fractional."""
SCORE_TARGET_SHARE = 1e-3
"""For a non-integral objective, the first target lies this share below the bound."""


@dataclass(frozen=True, slots=True)
class LagrangianBound:
    """An upper bound on a MIP, and how much each column would lower it.

    Attributes
    ----------
    bound
        ``B``: no feasible solution is worth more.
    reduced
        Reduced cost ``d_j`` of each column under the multipliers that gave `bound`.
    """

    bound: float
    reduced: NDArray[np.float64]

    @property
    def column_bound(self) -> NDArray[np.float64]:
        """``B + min(d_j, 0)``: no feasible solution with ``x_j = 1`` is worth more."""
        out: NDArray[np.float64] = self.bound + np.minimum(self.reduced, 0.0)
        return out

    def could_reach(self, target: float, *, tolerance: float) -> NDArray[np.bool_]:
        """Mask of the columns that may be 1 in a solution worth at least `target`."""
        mask: NDArray[np.bool_] = self.column_bound >= target - tolerance
        return mask


def lagrangian_bound(problem: MipProblem, row_dual: NDArray[np.float64]) -> LagrangianBound:
    """Compute the Lagrangian bound of `problem` (maximised) from row multipliers.

    Solvers differ in the sign they give duals of a maximisation, so both ``y`` and ``-y`` are
    tried and the smaller (both are valid) bound is kept. Multipliers pointing at an infinite
    side of a row are set to 0, which keeps the bound finite and valid.

    Parameters
    ----------
    problem
        The problem, with its objective set.
    row_dual
        One multiplier per row, e.g. the relaxation's duals (either sign convention).

    Returns
    -------
    LagrangianBound
    """
    transposed = csc_matrix(
        (problem.a_value, problem.a_index, problem.a_start),
        shape=(problem.n_rows, problem.n_cols),
    ).T.tocsr()
    best: LagrangianBound | None = None
    for sign in (1.0, -1.0):
        y = sign * np.asarray(row_dual, dtype=np.float64)
        up = y > 0
        down = y < 0
        y[up & ~np.isfinite(problem.row_upper)] = 0.0
        y[down & ~np.isfinite(problem.row_lower)] = 0.0
        up &= y > 0
        down &= y < 0
        rows = float(y[up] @ problem.row_upper[up] + y[down] @ problem.row_lower[down])
        reduced = problem.objective - transposed @ y
        bound = rows + float(np.maximum(reduced, 0.0).sum())
        if best is None or bound < best.bound:
            best = LagrangianBound(bound, reduced)
    assert best is not None
    return best


def restrict(problem: MipProblem, keep: NDArray[np.bool_]) -> MipProblem:
    """Return `problem` with only the columns in `keep` (all rows are kept).

    Parameters
    ----------
    problem
        The full problem.
    keep
        Boolean mask over its columns.
    """
    columns = np.flatnonzero(keep)
    lengths = np.diff(problem.a_start)[columns]
    starts = np.zeros(columns.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    take = ranges(problem.a_start[columns], lengths)
    return MipProblem(
        objective=problem.objective[columns],
        a_start=starts.astype(np.int32),
        a_index=problem.a_index[take],
        a_value=problem.a_value[take],
        row_lower=problem.row_lower,
        row_upper=problem.row_upper,
    )


@dataclass(frozen=True, slots=True)
class LevelSolution:
    """The outcome of one level: the solver's answer over all columns, and what may be dropped.

    Attributes
    ----------
    solution
        ``x`` over all columns of the problem; ``bound`` is valid for the full problem.
    bound
        The Lagrangian bound of the level, or ``None`` without a relaxation.
    columns
        How many columns the last MIP solve had.
    """

    solution: MipSolution
    bound: LagrangianBound | None
    columns: int

    def alive_after(self, alive: NDArray[np.bool_], lower: float) -> NDArray[np.bool_]:
        """Columns of `alive` that may still be 1 once this level must be worth `lower`."""
        if self.bound is None:
            return alive
        out = alive.copy()
        out[alive] = self.bound.could_reach(lower, tolerance=_tolerance(self.bound.bound))
        return out


def solve_level(
    backend: Backend,
    problem: MipProblem,
    alive: NDArray[np.bool_],
    *,
    integral: bool,
    start: NDArray[np.float64] | None,
    time_limit: float | None,
) -> LevelSolution:
    """Maximise `problem` over the columns in `alive`, shrinking it by reduced-cost fixing.

    Parameters
    ----------
    backend
        The solver. Without :class:`~possible.optimise.backend.RelaxationBackend` ability the
        MIP over `alive` is solved as it is.
    problem
        The full problem with this level's objective (and earlier levels' rows).
    alive
        Columns not yet fixed to 0.
    integral
        Whether every solution's value is an integer (the first target is then the bound
        rounded down, and a solution reaching it is optimal).
    start
        A feasible solution over all columns (the previous level's), or ``None`` when
        selecting nothing is feasible.
    time_limit
        Seconds for this level.

    Returns
    -------
    LevelSolution
    """
    began = time.perf_counter()
    sub = restrict(problem, alive)
    sub_start = None if start is None else start[alive]
    known = 0.0 if sub_start is None else float(sub.objective @ sub_start)
    lp = None
    if sub.n_cols and isinstance(backend, RelaxationBackend):
        lp = backend.solve_relaxation(sub, time_limit=time_limit)
    if lp is None or lp.status is not MipStatus.OPTIMAL:
        # No relaxation to fix columns with (or no column left): solve over all alive ones.
        everything = np.ones(sub.n_cols, dtype=bool)
        sol = _solve_columns(backend, sub, everything, sub_start, _left(time_limit, began))
        return LevelSolution(_widen(sol, alive), None, sub.n_cols)
    lag = lagrangian_bound(sub, lp.row_dual)
    lp_seconds = lp.seconds
    tol = _tolerance(lag.bound)
    seconds = lp_seconds
    best = np.zeros(sub.n_cols) if sub_start is None else sub_start
    found = sub_start is not None  # selecting nothing is feasible, but is no solution found
    # Ask "is there a solution worth at least `target`?" over the columns that could reach
    # it, lowering the target until the answer is yes. An integral level steps down by one; a
    # fractional one jumps straight to the best value known, whose columns then hold the optimum.
    if integral:
        target = float(np.floor(lag.bound + tol))
    else:
        target = lag.bound - SCORE_TARGET_SHARE * max(1.0, abs(lag.bound))
    rounds = _Rounds(backend, sub, lag, tol, integral)
    try:
        return _descend(
            rounds,
            sub,
            lag,
            alive,
            tol,
            integral,
            target,
            known,
            best,
            found,
            seconds,
            lp_seconds,
            time_limit,
            began,
        )
    finally:
        rounds.close()


def _descend(
    rounds: _Rounds,
    sub: MipProblem,
    lag: LagrangianBound,
    alive: NDArray[np.bool_],
    tol: float,
    integral: bool,
    target: float,
    known: float,
    best: NDArray[np.float64],
    found: bool,
    seconds: float,
    lp_seconds: float,
    time_limit: float | None,
    began: float,
) -> LevelSolution:
    """Lower the target until a solution reaches it (see :func:`solve_level`)."""
    while True:
        target = max(target, known)
        keep = lag.could_reach(target, tolerance=tol)
        # An integral level may stop at the first solution worth `target`: nothing is worth
        # more (the bound, or the previous round, says so). A fractional one may not.
        sol = rounds.result(target, best, known, _left(time_limit, began))
        seconds += sol.seconds
        logger.debug(
            "bound %.6g (relaxation in %.2fs); target %.6g: %d of %d columns, %s %.6g",
            lag.bound,
            lp_seconds,
            target,
            int(keep.sum()),
            sub.n_cols,
            sol.status.value,
            sol.objective,
        )
        if sol.x.size and sol.objective > known:
            known, best, found = sol.objective, sol.x, True
        reached = integral and known >= target - tol
        if not reached and sol.status not in (MipStatus.OPTIMAL, MipStatus.INFEASIBLE):
            # Out of time: the best solution found stands, with the bound of the whole level.
            if found:
                partial = MipSolution(MipStatus.FEASIBLE, best, known, lag.bound, seconds)
            else:
                partial = MipSolution(sol.status, np.zeros(0), np.nan, lag.bound, seconds)
            return LevelSolution(_widen(partial, alive), lag, int(keep.sum()))
        # No solution over these columns is worth more than `known`; nor, then, any at all.
        proven = reached or known >= target - tol
        if not proven and integral:
            proven = known >= target - 1.0 - tol  # nothing reaches target, so target - 1 is best
        if proven or target <= known:
            done = MipSolution(MipStatus.OPTIMAL, best, known, known, seconds)
            return LevelSolution(_widen(done, alive), lag, int(keep.sum()))
        rounds.missed()
        target = target - 1.0 if integral else known


class _Rounds:
    """The MIP solves of one level's descending targets, the next one started early.

    With a :class:`~possible.optimise.backend.ConcurrentBackend`, an integral level's round
    for ``target - 1`` runs beside the round for ``target`` (kidney exchange relaxations are
    usually one or two units above the optimum, so the second round is often needed; HiGHS
    releases the GIL, so the two really run at once), and is stopped as soon as the first
    reaches its target. Which answer is used depends only on the
    rounds' results, never on which finished first, so the outcome stays deterministic.
    """

    def __init__(
        self,
        backend: Backend,
        problem: MipProblem,
        lag: LagrangianBound,
        tol: float,
        integral: bool,
    ) -> None:
        self.backend = backend
        self.problem = problem
        self.lag = lag
        self.tol = tol
        self.integral = integral
        self.concurrent = integral and isinstance(backend, ConcurrentBackend) and backend.concurrent
        # A relaxation worth a whole number is often met by a solution: the lower round
        # would only take processor time from the first. A fractional one is usually above
        # the optimum. After a round misses its target, the next is started early anyway.
        self.ahead = self.concurrent and lag.bound - np.floor(lag.bound + tol) > FRACTIONAL_BOUND
        self._pool: ThreadPoolExecutor | None = None
        self._early: dict[float, tuple[Future[MipSolution], threading.Event]] = {}

    def result(
        self, target: float, start: NDArray[np.float64], known: float, time_limit: float | None
    ) -> MipSolution:
        """Solve over the columns that could reach `target`, starting the next target early.

        An integral level's solve may stop at the first solution worth `target`.
        """
        stop_at = target if self.integral else None
        if not self.ahead:
            keep = self.lag.could_reach(target, tolerance=self.tol)
            return _solve_columns(self.backend, self.problem, keep, start, time_limit, stop_at)
        current = self._early.pop(target, None) or self._submit(target, time_limit)
        lower = target - 1.0
        fresh = lower > known + self.tol and lower not in self._early
        if fresh and (time_limit is None or time_limit > 0):
            self._early[lower] = self._submit(lower, time_limit)
        sol = current[0].result()
        if sol.status is MipStatus.FEASIBLE and sol.objective >= target - self.tol:
            self.close()  # the target is reached: lower rounds are not needed
        return sol

    def missed(self) -> None:
        """Note that a round missed its target: start lower rounds early from now on."""
        self.ahead = self.concurrent

    def _submit(
        self, target: float, time_limit: float | None
    ) -> tuple[Future[MipSolution], threading.Event]:
        assert isinstance(self.backend, ConcurrentBackend)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="possible-round")
        keep = self.lag.could_reach(target, tolerance=self.tol)
        stop = threading.Event()
        backend = self.backend
        problem = self.problem

        def run() -> MipSolution:
            if not keep.any():
                return _solve_columns(backend, problem, keep, None, time_limit, target)
            sol = backend.solve_stoppable(
                restrict(problem, keep), stop=stop, time_limit=time_limit, target=target
            )
            return _widen(sol, keep)

        return self._pool.submit(run), stop

    def close(self) -> None:
        """Stop and wait for every round still running."""
        for _, stop in self._early.values():
            stop.set()
        for future, _ in self._early.values():
            future.result()
        self._early.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _tolerance(bound: float) -> float:
    return BOUND_TOLERANCE * max(1.0, abs(bound))


def _left(time_limit: float | None, began: float) -> float | None:
    return None if time_limit is None else time_limit - (time.perf_counter() - began)


def _solve_columns(
    backend: Backend,
    problem: MipProblem,
    keep: NDArray[np.bool_],
    start: NDArray[np.float64] | None,
    time_limit: float | None,
    target: float | None = None,
) -> MipSolution:
    """Solve `problem` over the columns in `keep`; the answer's ``x`` covers all columns."""
    if time_limit is not None and time_limit <= 0:
        return MipSolution(MipStatus.TIME_LIMIT, np.zeros(0), np.nan, np.nan, 0.0)
    if not keep.any():
        # Selecting nothing is the only choice; it is feasible when every row allows 0.
        ok = bool(np.all(problem.row_lower <= 0.0) and np.all(problem.row_upper >= 0.0))
        if not ok:
            return MipSolution(MipStatus.INFEASIBLE, np.zeros(0), np.nan, np.nan, 0.0)
        return MipSolution(MipStatus.OPTIMAL, np.zeros(problem.n_cols), 0.0, 0.0, 0.0)
    sub_start = None
    if start is not None and not np.any(start[~keep] > 0.5):
        sub_start = start[keep]
    sol = backend.solve(
        restrict(problem, keep), time_limit=time_limit, start=sub_start, target=target
    )
    return _widen(sol, keep)


def _widen(sol: MipSolution, keep: NDArray[np.bool_]) -> MipSolution:
    """Map a solution over the kept columns back to all columns."""
    if sol.status not in (MipStatus.OPTIMAL, MipStatus.FEASIBLE):
        return sol
    x = np.zeros(keep.shape[0])
    x[keep] = sol.x
    return MipSolution(sol.status, x, sol.objective, sol.bound, sol.seconds)
