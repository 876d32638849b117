"""Domain values: blood groups, patients, donors, arcs and pools.

These are frozen, validated on construction, and free of any solver or file-format detail.
Arcs are held as NumPy arrays (a pool of 2,000 patients has hundreds of thousands of them),
everything else as small frozen dataclasses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from enum import Enum

import numpy as np
from numpy.typing import NDArray

from possible.errors import InputError, ValidationError, ValidationErrors

__all__ = [
    "ABO_COMPATIBLE",
    "BLOOD_GROUP_ORDER",
    "MAX_AGE",
    "MAX_SCORE",
    "Arcs",
    "BloodGroup",
    "Donor",
    "DonorStatus",
    "Patient",
    "PatientStatus",
    "Pool",
    "age_on",
    "check_subgroup",
]


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


BLOOD_GROUP_ORDER = (BloodGroup.O, BloodGroup.A, BloodGroup.B, BloodGroup.AB)
"""The blood groups in the order of the integer codes array code uses for them (O is 0)."""

ABO_COMPATIBLE: NDArray[np.bool_] = np.array(
    [[d.can_give_to(p) for p in BLOOD_GROUP_ORDER] for d in BLOOD_GROUP_ORDER], dtype=bool
)
"""``ABO_COMPATIBLE[d, p]``: whether a donor of group code `d` may give to a patient of `p`."""
ABO_COMPATIBLE.flags.writeable = False

SUBGROUPS = {"A1": BloodGroup.A, "A2": BloodGroup.A, "A1B": BloodGroup.AB, "A2B": BloodGroup.AB}
"""The A subgroups a typing may record, and the blood group each belongs to."""


class PatientStatus(Enum):
    """Where a patient stands; only ``active`` patients are in a matching run's pool."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    MATCHED = "matched"
    TRANSPLANTED = "transplanted"
    WITHDRAWN = "withdrawn"


class DonorStatus(Enum):
    """Where a donor stands; only ``active`` donors with consent on record may be selected."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"
    DONATED = "donated"


@dataclass(frozen=True, slots=True)
class Patient:
    """A person who needs a kidney.

    Only `id` is required: pools read from peer formats carry arcs and little else. A pool
    whose arcs are to be derived from clinical data (:mod:`possible.compatibility`) records the
    rest. HLA names are kept as written; :mod:`possible.hla` reads and checks them.

    Parameters
    ----------
    id
        Opaque, unique identifier (never a name or other personal detail).
    blood_group
        ABO blood group, if known.
    cpra
        Calculated panel-reactive antibodies (the UK's cRF) as a fraction in [0, 1], if known.
    centre
        The transplant centre caring for the patient.
    subgroup
        A subgroup (``"A1"``, ``"A2"``, ``"A1B"``, ``"A2B"``), if typed.
    hla
        HLA typing, one name per antigen or allele (``"A2"``, ``"B*44:02"``, ...).
    unacceptable
        Unacceptable antigens from antibody screening, in the same naming.
    age
        Age in years.
    listed
        Date the patient joined the programme (waiting time counts from it).
    dialysis_start
        Date the patient started dialysis, if on dialysis.
    status
        Where the patient stands; only active patients receive arcs.
    previous_transplants
        How many kidney transplants the patient has had.
    anti_a_titre
        Reciprocal anti-A antibody titre (e.g. 8 for 1:8), used by the A2-donor policy switch.
    declined_donors
        Ids of donors the patient's centre has declined for this patient.
    max_donor_age
        Oldest donor the patient's centre will accept, in years.
    date_of_birth
        If recorded, the date `age` was worked out from (at the pool's run date); kept so
        that a pool written and read again for a later run gets the age at that run.
    matching_runs
        How many earlier matching runs of the programme the patient has been in, if known
        (the UK scheme counts waiting time this way).
    """

    id: str
    blood_group: BloodGroup | None = None
    cpra: float | None = None
    centre: str | None = None
    subgroup: str | None = None
    hla: tuple[str, ...] = ()
    unacceptable: tuple[str, ...] = ()
    age: float | None = None
    listed: dt.date | None = None
    dialysis_start: dt.date | None = None
    status: PatientStatus = PatientStatus.ACTIVE
    previous_transplants: int = 0
    anti_a_titre: int | None = None
    declined_donors: tuple[str, ...] = ()
    max_donor_age: float | None = None
    date_of_birth: dt.date | None = None
    matching_runs: int | None = None

    def __post_init__(self) -> None:
        _check_id(self.id, "patient")
        if self.cpra is not None and not (0.0 <= self.cpra <= 1.0):
            raise ValidationError(
                f"cPRA {self.cpra!r} is outside [0, 1]", record=self.id, field="cpra"
            )
        _check_person(self)
        if not isinstance(self.status, PatientStatus):
            raise ValidationError(f"unknown status {self.status!r}", record=self.id, field="status")
        if isinstance(self.previous_transplants, bool) or not (
            isinstance(self.previous_transplants, int)
            and 0 <= self.previous_transplants <= _MAX_PREVIOUS_TRANSPLANTS
        ):
            raise ValidationError(
                f"previous transplants {self.previous_transplants!r} is not a count",
                record=self.id,
                field="previous_transplants",
            )
        runs = self.matching_runs
        if runs is not None and (isinstance(runs, bool) or not isinstance(runs, int) or runs < 0):
            raise ValidationError(
                f"matching runs {runs!r} is not a count", record=self.id, field="matching_runs"
            )
        titre = self.anti_a_titre
        if titre is not None and (
            isinstance(titre, bool) or not isinstance(titre, int) or titre < 1
        ):
            raise ValidationError(
                f"anti-A titre {titre!r} is not a reciprocal titre (1, 2, 4, 8, ...)",
                record=self.id,
                field="anti_a_titre",
            )
        if self.max_donor_age is not None and not (0 < self.max_donor_age < MAX_AGE):
            raise ValidationError(
                f"donor age limit {self.max_donor_age!r} is not plausible",
                record=self.id,
                field="max_donor_age",
            )

    @property
    def clinical(self) -> bool:
        """Whether any field beyond id, blood group and cPRA is set."""
        return _clinical(self, 3)


@dataclass(frozen=True, slots=True)
class Donor:
    """A person willing to donate a kidney.

    Parameters
    ----------
    id
        Opaque, unique identifier (never a name or other personal detail).
    patient
        Id of the patient this donor is registered for; ``None`` for a non-directed donor.
    blood_group
        ABO blood group, if known.
    age
        Age in years, if known (the UK score's age-difference bonus uses it).
    centre
        The transplant centre caring for the donor.
    subgroup
        A subgroup (``"A1"``, ``"A2"``, ``"A1B"``, ``"A2B"``), if typed.
    hla
        HLA typing, one name per antigen or allele.
    status
        Where the donor stands; only active donors give arcs.
    consent
        Date the donor's consent to the exchange programme was recorded. A donor with no
        consent on record gives no arcs; withdrawing consent sets `status` to withdrawn.
    date_of_birth
        If recorded, the date `age` was worked out from (see :class:`Patient`).
    """

    id: str
    patient: str | None = None
    blood_group: BloodGroup | None = None
    age: float | None = None
    centre: str | None = None
    subgroup: str | None = None
    hla: tuple[str, ...] = ()
    status: DonorStatus = DonorStatus.ACTIVE
    consent: dt.date | None = None
    date_of_birth: dt.date | None = None

    def __post_init__(self) -> None:
        _check_id(self.id, "donor")
        _check_person(self)
        if not isinstance(self.status, DonorStatus):
            raise ValidationError(f"unknown status {self.status!r}", record=self.id, field="status")

    @property
    def non_directed(self) -> bool:
        """Whether this donor is non-directed (altruistic)."""
        return self.patient is None

    @property
    def clinical(self) -> bool:
        """Whether any field beyond id, patient, blood group and age (or birth date) is set."""
        return _clinical(self, 4, ignore="date_of_birth")


MAX_AGE = 130
"""Ages (and a centre's donor age limits) must be below this many years."""
_MAX_PREVIOUS_TRANSPLANTS = 50  # far beyond any real patient; a bigger count is a typing error
MAX_SCORE = 1e9
"""Largest arc score accepted: sums of scores must stay exact in double precision."""


def age_on(born: dt.date, day: dt.date) -> float:
    """Return the age on `day` of someone born on `born`, in years.

    The whole part is the completed years, as a calendar counts them (a birthday on 29
    February is reached on 1 March in other years); the fraction is the share of the current
    year of life gone by, cut (not rounded) to two decimals, so that the day before a birthday
    never reads as the birthday.

    Examples
    --------
    >>> age_on(dt.date(1964, 7, 2), dt.date(2025, 7, 1))
    60.99
    >>> age_on(dt.date(1964, 7, 2), dt.date(2025, 7, 2))
    61.0
    """

    def birthday(year: int) -> dt.date:
        try:
            return born.replace(year=year)
        except ValueError:  # 29 February in a common year
            return dt.date(year, 3, 1)

    completed = day.year - born.year - (birthday(day.year) > day)
    last, following = birthday(born.year + completed), birthday(born.year + completed + 1)
    fraction = (day - last).days / (following - last).days
    return completed + math.floor(fraction * 100) / 100


def _check_person(person: Patient | Donor) -> None:
    if person.age is not None and not (math.isfinite(person.age) and 0 <= person.age < MAX_AGE):
        raise ValidationError(f"age {person.age!r} is not plausible", record=person.id, field="age")
    check_subgroup(person.id, person.blood_group, person.subgroup)


def check_subgroup(record: str, blood_group: BloodGroup | None, subgroup: str | None) -> None:
    """Refuse an unknown subgroup, or one of another blood group (A2 for group B, say).

    Raises
    ------
    ValidationError
        Naming `record` and the field ``subgroup``.
    """
    if subgroup is None:
        return
    group = SUBGROUPS.get(subgroup)
    if group is None:
        raise ValidationError(
            f"unknown subgroup {subgroup!r} (expected A1, A2, A1B or A2B)",
            record=record,
            field="subgroup",
        )
    if blood_group is not None and group is not blood_group:
        raise ValidationError(
            f"subgroup {subgroup} is impossible for blood group {blood_group.value}",
            record=record,
            field="subgroup",
        )


def _clinical(record: Patient | Donor, basic: int, ignore: str = "") -> bool:
    return any(
        getattr(record, f.name) != f.default for f in fields(record)[basic:] if f.name != ignore
    )


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
    parts
        How each score is made up, when a scoring policy gave it: component name -> points
        per arc (they sum to `score`).
    """

    donor: NDArray[np.int32]
    patient: NDArray[np.int32]
    score: NDArray[np.float64]
    parts: dict[str, NDArray[np.float64]] = field(default_factory=dict, compare=False)

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
    clinical_arcs
        Whether the pool came without arcs, to be derived from its clinical data by
        :func:`possible.compatibility.build_arcs`.
    as_of
        The date of the matching run the pool is for, if recorded.
    age_scored
        Whether the arcs' scores already hold the UK age-difference term (a scoring policy
        scored ``donor_age_difference``), so that the UK objective adds none of its own.
    """

    patients: tuple[Patient, ...]
    donors: tuple[Donor, ...]
    arcs: Arcs
    _patient_index: dict[str, int] = field(repr=False, compare=False)
    _donor_index: dict[str, int] = field(repr=False, compare=False)
    clinical_arcs: bool = False
    as_of: dt.date | None = None
    age_scored: bool = False

    @classmethod
    def build(
        cls,
        patients: Iterable[Patient],
        donors: Iterable[Donor],
        arcs: Iterable[tuple[str, str, float]] | None = None,
        *,
        arc_arrays: tuple[Sequence[str], Sequence[str], Sequence[float]] | None = None,
        clinical_arcs: bool = False,
        as_of: dt.date | None = None,
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
        clinical_arcs
            Mark a pool given without arcs, whose arcs come from its clinical data.
        as_of
            The date of the matching run the pool is for.

        Raises
        ------
        ValidationErrors
            Every problem at once, each naming its record and field: a duplicate id, a donor
            paired with an unknown patient, an arc from or to an unknown person, an arc from
            a donor to their own patient, a duplicated arc, or a negative or non-finite score.

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
        # Every problem is collected before any is raised, so a file's are reported together.
        errors: list[InputError] = []
        patient_index = _index(patient_list, "patient", errors)
        donor_index = _index(donor_list, "donor", errors)
        for d in donor_list:
            if d.patient is not None and d.patient not in patient_index:
                errors.append(
                    ValidationError(
                        f"paired with unknown patient {d.patient!r}", record=d.id, field="patient"
                    )
                )
        for p in patient_list:
            for did in p.declined_donors:
                if did not in donor_index:
                    errors.append(
                        ValidationError(
                            f"declines unknown donor {did!r}",
                            record=p.id,
                            field="declined_donors",
                        )
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
            j = patient_index.get(pid)
            if i is None:
                errors.append(
                    ValidationError(f"arc from unknown donor {did!r}", record=did, field="donor")
                )
            elif j is None:
                errors.append(
                    ValidationError(f"arc to unknown patient {pid!r}", record=did, field="matches")
                )
            else:
                d_idx[k] = i
                p_idx[k] = j
        if errors:
            raise ValidationErrors(errors)
        try:
            score = np.asarray(scores, dtype=np.float64).reshape(n)
        except (TypeError, ValueError):
            raise ValidationError("an arc score is not a number", field="score") from None
        arcs_obj = _checked_arcs(d_idx, p_idx, score, donor_list, patient_list, patient_index)
        return cls(
            tuple(patient_list),
            tuple(donor_list),
            arcs_obj,
            patient_index,
            donor_index,
            clinical_arcs,
            as_of,
        )

    def with_arcs(
        self,
        donor: NDArray[np.int32],
        patient: NDArray[np.int32],
        score: NDArray[np.float64],
        *,
        parts: dict[str, NDArray[np.float64]] | None = None,
        patients: Sequence[Patient] | None = None,
    ) -> Pool:
        """Return this pool with other arcs (as index arrays), and optionally updated patients.

        The fast path for arcs computed in bulk (:mod:`possible.compatibility`): the same
        rules as :meth:`build`, checked on whole arrays.

        Parameters
        ----------
        donor, patient, score
            Parallel arrays: donor index, patient index, score.
        parts
            Score breakdown per arc (component -> points).
        patients
            Replacement patient records, with the same ids in the same order.

        Raises
        ------
        ValidationError
            As :meth:`build`, for an index out of range, an arc to the donor's own patient, a
            duplicated arc or a negative score.
        """
        new_patients = self.patients if patients is None else tuple(patients)
        if [p.id for p in new_patients] != [p.id for p in self.patients]:
            raise ValidationError("replacement patients must keep the pool's ids and order")
        d = np.asarray(donor, dtype=np.int32)
        p = np.asarray(patient, dtype=np.int32)
        s = np.asarray(score, dtype=np.float64)
        if not (d.shape == p.shape == s.shape and d.ndim == 1):
            raise ValidationError("arc arrays differ in length")
        if d.size and (
            d.min() < 0
            or d.max() >= len(self.donors)
            or p.min() < 0
            or p.max() >= len(new_patients)
        ):
            raise ValidationError("arc index out of range")
        arcs = _checked_arcs(d, p, s, self.donors, new_patients, self._patient_index, parts)
        return Pool(
            new_patients,
            self.donors,
            arcs,
            self._patient_index,
            self._donor_index,
            False,
            self.as_of,
        )

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
            h.update(f"P|{p.id}|{p.blood_group and p.blood_group.value}|{p.cpra!r}".encode())
            h.update(_clinical_digest(p, 3))
        for d in self.donors:
            bg = d.blood_group and d.blood_group.value
            h.update(f"D|{d.id}|{d.patient}|{bg}|{d.age!r}".encode())
            h.update(_clinical_digest(d, 4))
        h.update(self.arcs.donor.astype("<i4").tobytes())
        h.update(self.arcs.patient.astype("<i4").tobytes())
        h.update(self.arcs.score.astype("<f8").tobytes())
        return h.hexdigest()


def _checked_arcs(
    d: NDArray[np.int32],
    p: NDArray[np.int32],
    s: NDArray[np.float64],
    donors: Sequence[Donor],
    patients: Sequence[Patient],
    patient_index: dict[str, int],
    parts: dict[str, NDArray[np.float64]] | None = None,
) -> Arcs:
    """Check arcs given by index (scores, own patients, duplicates) and sort them.

    Raises
    ------
    ValidationErrors
        Every bad arc at once.
    """
    errors: list[InputError] = [
        ValidationError(
            f"arc to {patients[p[k]].id!r} has score {s[k]!r}; scores must be finite, >= 0 "
            f"and at most {MAX_SCORE:g}",
            record=donors[d[k]].id,
            field="score",
        )
        for k in np.flatnonzero(~np.isfinite(s) | (s < 0) | (s > MAX_SCORE)).tolist()
    ]
    own = np.array(
        [patient_index[x.patient] if x.patient is not None else -1 for x in donors],
        dtype=np.int64,
    )
    selfish = np.flatnonzero(own[d] == p) if d.size else np.zeros(0, np.int64)
    errors.extend(
        ValidationError(
            f"arc to their own patient {patients[p[k]].id!r}",
            record=donors[d[k]].id,
            field="matches",
        )
        for k in selfish.tolist()
    )
    order = np.lexsort((p, d))
    d, p, s = d[order], p[order], s[order]
    if d.size > 1:
        dup = np.flatnonzero((d[1:] == d[:-1]) & (p[1:] == p[:-1])) + 1
        errors.extend(
            ValidationError(
                f"duplicate arc to patient {patients[p[k]].id!r}",
                record=donors[d[k]].id,
                field="matches",
            )
            for k in dup.tolist()
        )
    if errors:
        raise ValidationErrors(errors)
    kept = {k: _frozen(np.asarray(v, dtype=np.float64)[order]) for k, v in (parts or {}).items()}
    return Arcs(_frozen(d), _frozen(p), _frozen(s), kept)  # type: ignore[arg-type]


def _clinical_digest(record: Patient | Donor, basic: int) -> bytes:
    """Encode the clinical fields for a digest; empty for a record without any, as before."""
    if not record.clinical and record.date_of_birth is None:
        return b"\n"
    parts = []
    for f in fields(record)[basic:]:
        value = getattr(record, f.name)
        if f.name == "date_of_birth" and value is None:
            continue  # a field added later: absent, it leaves earlier digests as they were
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, dt.date):
            value = value.isoformat()
        parts.append(f"{f.name}={value!r}")
    return ("|" + "|".join(parts) + "\n").encode()


def _index(
    records: Sequence[Patient | Donor], kind: str, errors: list[InputError]
) -> dict[str, int]:
    """Map ids to positions; each duplicate id is added to `errors` (the first one stands)."""
    index: dict[str, int] = {}
    for i, r in enumerate(records):
        if r.id in index:
            errors.append(ValidationError(f"duplicate {kind} id", record=r.id, field="id"))
        else:
            index[r.id] = i
    return index
