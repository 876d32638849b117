"""HiGHS (via highspy), the default backend."""

from __future__ import annotations

import logging
import os
import threading
import time

import numpy as np
from numpy.typing import NDArray

from possible.errors import SolverError
from possible.optimise.backend import MipProblem, MipSolution, MipStatus, round_binary

__all__ = ["HighsBackend"]

logger = logging.getLogger(__name__)

_banner_lock = threading.Lock()
_banner_shown = False


def _new_highs() -> object:
    """Create a silent ``highspy.Highs``.

    HiGHS prints a banner on stdout the first time an instance is created in a process. A
    library must not print, so that first construction happens with file descriptor 1
    pointed at /dev/null.
    """
    global _banner_shown
    try:
        import highspy
    except ImportError as exc:  # pragma: no cover - highspy is a hard dependency
        raise SolverError("highspy is not installed") from exc
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
        return str(_new_highs().version())  # type: ignore[attr-defined]

    def solve(
        self,
        problem: MipProblem,
        *,
        time_limit: float | None = None,
        start: NDArray[np.float64] | None = None,
    ) -> MipSolution:
        """Maximise `problem` with HiGHS."""
        import highspy

        h = _new_highs()
        assert isinstance(h, highspy.Highs)
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("mip_abs_gap", 1e-9)
        h.setOptionValue("random_seed", self._seed)
        if self._threads is not None:
            h.setOptionValue("threads", self._threads)
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
            np.ones(n, dtype=np.int32),
        )
        if status == highspy.HighsStatus.kError:
            raise SolverError("HiGHS rejected the model")
        if start is not None and start.shape[0] == n:
            idx = np.flatnonzero(start > 0.5).astype(np.int32)
            h.setSolution(int(idx.shape[0]), idx, np.ones(idx.shape[0]))
        began = time.perf_counter()
        h.run()
        seconds = time.perf_counter() - began
        model_status = h.getModelStatus()
        info = h.getInfo()
        ms = highspy.HighsModelStatus
        has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
        if model_status == ms.kOptimal:
            kind = MipStatus.OPTIMAL
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
        else:
            x = np.zeros(0)
            value = float("nan")
        bound = float(info.mip_dual_bound) if kind is not MipStatus.INFEASIBLE else float("nan")
        if kind is MipStatus.OPTIMAL:
            bound = value
        return MipSolution(kind, x, value, bound, seconds)
