"""HiGHS (via highspy), the default backend."""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

import highspy
import numpy as np
from numpy.typing import NDArray

from possible.errors import SolverError
from possible.optimise import deadline
from possible.optimise.backend import (
    LpSolution,
    MipProblem,
    MipSolution,
    MipStatus,
    round_binary,
    whole_numbers,
)

__all__ = ["HighsBackend"]

logger = logging.getLogger(__name__)

_banner_lock = threading.Lock()
_banner_shown = False
FIRST_ORDER_COLUMNS = 200_000
"""Relaxations with more columns, a whole-number objective and no dense row (see
:data:`DENSE_ROW_SHARE`) are solved by HiGHS' first-order method (its own PDLP)."""
DENSE_ROW_SHARE = 0.1
"""A relaxation with a row over more than this share of its columns is solved by interior
point at any size. Such rows are earlier levels' objectives, fixed at their optima (no row
of the model itself covers more than 5.1 % of its columns on the bench's pools of 1,000 and
2,000 patients). PDLP does not converge with them: level 2 of the UK hierarchy with chains
of 6 on a 1,000-patient clinical pool (209k columns, the level-1 row over 21 % of them) had
no answer after 150 s, where interior point takes 1.4 s; on uk_2000_1 with chains of 2
(302k columns, the row over 99.6 %), none in 150 s, interior point 33 s."""
PDLP_FIXED_STEP = 0
"""HiPDLP's ``pdlp_step_size_strategy`` for a fixed step. Its default (PID control of the step)
took 1,040 iterations on both 2,000-patient pools with chains of 2 (8.0 s); a fixed step takes
560 and 840 (4.5 and 6.9 s), and 480 instead of 760 with chains of 3 (7.7 s against 11.3 s)."""
PDLP_ITERATION_LIMIT = 2_500
"""PDLP iterations a relaxation may take before interior point solves it instead. On kep_solver's
pools of 2,000 patients PDLP converges in 480 to 840 iterations (chains of 2, 3 and 6), and on a
2,000-patient clinical pool with chains of 6 in 1,160. With chains of 2 on that clinical pool
(352k columns, optimum 1196.72, not a whole number) it crawls: 12,600 iterations in 60 s, not
converged, 222 s in all, where interior point takes 22 s. A count, not a time, so that which
method answers does not depend on the machine (HiGHS checks it every few dozen iterations, so
PDLP may run a little past it)."""
PRESOLVE_MAX_COLUMNS = 500_000
"""MIPs with more columns are solved without presolve. HiGHS 1.16's MIP presolve does not
watch the time limit: on 1.14 M columns (2,000 patients, chains of 6) it took 65 s of a 60 s
limit, and the solve ended after 114 s with no solution. Without presolve the limit holds, and
feasibility jump has a solution within 1 % of the bound after 14 s.

Feasibility jump does not watch the time limit either: on that model it ran for 16 s of a 20 s
limit and the MIP returned after 29.5 s. So above this size, a solve under a time limit by a
caller who already holds a solution (``incumbent``) runs without it: the limit then holds
(20.1 s), and what it would have found (1472) was below what the caller held (1479, the
chains-of-3 seed)."""
TRIM_ABOVE_COLUMNS = 200_000
"""Before loading a model with more columns, the C heap's free memory goes back to the system
(see :func:`_give_back_free_memory`)."""

GUARD_ABOVE_COLUMNS = 50_000
"""MIPs with more columns, solved under a time limit, run in a child process that is killed
if HiGHS overruns the limit (see :mod:`possible.optimise.deadline`). HiGHS' central rounding,
run at the root of every MIP after its fifth round of cuts, checks neither the time limit nor
the interrupt callback: on level 3 of the UK hierarchy at 2,000 patients (112,840 columns,
83 s left of a 300 s limit) it was still running more than 500 s later. The child's server
starts at the first such MIP (0.7 s), and handing it a model of 300k columns takes 0.1 s,
little beside MIPs of this size; the largest rounds at 1,000 patients with chains of 2 have
about 21k columns and stay in this process. Searches for feasibility stay too: they give up
after the first round of cuts (:data:`GIVE_UP_CHECK`), before central rounding, and running
them in a child cost the 2,000-patient runs memory (a second copy of a model of up to
1.14 M columns: 1.87 to 2.06 GB with chains of 6) and time."""
HOPELESS_BELOW = 300.0
"""Seconds under which a MIP above :data:`PRESOLVE_MAX_COLUMNS` is not started when the caller
already holds a solution. Without presolve and feasibility jump, HiGHS 1.16 has not finished
such a model's root LP in 20 s, and has found nothing better than the solution held in 60, 110
or 265 s (2,000 patients, chains of 6, 1.14 M columns; with feasibility jump, 1472 against the
seed's 1479), while it needs 1.2 to 1.5 GB more memory: at 2,000 patients a
run with a 60 s limit peaked at 3.2 GB with that MIP and at 1.4 GB without, with the same
answer. The time goes to what follows (with long chains, the neighbourhood search)."""
PROBING_RULE = 1 << 15
"""HiGHS 1.16's ``presolve_rule_off`` bit for probing, switched off when no proof is wanted.
A guess wants a solution, not a proof, and probing (implications between binaries) mostly
serves the proof: on a guess at 1,000 patients (7,186 columns) it took 0.5 s of the guess's
1.0 s. Over eight pools of 1,000 patients and three HiGHS seeds, the MIP phase fell from
72.9 s to 69.1 s in all, but by seed -12 %, -9 % and +4 % (see docs/engine.md)."""
GIVE_UP_CHECK = 4
"""HiGHS 1.16 asks its MIP-interrupt callback twice before feasibility jump, a third time once
the root LP is solved and a fourth after the first round of root cuts.
:meth:`HighsBackend.find_feasible` gives up at the fourth: by then HiGHS has proven most rounds
that cannot succeed infeasible (0.1 to 0.2 s at 1,000 patients), and what follows (more cuts,
sub-MIPs, branching) can take minutes on a zero objective. A count, unlike a time, keeps the
answer independent of the machine's speed."""
_UNSET = -1
_process_threads: int | None = _UNSET
"""Thread count of HiGHS' process-wide scheduler (``None``: its default), fixed by the first
solve of the process."""


def _new_highs() -> highspy.Highs:
    """Create a silent ``highspy.Highs``.

    HiGHS prints a banner on stdout the first time an instance is created in a process. A
    library must not print, so that first construction happens with file descriptor 1
    pointed at /dev/null.
    """
    global _banner_shown
    with _banner_lock:
        if not _banner_shown:
            saved = os.dup(1)
            try:
                with open(os.devnull, "w") as devnull:
                    os.dup2(devnull.fileno(), 1)
                    h = highspy.Highs()  # type: ignore[no-untyped-call]
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            _banner_shown = True
        else:
            h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    return h


class HighsBackend:
    """Solve with HiGHS' branch-and-cut, to proven optimality (zero relative gap).

    Parameters
    ----------
    threads
        Threads of HiGHS' scheduler (``None``: HiGHS' default). HiGHS keeps one scheduler per
        process, so the first backend to solve fixes the count for the process.
    random_seed
        Fixed seed so that equal inputs give equal answers.
    mip_lp_solver
        HiGHS' ``mip_lp_solver`` for the LPs of its branch-and-cut: ``"choose"`` (HiGHS'
        default, dual simplex), ``"simplex"`` or ``"ipm"``. :func:`possible.optimise.solve`
        asks for ``"ipm"`` when rounds have tightened rows (see its ``TIGHTEN_MAX_CHAIN``).
    """

    def __init__(
        self, *, threads: int | None = None, random_seed: int = 0, mip_lp_solver: str = "choose"
    ) -> None:
        if mip_lp_solver not in ("choose", "simplex", "ipm"):
            raise ValueError(f"mip_lp_solver must be choose, simplex or ipm, not {mip_lp_solver!r}")
        self._threads = threads
        self._seed = random_seed
        self._mip_lp_solver = mip_lp_solver

    @property
    def concurrent(self) -> bool:
        """Whether two solves may run side by side: yes, HiGHS instances share its scheduler."""
        return True

    @property
    def name(self) -> str:
        """``"highs"``."""
        return "highs"

    @property
    def version(self) -> str:
        """HiGHS version, e.g. ``"1.16.0"``."""
        return str(_new_highs().version())

    def _load(
        self, problem: MipProblem, *, integer: bool, time_limit: float | None
    ) -> highspy.Highs:
        """Create a configured HiGHS instance holding `problem` (as a MIP or its relaxation).

        The time limit counts from the call: loading a large model takes time of its own.
        """
        began = time.perf_counter()
        if problem.n_cols > TRIM_ABOVE_COLUMNS:
            _give_back_free_memory()
        h = _new_highs()
        h.setOptionValue("random_seed", self._seed)
        if integer:
            h.setOptionValue("mip_rel_gap", 0.0)
            h.setOptionValue("mip_abs_gap", 1e-9)
            h.setOptionValue("mip_lp_solver", self._mip_lp_solver)
        threads = _threads_for(self._threads)
        if threads is not None:
            h.setOptionValue("threads", threads)
        n, m = problem.n_cols, problem.n_rows
        status = h.passModel(
            n,
            m,
            int(problem.a_index.shape[0]),
            1,  # column-wise matrix
            -1,  # maximise
            0.0,
            problem.objective,
            np.zeros(n),
            np.ones(n),
            problem.row_lower,
            problem.row_upper,
            problem.a_start[:-1].astype(np.int32),
            problem.a_index.astype(np.int32),
            problem.a_value,
            np.full(n, 1 if integer else 0, dtype=np.int32),  # 1: integer, 0: continuous
        )
        if status == highspy.HighsStatus.kError:
            raise SolverError("HiGHS rejected the model")
        if time_limit is not None:
            left = float(time_limit) - (time.perf_counter() - began)
            h.setOptionValue("time_limit", max(left, 0.01))
        return h

    def solve_relaxation(
        self, problem: MipProblem, *, time_limit: float | None = None
    ) -> LpSolution:
        """Solve the linear relaxation of `problem` with HiGHS: its row duals and solution.

        The solution is central (interior point) up to :data:`FIRST_ORDER_COLUMNS` columns,
        and above that too for an objective that is not whole numbers or a model with a dense
        row (see :data:`DENSE_ROW_SHARE`). PDLP solves the rest, unless it has not converged
        within :data:`PDLP_ITERATION_LIMIT` iterations: interior point then takes over.
        """
        called = time.perf_counter()  # the time limit counts from here, loading included
        h = self._load(problem, integer=False, time_limit=time_limit)
        # Kidney exchange relaxations are highly degenerate: simplex can take minutes where
        # interior point without crossover takes seconds, and its central duals leave fewer
        # columns at zero reduced cost. The biggest go to the first-order method: HiGHS' own
        # PDLP ("hipdlp"), faster than cuPDLP-C ("pdlp") at 2,000 patients with chains of 2
        # (4.5 to 6.9 s against 8.4 s) and of 6. Any duals give a valid bound, so
        # approximate ones cost columns, never correctness.
        # PDLP thrives on that degeneracy: with fractional costs (scores) it crawls, and
        # interior point is far faster (a 2,000-patient clinical pool scored by the `uk`
        # policy, 353k columns: 19.6 s, where PDLP had not converged after 300 s).
        central = (
            problem.n_cols <= FIRST_ORDER_COLUMNS
            or not whole_numbers(problem.objective)
            or _has_dense_row(problem)
        )
        began = time.perf_counter()
        if not central:
            h.setOptionValue("solver", "hipdlp")
            # A fixed step size (HiPDLP's default adapts it by PID control) and no presolve
            # (which finds almost nothing here) make the relaxation at 2,000 patients 1 to 3.5 s
            # faster with chains of 2 or 3; see docs/engine.md.
            h.setOptionValue("pdlp_step_size_strategy", PDLP_FIXED_STEP)
            h.setOptionValue("presolve", "off")
            h.setOptionValue("pdlp_iteration_limit", PDLP_ITERATION_LIMIT)
            h.run()
            if h.getModelStatus() == highspy.HighsModelStatus.kIterationLimit:
                left = None if time_limit is None else time_limit - (time.perf_counter() - called)
                logger.debug(
                    "PDLP did not converge in %d iterations (%.2fs): interior point instead",
                    PDLP_ITERATION_LIMIT,
                    time.perf_counter() - began,
                )
                if left is not None and left <= 0:
                    spent = time.perf_counter() - began
                    return LpSolution(MipStatus.ERROR, math.nan, np.zeros(problem.n_rows), spent)
                # A fresh instance: HiGHS 1.16 counts one instance's clock across its runs, and
                # PDLP's options stay behind.
                del h
                h = self._load(problem, integer=False, time_limit=left)
                central = True
        if central:
            h.setOptionValue("solver", "ipm")
            h.setOptionValue("run_crossover", "off")
            h.run()
        seconds = time.perf_counter() - began
        solution = h.getSolution()
        if not _usable_relaxation(h.getModelStatus(), solution, central=central):
            return LpSolution(MipStatus.ERROR, math.nan, np.zeros(problem.n_rows), seconds)
        row_dual = np.asarray(solution.row_dual, dtype=np.float64)
        col_value = np.asarray(solution.col_value, dtype=np.float64)
        value = float(h.getInfo().objective_function_value)
        return LpSolution(MipStatus.OPTIMAL, value, row_dual, seconds, col_value, central)

    def solve(
        self,
        problem: MipProblem,
        *,
        time_limit: float | None = None,
        start: NDArray[np.float64] | None = None,
        target: float | None = None,
    ) -> MipSolution:
        """Maximise `problem` with HiGHS, stopping early at a solution worth `target`."""
        del start  # see _solve
        return self._solve(problem, time_limit=time_limit, target=target, stop=None)

    def solve_stoppable(
        self,
        problem: MipProblem,
        *,
        stop: threading.Event,
        time_limit: float | None = None,
        target: float | None = None,
        proof: bool = True,
        incumbent: float | None = None,
        give_up_below: float | None = None,
        soft_limit: float | None = None,
        run_on_from: float | None = None,
    ) -> MipSolution:
        """Like :meth:`solve`, but giving up once `stop` is set (status time limit).

        With ``proof=False``, presolve does no probing (see :data:`PROBING_RULE`). Given an
        `incumbent` and a time limit, a model above :data:`PRESOLVE_MAX_COLUMNS` is solved
        without feasibility jump, which would overrun the limit, and under a limit shorter
        than :data:`HOPELESS_BELOW` not at all (status time limit, no solution). With
        `give_up_below`, HiGHS is stopped at its first check of the interrupt callback after
        its bound falls below that value: status infeasible (no solution worth it), the
        bound, and the best solution found below it, if any. With `soft_limit`, HiGHS is
        stopped at its first check of the interrupt callback after that many seconds, unless
        its best solution is worth `run_on_from` or more: it then runs on to `time_limit`.
        """
        held = incumbent is not None and time_limit is not None
        huge = problem.n_cols > PRESOLVE_MAX_COLUMNS
        # A MIP that may run on past a soft limit is only sure of the soft limit.
        sure = time_limit if soft_limit is None or time_limit is None else soft_limit
        if held and huge and sure is not None and sure < HOPELESS_BELOW:
            return MipSolution(MipStatus.TIME_LIMIT, np.zeros(0), math.nan, math.nan, 0.0)
        return self._solve(
            problem,
            time_limit=time_limit,
            target=target,
            stop=stop,
            proof=proof,
            jump=not held,
            give_up_below=give_up_below,
            soft_limit=soft_limit,
            run_on_from=run_on_from,
        )

    def find_feasible(
        self,
        problem: MipProblem,
        *,
        stop: threading.Event | None = None,
        time_limit: float | None = None,
    ) -> MipSolution:
        """Look for any solution of `problem`'s rows with HiGHS, ignoring its objective.

        With a zero objective the first solution found is optimal, so HiGHS stops as soon as
        its feasibility-jump heuristic finds one, without solving the root LP. Presolve is
        off: on a kept model of 300k columns it takes 11 s, where feasibility jump on the
        whole model takes 1 s. If feasibility jump finds nothing, the search gives up after
        the root LP and one round of cuts (see :data:`GIVE_UP_CHECK`), unless they prove the
        rows infeasible.
        """
        return self._solve(problem, time_limit=time_limit, target=None, stop=stop, feasibility=True)

    def _solve(
        self,
        problem: MipProblem,
        *,
        time_limit: float | None,
        target: float | None,
        stop: threading.Event | None,
        feasibility: bool = False,
        proof: bool = True,
        jump: bool = True,
        give_up_below: float | None = None,
        soft_limit: float | None = None,
        run_on_from: float | None = None,
    ) -> MipSolution:
        ask = _Ask(target, feasibility, proof, jump, give_up_below, soft_limit, run_on_from)
        if time_limit is None or feasibility or not _guarded(problem.n_cols):
            return self._solve_here(problem, ask, time_limit=time_limit, stop=stop)
        began = time.perf_counter()
        settings = (_threads_for(self._threads), self._seed, self._mip_lp_solver)
        near = math.inf if run_on_from is None else run_on_from

        def run_on(last: NDArray[np.int64] | None) -> bool:
            # HiGHS may be deep in work that does not ask the callback (see
            # GUARD_ABOVE_COLUMNS): the soft limit is kept from here too.
            return last is not None and float(problem.objective[last].sum()) >= near

        try:
            out = deadline.run(
                _solve_in_child,
                (settings, problem, ask, time_limit),
                seconds=time_limit,
                cancel=stop,
                soft=soft_limit,
                run_on=run_on,
            )
        except deadline.UnavailableError as error:
            logger.warning("solving in this process: %s", error)
            left = time_limit - (time.perf_counter() - began)
            return self._solve_here(problem, ask, time_limit=max(left, 0.01), stop=stop)
        if not isinstance(out, deadline.Killed):
            return out
        # HiGHS was stuck where it does not look at the clock; what it had found is all there is.
        seconds = time.perf_counter() - began
        if out.last is None:
            return MipSolution(MipStatus.TIME_LIMIT, np.zeros(0), math.nan, math.nan, seconds)
        x = np.zeros(problem.n_cols)
        x[out.last] = 1.0
        return MipSolution(MipStatus.FEASIBLE, x, float(problem.objective @ x), math.nan, seconds)

    def _solve_here(
        self,
        problem: MipProblem,
        ask: _Ask,
        *,
        time_limit: float | None,
        stop: threading.Event | None,
        improved: Callable[[NDArray[np.int64]], None] | None = None,
    ) -> MipSolution:
        """Solve in this process; `improved` hears of every better solution HiGHS finds."""
        target, feasibility, proof, jump, give_up_below, soft_limit, run_on_from = ask
        if feasibility:
            h = self._load(
                dataclasses.replace(problem, objective=np.zeros(problem.n_cols)),
                integer=True,
                time_limit=time_limit,
            )
            h.setOptionValue("presolve", "off")
            if problem.n_cols <= PRESOLVE_MAX_COLUMNS:
                # Symmetry detection serves a branch-and-bound the search never reaches, and
                # the first solution waited for it: 0.3 to 0.45 s of 1.6 to 2.1 s at 2,000
                # patients. On the 1.14 M columns of chains of 6 it is left on: without it the
                # peak memory rose from 1.78 GB to 2.11 GB.
                h.setOptionValue("mip_detect_symmetry", False)
            _give_up_after_root_cuts(h)
        else:
            h = self._load(problem, integer=True, time_limit=time_limit)
            if problem.n_cols > PRESOLVE_MAX_COLUMNS:
                h.setOptionValue("presolve", "off")
                if not jump:
                    h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
            elif not proof:
                h.setOptionValue("presolve_rule_off", PROBING_RULE)
        if target is not None:
            h.setOptionValue("objective_target", float(target))
        if improved is not None:
            tell = improved

            def found(event: highspy.highs.HighsCallbackEvent) -> None:
                tell(np.flatnonzero(np.asarray(event.data_out.mip_solution) > 0.5))

            h.cbMipImprovingSolution.subscribe(found)
        below = threading.Event()
        if give_up_below is not None:
            _give_up_below(h, give_up_below, below)
        soft: tuple[float, Callable[[], bool]] | None = None
        if soft_limit is not None:
            near = math.inf if run_on_from is None else run_on_from
            soft = (time.perf_counter() + soft_limit, _stop_unless_near(h, soft_limit, near))
        # Starts are not passed on: with a user solution, HiGHS 1.16 can finish "optimal" with
        # the right objective value but hand back other column values (seen on a 17-column
        # PICEF model: objective 35.5, columns worth 34). The check below guards against it.
        began = time.perf_counter()
        if stop is None and soft is None:
            h.run()
        else:
            _run_stoppable(h, threading.Event() if stop is None else stop, soft)
        seconds = time.perf_counter() - began
        model_status = h.getModelStatus()
        info = h.getInfo()
        ms = highspy.HighsModelStatus
        has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
        if model_status == ms.kOptimal:
            kind = MipStatus.OPTIMAL
        elif model_status == ms.kObjectiveTarget and has_solution:
            kind = MipStatus.FEASIBLE
        elif model_status == ms.kInfeasible:
            kind = MipStatus.INFEASIBLE
        elif model_status in (ms.kTimeLimit, ms.kInterrupt, ms.kIterationLimit, ms.kSolutionLimit):
            kind = MipStatus.FEASIBLE if has_solution else MipStatus.TIME_LIMIT
        else:
            logger.warning("HiGHS ended with status %s", h.modelStatusToString(model_status))
            kind = MipStatus.FEASIBLE if has_solution else MipStatus.ERROR
        given_up = below.is_set() and model_status == ms.kInterrupt
        if given_up:
            # The bound proves that no solution is worth `give_up_below`; what was found below
            # it is still handed back.
            kind = MipStatus.INFEASIBLE
        if has_solution:
            x = round_binary(np.asarray(h.getSolution().col_value))
            value = float(problem.objective @ x)
            if feasibility:
                _check_rows(problem, x)
            reported = float(info.objective_function_value)
            if not feasibility and abs(reported - value) > 1e-6 * max(1.0, abs(value)):
                raise SolverError(
                    f"HiGHS reported objective {reported!r} but its solution is worth {value!r}"
                )
        else:
            x = np.zeros(0)
            value = float("nan")
        proven = kind is not MipStatus.INFEASIBLE or given_up  # the bound means something
        bound = float(info.mip_dual_bound) if proven else float("nan")
        if feasibility:
            # Optimal for the zero objective means feasible; the bound says nothing.
            if kind is MipStatus.OPTIMAL:
                kind = MipStatus.FEASIBLE
            return MipSolution(kind, x, value, math.nan, seconds)
        if kind is MipStatus.OPTIMAL:
            bound = value
        return MipSolution(kind, x, value, bound, seconds)


def _guarded(n_cols: int) -> bool:
    """Tell whether a MIP of `n_cols` columns under a time limit runs in a child process.

    See :data:`GUARD_ABOVE_COLUMNS`; never where :func:`deadline.available` is false.
    """
    return n_cols > GUARD_ABOVE_COLUMNS and deadline.available()


class _Ask(NamedTuple):
    """What a MIP solve is asked for (see :meth:`HighsBackend._solve`)."""

    target: float | None
    feasibility: bool
    proof: bool
    jump: bool
    give_up_below: float | None
    soft_limit: float | None = None
    run_on_from: float | None = None


def _solve_in_child(
    link: deadline.Link,
    settings: tuple[int | None, int, str],
    problem: MipProblem,
    ask: _Ask,
    time_limit: float,
) -> MipSolution:
    """Solve `problem` in a child process (see :data:`GUARD_ABOVE_COLUMNS`).

    Every better solution HiGHS finds goes to the parent as the indices of its ones, so that a
    child killed at its deadline still leaves its best.
    """
    threads, seed, mip_lp_solver = settings
    backend = HighsBackend(threads=threads, random_seed=seed, mip_lp_solver=mip_lp_solver)
    return backend._solve_here(
        problem, ask, time_limit=time_limit, stop=link.cancelled, improved=link.send
    )


def _usable_relaxation(
    status: highspy.HighsModelStatus, solution: highspy.HighsSolution, *, central: bool
) -> bool:
    """Whether a relaxation's duals may be used for a bound and reduced-cost fixing.

    An optimal relaxation always may. So may a first-order (PDLP) one that HiGHS' postsolve
    marked *unknown*: PDLP converged, but HiGHS' check of the original model found residuals
    just above its tolerances (on 2,000 patients with chains of 3, relative dual residuals of
    1.4e-5 against 1e-7). Any duals give a valid Lagrangian bound, so slightly inexact ones
    cost a few kept columns, never correctness; refusing them meant solving the whole MIP
    without a relaxation (832k columns; it ran on past its time limit). A relaxation
    stopped by a time or iteration limit is not used: PDLP's duals before convergence give
    bounds hundreds of times the optimum. Nor are duals that are not all finite.
    """
    if not len(solution.row_dual) or not np.isfinite(solution.row_dual).all():
        return False
    if status == highspy.HighsModelStatus.kOptimal:
        return True
    return not central and status == highspy.HighsModelStatus.kUnknown and solution.dual_valid


def _has_dense_row(problem: MipProblem) -> bool:
    """Tell whether a row of `problem` covers more than :data:`DENSE_ROW_SHARE` of its columns."""
    if not problem.n_rows:
        return False
    per_row = np.bincount(problem.a_index, minlength=problem.n_rows)
    return bool(per_row.max() > DENSE_ROW_SHARE * problem.n_cols)


def _check_rows(problem: MipProblem, x: NDArray[np.float64]) -> None:
    """Raise :class:`SolverError` unless the 0/1 vector `x` satisfies every row of `problem`.

    A search for feasibility has no objective value to cross-check, so its answer is checked
    against the rows themselves.
    """
    bad = problem.broken_rows(x, 1e-6)
    if bad.size:
        raise SolverError(
            f"HiGHS returned a solution that breaks {bad.size} row(s), the first being row "
            f"{int(bad[0])}"
        )


def _give_up_after_root_cuts(h: highspy.Highs) -> None:
    """Make `h` stop at its :data:`GIVE_UP_CHECK`-th MIP-interrupt check."""
    checks = 0

    def check(event: highspy.highs.HighsCallbackEvent) -> None:
        nonlocal checks
        checks += 1
        if checks >= GIVE_UP_CHECK:
            event.interrupt()

    h.cbMipInterrupt.subscribe(check)


def _give_up_below(h: highspy.Highs, value: float, below: threading.Event) -> None:
    """Make `h` stop, and set `below`, once its bound is below `value`.

    HiGHS asks its MIP-interrupt callback after the root LP and then at intervals: a round
    that cannot reach its target usually shows it at the first of these, long before the
    branch-and-cut that would find the best solution below it ends. On a chains-of-6 round
    at 250 patients (643 columns, target 141) the root LP's bound is 140.88: stopped there,
    the round takes 0.07 s instead of 1.2 s (see docs/engine.md).
    """

    def check(event: highspy.highs.HighsCallbackEvent) -> None:
        if event.data_out.mip_dual_bound < value:
            below.set()
            event.interrupt()

    h.cbMipInterrupt.subscribe(check)


def _stop_unless_near(h: highspy.Highs, seconds: float, near: float) -> Callable[[], bool]:
    """Make `h` stop once `seconds` have passed, unless its best solution is worth `near`.

    Checked at HiGHS' MIP-interrupt callback, which it asks between nodes. Presolve and the
    root LP do not ask it, so the function returned tells whether the best solution found so
    far is worth `near`, for :func:`_run_stoppable` to judge by the clock. A round whose MIP
    holds a solution one short of its target has one answer left to give, and either answer
    settles the level: a solution at the target, or the proof that there is none. On
    kep_solver's uk_500_1 with chains of 6 the round at the bound held 345 well within half of
    a 170 s limit and found 346 at 126 s; the neighbourhood search it used to hand over to at
    half time had not found 346 in the 85 s left (see docs/engine.md).
    """
    best = -math.inf

    def check(event: highspy.highs.HighsCallbackEvent) -> None:
        out = event.data_out
        if out.running_time >= seconds and not out.mip_primal_bound >= near:
            event.interrupt()

    def improved(event: highspy.highs.HighsCallbackEvent) -> None:
        nonlocal best
        best = max(best, float(event.data_out.objective_function_value))

    h.cbMipInterrupt.subscribe(check)
    h.cbMipImprovingSolution.subscribe(improved)
    return lambda: best >= near


def _give_back_free_memory() -> None:
    """Return the free memory of glibc's heap to the system (``malloc_trim``).

    glibc raises its mmap threshold each time a large block is freed, so later arrays of up to
    that size come from its heap, which keeps their memory once they are freed. A solve at
    2,000 patients makes and drops arrays of a million columns before HiGHS copies the next
    model, and the peak resident memory grew with what the heap kept: with chains of 6,
    2.01 GB, against 1.78 GB when the heap is trimmed before each large model, in the same
    time. (Fixing the threshold instead gave 1.64 GB but made every solve slower: 1,000
    patients, chains of 2, 4.4 s to 5.3 s.) Nothing is done where the C library is not glibc.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def _run_stoppable(
    h: highspy.Highs,
    stop: threading.Event,
    soft: tuple[float, Callable[[], bool]] | None = None,
) -> None:
    """Run HiGHS, interrupting it as soon as `stop` is set.

    With `soft`, a :func:`time.perf_counter` reading and a test: HiGHS is also interrupted
    once the clock passes that reading, unless the test then holds (it is asked once).
    """
    h.HandleUserInterrupt = True
    finished = threading.Event()

    def watch() -> None:
        soft_at = None if soft is None else soft[0]
        while not finished.is_set():
            if stop.wait(0.02):
                h.cancelSolve()  # type: ignore[no-untyped-call]
                return
            if soft is not None and soft_at is not None and time.perf_counter() >= soft_at:
                soft_at = None
                if not soft[1]():
                    h.cancelSolve()  # type: ignore[no-untyped-call]
                    return

    watcher = threading.Thread(target=watch, name="highs-stop", daemon=True)
    watcher.start()
    try:
        h.run()
    finally:
        finished.set()  # the watcher ends at its next look; a late cancel touches nothing


def _threads_for(requested: int | None) -> int | None:
    """Return the thread count HiGHS runs with in this process.

    HiGHS keeps one scheduler per process, started with the first thread count it sees; a run
    asking for another count fails. Restarting the scheduler is no cure: threads that ran HiGHS
    before keep state from the old one, and their next run fails. So the first count stays, and
    a backend asking for another is told once, in the log.
    """
    global _process_threads
    with _banner_lock:
        if _process_threads == _UNSET:
            _process_threads = requested
        elif requested != _process_threads and requested not in _warned:
            _warned.add(requested)
            logger.warning(
                "HiGHS already runs with %s threads in this process; %s requested",
                _process_threads,
                requested,
            )
        return _process_threads


_warned: set[int | None] = set()
