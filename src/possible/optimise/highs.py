"""HiGHS (via highspy), the default backend."""

from __future__ import annotations

import logging
import math
import os
import threading
import time

import highspy
import numpy as np
from numpy.typing import NDArray

from possible.errors import SolverError
from possible.optimise.backend import (
    LpSolution,
    MipProblem,
    MipSolution,
    MipStatus,
    round_binary,
)

__all__ = ["HighsBackend"]

logger = logging.getLogger(__name__)

_banner_lock = threading.Lock()
_banner_shown = False
FIRST_ORDER_COLUMNS = 200_000
"""Relaxations with more columns are solved by HiGHS' first-order method (PDLP)."""
_threads_in_use: int | None = None
"""Thread count HiGHS' process-wide scheduler was last started with (``None``: its default)."""


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
        Threads HiGHS may use (``None``: its default).
    random_seed
        Fixed seed so that equal inputs give equal answers.
    """

    def __init__(self, *, threads: int | None = None, random_seed: int = 0) -> None:
        self._threads = threads
        self._seed = random_seed

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
        """Create a configured HiGHS instance holding `problem` (as a MIP or its relaxation)."""
        h = _new_highs()
        h.setOptionValue("random_seed", self._seed)
        if integer:
            h.setOptionValue("mip_rel_gap", 0.0)
            h.setOptionValue("mip_abs_gap", 1e-9)
        if self._threads is not None:
            h.setOptionValue("threads", self._threads)
        _use_threads(self._threads)
        if time_limit is not None:
            h.setOptionValue("time_limit", max(float(time_limit), 0.01))
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
        return h

    def solve_relaxation(
        self, problem: MipProblem, *, time_limit: float | None = None
    ) -> LpSolution:
        """Solve the linear relaxation of `problem` with HiGHS and return its row duals."""
        h = self._load(problem, integer=False, time_limit=time_limit)
        # Kidney exchange relaxations are highly degenerate: simplex can take minutes where
        # interior point without crossover takes seconds, and its central duals leave fewer
        # columns at zero reduced cost. The biggest go to the first-order method (PDLP). Any
        # duals give a valid bound, so approximate ones cost columns, never correctness.
        if problem.n_cols > FIRST_ORDER_COLUMNS:
            h.setOptionValue("solver", "pdlp")
        else:
            h.setOptionValue("solver", "ipm")
            h.setOptionValue("run_crossover", "off")
        began = time.perf_counter()
        h.run()
        seconds = time.perf_counter() - began
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal or not len(
            h.getSolution().row_dual
        ):
            return LpSolution(MipStatus.ERROR, math.nan, np.zeros(problem.n_rows), seconds)
        row_dual = np.asarray(h.getSolution().row_dual, dtype=np.float64)
        value = float(h.getInfo().objective_function_value)
        return LpSolution(MipStatus.OPTIMAL, value, row_dual, seconds)

    def solve(
        self,
        problem: MipProblem,
        *,
        time_limit: float | None = None,
        start: NDArray[np.float64] | None = None,
        target: float | None = None,
    ) -> MipSolution:
        """Maximise `problem` with HiGHS, stopping early at a solution worth `target`."""
        h = self._load(problem, integer=True, time_limit=time_limit)
        if target is not None:
            h.setOptionValue("objective_target", float(target))
        # `start` is not passed on: with a user solution, HiGHS 1.16 can finish "optimal" with
        # the right objective value but hand back other column values (seen on a 17-column
        # PICEF model: objective 35.5, columns worth 34). The check below guards against it.
        del start
        began = time.perf_counter()
        h.run()
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
        elif model_status in (ms.kTimeLimit, ms.kInterrupt, ms.kIterationLimit):
            kind = MipStatus.FEASIBLE if has_solution else MipStatus.TIME_LIMIT
        else:
            logger.warning("HiGHS ended with status %s", h.modelStatusToString(model_status))
            kind = MipStatus.FEASIBLE if has_solution else MipStatus.ERROR
        if has_solution:
            x = round_binary(np.asarray(h.getSolution().col_value))
            value = float(problem.objective @ x)
            reported = float(info.objective_function_value)
            if abs(reported - value) > 1e-6 * max(1.0, abs(value)):
                raise SolverError(
                    f"HiGHS reported objective {reported!r} but its solution is worth {value!r}"
                )
        else:
            x = np.zeros(0)
            value = float("nan")
        bound = float(info.mip_dual_bound) if kind is not MipStatus.INFEASIBLE else float("nan")
        if kind is MipStatus.OPTIMAL:
            bound = value
        return MipSolution(kind, x, value, bound, seconds)


def _use_threads(threads: int | None) -> None:
    """Restart HiGHS' process-wide scheduler when a backend asks for another thread count.

    HiGHS starts one scheduler per process with the first thread count it sees, and a later
    run asking for a different count fails unless the scheduler is reset first.
    """
    global _threads_in_use
    with _banner_lock:
        if threads != _threads_in_use:
            highspy.Highs.resetGlobalScheduler(True)
            _threads_in_use = threads
