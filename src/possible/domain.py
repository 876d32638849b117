"""Domain values: blood groups, patients, donors, arcs and pools.

These are frozen, validated on construction, and free of any solver or file-format detail.
Arcs are held as NumPy arrays (a pool of 2,000 patients has hundreds of thousands of them),
everything else as small frozen dataclasses.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from numpy.typing import NDArray

from possible.errors import ValidationError

__all__ = ["Arcs", "BloodGroup", "Donor", "Patient", "Pool"]


class BloodGroup(Enum):
    """ABO blood group."""

    O = "O"  # noqa: E741 - the blood group's name
    A = "A"
    B = "B"
    AB = "AB"

    @classmethod
    def parse(cls, text: str) -> BloodGroup:
        """Read a blood group written as O, A, B or AB (any case, surrounding space ignored).

        Raises
        ------
        ValueError
            If `text` is not a blood group.
        """
        try:
            return cls(text.strip().upper())
        except (ValueError, AttributeError):
            raise ValueError(f"unknown blood group {text!r} (expected O, A, B or AB)") from None

    def can_give_to(self, other: BloodGroup) -> bool:
        """Whether a donor of this group is ABO-compatible with a patient of `other`."""
        return self is BloodGroup.O or self is other or other is BloodGroup.AB


@dataclass(frozen=True, slots=True)
class Patient:
    """A person who needs a kidney.

    Parameters
    ----------
    id
        Opaque, unique identifier.
    blood_group
        ABO blood group, if known.
    cpra
        Calculated panel-reactive antibodies as a fraction in [0, 1], if known.
    """

    id: str
    blood_group: BloodGroup | None = None
    cpra: float | None = None

    def __post_init__(self) -> None:
        _check_id(self.id, "patient")
        if self.cpra is not None and not (0.0 <= self.cpra <= 1.0):
            raise ValidationError(
                f"cPRA {self.cpra!r} is outside [0, 1]", record=self.id, field="cpra"
            )


@dataclass(frozen=True, slots=True)
class Donor:
    """A person willing to donate a kidney.

    Parameters
    ----------
    id
        Opaque, unique identifier.
    patient
        Id of the patient this donor is registered for; ``None`` for a non-directed donor.
    blood_group
        ABO blood group, if known.
    age
        Age in years, if known (the UK score's age-difference bonus uses it).
    """

    id: str
    patient: str | None = None
    blood_group: BloodGroup | None = None
    age: float | None = None

    def __post_init__(self) -> None:
        _check_id(self.id, "donor")
        if self.age is not None and not (math.isfinite(self.age) and 0 <= self.age < 130):
            raise ValidationError(f"age {self.age!r} is not plausible", record=self.id, field="age")

    @property
    def non_directed(self) -> bool:
        """Whether this donor is non-directed (altruistic)."""
        return self.patient is None


def _check_id(value: object, kind: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{kind} id must be a non-empty string, got {value!r}", field="id")


def _frozen(array: NDArray[np.generic]) -> NDArray[np.generic]:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, slots=True)
class Arcs:
    """Compatible transplants, as parallel arrays (one entry per donor -> patient arc).

    Attributes
    ----------
    donor
        Index into :attr:`Pool.donors` of the donor of each arc.
    patient
        Index into :attr:`Pool.patients` of the receiving patient of each arc.
    score
        Non-negative score of each arc.
    """

    donor: NDArray[np.int32]
    patient: NDArray[np.int32]
    score: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.donor.shape[0])


@dataclass(frozen=True, slots=True)
class Pool:
    """The patients, donors and compatible arcs of one matching run.

    Build one with :meth:`Pool.build`, which validates every record. Arcs are sorted by
    (donor, patient), so equal pools are equal array for array and have equal digests.

    Attributes
    ----------
    patients
        Patients, sorted by id.
    donors
        Donors, sorted by id.
    arcs
        The compatible donor -> patient arcs.
    """

    patients: tuple[Patient, ...]
    donors: tuple[Donor, ...]
    arcs: Arcs
    _patient_index: dict[str, int] = field(repr=False, compare=False)
    _donor_index: dict[str, int] = field(repr=False, compare=False)

    @classmethod
    def build(
        cls,
        patients: Iterable[Patient],
        donors: Iterable[Donor],
        arcs: Iterable[tuple[str, str, float]] | None = None,
        *,
        arc_arrays: tuple[Sequence[str], Sequence[str], Sequence[float]] | None = None,
    ) -> Pool:
        """Validate records and build a pool.

        Parameters
        ----------
        patients, donors
            The people in the pool. Ids must be unique within each kind.
        arcs
            ``(donor_id, patient_id, score)`` triples.
        arc_arrays
            Alternatively, three parallel sequences of donor ids, patient ids and scores.

        Raises
        ------
        ValidationError
            Naming the record and field: a duplicate id, a donor paired with an unknown
            patient, an arc from or to an unknown person, an arc from a donor to their own
            patient, a duplicated arc, or a negative or non-finite score.

        Examples
        --------
        >>> pool = Pool.build(
        ...     [Patient("p1"), Patient("p2")],
        ...     [Donor("d1", patient="p1"), Donor("d2", patient="p2")],
        ...     [("d1", "p2", 1.0), ("d2", "p1", 1.0)],
        ... )
        >>> len(pool.arcs)
        2
        """
        patient_list = sorted(patients, key=lambda p: p.id)
        donor_list = sorted(donors, key=lambda d: d.id)
        patient_index = _index(patient_list, "patient")
        donor_index = _index(donor_list, "donor")
        for d in donor_list:
            if d.patient is not None and d.patient not in patient_index:
                raise ValidationError(
                    f"paired with unknown patient {d.patient!r}", record=d.id, field="patient"
                )
        if arc_arrays is None:
            triples = list(arcs or ())
            donor_ids = [t[0] for t in triples]
            patient_ids = [t[1] for t in triples]
            scores: Sequence[float] = [t[2] for t in triples]
        else:
            donor_ids = list(arc_arrays[0])
            patient_ids = list(arc_arrays[1])
            scores = list(arc_arrays[2])
        n = len(donor_ids)
        if len(patient_ids) != n or len(scores) != n:
            raise ValidationError("arc arrays differ in length")
        d_idx = np.empty(n, dtype=np.int32)
        p_idx = np.empty(n, dtype=np.int32)
        for k, (did, pid) in enumerate(zip(donor_ids, patient_ids, strict=True)):
            i = donor_index.get(did)
            if i is None:
                raise ValidationError(f"arc from unknown donor {did!r}", record=did, field="donor")
            j = patient_index.get(pid)
            if j is None:
                raise ValidationError(
                    f"arc to unknown patient {pid!r}", record=did, field="matches"
                )
            d_idx[k] = i
            p_idx[k] = j
        try:
            score = np.asarray(scores, dtype=np.float64).reshape(n)
        except (TypeError, ValueError):
            raise ValidationError("an arc score is not a number", field="score") from None
        bad = np.flatnonzero(~np.isfinite(score) | (score < 0))
        if bad.size:
            k = int(bad[0])
            raise ValidationError(
                f"arc to {patient_ids[k]!r} has score {score[k]!r}; scores must be finite and >= 0",
                record=donor_ids[k],
                field="score",
            )
        own = np.array([donor_list[i].patient for i in range(len(donor_list))], dtype=object)
        own_idx = np.array([patient_index[o] if o is not None else -1 for o in own], dtype=np.int64)
        self_arcs = np.flatnonzero(own_idx[d_idx] == p_idx) if n else np.empty(0, np.int64)
        if self_arcs.size:
            k = int(self_arcs[0])
            raise ValidationError(
                f"arc to their own patient {patient_ids[k]!r}", record=donor_ids[k], field="matches"
            )
        order = np.lexsort((p_idx, d_idx))
        d_idx, p_idx, score = d_idx[order], p_idx[order], score[order]
        if n > 1:
            dup = np.flatnonzero((d_idx[1:] == d_idx[:-1]) & (p_idx[1:] == p_idx[:-1]))
            if dup.size:
                k = int(dup[0]) + 1
                raise ValidationError(
                    f"duplicate arc to patient {patient_list[p_idx[k]].id!r}",
                    record=donor_list[d_idx[k]].id,
                    field="matches",
                )
        arcs_obj = Arcs(_frozen(d_idx), _frozen(p_idx), _frozen(score))  # type: ignore[arg-type]
        return cls(tuple(patient_list), tuple(donor_list), arcs_obj, patient_index, donor_index)

    def patient_index(self, patient_id: str) -> int:
        """Position of a patient in :attr:`patients`."""
        return self._patient_index[patient_id]

    def donor_index(self, donor_id: str) -> int:
        """Position of a donor in :attr:`donors`."""
        return self._donor_index[donor_id]

    def digest(self) -> str:
        """SHA-256 of the pool's content, stable across runs and platforms."""
        h = hashlib.sha256()
        for p in self.patients:
            h.update(f"P|{p.id}|{p.blood_group and p.blood_group.value}|{p.cpra!r}\n".encode())
        for d in self.donors:
            bg = d.blood_group and d.blood_group.value
            h.update(f"D|{d.id}|{d.patient}|{bg}|{d.age!r}\n".encode())
        h.update(self.arcs.donor.astype("<i4").tobytes())
        h.update(self.arcs.patient.astype("<i4").tobytes())
        h.update(self.arcs.score.astype("<f8").tobytes())
        return h.hexdigest()


def _index(records: Sequence[Patient | Donor], kind: str) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, r in enumerate(records):
        if r.id in index:
            raise ValidationError(f"duplicate {kind} id", record=r.id, field="id")
        index[r.id] = i
    return index
