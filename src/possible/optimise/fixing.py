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

The same inequality tightens rows. Written out, ``B(y) - c x`` is a sum of non-negative terms,
one per column (``d_j (1 - x_j)`` or ``-d_j x_j``) and one per row: ``y_i (U_i - a_i x)`` for
``y_i > 0``, ``-y_i (a_i x - L_i)`` for ``y_i < 0``. A solution worth at least ``t`` keeps every
term within ``s = B - t``, so a row whose activity ``a_i x`` is an integer must satisfy

    a_i x >= ceil(U_i - s / y_i)   (y_i > 0),        a_i x <= floor(L_i + s / -y_i)   (y_i < 0).

In a kidney exchange model most capacity rows have ``y_i`` near 1, so for a target close to the
bound they become equalities: every such pair *must* be in an exchange. Solvers' presolve then
settles a round that cannot reach its target almost at once, and their primal heuristics find
one that can far sooner (a 2,000-patient pool: 194 s to a first optimal solution without, 17 s
with).

Near the bound the tightened rows say almost everything: a round whose target is less than one
unit below the bound (in practice only the first full round, at the bound rounded down) first
asks the backend for *any* solution of its rows, ignoring the objective
(:class:`~possible.optimise.backend.FeasibilityBackend`), and keeps it if it is worth the target.
A search that proves the rows infeasible settles the round too. It is far cheaper than the
MIP: on 2,000 patients 1 s against 22 to 31 s (see :class:`_Run`).

A tightened round less than two units below the bound that the search did not settle then
tries a guess before its MIP: the same MIP with the columns the relaxation's interior-point
solution sets at one fixed there (RENS, a relaxation-enforced neighbourhood search). A
solution worth the target answers the round; if the guess falls short, the round's MIP runs as
before, so a wrong guess costs time, never the optimum. Finish rounds, which want the best
solution rather than any one worth a target, never guess.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from possible.graph.csr import ranges
from possible.optimise.backend import (
    Backend,
    ConcurrentBackend,
    FeasibilityBackend,
    LpSolution,
    MipProblem,
    MipSolution,
    MipStatus,
    RelaxationBackend,
)

logger = logging.getLogger(__name__)

__all__ = [
    "LagrangianBound",
    "LevelSolution",
    "fix_at_one",
    "lagrangian_bound",
    "restrict",
    "solve_level",
]

BOUND_TOLERANCE = 1e-6
"""Relative slack on Lagrangian bounds, for floating-point error in ``A^T y``."""
FRACTIONAL_BOUND = 1e-3
"""An integral level's bound this far above a whole number counts as fractional."""
PROBE_SLACK = 1.0
"""A round whose target is less than this below the bound first searches for feasibility only
(see :class:`_Run`)."""
FINISH_GAP = 3.0
"""Largest gap between an integral level's incumbent and its proven upper bound that a single
*finish* round closes (see :class:`_Round`)."""
SCORE_TARGET_SHARE = 1e-3
"""For a non-integral objective, the first target lies this share below the bound."""
GUESS_SLACK = 2.0
"""A tightened round whose target is less than this below the bound tries a guess before its
MIP (see :class:`_Run`)."""
SUPPORT_MIN = 1e-3
"""A column a first-order relaxation (PDLP) sets at least this high is in its *support*: a
search for feasibility looks among those columns first (see :class:`_Run`)."""
GUESS_TIME_SHARE = 0.5
"""Under a time limit, the share of the round's remaining time a guess may use."""
RELAXED_ONE = 0.99
"""A column the relaxation's interior-point solution sets at least this high counts as one
there, and a tightened round first looks for its target with those columns fixed at one (see
:class:`_Run`)."""


@dataclass(frozen=True, slots=True)
class LagrangianBound:
    """An upper bound on a MIP, and how much each column would lower it.

    Attributes
    ----------
    bound
        ``B``: no feasible solution is worth more.
    reduced
        Reduced cost ``d_j`` of each column under the multipliers that gave `bound`.
    row_dual
        Those multipliers ``y``, one per row (zero where they pointed at an infinite side).
    """

    bound: float
    reduced: NDArray[np.float64]
    row_dual: NDArray[np.float64]

    @property
    def column_bound(self) -> NDArray[np.float64]:
        """``B + min(d_j, 0)``: no feasible solution with ``x_j = 1`` is worth more."""
        out: NDArray[np.float64] = self.bound + np.minimum(self.reduced, 0.0)
        return out

    def could_reach(self, target: float, *, tolerance: float) -> NDArray[np.bool_]:
        """Mask of the columns that may be 1 in a solution worth at least `target`."""
        mask: NDArray[np.bool_] = self.column_bound >= target - tolerance
        return mask

    def tightened_rows(self, problem: MipProblem, target: float, *, tolerance: float) -> MipProblem:
        """Return `problem` with the row bounds every solution worth `target` satisfies.

        Only rows whose activity is an integer for every binary ``x`` (integral coefficients)
        are tightened; see the module docstring for the inequality.

        Parameters
        ----------
        problem
            The problem these multipliers belong to.
        target
            The value the solutions sought are worth at least.
        tolerance
            Slack added to ``bound - target`` for floating-point error.
        """
        slack = self.bound - target + tolerance
        if slack < 0:
            return problem
        y = self.row_dual
        whole = np.ones(problem.n_rows, dtype=bool)
        whole[problem.a_index[problem.a_value != np.round(problem.a_value)]] = False
        lower = problem.row_lower.copy()
        upper = problem.row_upper.copy()
        # A bound no 0/1 vector can break is left as it was (infinite): a tiny multiplier
        # gives one like -1e10, which HiGHS takes for a badly scaled model.
        least = np.bincount(
            problem.a_index, weights=np.minimum(problem.a_value, 0.0), minlength=problem.n_rows
        )
        most = np.bincount(
            problem.a_index, weights=np.maximum(problem.a_value, 0.0), minlength=problem.n_rows
        )
        with np.errstate(divide="ignore", over="ignore"):  # tiny multipliers: no tightening
            up = whole & (y > 0) & np.isfinite(upper)
            lower[up] = np.maximum(lower[up], np.ceil(upper[up] - slack / y[up] - 1e-9))
            down = whole & (y < 0) & np.isfinite(lower)
            upper[down] = np.minimum(upper[down], np.floor(lower[down] + slack / -y[down] + 1e-9))
        vacuous = up & (lower < least)
        lower[vacuous] = problem.row_lower[vacuous]
        vacuous = down & (upper > most)
        upper[vacuous] = problem.row_upper[vacuous]
        return dataclasses.replace(problem, row_lower=lower, row_upper=upper)


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
    transposed = problem.matrix().T.tocsr()
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
            best = LagrangianBound(bound, reduced, y)
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
    relaxation
        The relaxation the level's bound came from (over the alive columns), if any.
    """

    solution: MipSolution
    bound: LagrangianBound | None
    columns: int
    relaxation: LpSolution | None = None

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
    tighten: bool = True,
    hand_over: bool = False,
    relaxation: LpSolution | None = None,
    probe: bool = False,
    run_on_limit: float | None = None,
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
    tighten
        Whether an integral level's rounds have their rows tightened (see the module
        docstring, and :data:`possible.optimise.solve.TIGHTEN_MAX_CHAIN` for when not to).
        Tightened rounds near the bound also search for feasibility and guess first.
    hand_over
        Whether time the rounds cannot use well goes to a search after them (see
        :mod:`possible.optimise.neighbourhood`): the rounds' MIPs are then told of the
        incumbent, so that a backend may skip work that rarely beats it in time, or give up.
    relaxation
        The relaxation of `problem` over `alive`, solved before rows were added to it (their
        duals zero): its duals still bound every solution, so it is used instead of solving
        the relaxation again. Ignored unless it has one dual per row.
    probe
        For a level whose rounds are not tightened: whether the round at the bound rounded
        down, when the incumbent is worth one less, first searches for feasibility on rows
        tightened for it (its MIP keeps the level's own rows; see :class:`_Run`).
    run_on_limit
        Seconds, from the call, beyond `time_limit`: a full round of an integral level whose
        MIP holds a solution one short of its target when `time_limit` is reached may run on
        until then, since either of its answers settles the level (a solution at the target,
        or the proof that there is none). Only with a
        :class:`~possible.optimise.backend.ConcurrentBackend`.

    Returns
    -------
    LevelSolution
    """
    began = time.perf_counter()
    sub = restrict(problem, alive)
    sub_start = None if start is None else start[alive]
    known = 0.0 if sub_start is None else float(sub.objective @ sub_start)
    lp = None
    if relaxation is not None and relaxation.row_dual.shape == (sub.n_rows,):
        lp = dataclasses.replace(relaxation, seconds=0.0)
    elif sub.n_cols and isinstance(backend, RelaxationBackend):
        lp = backend.solve_relaxation(sub, time_limit=time_limit)
    if lp is None or lp.status is not MipStatus.OPTIMAL:
        # No relaxation to fix columns with (or no column left): solve over all alive ones.
        everything = np.ones(sub.n_cols, dtype=bool)
        sol = _solve_columns(backend, sub, everything, sub_start, _left(time_limit, began))
        if sub_start is not None and sol.status in (MipStatus.FEASIBLE, MipStatus.TIME_LIMIT):
            # The MIP gave up: the start still stands if it found nothing better.
            state = _Incumbent(sub_start, known, found=True, seconds=0.0)
            state.offer(sol)
            sol = state.partial(sol.status, sol.bound)
        return LevelSolution(_widen(sol, alive), None, sub.n_cols, None)
    lag = lagrangian_bound(sub, lp.row_dual)
    best = np.zeros(sub.n_cols) if sub_start is None else sub_start
    state = _Incumbent(best, known, found=sub_start is not None, seconds=lp.seconds)
    logger.debug("bound %.6g (relaxation in %.2fs)", lag.bound, lp.seconds)
    if integral:
        ones = support = None
        if lp.col_value.shape == (sub.n_cols,):
            if lp.central:
                ones = lp.col_value >= RELAXED_ONE if tighten else None
            else:
                support = lp.col_value >= SUPPORT_MIN
        ladder = _Ladder(
            backend,
            sub,
            lag,
            time_limit,
            began,
            tighten,
            ones,
            hand_over,
            probe,
            support,
            run_on_limit,
        )
        try:
            outcome, columns = ladder.climb_down(state)
        finally:
            ladder.close()
    else:
        outcome, columns = _descend_fractional(backend, sub, lag, state, time_limit, began)
    return LevelSolution(_widen(outcome, alive), lag, columns, lp)


@dataclass(slots=True)
class _Incumbent:
    """The best solution of a level so far, and the solver time spent on the level."""

    x: NDArray[np.float64]
    value: float
    found: bool
    seconds: float

    def offer(self, sol: MipSolution) -> None:
        """Keep `sol` if it is better, and count its time."""
        self.seconds += sol.seconds
        if sol.x.size and sol.objective > self.value:
            self.x, self.value, self.found = sol.x, sol.objective, True

    def optimal(self) -> MipSolution:
        """Return the incumbent, proven optimal."""
        return MipSolution(MipStatus.OPTIMAL, self.x, self.value, self.value, self.seconds)

    def partial(self, status: MipStatus, bound: float) -> MipSolution:
        """Return what stands when time runs out: the incumbent (if any) and `bound`."""
        if self.found:
            return MipSolution(MipStatus.FEASIBLE, self.x, self.value, bound, self.seconds)
        return MipSolution(status, np.zeros(0), np.nan, bound, self.seconds)


def _descend_fractional(
    backend: Backend,
    sub: MipProblem,
    lag: LagrangianBound,
    state: _Incumbent,
    time_limit: float | None,
    began: float,
) -> tuple[MipSolution, int]:
    """Solve a level whose values need not be whole numbers.

    Solve over the columns that could reach a target just below the bound; if the best found
    there is below the target, the columns that could reach that value hold the optimum.
    """
    tol = _tolerance(lag.bound)
    target = lag.bound - SCORE_TARGET_SHARE * max(1.0, abs(lag.bound))
    while True:
        target = max(target, state.value)
        keep = lag.could_reach(target, tolerance=tol)
        start = state.x if state.found else None
        sol = _solve_columns(backend, sub, keep, start, _left(time_limit, began))
        state.offer(sol)
        logger.debug(
            "target %.6g: %d of %d columns, %s %.6g",
            target,
            int(keep.sum()),
            sub.n_cols,
            sol.status.value,
            sol.objective,
        )
        if sol.status not in (MipStatus.OPTIMAL, MipStatus.INFEASIBLE):
            return state.partial(sol.status, lag.bound), int(keep.sum())
        # Nothing over these columns is worth more than the incumbent; if that reaches the
        # target, nothing at all is.
        if state.value >= target - tol:
            return state.optimal(), int(keep.sum())
        target = state.value


@dataclass(frozen=True, slots=True)
class _Round:
    """One question of an integral level: is a solution worth `target` in a column set.

    The columns are those that could reach `columns_for`; the rows are tightened for `target`.
    ``columns_for == target`` is a *full* round: its answer "no" proves the level worth at
    most ``target - 1``. ``columns_for == target + 1`` is a *look* in the smaller column set of
    the round above, which often holds a solution one below the bound; "no" there proves
    nothing.

    A *finish* round (``aim`` set) comes once an incumbent ``v`` is within
    :data:`FINISH_GAP` of the proven upper bound ``aim``: with ``target == columns_for ==
    v + 1`` it maximises over every column and row a solution worth more than ``v`` needs, so
    its optimum settles the level at once, where the ladder would run a round or two per unit
    of the gap.
    """

    target: float
    columns_for: float
    aim: float | None = None

    @property
    def full(self) -> bool:
        """Whether a "no" is a proof (see the class docstring)."""
        return self.columns_for == self.target


class _Ladder:
    """The rounds of an integral level, in a fixed order, the next one started early.

    The order is: full round at the bound rounded down (``t``), a look for ``t - 1`` among the
    columns of round ``t``, the full round ``t - 1``, a look for ``t - 2``, ... The first round
    in this order that finds a solution worth its target gives the level's optimum: every full
    round above it said no. If asked, rows are tightened for each round's target (see the module
    docstring), which settles a full round that cannot succeed almost at once. Once an
    incumbent is within :data:`FINISH_GAP` of the proven bound and rounds run one at a time, a
    single *finish* round replaces the rest of the order (see :class:`_Round`). Given the
    columns the relaxation sets at one (`ones`), a tightened round less than
    :data:`GUESS_SLACK` below the bound, other than a finish round, guesses before its MIP
    (see :class:`_Run`).

    With a :class:`~possible.optimise.backend.ConcurrentBackend` the next round runs beside the
    current one (HiGHS releases the GIL, so the two really run at once) once a round has said
    no, or from the start when the relaxation's value is fractional (usually above the
    optimum). A round that is no longer needed is stopped. Results are read strictly in order,
    so the answer depends only on the rounds' results, never on which finished first.
    """

    def __init__(
        self,
        backend: Backend,
        problem: MipProblem,
        lag: LagrangianBound,
        time_limit: float | None,
        began: float,
        tighten: bool,
        ones: NDArray[np.bool_] | None = None,
        hand_over: bool = False,
        probe: bool = False,
        support: NDArray[np.bool_] | None = None,
        run_on_limit: float | None = None,
    ) -> None:
        self.backend = backend
        self.run_on_limit = run_on_limit
        self.hand_over = hand_over
        self.probe = probe
        self.support = support
        self.tighten = tighten
        self.ones = ones
        self.problem = problem
        self.lag = lag
        self.tol = _tolerance(lag.bound)
        self.time_limit = time_limit
        self.began = began
        self.top = float(np.floor(lag.bound + self.tol))
        self.concurrent = isinstance(backend, ConcurrentBackend) and backend.concurrent
        # Running the next round early pays when rounds that fail take long. With tightened
        # rows they rarely do (presolve settles them) while the round that succeeds is a
        # search, which a second round only slows: then one round at a time. Without, the
        # next round starts early when the relaxation's value is fractional (so probably above
        # the optimum) or once a round has failed.
        self.speculate = self.concurrent and not tighten
        fractional = lag.bound - self.top > FRACTIONAL_BOUND
        self.width = 2 if self.speculate and fractional else 1
        self._pool: ThreadPoolExecutor | None = None
        self._running: list[tuple[_Round, Future[MipSolution], threading.Event]] = []
        self._counts: dict[float, int] = {}
        # The incumbent's value as rounds start (None: no solution held yet), and what their
        # MIPs are told of it (see ``hand_over``).
        self._best: float | None = None
        self._held: float | None = None

    def _columns(self, target: float) -> int:
        if target not in self._counts:
            self._counts[target] = int(self.lag.could_reach(target, tolerance=self.tol).sum())
        return self._counts[target]

    def _order(self) -> Iterator[_Round]:
        yield _Round(self.top, self.top)
        target = self.top - 1.0
        while True:
            # A look is worth it only when the round above had fewer columns.
            if self._columns(target + 1.0) < self._columns(target):
                yield _Round(target, target + 1.0)
            yield _Round(target, target)
            target -= 1.0

    def climb_down(self, state: _Incumbent) -> tuple[MipSolution, int]:
        """Run the rounds until one succeeds, time runs out or the incumbent is proven best."""
        upper = self.top
        if state.value >= upper - self.tol:
            return state.optimal(), 0
        self._tell(state)
        order = self._order()
        exhausted = False
        while True:
            while not exhausted and len(self._running) < self.width:
                round_ = next(order)
                if round_.target <= state.value + self.tol:
                    # Targets only fall from here, and none beats the incumbent.
                    exhausted = True
                else:
                    self._start(round_)
            if not self._running:
                # Unreachable by the ladder's order (a failed full round lowers `upper` before
                # a round at the incumbent's value comes up), but never claim a proof without
                # one.
                if state.value >= upper - self.tol:
                    return state.optimal(), 0
                return state.partial(MipStatus.TIME_LIMIT, upper), 0
            round_, future, _ = self._running.pop(0)
            sol = future.result()
            state.offer(sol)
            self._tell(state)
            columns = self._columns(round_.columns_for)
            logger.debug(
                "%s %.6g over the columns of %.6g: %d of %d, %s %.6g",
                "target" if round_.aim is None else f"finish up to {round_.aim:.6g} from",
                round_.target,
                round_.columns_for,
                columns,
                self.problem.n_cols,
                sol.status.value,
                sol.objective,
            )
            if round_.aim is not None:
                # A finish round: its optimum (or reaching the aim) settles the level.
                settled = sol.status in (MipStatus.OPTIMAL, MipStatus.INFEASIBLE)
                if settled or (sol.x.size and sol.objective >= round_.aim - self.tol):
                    return state.optimal(), columns
                # Every solution worth more than the incumbent is in this round's model, so
                # its bound (if any) caps the level too.
                if np.isfinite(sol.bound):
                    upper = min(upper, max(state.value, float(np.floor(sol.bound + self.tol))))
                return state.partial(sol.status, upper), columns
            if sol.x.size and sol.objective >= round_.target - self.tol:
                return state.optimal(), columns
            if sol.status not in (MipStatus.OPTIMAL, MipStatus.INFEASIBLE):
                return state.partial(sol.status, upper), columns
            if round_.full:
                upper = round_.target - 1.0
                if state.value >= upper - self.tol:
                    return state.optimal(), columns
            if self.speculate:
                self.width = 2
            elif state.found and 2.0 - self.tol <= upper - state.value <= FINISH_GAP + self.tol:
                # One round in turn: nothing is running, so the finish round replaces the rest.
                self._start(_Round(state.value + 1.0, state.value + 1.0, aim=upper))

    def _tell(self, state: _Incumbent) -> None:
        """Note the incumbent, and what the next rounds' MIPs are told of it (``hand_over``)."""
        self._best = state.value if state.found else None
        self._held = self._best if self.hand_over else None

    def _start(self, round_: _Round) -> None:
        keep = self.lag.could_reach(round_.columns_for, tolerance=self.tol)
        problem = self.problem
        # A finish round wants the best solution, not any one worth its target.
        near = self.lag.bound - round_.target < PROBE_SLACK and round_.aim is None
        probe = False
        probe_rows = None
        if self.tighten:
            problem = self.lag.tightened_rows(problem, round_.target, tolerance=self.tol)
            probe = near
        elif self.probe and near and self._best is not None:
            # The last round there can be: one above the incumbent, at the bound.
            probe = round_.target - self._best <= 1.0 + self.tol
            if probe:
                probe_rows = self.lag.tightened_rows(problem, round_.target, tolerance=self.tol)
        aim = round_.target if round_.aim is None else round_.aim
        # A finish round wants the best solution: a guess that fixes columns cannot give it.
        # Far below the bound the relaxation's ones are rarely all in a solution worth the
        # target, and the guess only costs time.
        guess = round_.aim is None and self.lag.bound - round_.target < GUESS_SLACK
        ones = self.ones if guess else None
        # A round wants a solution worth its target, and stops once its bound proves there
        # is none; a finish round wants the best solution, whatever it is worth.
        below = round_.target - self.tol if round_.aim is None else None
        run = _Run(
            self.backend,
            problem,
            keep,
            aim,
            self.tol,
            probe,
            ones,
            self._held,
            probe_rows,
            below,
            self.support,
        )
        time_limit = _left(self.time_limit, self.began)
        # Only a full round's "no" settles the level (a finish round already maximises). A
        # full round started beside another may run on too, though once the one ahead runs
        # on its answer no longer matters: which is ahead when the time comes is not known
        # when rounds start, and a look ahead of it often fails within seconds.
        run_on = _left(self.run_on_limit, self.began) if round_.full and below is not None else None
        stop = threading.Event()
        future: Future[MipSolution] = Future()
        if not self.concurrent:
            future.set_result(run(stop, time_limit))
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="possible-round")
            future = self._pool.submit(run, stop, time_limit, run_on)
        self._running.append((round_, future, stop))

    def close(self) -> None:
        """Stop and wait for every round still running."""
        for _, _, stop in self._running:
            stop.set()
        for _, future, _ in self._running:
            future.result()
        self._running.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


@dataclass(frozen=True, slots=True)
class _Run:
    """How one round is decided: a search for feasibility and a guess (if asked), then the MIP.

    With rows tightened for a target less than :data:`PROBE_SLACK` below the bound, every
    row whose multiplier exceeds that gap (plus a tolerance) is forced, and the kept columns
    lose at most that gap each, so most solutions of the rows alone are worth the target.
    Looking for any solution is then far faster than optimising: on 2,000 patients HiGHS'
    feasibility jump finds one worth the bound in 1 s, where the MIP search takes 22 to 31 s
    (11 s of it presolve). A solution worth the target answers the round; "no solution at
    all" answers it too, since the round's solutions are among them.

    A level whose rounds are not tightened (chains longer than 3, where tightened MIPs are
    slow) may still search this way in its last round, at the bound one above the incumbent
    (`probe_rows`: the rows tightened for the search only; the MIP keeps the round's own). On
    kep_solver's two pools of 2,000 patients with chains of 6 it finds the bound (1480 and
    1479, one above the chains-of-3 seed) in 12 to 13 s, where the MIP had not in 110 s.

    Given a first-order relaxation's `support` (the columns it sets at :data:`SUPPORT_MIN` or
    more), the search looks there first: a few percent of the kept columns, where PDLP's duals
    leave nearly every column at zero reduced cost. At 2,000 patients it finds the bound there
    in 0.05 to 0.4 s, where the search over every kept column took 1.5 to 12.7 s.

    Next, given the columns the relaxation sets to one (`ones`), the round's MIP is solved
    with those fixed at one (a *relaxation-enforced neighbourhood*, RENS in the MIP
    literature). That MIP is a fraction of the round's: on eight UK pools of 1,000 patients
    it reached the round's target on 7 rounds out of 8, usually in half the time of the
    round's MIP (0.8 to 4.4 s against 1.1 to 4.7 s; see docs/engine.md). A solution worth the
    target answers the round; anything else proves nothing (the fixed columns were a guess).
    Under a time limit the guess may use :data:`GUESS_TIME_SHARE` of the time left.

    Only then, if none of these answered, the round's MIP runs. If it gives up, the best
    solution any of them found stands.
    """

    backend: Backend
    problem: MipProblem
    keep: NDArray[np.bool_]
    target: float
    tolerance: float
    probe: bool
    ones: NDArray[np.bool_] | None = None
    incumbent: float | None = None
    probe_rows: MipProblem | None = None
    give_up_below: float | None = None
    support: NDArray[np.bool_] | None = None

    def __call__(
        self, stop: threading.Event, time_limit: float | None, run_on: float | None = None
    ) -> MipSolution:
        """Decide the round within `time_limit` seconds, or `run_on` (see below) if later.

        The round's MIP, if it comes to one, may run on past `time_limit` until `run_on`
        while it holds a solution one short of the target (see ``run_on_limit`` in
        :func:`solve_level`).
        """
        began = time.perf_counter()
        tried: list[MipSolution] = []
        if (
            self.probe
            and isinstance(self.backend, FeasibilityBackend)
            and self.keep.any()
            and (time_limit is None or time_limit > 0)
        ):
            rows = self.problem if self.probe_rows is None else self.probe_rows
            narrow = None if self.support is None else self.keep & self.support
            if narrow is not None and narrow.any() and narrow.sum() < self.keep.sum():
                # The relaxation's support first: a fraction of the columns, and it nearly
                # always holds a solution worth a whole-number bound. "None there" proves
                # nothing, so the search over every column follows.
                found = _search(self.backend, rows, narrow, self.target, stop, time_limit)
                if self._reaches(found):
                    return found
                tried.append(found)  # for its seconds, and what it found below the target
            left = _left(time_limit, began)
            if not stop.is_set() and (left is None or left > 0):
                found = _search(self.backend, rows, self.keep, self.target, stop, left)
                if found.status is MipStatus.INFEASIBLE or self._reaches(found):
                    return dataclasses.replace(
                        found, seconds=sum(t.seconds for t in tried) + found.seconds
                    )
                tried.append(found)
        left = _left(time_limit, began)
        # With a time limit the guess may use half of what is left, so that a slow guess
        # still leaves the round's MIP time to work. (Without one, nothing depends on time.)
        guess = self._guess(stop, None if left is None else left * GUESS_TIME_SHARE)
        if guess is not None:
            if self._reaches(guess):
                return dataclasses.replace(
                    guess, seconds=sum(t.seconds for t in tried) + guess.seconds
                )
            tried.append(guess)
        time_limit = _left(time_limit, began)
        backend, problem, keep, target = self.backend, self.problem, self.keep, self.target
        if stop.is_set():
            # Stopped during the search or the guess: a MIP started now would run through
            # its presolve before noticing.
            sol = MipSolution(MipStatus.TIME_LIMIT, np.zeros(0), np.nan, np.nan, 0.0)
        else:
            sol = _stoppable(
                backend,
                problem,
                keep,
                stop,
                time_limit,
                target,
                incumbent=self.incumbent,
                give_up_below=self.give_up_below,
                run_on=_left(run_on, began),
                run_on_from=target - 1.0 - self.tolerance,
            )
        if not tried:
            return sol
        seconds = sol.seconds + sum(t.seconds for t in tried)
        gave_up = sol.status not in (MipStatus.OPTIMAL, MipStatus.INFEASIBLE)
        best = max((t for t in tried if t.x.size), key=lambda t: t.objective, default=None)
        if best is not None and (not sol.x.size or best.objective > sol.objective):
            if gave_up:
                # The MIP gave up with less than an earlier try found: keep that solution.
                return MipSolution(MipStatus.FEASIBLE, best.x, best.objective, sol.bound, seconds)
            if sol.status is MipStatus.INFEASIBLE:
                # No solution reaches the target (the MIP's bound says so); the best one
                # below it still serves as an incumbent.
                return MipSolution(sol.status, best.x, best.objective, sol.bound, seconds)
        return dataclasses.replace(sol, seconds=seconds)

    def _reaches(self, sol: MipSolution) -> bool:
        return bool(sol.x.size) and sol.objective >= self.target - self.tolerance

    def _guess(self, stop: threading.Event, time_limit: float | None) -> MipSolution | None:
        """Solve the round with the relaxation's ones fixed at one; ``None`` if not tried."""
        if self.ones is None or (time_limit is not None and time_limit <= 0):
            return None
        fixed = self.ones & self.keep
        rest = self.keep & ~fixed
        if not fixed.any() or not rest.any():
            return None
        problem, offset = fix_at_one(self.problem, fixed)
        target = self.target - offset
        below = None if self.give_up_below is None else self.give_up_below - offset
        sol = _stoppable(
            self.backend, problem, rest, stop, time_limit, target, proof=False, give_up_below=below
        )
        logger.debug(
            "guess for %.6g with %d columns fixed at one: %s %.6g in %.2fs",
            self.target,
            int(fixed.sum()),
            sol.status.value,
            sol.objective + offset,
            sol.seconds,
        )
        if not sol.x.size:
            return MipSolution(sol.status, sol.x, math.nan, math.nan, sol.seconds)
        x = sol.x + fixed
        value = float(self.problem.objective @ x)
        # The fixed columns were a guess, so the guess bounds nothing.
        return MipSolution(MipStatus.FEASIBLE, x, value, math.nan, sol.seconds)


def _search(
    backend: FeasibilityBackend,
    rows: MipProblem,
    keep: NDArray[np.bool_],
    target: float,
    stop: threading.Event,
    time_limit: float | None,
) -> MipSolution:
    """Search for any solution of `rows` over the columns in `keep` (a round at `target`)."""
    found = backend.find_feasible(restrict(rows, keep), stop=stop, time_limit=time_limit)
    logger.debug(
        "feasibility search for %.6g over %d columns: %s %.6g in %.2fs",
        target,
        int(keep.sum()),
        found.status.value,
        found.objective,
        found.seconds,
    )
    return _widen(found, keep)


def fix_at_one(problem: MipProblem, fixed: NDArray[np.bool_]) -> tuple[MipProblem, float]:
    """Return `problem` with the columns in `fixed` set to one, and what they are worth.

    The returned problem has the same columns (the fixed ones should be left out of any
    solve) and every row's bounds shifted by the fixed columns' activity, so that a solution
    ``z`` of it over the other columns makes ``z + fixed`` a solution of `problem`.

    Parameters
    ----------
    problem
        The problem.
    fixed
        Boolean mask of the columns set to one.

    Returns
    -------
    tuple of MipProblem and float
        The shifted problem, and the objective value of the fixed columns.
    """
    activity = problem.matrix() @ fixed.astype(np.float64)
    shifted = dataclasses.replace(
        problem, row_lower=problem.row_lower - activity, row_upper=problem.row_upper - activity
    )
    return shifted, float(problem.objective[fixed].sum())


def _stoppable(
    backend: Backend,
    problem: MipProblem,
    keep: NDArray[np.bool_],
    stop: threading.Event,
    time_limit: float | None,
    target: float,
    *,
    proof: bool = True,
    incumbent: float | None = None,
    give_up_below: float | None = None,
    run_on: float | None = None,
    run_on_from: float | None = None,
) -> MipSolution:
    """Solve `problem` over the columns in `keep`; give up once `stop` is set, if possible.

    Only a concurrent backend can be stopped, and told that no proof is wanted (`proof`),
    what the caller already holds (`incumbent`), that nothing worth less than
    `give_up_below` is wanted, or that it may run on past `time_limit` until `run_on` seconds
    while it holds a solution worth `run_on_from`; others solve to the end.
    """
    if (
        isinstance(backend, ConcurrentBackend)
        and backend.concurrent
        and keep.any()
        and (time_limit is None or time_limit > 0)
    ):
        # Told only when given, so backends written before these options existed still work.
        told: dict[str, float] = {} if incumbent is None else {"incumbent": incumbent}
        if give_up_below is not None:
            told["give_up_below"] = give_up_below
        if run_on is not None and time_limit is not None and run_on > time_limit:
            told["soft_limit"] = time_limit
            told["run_on_from"] = math.inf if run_on_from is None else run_on_from
            time_limit = run_on
        sol = backend.solve_stoppable(
            restrict(problem, keep),
            stop=stop,
            time_limit=time_limit,
            target=target,
            proof=proof,
            **told,
        )
        return _widen(sol, keep)
    return _solve_columns(backend, problem, keep, None, time_limit, target)


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
    """Map a solution over the kept columns back to all columns.

    A solution may come with any status: a round given up below its target hands back what
    it found (status infeasible).
    """
    if sol.status not in (MipStatus.OPTIMAL, MipStatus.FEASIBLE) and not sol.x.size:
        return sol
    x = np.zeros(keep.shape[0])
    x[keep] = sol.x
    return MipSolution(sol.status, x, sol.objective, sol.bound, sol.seconds)
