"""The typed result of a matching run, and its JSON form."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Exchange",
    "Level",
    "MatchingResult",
    "Status",
    "Transplant",
    "Unmatched",
    "UnmatchedReason",
]


class Status(enum.Enum):
    """How a matching run ended."""

    OPTIMAL = "optimal"
    """Every level solved to proven optimality."""
    FEASIBLE = "feasible"
    """A solution whose optimality is not proven (time limit): see the bound and gap."""
    INFEASIBLE = "infeasible"
    """No solution exists (cannot happen with the built-in formulations: selecting nothing
    is always allowed; kept for backends and custom constraints)."""
    TIME_LIMIT = "time_limit"
    """The time limit was reached before any solution was found."""


class UnmatchedReason(enum.Enum):
    """Why a patient receives no transplant in this run."""

    NO_PAIRED_DONOR = "no_paired_donor"
    """The patient has no paired donor in the pool who may give (none, or all withdrawn,
    suspended or without consent), so cannot join an exchange."""
    NO_COMPATIBLE_DONOR = "no_compatible_donor"
    """No donor in the pool is compatible with the patient."""
    NO_EXCHANGE_WITHIN_CAPS = "no_exchange_within_caps"
    """Compatible donors exist, but no cycle or chain within the length caps reaches the
    patient."""
    OUTCOMPETED = "outcompeted"
    """The patient is compatible inside exchanges, but those lost to better ones."""
    NOT_SETTLED = "not_settled"
    """The patient is compatible inside exchanges, but the run stopped (at its time limit)
    before it could show whether any of them belongs in the best solution."""
    NOT_ACTIVE = "not_active"
    """The patient is not active (suspended, matched, transplanted or withdrawn), so takes part
    in no exchange."""


@dataclass(frozen=True, slots=True)
class Transplant:
    """One donor giving to one patient."""

    donor: str
    patient: str
    score: float
    breakdown: tuple[tuple[str, float], ...] = ()
    """The score's parts (component, points) when a scoring policy gave it."""
    facts: tuple[tuple[str, float], ...] = ()
    """What those points were counted from (fact, value), when known: see
    :meth:`possible.compatibility.Compatibility.explain_result`."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """A cycle or a chain.

    Attributes
    ----------
    kind
        ``"cycle"`` or ``"chain"``.
    transplants
        In order; a chain starts with its non-directed donor's transplant.
    to_waiting_list
        For a chain, the donor at its end, who gives to the deceased-donor waiting list.
    """

    kind: Literal["cycle", "chain"]
    transplants: tuple[Transplant, ...]
    to_waiting_list: str | None = None

    @property
    def length(self) -> int:
        """Transplants inside the pool."""
        return len(self.transplants)


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A patient without a transplant, and why.

    Attributes
    ----------
    patient
        The patient's id.
    reason
        Why no transplant.
    excluded
        Where the arcs came from clinical records: how many donors were ruled out for the
        patient, per reason (``("unacceptable_antigen", 812)``, ...), so that "no compatible
        donor" can be explained; empty otherwise.
    """

    patient: str
    reason: UnmatchedReason
    excluded: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Level:
    """One level of the objective hierarchy, and what the run reached on it."""

    name: str
    description: str
    sense: str
    value: float
    bound: float

    @property
    def gap(self) -> float:
        """Gap between bound and value, relative to the value (0 when proven optimal).

        A value below 1 in size divides by 1 instead, so a level worth 0 shows its absolute gap.
        """
        if math.isnan(self.bound) or math.isnan(self.value):
            return math.nan
        denominator = max(abs(self.value), 1.0)
        return abs(self.bound - self.value) / denominator


@dataclass(frozen=True, slots=True)
class MatchingResult:
    """Everything a matching run decided, and how.

    Attributes
    ----------
    status
        See :class:`Status`.
    levels
        The objective hierarchy with the value reached and the best bound per level; levels
        after one that was not solved to optimality carry ``nan``.
    exchanges
        The selected cycles and chains, in a canonical order.
    unmatched
        Every patient without a transplant, with the reason.
    ndds_to_waiting_list
        Non-directed donors who start no chain (they give to the waiting list directly).
    solver
        ``{"name": ..., "version": ...}`` of the backend.
    policy
        The caps and objective used.
    input_digest
        SHA-256 of the pool.
    timings
        Seconds per phase: ``graph``, ``enumerate``, ``model``, ``solve`` (and ``read`` when
        the caller read a file).
    """

    status: Status
    levels: tuple[Level, ...]
    exchanges: tuple[Exchange, ...]
    unmatched: tuple[Unmatched, ...]
    ndds_to_waiting_list: tuple[str, ...]
    solver: dict[str, str]
    policy: dict[str, Any]
    input_digest: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def objective(self) -> tuple[float, ...]:
        """Value reached on each level."""
        return tuple(level.value for level in self.levels)

    @property
    def bound(self) -> tuple[float, ...]:
        """Best proven bound on each level."""
        return tuple(level.bound for level in self.levels)

    @property
    def transplants(self) -> int:
        """Transplants inside the pool."""
        return sum(e.length for e in self.exchanges)

    def to_dict(self, *, timings: bool = True) -> dict[str, Any]:
        """JSON-ready form. Without `timings`, equal inputs give byte-identical documents."""
        doc: dict[str, Any] = {
            "status": self.status.value,
            "objective": [_num(v) for v in self.objective],
            "bound": [_num(v) for v in self.bound],
            "levels": [
                {
                    "name": lv.name,
                    "description": lv.description,
                    "sense": lv.sense,
                    "value": _num(lv.value),
                    "bound": _num(lv.bound),
                    "gap": _num(lv.gap),
                }
                for lv in self.levels
            ],
            "transplants": self.transplants,
            "exchanges": [
                {
                    "kind": e.kind,
                    "length": e.length,
                    "transplants": [_transplant_json(t) for t in e.transplants],
                    **({"to_waiting_list": e.to_waiting_list} if e.kind == "chain" else {}),
                }
                for e in self.exchanges
            ],
            "ndds_to_waiting_list": list(self.ndds_to_waiting_list),
            "unmatched": [_unmatched_json(u) for u in self.unmatched],
            "solver": dict(self.solver),
            "policy": dict(self.policy),
            "input_digest": self.input_digest,
        }
        if timings:
            doc["timings"] = {k: round(v, 6) for k, v in self.timings.items()}
        return doc


def _num(value: float) -> float | None:
    """JSON has no NaN: write null. Integral values are written without noise."""
    if math.isnan(value) or math.isinf(value):
        return None
    rounded = round(value, 6)
    return float(int(rounded)) if rounded == int(rounded) else rounded


def _unmatched_json(u: Unmatched) -> dict[str, Any]:
    doc: dict[str, Any] = {"patient": u.patient, "reason": u.reason.value}
    if u.excluded:
        doc["excluded"] = dict(u.excluded)
    return doc


def _transplant_json(t: Transplant) -> dict[str, Any]:
    doc: dict[str, Any] = {"donor": t.donor, "patient": t.patient, "score": _num(t.score)}
    if t.breakdown:
        doc["breakdown"] = {name: _num(points) for name, points in t.breakdown}
    if t.facts:
        doc["facts"] = {name: _num(value) for name, value in t.facts}
    return doc
