"""Fake solver backends for the optimisation tests.

* :class:`BruteForceBackend` solves a :class:`MipProblem` by depth-first search over all 0/1
  vectors, pruning a branch only when some row can no longer be satisfied or the objective can
  no longer beat the best found: exact, slow, and independent of any solver library.
* :class:`ScriptedBackend` answers with the statuses a test asks for (a solution that is only
  "feasible", a time limit without a solution, ...), so `solve` can be checked on outcomes
  HiGHS rarely produces on small pools.
* :class:`ColdStartHighs` is HiGHS that never receives a warm start (see the BUG notes in
  test_solve.py): it checks the formulations apart from that bug.
* :class:`ExpiringHighs` is HiGHS until a given progress message, after which every MIP runs
  out of time with nothing found (until another message revives it): a solve's later phases
  "stopped by the time limit", on demand.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest
from numpy.typing import NDArray

from oracles import brute_force
from possible.optimise import MipProblem, MipSolution, MipStatus
from possible.optimise.highs import HighsBackend


@dataclass
class Call:
    """One call a fake backend received."""

    problem: MipProblem
    time_limit: float | None
    start: NDArray[np.float64] | None


@dataclass
class BruteForceBackend:
    """An exact backend without a solver library (for problems of a few dozen columns)."""

    calls: list[Call] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "brute-force"

    @property
    def version(self) -> str:
        return "0"

    def solve(
        self,
        problem: MipProblem,
        *,
        time_limit: float | None = None,
        start: NDArray[np.float64] | None = None,
        target: float | None = None,
    ) -> MipSolution:
        self.calls.append(Call(problem, time_limit, start))
        return brute_force(problem)


@dataclass
class ScriptedBackend:
    """Answer call ``i`` with ``statuses[i]`` (the last status repeats).

    OPTIMAL and INFEASIBLE answer truthfully. FEASIBLE gives the optimum found by brute force
    but claims only that it is feasible, with ``bound`` as the bound (``value + gap`` when
    ``bound`` is None). TIME_LIMIT and ERROR give no solution, with ``bound`` as the bound.
    """

    statuses: Sequence[MipStatus]
    gap: float = 1.25
    bound: float | None = None
    calls: list[Call] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def version(self) -> str:
        return "1.0"

    def solve(
        self,
        problem: MipProblem,
        *,
        time_limit: float | None = None,
        start: NDArray[np.float64] | None = None,
        target: float | None = None,
    ) -> MipSolution:
        self.calls.append(Call(problem, time_limit, start))
        status = self.statuses[min(len(self.calls), len(self.statuses)) - 1]
        if status is MipStatus.INFEASIBLE:
            return MipSolution(status, np.zeros(0), math.nan, math.nan, 0.0)
        if status in (MipStatus.TIME_LIMIT, MipStatus.ERROR):
            bound = math.nan if self.bound is None else self.bound
            return MipSolution(status, np.zeros(0), math.nan, bound, 0.0)
        exact = brute_force(problem)
        if status is MipStatus.OPTIMAL:
            return exact
        bound = exact.objective + self.gap if self.bound is None else self.bound
        return MipSolution(MipStatus.FEASIBLE, exact.x, exact.objective, bound, 0.0)


class ColdStartHighs:
    """HiGHS, never given a warm start."""

    def __init__(self) -> None:
        self._highs = HighsBackend()

    @property
    def name(self) -> str:
        return self._highs.name

    @property
    def version(self) -> str:
        return self._highs.version

    def solve(
        self,
        problem: MipProblem,
        *,
        time_limit: float | None = None,
        start: NDArray[np.float64] | None = None,
        target: float | None = None,
    ) -> MipSolution:
        return self._highs.solve(problem, time_limit=time_limit)

    def solve_relaxation(self, problem: MipProblem, *, time_limit: float | None = None) -> object:
        # Forwarded when HighsBackend has it, so reduced-cost fixing stays in the path.
        relax: Callable[..., object] = self._highs.solve_relaxation  # type: ignore[attr-defined]
        return relax(problem, time_limit=time_limit)


class ExpiringHighs:
    """HiGHS until `solve` reports a progress message starting with `expire_on` (pass
    :meth:`watch` as its ``progress``); from then every MIP runs out of time with nothing
    found, until a message starting with `revive_on` (if given)."""

    name = "expiring"
    version = "0"
    seeding_delay = 0.0
    """Seconds each MIP waits before it is solved while the backend has not expired."""

    def __init__(self, expire_on: str = "solving level", revive_on: str | None = None) -> None:
        self.inner = HighsBackend()
        self.expire_on = expire_on
        self.revive_on = revive_on
        self.expired = False
        self.expired_calls = 0

    def solve(
        self,
        problem: MipProblem,
        *,
        time_limit: float | None = None,
        start: NDArray[np.float64] | None = None,
        target: float | None = None,
    ) -> MipSolution:
        if self.expired:
            self.expired_calls += 1
            return MipSolution(MipStatus.TIME_LIMIT, np.zeros(0), math.nan, math.nan, 0.0)
        time.sleep(self.seeding_delay)
        return self.inner.solve(problem, time_limit=time_limit, target=target)

    def solve_relaxation(self, problem: MipProblem, *, time_limit: float | None = None) -> object:
        return self.inner.solve_relaxation(problem, time_limit=time_limit)

    def watch(self, message: str) -> None:
        """Progress callback."""
        if message.startswith(self.expire_on):
            self.expired = True
        if self.revive_on is not None and message.startswith(self.revive_on):
            self.expired = False


@dataclass(frozen=True)
class Fakes:
    """The fake backends, for tests to construct (Hypothesis tests cannot take fresh fixtures)."""

    brute_force: type[BruteForceBackend] = BruteForceBackend
    scripted: type[ScriptedBackend] = ScriptedBackend
    cold_start_highs: type[ColdStartHighs] = ColdStartHighs
    expiring_highs: type[ExpiringHighs] = ExpiringHighs


@pytest.fixture(scope="session")
def fakes() -> Fakes:
    """The fake backend classes."""
    return Fakes()


@pytest.fixture
def level_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """The keyword arguments of each level of a `solve`, in order (the seeding pass's first)."""
    # The module, not the function of the same name that possible.optimise exports.
    solve_module = importlib.import_module("possible.optimise.solve")
    calls: list[dict[str, object]] = []
    real = solve_module.solve_level

    def recording(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(solve_module, "solve_level", recording)
    return calls
