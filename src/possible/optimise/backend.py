"""The seam between formulations and solver libraries.

A formulation describes a mixed-integer programme as arrays (:class:`MipProblem`); a backend
solves it and answers with a :class:`MipSolution`. Nothing above this module knows which
library did the work, so a fake backend can stand in for tests.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csc_matrix

__all__ = [
    "Backend",
    "ConcurrentBackend",
    "FeasibilityBackend",
    "LpSolution",
    "MipProblem",
    "MipSolution",
    "MipStatus",
    "RelaxationBackend",
    "solve_to_beat",
]


class MipStatus(enum.Enum):
    """Outcome of one MIP solve."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"  # a solution, not proven optimal (time limit)
    INFEASIBLE = "infeasible"
    TIME_LIMIT = "time_limit"  # no solution found in time
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class MipProblem:
    """Maximise ``objective @ x`` subject to ``row_lower <= A x <= row_upper``, x binary.

    The constraint matrix is column-wise (CSC): column ``j`` has entries
    ``a_index[a_start[j]:a_start[j+1]]`` (row numbers) with values ``a_value[...]``.
    """

    objective: NDArray[np.float64]
    a_start: NDArray[np.int32]
    a_index: NDArray[np.int32]
    a_value: NDArray[np.float64]
    row_lower: NDArray[np.float64]
    row_upper: NDArray[np.float64]

    @property
    def n_cols(self) -> int:
        """Number of variables."""
        return int(self.objective.shape[0])

    @property
    def n_rows(self) -> int:
        """Number of constraints."""
        return int(self.row_lower.shape[0])

    def matrix(self) -> csc_matrix:
        """Return the constraint matrix ``A`` as a SciPy CSC matrix."""
        return csc_matrix(
            (self.a_value, self.a_index, self.a_start), shape=(self.n_rows, self.n_cols)
        )

    def broken_rows(self, x: NDArray[np.float64], tolerance: float) -> NDArray[np.int64]:
        """Return the indices of the rows that `x` breaks by more than `tolerance`."""
        activity = self.matrix() @ x
        return np.flatnonzero(
            (activity < self.row_lower - tolerance) | (activity > self.row_upper + tolerance)
        )


@dataclass(frozen=True, slots=True)
class MipSolution:
    """What a backend found.

    Attributes
    ----------
    status
        See :class:`MipStatus`.
    x
        Values of the variables (rounded to 0/1), empty without a solution.
    objective
        Objective value of `x` (``nan`` without a solution).
    bound
        Best proven upper bound on the objective.
    seconds
        Wall-clock time spent in the solver.
    """

    status: MipStatus
    x: NDArray[np.float64]
    objective: float
    bound: float
    seconds: float


@dataclass(frozen=True, slots=True)
class LpSolution:
    """The linear relaxation of a :class:`MipProblem`, solved.

    Attributes
    ----------
    status
        :attr:`MipStatus.OPTIMAL` when the relaxation was solved; anything else means the
        duals must not be used.
    objective
        The relaxation's optimum (an upper bound on the MIP's).
    row_dual
        One dual value per row. Any sign convention will do: callers derive a bound that is
        valid for any dual vector (see :mod:`possible.optimise.fixing`).
    seconds
        Wall-clock time spent in the solver.
    col_value
        The relaxation's solution, one value per column, or empty if the backend gives none.
    central
        Whether `col_value` is an interior-point solution, near the centre of the optimal
        face: a column at 1 there is at 1 in nearly every optimal solution of the relaxation.
        A vertex, or a first-order method's solution, says much less.
    """

    status: MipStatus
    objective: float
    row_dual: NDArray[np.float64]
    seconds: float
    col_value: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    central: bool = False


class Backend(Protocol):
    """A MIP solver."""

    @property
    def name(self) -> str:
        """Short name of the solver, e.g. ``"highs"``."""
        ...

    @property
    def version(self) -> str:
        """Version of the solver library."""
        ...

    def solve(
        self,
        problem: MipProblem,
        *,
        time_limit: float | None = None,
        start: NDArray[np.float64] | None = None,
        target: float | None = None,
    ) -> MipSolution:
        """Maximise `problem`, optionally from a feasible `start`, within `time_limit` s.

        With `target`, the backend may stop at the first solution worth at least `target`
        and answer :attr:`MipStatus.FEASIBLE` (the caller knows nothing better exists).
        """
        ...


def round_binary(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Round solver output to exact 0/1 values."""
    return (np.asarray(x, dtype=np.float64) > 0.5).astype(np.float64)


def whole_numbers(values: NDArray[np.float64]) -> bool:
    """Whether every value is a whole number (an objective whose solutions all are)."""
    return bool(np.all(values == np.round(values)))


@runtime_checkable
class RelaxationBackend(Backend, Protocol):
    """A MIP solver that can also solve the linear relaxation and report row duals.

    Backends with this ability let :func:`possible.optimise.solve` shrink each model by
    reduced-cost fixing before the MIP solve. If they also report a central solution
    (:attr:`LpSolution.central`), tightened rounds guess from it.
    """

    def solve_relaxation(
        self, problem: MipProblem, *, time_limit: float | None = None
    ) -> LpSolution:
        """Maximise `problem` with ``0 <= x <= 1`` continuous, within `time_limit` s."""
        ...


@runtime_checkable
class ConcurrentBackend(Backend, Protocol):
    """A MIP solver whose solves may run side by side in threads, each stoppable.

    :func:`possible.optimise.fixing.solve_level` uses it to try the next lower target while
    the current one is still being decided, and stops whichever answer it no longer needs.
    """

    @property
    def concurrent(self) -> bool:
        """Whether solves may run side by side now (e.g. each on one thread)."""
        ...

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
        """Like :meth:`Backend.solve`, but giving up (status time limit) once `stop` is set.

        With ``proof=False`` the caller wants a solution worth `target`, not a proof that
        none exists (a guess, see :mod:`possible.optimise.fixing`): the backend may skip
        work that mostly serves the proof. The answer's status must stay truthful.

        `incumbent` is the value of a solution the caller already holds, and whose leftover
        time it can use otherwise: the backend may skip work that rarely beats it in time, or
        give up at once (status time limit, no solution).

        With `give_up_below`, only a solution worth at least that is wanted: the backend may
        stop as soon as its bound proves there is none, with status infeasible and the best
        solution it had found below that value, if any.

        With `soft_limit` (seconds, below `time_limit`), the backend stops then as at a time
        limit, unless it holds a solution worth at least `run_on_from`: it may then go on
        until `time_limit`.
        """
        ...


@runtime_checkable
class FeasibilityBackend(Backend, Protocol):
    """A MIP solver that can look for any feasible solution, ignoring the objective.

    :func:`possible.optimise.fixing.solve_level` uses it on rounds whose target is within one
    unit of the bound: there the tightened rows alone leave little room below the target, and
    a search for feasibility is far faster than optimising (see that module).
    """

    def find_feasible(
        self,
        problem: MipProblem,
        *,
        stop: threading.Event | None = None,
        time_limit: float | None = None,
    ) -> MipSolution:
        """Look for any ``x`` satisfying `problem`'s rows, whatever its objective value.

        Returns
        -------
        MipSolution
            :attr:`MipStatus.FEASIBLE` with ``x`` and its value under `problem`'s objective
            (``bound`` NaN); :attr:`MipStatus.INFEASIBLE` when none exists; otherwise
            :attr:`MipStatus.TIME_LIMIT` (gave up: time, effort or `stop`) without ``x``.
        """
        ...


def solve_to_beat(
    backend: Backend, problem: MipProblem, *, time_limit: float, held: float
) -> MipSolution:
    """Solve `problem` for something better than `held`, which the caller already has.

    A backend that can be told of the value held (:class:`ConcurrentBackend`) is told, so that
    it may solve a very large model without heuristics that overrun time limits, or not at all
    (see :meth:`possible.optimise.highs.HighsBackend.solve_stoppable`).
    """
    if isinstance(backend, ConcurrentBackend) and backend.concurrent:
        return backend.solve_stoppable(
            problem, stop=threading.Event(), time_limit=time_limit, incumbent=held
        )
    return backend.solve(problem, time_limit=time_limit)
