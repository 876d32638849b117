"""Formulations, objectives and solver backends: from a graph to the best exchanges."""

from __future__ import annotations

from possible.optimise.backend import Backend, MipProblem, MipSolution, MipStatus
from possible.optimise.objectives import OBJECTIVES, Objective, Sense
from possible.optimise.result import (
    Exchange,
    Level,
    MatchingResult,
    Status,
    Transplant,
    Unmatched,
    UnmatchedReason,
)
from possible.optimise.solve import solve

__all__ = [
    "OBJECTIVES",
    "Backend",
    "Exchange",
    "Level",
    "MatchingResult",
    "MipProblem",
    "MipSolution",
    "MipStatus",
    "Objective",
    "Sense",
    "Status",
    "Transplant",
    "Unmatched",
    "UnmatchedReason",
    "solve",
]
