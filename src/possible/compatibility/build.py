"""Derive a pool's arcs from what transplant centres record.

For every donor and patient of a pool, :func:`build_arcs` decides whether the transplant is
possible and, if so, what it is worth. A pair is *excluded* for the first of these reasons that
applies (all of them are listed by :meth:`Compatibility.explain`):

1. the donor is the patient's own (registered) donor;
2. the donor is not available: not active, or no consent on record;
3. the patient is not active;
4. blood groups are incompatible (:mod:`possible.compatibility.abo`);
5. the virtual crossmatch is not negative: the donor may carry an antigen the patient has
   antibodies against, or is not typed at a locus where the patient has them
   (:mod:`possible.hla.typing`);
6. the patient's centre has declined this donor;
7. the donor is older than the patient's centre accepts.

Everything is computed on whole arrays (donors x patients), so a pool of 2,000 patients and
their donors takes well under a second; no loop runs over donor-patient pairs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from possible.compatibility.abo import GROUP_CODE, AboRule, abo_matrix
from possible.compatibility.mismatch import (
    MISMATCH_LOCI,
    LocusTypes,
    mismatch_counts,
    mismatch_level,
)
from possible.compatibility.scoring import ArcFacts, ScoringPolicy, scoring_policy
from possible.domain import Donor, DonorStatus, Patient, PatientStatus, Pool
from possible.errors import InputError, ValidationError, ValidationErrors
from possible.hla.cpra import Panel, cpra
from possible.hla.nomenclature import Nomenclature, nomenclature
from possible.hla.typing import (
    TokenSpace,
    carries_unacceptable,
    crossmatch_typing,
    locus_bits,
    matching_typing,
    read_names,
    serology_blank_hits,
    serology_blanks,
    typed_loci,
)
from possible.optimise.result import MatchingResult, Transplant, UnmatchedReason

__all__ = ["Compatibility", "Exclusion", "Rules", "Verdict", "build_arcs", "given_arc_conflicts"]

DAYS_PER_YEAR = 365.25


class Exclusion(enum.IntEnum):
    """Why a donor cannot give to a patient (the first reason that applies)."""

    COMPATIBLE = 0
    OWN_DONOR = 1
    DONOR_UNAVAILABLE = 2
    PATIENT_UNAVAILABLE = 3
    BLOOD_GROUP = 4
    UNACCEPTABLE_ANTIGEN = 5
    DECLINED = 6
    DONOR_TOO_OLD = 7


@dataclass(frozen=True, slots=True)
class Rules:
    """The compatibility rules of a programme.

    Parameters
    ----------
    abo
        Blood group rule (the A2 switch is off by default).
    centre_exclusions
        Honour each patient's declined donors and donor age limit (default: yes).
    cpra_with_abo
        Where cPRA is computed (not recorded), also count the panel donors of an incompatible
        blood group as ruled out (default: HLA only, as the UK's cRF).
    """

    abo: AboRule = field(default_factory=AboRule)
    centre_exclusions: bool = True
    cpra_with_abo: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether one donor can give to one patient, and why.

    Attributes
    ----------
    donor, patient
        Ids.
    compatible
        Whether the arc exists.
    reasons
        Every reason against the arc, in the order of :class:`Exclusion`, as sentences (empty
        when compatible).
    basis
        For a compatible arc, the rules that make it so (e.g. the A2 rule).
    score
        The arc's score, if compatible.
    breakdown
        The arc's points per scoring component, if compatible.
    mismatch
        HLA-A, -B, -DR mismatches written A-B-DR (``"110"``; ``"?"`` for a locus not typed on
        both sides) and the UK mismatch level (1 to 4; 0 if unknown), if compatible.
    facts
        What the points were counted from (cPRA, waiting, mismatches, ages: every fact of
        :data:`~possible.compatibility.scoring.FACTS` known for the arc), if compatible.
    sensitisation
        The patient's cPRA and where it comes from (``"recorded"``, or the panel it was
        computed against), or ``None`` where neither.
    """

    donor: str
    patient: str
    compatible: bool
    reasons: tuple[str, ...]
    basis: tuple[str, ...]
    score: float | None
    breakdown: dict[str, float]
    mismatch: tuple[str, int] | None = None
    facts: dict[str, float] = field(default_factory=dict)
    sensitisation: tuple[float, str] | None = None


@dataclass(frozen=True, slots=True)
class Compatibility:
    """A pool with its derived arcs, and everything needed to explain them.

    Attributes
    ----------
    pool
        The pool with its arcs (scores and their breakdown) and every patient's cPRA.
    exclusion
        ``int8`` array ``(donors, patients)``: the :class:`Exclusion` of each pair.
    by_a2
        Boolean array ``(donors, patients)``: ABO-compatible only through the A2 rule.
    cpra_computed
        Ids of patients whose cPRA was computed here (it was not recorded).
    cpra_panel
        The reference panel those were computed against (``None`` if none was).
    policy
        The scoring policy.
    rules
        The compatibility rules.
    as_of
        The date waiting time was counted to, if any patient has a listing date.
    facts
        The facts of each arc of `pool` (HLA mismatches, ages, cPRA, ...), in arc order.
    """

    pool: Pool
    exclusion: NDArray[np.int8]
    by_a2: NDArray[np.bool_]
    cpra_computed: frozenset[str]
    cpra_panel: Panel | None
    policy: ScoringPolicy
    rules: Rules
    as_of: dt.date | None
    typings: tuple[tuple[str, ...], ...]
    unacceptable: tuple[tuple[str, ...], ...]
    table: Nomenclature
    facts: ArcFacts

    def unscored(self) -> dict[str, str]:
        """Components of the policy that give no arc any points because their fact is unknown.

        Returns
        -------
        dict
            Component name -> the fact it scores, for every component whose fact is not known
            for any arc (a pool that records no ``matching_runs``, say). Empty when the pool has
            no arcs: nothing is scored, so nothing is missing.
        """
        out: dict[str, str] = {}
        for component in self.policy.components:
            fact = component.fact
            values = self.facts.values.get(fact) if fact is not None else None
            if fact is not None and values is not None and values.size and np.isnan(values).all():
                out[component.name] = fact
        return out

    def counts(self) -> dict[str, int]:
        """How many donor-patient pairs fall under each :class:`Exclusion`."""
        found = np.bincount(self.exclusion.ravel(), minlength=len(Exclusion))
        return {e.name.lower(): int(found[e.value]) for e in Exclusion}

    def ruled_out(self, patient_id: str) -> dict[str, int]:
        """How many donors are ruled out for one patient, per reason (their own left out).

        Each donor counts once, under the first reason that applies (the order of
        :class:`Exclusion`); :meth:`explain` lists them all for one donor.

        Examples
        --------
        >>> import datetime as dt
        >>> from possible.domain import BloodGroup, Donor, Patient, Pool
        >>> day = dt.date(2026, 1, 1)
        >>> pool = Pool.build(
        ...     [Patient("p1", BloodGroup.O), Patient("p2", BloodGroup.A)],
        ...     [Donor("d1", "p1", BloodGroup.O, consent=day),
        ...      Donor("d2", "p2", BloodGroup.A, consent=day)],
        ... )
        >>> build_arcs(pool, scoring="transplants").ruled_out("p1")
        {'blood_group': 1}
        """
        found = np.bincount(
            self.exclusion[:, self.pool.patient_index(patient_id)], minlength=len(Exclusion)
        )
        return {
            e.name.lower(): int(found[e.value])
            for e in Exclusion
            if e not in (Exclusion.COMPATIBLE, Exclusion.OWN_DONOR) and found[e.value]
        }

    def patient_summary(self, patient_id: str) -> dict[str, Any]:
        """Summarise what a coordinator asks first about one patient (JSON-ready).

        The patient's status; their own donors, each with why they may not give (if so);
        the donors who are compatible, split into those who can give in an exchange and those
        who cannot (their own patient is not active); and how many donors each rule ruled out
        (:meth:`ruled_out`).
        """
        pool = self.pool
        j = pool.patient_index(patient_id)
        patient = pool.patients[j]
        own = {d.id: _unavailable(d, pool.as_of) for d in pool.donors if d.patient == patient.id}
        usable: list[str] = []
        blocked: dict[str, str] = {}
        for i in pool.arcs.donor[pool.arcs.patient == j].tolist():
            donor = pool.donors[int(i)]
            partner = pool.patients[pool.patient_index(donor.patient)] if donor.patient else None
            if partner is not None and partner.status is not PatientStatus.ACTIVE:
                blocked[donor.id] = f"their patient {partner.id} is {partner.status.value}"
            else:
                usable.append(donor.id)
        return {
            "patient": patient.id,
            "status": patient.status.value,
            "own_donors": {d: list(why) for d, why in own.items()},
            "can_join_an_exchange": patient.status is PatientStatus.ACTIVE
            and any(not why for why in own.values()),
            "compatible_donors": usable,
            "compatible_but_cannot_give": blocked,
            "excluded": self.ruled_out(patient.id),
            "cpra": None if patient.cpra is None else round(patient.cpra, 4),
            "cpra_source": self._cpra_source(patient.id) if patient.cpra is not None else None,
        }

    def _cpra_source(self, patient_id: str) -> str:
        """Say where the patient's cPRA comes from: ``"recorded"``, or how it was computed."""
        if patient_id not in self.cpra_computed:
            return "recorded"
        also = ", blood group included" if self.rules.cpra_with_abo else ""
        assert self.cpra_panel is not None
        return f"computed from the unacceptable antigens{also}, against {self.cpra_panel.source}"

    def arc_facts(self, k: int, names: Iterable[str] | None = None) -> dict[str, float]:
        """Return the known facts of arc `k` of :attr:`pool` (all of them, or only `names`)."""
        wanted = self.facts.values if names is None else names
        out = {}
        for name in wanted:
            value = float(self.facts.values[name][k])
            if not math.isnan(value):
                out[name] = round(value, 4)
        return out

    def explain_result(self, result: MatchingResult) -> MatchingResult:
        """Attach to `result` what its proposals and its unmatched patients were judged on.

        Returns
        -------
        MatchingResult
            A copy of `result`. Each transplant carries the facts its points were counted from
            (those of the policy's components known for it: cPRA, waiting, HLA mismatch
            level, ...), and each unmatched patient with no compatible donor how many donors
            each rule ruled out (:meth:`ruled_out`). Its policy names the patients whose cPRA
            was computed, not recorded, and the panel it was computed against.
        """
        pool = self.pool
        scored = list(dict.fromkeys(c.fact for c in self.policy.components if c.fact is not None))

        def explained(t: Transplant) -> Transplant:
            k = self._arc(pool.donor_index(t.donor), pool.patient_index(t.patient))
            facts = {} if k is None else self.arc_facts(k, scored)
            return dataclasses.replace(t, facts=tuple(facts.items()))

        exchanges = tuple(
            dataclasses.replace(e, transplants=tuple(explained(t) for t in e.transplants))
            for e in result.exchanges
        )
        unmatched = tuple(
            dataclasses.replace(u, excluded=tuple(self.ruled_out(u.patient).items()))
            if u.reason is UnmatchedReason.NO_COMPATIBLE_DONOR
            else u
            for u in result.unmatched
        )
        policy = dict(result.policy)
        if self.cpra_computed:
            assert self.cpra_panel is not None
            policy["cpra_panel"] = self.cpra_panel.source
            policy["cpra_panel_digest"] = self.cpra_panel.digest()
            policy["cpra_with_abo"] = self.rules.cpra_with_abo
            policy["cpra_computed_for"] = sorted(self.cpra_computed)
        return dataclasses.replace(result, exchanges=exchanges, unmatched=unmatched, policy=policy)

    def explain(self, donor_id: str, patient_id: str) -> Verdict:
        """Explain one donor-patient pair.

        Raises
        ------
        KeyError
            If either id is not in the pool.
        """
        pool = self.pool
        i = pool.donor_index(donor_id)
        j = pool.patient_index(patient_id)
        donor, patient = pool.donors[i], pool.patients[j]
        reasons: list[str] = []
        if donor.patient == patient.id:
            reasons.append("the donor is the patient's own donor")
        reasons.extend(_unavailable(donor, self.pool.as_of))
        if patient.status is not PatientStatus.ACTIVE:
            reasons.append(f"the patient is {patient.status.value}")
        dg, pg = donor.blood_group, patient.blood_group
        if dg is None or pg is None:
            reasons.append("a blood group is not recorded")
        elif not dg.can_give_to(pg) and not self.by_a2[i, j]:
            reasons.append(f"blood group {dg.value} cannot give to {pg.value}{self._a2_note(i, j)}")
        reasons.extend(self._antigen_reasons(i, j))
        if self.rules.centre_exclusions:
            if donor.id in patient.declined_donors:
                reasons.append("the patient's centre has declined this donor")
            too_old = _over_age_limit(donor, patient.max_donor_age)
            if too_old is not None:
                reasons.append(too_old)
        basis: list[str] = []
        score = None
        breakdown: dict[str, float] = {}
        mismatch = None
        facts: dict[str, float] = {}
        compatible = self.exclusion[i, j] == Exclusion.COMPATIBLE
        if compatible:
            basis.append("A2 rule (low anti-A titre)" if self.by_a2[i, j] else "ABO compatible")
            basis.append("virtual crossmatch negative")
            arcs = pool.arcs
            k = self._arc(i, j)
            assert k is not None  # a compatible pair is an arc
            score = float(arcs.score[k])
            breakdown = {name: float(v[k]) for name, v in arcs.parts.items()}
            counts = [self.facts.values[f"mismatch_{x}"][k] for x in ("a", "b", "dr")]
            level = self.facts.values["mismatch_level"][k]
            mismatch = (
                "".join("?" if np.isnan(c) else str(int(c)) for c in counts),
                0 if np.isnan(level) else int(level),
            )
            facts = self.arc_facts(k)
        sensitisation = (
            None
            if patient.cpra is None
            else (round(patient.cpra, 4), self._cpra_source(patient.id))
        )
        return Verdict(
            donor_id,
            patient_id,
            bool(compatible),
            tuple(reasons),
            tuple(basis),
            score,
            breakdown,
            mismatch,
            facts,
            sensitisation,
        )

    def _arc(self, i: int, j: int) -> int | None:
        """Return the index in :attr:`pool` of the arc from donor `i` to patient `j`, if any.

        Arcs are sorted by donor, then patient, so two binary searches find it.
        """
        arcs = self.pool.arcs
        lo, hi = np.searchsorted(arcs.donor, i, "left"), np.searchsorted(arcs.donor, i, "right")
        k = int(lo + np.searchsorted(arcs.patient[lo:hi], j))
        return k if k < hi and arcs.patient[k] == j else None

    def _a2_note(self, i: int, j: int) -> str:
        """Why the A2 rule, if on, did not open this arc (empty where it could not apply)."""
        limit = self.rules.abo.a2_max_titre
        donor, patient = self.pool.donors[i], self.pool.patients[j]
        a2_cases = {("A2", "O"), ("A2", "B"), ("A2B", "B")}
        group = patient.blood_group.value if patient.blood_group is not None else None
        if limit is None or (donor.subgroup, group) not in a2_cases:
            return ""
        if patient.anti_a_titre is None:
            return f" (A2 rule: no anti-A titre on record for the patient; at most {limit})"
        return f" (A2 rule: anti-A titre {patient.anti_a_titre} is above {limit})"

    def _antigen_reasons(self, i: int, j: int) -> list[str]:
        """List why the crossmatch is not negative: antigens and untyped loci.

        Each unacceptable antigen the donor may carry is named with the donor's typed name;
        each locus of the patient's antibodies where the donor is not typed, with them.
        """
        wanted = self.unacceptable[j]
        if not wanted:
            return []
        typed = self.typings[i]
        out = _carried(self.pool.donors[i].hla, typed, wanted, self.table)
        covered = typed_loci(typed, self.table)
        blanks = serology_blanks(typed, self.table)
        for locus in dict.fromkeys(self.table.locus(u) for u in wanted):
            if locus not in covered:
                listed = ", ".join(u for u in wanted if self.table.locus(u) == locus)
                out.append(
                    f"the donor is not typed at HLA-{locus}, where the patient has "
                    f"unacceptable antigens ({listed})"
                )
                continue
            unseen = [
                u for u in wanted if self.table.locus(u) == locus and self.table.without_serology(u)
            ]
            if locus in blanks and unseen:
                out.append(
                    f"the donor is typed at HLA-{locus} by serology with one antigen: the other"
                    f" may be a group serology cannot see, as the patient's unacceptable"
                    f" {', '.join(unseen)}"
                )
        return out


def _unavailable(donor: Donor, as_of: dt.date | None) -> list[str]:
    """Why a donor may not give at all (empty if they may): status and consent."""
    out = []
    if donor.status is not DonorStatus.ACTIVE:
        out.append(f"the donor is {donor.status.value}")
    if donor.consent is None:
        out.append("the donor has no consent on record")
    elif as_of is not None and donor.consent > as_of:
        out.append(
            f"the donor's consent is dated {donor.consent.isoformat()}, after the run date "
            f"{as_of.isoformat()}"
        )
    return out


def _over_age_limit(donor: Donor, limit: float | None) -> str | None:
    """Why a donor is not within a centre's age limit, in completed years (``None`` if within).

    A donor whose age is not recorded cannot be shown to be within a limit.
    """
    if limit is None:
        return None
    if donor.age is None:
        return f"the donor's age is not recorded; the centre's limit is {limit:g}"
    if math.floor(donor.age) > limit:
        return f"donor age {donor.age:g} is above the centre's limit {limit:g}"
    return None


def _carried(
    names: Sequence[str], typed: Sequence[str], wanted: Sequence[str], table: Nomenclature
) -> list[str]:
    """Name each of `wanted` the donor may carry, with the donor's typed name for it.

    `names` are the donor's names as recorded, `typed` the tokens read from them (with any
    DR51/52/53 inferred from DRB1, which is said so).
    """
    own = {s.token for s in read_names(names, record="", field="", table=table, typing=True)}
    space = TokenSpace(set(wanted) | set(typed), table=table)
    out = []
    for u in wanted:
        ui = space.index[u]
        carriers = [
            t if t in own else f"{t} (inferred from DRB1)" for t in typed if ui in space.carried(t)
        ]
        if carriers:
            out.append(f"unacceptable antigen {u}: the donor is typed {', '.join(carriers)}")
    return out


def given_arc_conflicts(pool: Pool, table: Nomenclature | None = None) -> list[tuple[int, str]]:
    """Find a pool's given arcs that its own clinical records rule out.

    Only recorded facts count: blood groups that cannot give (an A2 or A2B donor is left to the
    run's A2 rule), an unacceptable antigen the donor may carry, a donor the patient's centre
    declined, a donor above the centre's age limit. What a record merely lacks (a typing at
    some locus, a consent date) is not a contradiction; the graph leaves out donors who may
    not give.

    Returns
    -------
    list
        ``(arc index, reason)`` for each such arc, reasons joined by ``"; "``.
    """
    table = table or nomenclature()
    arcs = pool.arcs
    if not arcs.donor.size:
        return []
    typings, unacceptable = _read_all(pool, table)
    positive = carries_unacceptable(typings, unacceptable, table)
    out: list[tuple[int, str]] = []
    for k, (i, j) in enumerate(zip(arcs.donor.tolist(), arcs.patient.tolist(), strict=True)):
        donor, patient = pool.donors[i], pool.patients[j]
        why: list[str] = []
        dg, pg = donor.blood_group, patient.blood_group
        if (
            dg is not None
            and pg is not None
            and not dg.can_give_to(pg)
            and donor.subgroup not in ("A2", "A2B")
        ):
            why.append(f"blood group {dg.value} cannot give to {pg.value}")
        if positive[j, i]:
            why.extend(_carried(donor.hla, typings[i], unacceptable[j], table))
        if donor.id in patient.declined_donors:
            why.append("the patient's centre has declined this donor")
        too_old = _over_age_limit(donor, patient.max_donor_age)
        if too_old is not None and donor.age is not None:  # an unrecorded age contradicts nothing
            why.append(too_old)
        if why:
            out.append((k, "; ".join(why)))
    return out


def build_arcs(
    pool: Pool,
    *,
    rules: Rules | None = None,
    scoring: str | ScoringPolicy = "uk",
    panel: Panel | None = None,
    as_of: dt.date | None = None,
    table: Nomenclature | None = None,
) -> Compatibility:
    """Decide every donor -> patient arc of `pool` from its clinical records.

    Parameters
    ----------
    pool
        Patients and donors with blood groups, HLA typings, unacceptable antigens and the
        rest (any arcs it carries are replaced).
    rules
        Compatibility rules; :class:`Rules` defaults otherwise.
    scoring
        A scoring policy, or the name of a shipped one (``"uk"``, ``"transplants"``) or a
        policy file.
    panel
        Reference panel for patients whose cPRA is not recorded (the shipped one by default).
    as_of
        Date of the matching run, for waiting and dialysis time (and consent: one dated later
        does not count yet); by default the pool's ``as_of``, else the latest listing or
        dialysis date in the pool, so that the same pool always scores the same.
    table
        HLA nomenclature; the shipped one by default.

    Returns
    -------
    Compatibility

    Raises
    ------
    ValidationErrors
        Every bad HLA name in the pool at once, each naming its record and field; or, with
        `as_of`, every patient listed or on dialysis only after that date.

    Examples
    --------
    >>> import datetime as dt
    >>> from possible.domain import BloodGroup, Donor, Patient, Pool
    >>> day = dt.date(2026, 1, 1)
    >>> pool = Pool.build(
    ...     [Patient("p1", BloodGroup.A, hla=("A3", "B7", "DR4"), unacceptable=("A1",)),
    ...      Patient("p2", BloodGroup.O, hla=("A2", "B7", "DR15"))],
    ...     [Donor("d1", "p1", BloodGroup.O, hla=("A2", "B7", "DR15"), consent=day),
    ...      Donor("d2", "p2", BloodGroup.A, hla=("A1", "B8", "DR17"), consent=day)],
    ... )
    >>> compat = build_arcs(pool, scoring="transplants")
    >>> [(compat.pool.donors[d].id, compat.pool.patients[p].id)
    ...  for d, p in zip(compat.pool.arcs.donor, compat.pool.arcs.patient)]
    [('d1', 'p2')]
    >>> compat.explain("d2", "p1").reasons
    ('unacceptable antigen A1: the donor is typed A1',)
    >>> compat.explain("d1", "p1").reasons
    ("the donor is the patient's own donor",)
    """
    rules = rules or Rules()
    table = table or nomenclature()
    policy = scoring if isinstance(scoring, ScoringPolicy) else scoring_policy(scoring)
    patients, donors = pool.patients, pool.donors
    n_p, n_d = len(patients), len(donors)

    typings, unacceptable = _read_all(pool, table)
    asked = as_of
    dated = as_of or pool.as_of  # a real run date, if the pool or the caller gives one
    as_of = _run_date(patients, as_of, pool.as_of)

    # Sensitisation: recorded cPRA stands; otherwise computed against the panel.
    missing = [j for j, p in enumerate(patients) if p.cpra is None]
    new_patients: list[Patient] = list(patients)
    if missing:
        groups = [patients[j].blood_group for j in missing] if rules.cpra_with_abo else None
        values = cpra([unacceptable[j] for j in missing], panel, blood_groups=groups, table=table)
        for j, v in zip(missing, values.tolist(), strict=True):
            # In whole percent, as labs report a cRF: the value shown is the value scored.
            new_patients[j] = dataclasses.replace(patients[j], cpra=round(float(v), 2))

    exclusion = np.zeros((n_d, n_p), dtype=np.int8)
    compatible_abo, by_a2 = abo_matrix(
        [d.blood_group for d in donors],
        [d.subgroup for d in donors],
        [p.blood_group for p in patients],
        [p.anti_a_titre for p in patients],
        rules.abo,
    )
    positive = carries_unacceptable(typings, unacceptable, table).T
    positive |= _untyped(typings, unacceptable, table)
    declined = np.zeros((n_d, n_p), dtype=bool)
    too_old = np.zeros((n_d, n_p), dtype=bool)
    if rules.centre_exclusions:
        for j, p in enumerate(patients):
            for did in p.declined_donors:
                declined[pool.donor_index(did), j] = True
        # Completed years, as centres state limits ("up to 60" takes a donor of 60.6); a
        # donor whose age is not recorded cannot be shown to be within a limit.
        ages = np.array([np.floor(d.age) if d.age is not None else np.inf for d in donors])
        limits = np.array(
            [p.max_donor_age if p.max_donor_age is not None else np.inf for p in patients]
        )
        too_old = (ages[:, None] > limits[None, :]) & np.isfinite(limits)[None, :]
    own = np.array(
        [pool.patient_index(d.patient) if d.patient is not None else -1 for d in donors],
        dtype=np.int64,
    )
    # Consent counts against a real run date only: the latest listing (the fallback for
    # waiting time) says nothing about when a donor may have agreed.
    donor_off = np.array([bool(_unavailable(d, dated)) for d in donors], dtype=bool)
    patient_off = np.array([p.status is not PatientStatus.ACTIVE for p in patients], dtype=bool)
    # Lowest-priority reason first, so that a higher one overwrites it.
    exclusion[too_old] = Exclusion.DONOR_TOO_OLD
    exclusion[declined] = Exclusion.DECLINED
    exclusion[positive] = Exclusion.UNACCEPTABLE_ANTIGEN
    exclusion[~compatible_abo] = Exclusion.BLOOD_GROUP
    exclusion[:, patient_off] = Exclusion.PATIENT_UNAVAILABLE
    exclusion[donor_off, :] = Exclusion.DONOR_UNAVAILABLE
    paired = np.flatnonzero(own >= 0)
    exclusion[paired, own[paired]] = Exclusion.OWN_DONOR

    found_d, found_p = np.nonzero(exclusion == Exclusion.COMPATIBLE)
    arc_d: NDArray[np.int32] = found_d.astype(np.int32)
    arc_p: NDArray[np.int32] = found_p.astype(np.int32)
    facts = _facts(pool, new_patients, arc_d, arc_p, as_of, table, own, donor_off)
    parts = policy.score(facts)
    total = np.zeros(arc_d.shape[0])
    for v in parts.values():
        total += v
    scored = pool.with_arcs(arc_d, arc_p, total, parts=parts, patients=new_patients)
    # The points then hold the UK age term: the UK objective must not add its own on top.
    age_scored = any(c.fact == "donor_age_difference" for c in policy.components)
    scored = dataclasses.replace(scored, age_scored=age_scored)
    if asked is not None:  # the graph reads consent dates against the same run date
        scored = dataclasses.replace(scored, as_of=asked)
    return Compatibility(
        pool=scored,
        exclusion=exclusion,
        by_a2=by_a2,
        cpra_computed=frozenset(patients[j].id for j in missing),
        cpra_panel=(panel or Panel.shipped()) if missing else None,
        policy=policy,
        rules=rules,
        as_of=as_of,
        typings=typings,
        unacceptable=unacceptable,
        table=table,
        facts=facts,
    )


def _read_all(
    pool: Pool, table: Nomenclature
) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    """Read every typing and antibody list, collecting all bad names before failing.

    Returns the donors' crossmatch typings and the patients' antibody lists, as tokens.
    """
    errors: list[InputError] = []

    def read(names: Sequence[str], record: str, field: str) -> tuple[str, ...]:
        try:
            specs = read_names(
                names, record=record, field=field, table=table, typing=field == "hla"
            )
            return tuple(s.token for s in specs)
        except ValidationErrors as err:
            errors.extend(err.errors)
            return ()

    donors = tuple(crossmatch_typing(read(d.hla, d.id, "hla"), table) for d in pool.donors)
    unacceptable = tuple(read(p.unacceptable, p.id, "unacceptable") for p in pool.patients)
    for p in pool.patients:
        read(p.hla, p.id, "hla")
    if errors:
        raise ValidationErrors(errors)
    return donors, unacceptable


def _matching_typings(
    people: Sequence[Patient | Donor], table: Nomenclature
) -> list[tuple[str, ...]]:
    """Each person's typing for counting mismatches (ambiguities at their shared antigen)."""
    return [matching_typing(p.hla, table) for p in people]


def _untyped(
    typings: Sequence[Sequence[str]],
    unacceptable: Sequence[Sequence[str]],
    table: Nomenclature,
) -> NDArray[np.bool_]:
    """``(donors, patients)``: the donor is not typed at a locus of the patient's antibodies.

    Or is typed there by serology with one antigen only, where the patient has antibodies to
    a group serology cannot see (``C*12:03``): the donor's blank may be that group.
    """
    wanted, typed = locus_bits(
        [{table.locus(t) for t in u} for u in unacceptable], [typed_loci(t, table) for t in typings]
    )
    untyped = (wanted[None, :] & ~typed[:, None]) != 0
    return np.asarray(untyped | serology_blank_hits(typings, unacceptable, table).T)


def _run_date(
    patients: Sequence[Patient], as_of: dt.date | None, recorded: dt.date | None
) -> dt.date | None:
    """Return the run date.

    That is `as_of`, checked against every patient's dates (a date asked for that comes
    before a listing is a mistake to report); else the pool's own `recorded` date, unchecked
    (a registry's snapshot date, where a patient may be entered ahead of their listing: they
    have waited no time yet); else the latest date a patient was listed or started dialysis,
    so that the same pool always scores the same.
    """
    if as_of is not None:
        _check_dates(patients, as_of)
        return as_of
    if recorded is not None:
        return recorded
    days = [d for p in patients for d in (p.listed, p.dialysis_start) if d is not None]
    return max(days) if days else None


def _check_dates(patients: Sequence[Patient], as_of: dt.date) -> None:
    """Refuse a run date before a patient's listing or dialysis start (all at once)."""
    errors: list[InputError] = [
        ValidationError(
            f"{when.isoformat()} is after the run date {as_of.isoformat()}",
            record=p.id,
            field=name,
        )
        for p in patients
        for name, when in (("listed", p.listed), ("dialysis_start", p.dialysis_start))
        if when is not None and when > as_of
    ]
    if errors:
        raise ValidationErrors(errors)


def _donor_age_difference(
    donors: Sequence[Donor],
    n_patients: int,
    own: NDArray[np.int64],
    donor_off: NDArray[np.bool_],
    arc_d: NDArray[np.int32],
    arc_p: NDArray[np.int32],
) -> NDArray[np.float64]:
    """Per arc, completed years between the giving donor and the patient's own donor.

    The patient's own donor is the one who gives onward in the exchange. A patient with several
    donors who may give is scored with the one closest in age: an arc's points cannot depend on
    which of them the exchange uses next. NaN when no age is known on one side.
    """
    years = np.array([np.nan if d.age is None else math.floor(d.age) for d in donors])
    giving = np.flatnonzero((own >= 0) & ~donor_off & ~np.isnan(years))
    giving = giving[np.argsort(own[giving], kind="stable")]
    per_patient = np.bincount(own[giving], minlength=n_patients)
    width = max(int(per_patient.max(initial=0)), 1)
    # One row per patient: the ages of their donors who may give, NaN-padded.
    ages = np.full((n_patients, width), np.nan)
    first = np.cumsum(per_patient) - per_patient
    slot = np.arange(giving.shape[0]) - np.repeat(first, per_patient)
    ages[own[giving], slot] = years[giving]
    gaps = np.abs(years[arc_d][:, None] - ages[arc_p])
    out: NDArray[np.float64] = np.fmin.reduce(gaps, axis=1)  # NaN only where all are NaN
    return out


def _facts(
    pool: Pool,
    patients: Sequence[Patient],
    arc_d: NDArray[np.int32],
    arc_p: NDArray[np.int32],
    as_of: dt.date | None,
    table: Nomenclature,
    own: NDArray[np.int64],
    donor_off: NDArray[np.bool_],
) -> ArcFacts:
    """Every fact a scoring component may use, per arc."""

    def per_patient(values: list[float | None]) -> NDArray[np.float64]:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)[arc_p]

    donors = pool.donors
    donor_age = np.array([np.nan if d.age is None else d.age for d in donors])[arc_d]
    patient_age = per_patient([p.age for p in patients])
    # A patient entered ahead of their listing (or dialysis) has waited no time yet.
    waiting: list[float | None] = [
        None
        if p.listed is None or as_of is None
        else max((as_of - p.listed).days / DAYS_PER_YEAR, 0.0)
        for p in patients
    ]
    dialysis: list[float | None] = [
        None
        if p.dialysis_start is None or as_of is None
        else max((as_of - p.dialysis_start).days / DAYS_PER_YEAR, 0.0)
        for p in patients
    ]
    counts = []
    donor_typings = _matching_typings(donors, table)
    patient_typings = _matching_typings(patients, table)
    for locus in MISMATCH_LOCI:
        d_types = LocusTypes(locus, donor_typings, table)
        p_types = LocusTypes(locus, patient_typings, table)
        counts.append(mismatch_counts(d_types, p_types, arc_d, arc_p))
    level = mismatch_level(*counts)
    # Unknown groups get different codes on the two sides, so they are never "identical".
    d_group = np.array([-1 if d.blood_group is None else GROUP_CODE[d.blood_group] for d in donors])
    p_group = np.array(
        [-2 if p.blood_group is None else GROUP_CODE[p.blood_group] for p in patients]
    )

    def known(values: NDArray[np.int8]) -> NDArray[np.float64]:
        out = values.astype(np.float64)
        out[values < 0] = np.nan
        return out

    values: dict[str, NDArray[np.float64]] = {
        "cpra": per_patient([p.cpra for p in patients]),
        "waiting_years": per_patient(waiting),
        "dialysis_years": per_patient(dialysis),
        "matching_runs": per_patient([p.matching_runs for p in patients]),
        "patient_age": patient_age,
        "donor_age": donor_age,
        "age_difference": np.abs(donor_age - patient_age),
        "donor_age_difference": _donor_age_difference(
            donors, len(patients), own, donor_off, arc_d, arc_p
        ),
        "mismatch_a": known(counts[0]),
        "mismatch_b": known(counts[1]),
        "mismatch_dr": known(counts[2]),
        "mismatch_level": np.where(level > 0, level.astype(np.float64), np.nan),
        "previous_transplants": per_patient([float(p.previous_transplants) for p in patients]),
        "abo_identical": (d_group[arc_d] == p_group[arc_p]).astype(np.float64),
    }
    return ArcFacts(values)
