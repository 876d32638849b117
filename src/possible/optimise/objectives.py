"""Objectives and policies' objective hierarchies.

An objective gives every column of a formulation a value (from the column's *features*: the
transplants it makes, their scores, whether it is a three-way exchange ...), a sense, and a
sentence a coordinator can read. A hierarchy is solved lexicographically: each level's optimum
is fixed before the next level is optimised.

The UK living kidney sharing scheme's hierarchy is defined the way NHSBT and kep_solver count:
a chain's closing gift to the waiting list, and the direct gift of an NDD used in no chain,
count as transplants; a chain with one or two transplants in the pool is an effective two-way
exchange and a three-way exchange when it has two; back-arcs only exist in exchanges of three
donors.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from possible.errors import PolicyError

__all__ = [
    "OBJECTIVES",
    "BackArcs",
    "EffectiveTwoWay",
    "Features",
    "Objective",
    "Sense",
    "ThreeWay",
    "TotalScore",
    "Transplants",
    "UKScore",
    "UKTransplants",
    "hierarchy",
]


class Sense(enum.Enum):
    """Whether an objective is maximised or minimised."""

    MAX = "max"
    MIN = "min"


@dataclass(frozen=True, slots=True)
class Features:
    """Per-column quantities objectives are made of (one entry per column).

    Attributes
    ----------
    transplants
        Transplants inside the pool.
    score
        Sum of the arc scores.
    effective_two_way, three_way, back_arcs
        UK counts: 1 for an effective two-way exchange, 1 for a three-way exchange, number
        of back-arcs (see module docstring).
    uk_score
        Sum of arc scores plus the UK age-difference bonus and tie-breaker.
    n_ndds
        Non-directed donors in the pool (their waiting-list gifts count as UK transplants).
    """

    transplants: NDArray[np.float64]
    score: NDArray[np.float64]
    effective_two_way: NDArray[np.float64]
    three_way: NDArray[np.float64]
    back_arcs: NDArray[np.float64]
    uk_score: NDArray[np.float64]
    n_ndds: int


@dataclass(frozen=True, slots=True)
class Objective:
    """One level of an objective hierarchy.

    Attributes
    ----------
    name
        Short identifier (``transplants``, ``score``, ``uk.three_way`` ...).
    description
        What is optimised, in words.
    sense
        Maximise or minimise.
    feature
        Which :class:`Features` array gives each column's value.
    integral
        Whether values are integers (so a level can be fixed with a 0.5 tolerance).
    counts_ndds
        Whether the number of NDDs is added to the value (UK transplant count).
    """

    name: str
    description: str
    sense: Sense
    feature: str
    integral: bool = True
    counts_ndds: bool = False

    def values(self, features: Features) -> NDArray[np.float64]:
        """Each column's value under this objective."""
        values: NDArray[np.float64] = getattr(features, self.feature)
        return values

    def constant(self, features: Features) -> float:
        """Return the part of the value that does not depend on the decision."""
        return float(features.n_ndds) if self.counts_ndds else 0.0


Transplants = Objective("transplants", "Most transplants inside the pool", Sense.MAX, "transplants")
TotalScore = Objective("score", "Highest total score", Sense.MAX, "score", integral=False)
EffectiveTwoWay = Objective(
    "uk.effective_two_way",
    "Most effective two-way exchanges (two-way cycles, three-way cycles with a back-arc, "
    "short chains)",
    Sense.MAX,
    "effective_two_way",
)
UKTransplants = Objective(
    "uk.transplants",
    "Most transplants, counting each non-directed donor's gift to the waiting list",
    Sense.MAX,
    "transplants",
    counts_ndds=True,
)
ThreeWay = Objective("uk.three_way", "Fewest three-way exchanges", Sense.MIN, "three_way")
BackArcs = Objective(
    "uk.back_arcs", "Most back-arcs in three-way exchanges", Sense.MAX, "back_arcs"
)
UKScore = Objective(
    "uk.score",
    "Highest total score, with the age-difference bonus",
    Sense.MAX,
    "uk_score",
    integral=False,
)

OBJECTIVES: dict[str, tuple[Objective, ...]] = {
    "transplants": (Transplants,),
    "score": (TotalScore,),
    "uk": (EffectiveTwoWay, UKTransplants, ThreeWay, BackArcs, UKScore),
}


def hierarchy(objective: str | Objective | Sequence[Objective]) -> tuple[Objective, ...]:
    """Resolve an objective given by name, as one objective, or as a sequence of levels.

    Raises
    ------
    PolicyError
        For an unknown name or an empty hierarchy.
    """
    if isinstance(objective, str):
        try:
            return OBJECTIVES[objective]
        except KeyError:
            names = ", ".join(sorted(OBJECTIVES))
            raise PolicyError(
                f"unknown objective {objective!r} (expected one of {names})"
            ) from None
    if isinstance(objective, Objective):
        return (objective,)
    levels = tuple(objective)
    if not levels or not all(isinstance(o, Objective) for o in levels):
        raise PolicyError("an objective hierarchy needs at least one Objective")
    return levels


def age_bonus(age_giver: NDArray[np.float64], age_next: NDArray[np.float64]) -> NDArray[np.float64]:
    """UK age-difference bonus of a transplant, element-wise.

    The giver gives to the patient whose paired donor in the same exchange is `age_next`: 3
    points when their ages differ by at most 20 years, plus the tie-breaker
    ``(70 - difference)**2 * 1e-5`` rounded to 5 decimals. Unknown ages (NaN) give 0.
    """
    diff = np.abs(age_giver - age_next)
    tie = np.round(1e-5 * (70.0 - diff) ** 2, 5)
    bonus = np.where(diff <= 20.0, 3.0, 0.0) + tie
    return np.where(np.isnan(diff), 0.0, bonus)
