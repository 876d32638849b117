"""Realistic clinical pools: blood groups, HLA typings, antibodies, ages, dates, centres.

The pools exercise the whole clinical pipeline (typing -> virtual crossmatch -> arcs -> solve)
and are calibrated to the UK Living Kidney Sharing Scheme as described by Delorme et al. (2022):
M. Delorme, S. García, J. Gondzio, J. Kalcsics, D. Manlove, W. Pettersson, J. Trimble,
*Improved instance generation for kidney exchange programmes*, Computers & Operations Research
144 (2022) 105707. Its published parameters used here: the blood groups of patients, of
non-directed donors and of paired donors given their patient's group; the number of donors per
patient; the cPRA distribution of patients with an ABO-compatible and with an ABO-incompatible
donor; and the chance that a patient is compatible with a blood-group-compatible donor, as a
function of cPRA (its "Band-PRA0" rule).

How a pool is drawn, for ``n`` patients:

1. Each patient gets a blood group, one to four donors with blood groups conditional on it,
   and a target cPRA from the band table for whether any of their donors is ABO-compatible.
2. Everyone gets an HLA typing of two haplotypes drawn from the shipped frequencies
   (:mod:`possible.hla.cpra`), written half serologically (``A2``) and half as two-field
   alleles (``A*02:01``), as labs send them.
3. Each patient's unacceptable antigens are drawn one by one (commoner antigens first more
   often, never one related to the patient's own) until the cPRA against the shipped panel
   reaches the target; it is recorded in whole percent, as labs report cRF.
4. Real programmes find fewer compatible donors than HLA alone predicts (positive physical
   crossmatches, clinical declines): the UK data show it as a compatibility chance below
   ``1 - cPRA``. Each patient's centre therefore declines each otherwise compatible donor with
   the probability that brings the patient's share of compatible donors to the published
   chance; those donors are recorded in the patient's ``declined_donors``.
5. Ages, listing and dialysis dates, previous transplants, A subgroups, anti-A titres, centres
   and consent dates are drawn from simple documented distributions (see the constants).

The same seed gives the same pool, byte for byte once written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cache
from importlib import resources

import numpy as np
from numpy.typing import NDArray

from possible.compatibility.abo import AboRule, abo_matrix
from possible.domain import ABO_COMPATIBLE, BLOOD_GROUP_ORDER, BloodGroup, Donor, Patient, Pool
from possible.hla.cpra import Panel, sample_haplotypes
from possible.hla.nomenclature import Nomenclature, nomenclature
from possible.hla.typing import TokenSpace, carries_unacceptable

__all__ = ["clinical_pool"]

GROUPS = BLOOD_GROUP_ORDER

PATIENT_GROUPS = (0.6293, 0.2325, 0.1119, 0.0263)
"""Blood groups O, A, B, AB of patients (Delorme et al. 2022)."""
NDD_GROUPS = (0.493, 0.399, 0.0939, 0.0141)
"""Blood groups of non-directed donors (Delorme et al. 2022)."""
DONOR_GROUPS = {
    BloodGroup.O: (0.3721, 0.4899, 0.1219, 0.0161),
    BloodGroup.A: (0.2783, 0.6039, 0.0907, 0.0271),
    BloodGroup.B: (0.2910, 0.2719, 0.3689, 0.0682),
    BloodGroup.AB: (0.3166, 0.4271, 0.1910, 0.0653),
}
"""Blood groups of paired donors given their patient's group (Delorme et al. 2022)."""
DONORS_PER_PATIENT = {1: 0.9112, 2: 0.0769, 3: 0.0105, 4: 0.0014}
"""How many donors a patient brings (Delorme et al. 2022)."""

CPRA_ABO_COMPATIBLE = (
    ((0.0, 0.0), 0.0434637245068539),
    ((0.01, 0.1), 0.0063523905048479),
    ((0.1, 0.2), 0.0026746907388833),
    ((0.2, 0.3), 0.0060180541624875),
    ((0.3, 0.4), 0.0083584085590104),
    ((0.4, 0.5), 0.0106987629555333),
    ((0.5, 0.6), 0.0217318622534269),
    ((0.6, 0.7), 0.0290872617853561),
    ((0.7, 0.8), 0.0391173520561685),
    ((0.8, 0.85), 0.0257438983617519),
    ((0.85, 0.9), 0.0307589434971581),
    ((0.9, 0.9), 0.0113674356402541),
    ((0.91, 0.91), 0.0106987629555333),
    ((0.92, 0.92), 0.0157138080909395),
    ((0.93, 0.93), 0.0317619525242394),
    ((0.94, 0.94), 0.0190571715145436),
    ((0.95, 0.95), 0.0197258441992645),
    ((0.96, 0.96), 0.0240722166499498),
    ((0.97, 0.97), 0.0534938147776663),
    ((0.98, 0.98), 0.0929455031761953),
    ((0.99, 0.99), 0.1802072885322634),
    ((1.0, 1.0), 0.316950852557673),
)
"""cPRA bands ((low, high), share) of patients with an ABO-compatible donor (Delorme 2022)."""
CPRA_ABO_INCOMPATIBLE = (
    ((0.0, 0.0), 0.356760886172651),
    ((0.01, 0.1), 0.038961038961039),
    ((0.1, 0.2), 0.0133689839572193),
    ((0.2, 0.3), 0.0106951871657754),
    ((0.3, 0.4), 0.0210084033613445),
    ((0.4, 0.5), 0.0244461420932009),
    ((0.5, 0.6), 0.0336134453781513),
    ((0.6, 0.7), 0.0305576776165011),
    ((0.7, 0.8), 0.0427807486631016),
    ((0.8, 0.85), 0.0355233002291826),
    ((0.85, 0.9), 0.0458365164247517),
    ((0.9, 0.9), 0.0064935064935064),
    ((0.91, 0.91), 0.0126050420168067),
    ((0.92, 0.92), 0.0286478227654698),
    ((0.93, 0.93), 0.0064935064935064),
    ((0.94, 0.94), 0.0076394194041252),
    ((0.95, 0.95), 0.0156608097784568),
    ((0.96, 0.96), 0.0236822001527884),
    ((0.97, 0.97), 0.0152788388082506),
    ((0.98, 0.98), 0.0252100840336134),
    ((0.99, 0.99), 0.0966386554621849),
    ((1.0, 1.0), 0.108097784568373),
)
"""cPRA bands of patients whose donors are all ABO-incompatible (Delorme et al. 2022)."""
UNSENSITISED_CHANCE = (
    ((0.0, 0.0), 0.1890660592255102),
    ((0.0, 0.01), 0.0683371298405470),
    ((0.01, 0.02), 0.0774487471526198),
    ((0.02, 0.03), 0.0387243735763102),
    ((0.03, 0.04), 0.0205011389521642),
    ((0.04, 0.10), 0.0546697038724377),
    ((0.10, 0.25), 0.0592255125284742),
    ((0.25, 0.50), 0.0911161731207292),
    ((0.50, 0.75), 0.1412300683371303),
    ((0.75, 1.0), 0.2596810933940773),
)
"""Compatibility chance of patients with cPRA below 1 % (Delorme 2022, "Band-PRA0")."""


def compatibility_chance(cpra: float, rng: np.random.Generator) -> float:
    """Return the published chance that a patient of this cPRA suits an ABO-compatible donor."""
    if cpra < 0.01:
        return _draw_band(UNSENSITISED_CHANCE, rng)
    if cpra < 0.5:
        return -0.33012 * cpra + 0.5651
    if cpra < 0.95:
        return -0.64194 * cpra + 0.6578
    for high, chance in ((0.96, 0.058), (0.97, 0.053), (0.98, 0.025), (0.99, 0.015)):
        if cpra < high:
            return chance
    return 0.015 if cpra < 1.0 else 0.012


PATIENT_AGE = (52.0, 13.0, 18.0, 80.0)
"""Patients' age in years: mean, standard deviation, lowest, highest (normal, clipped)."""
DONOR_AGE = (47.0, 11.0, 18.0, 75.0)
"""Donors' age in years: mean, standard deviation, lowest, highest (normal, clipped)."""
RUNS_PER_YEAR = 4
"""Matching runs a year (the UK scheme runs quarterly): a patient has been in one per quarter
since listing."""
LISTED_YEARS = 4.0
"""Patients joined the programme uniformly up to this many years before the run."""
ON_DIALYSIS = 0.7
"""Share of patients on dialysis (started up to three years before listing)."""
PREVIOUS_TRANSPLANTS = (0.80, 0.16, 0.04)
"""Share of patients with 0, 1 and 2 previous transplants."""
A2_SHARE = 0.2
"""Share of A (and AB) donors typed as the A2 (A2B) subgroup."""
ANTI_A_TITRES = ((2, 0.1), (4, 0.2), (8, 0.25), (16, 0.2), (32, 0.15), (64, 0.1))
"""Anti-A titres recorded for O and B patients, with their shares."""
CENTRES = 12
"""Transplant centres the pool's people are spread over."""
MOLECULAR_SHARE = 0.5
"""Share of people typed with two-field allele names rather than serological antigens."""


def clinical_pool(
    n_patients: int,
    *,
    ndd_share: float = 0.05,
    seed: int,
    as_of: dt.date = dt.date(2026, 1, 1),
    panel: Panel | None = None,
    table: Nomenclature | None = None,
) -> Pool:
    """Draw a clinical pool whose arcs are derived by :func:`possible.compatibility.build_arcs`.

    Parameters
    ----------
    n_patients
        Patients, each with one to four paired donors.
    ndd_share
        Non-directed donors, as a share of the patients.
    seed
        Random seed: the same seed gives the same pool.
    as_of
        Date of the matching run; dates are drawn before it.
    panel
        Reference panel the cPRA targets are met against (the shipped one by default).
    table
        HLA nomenclature; the shipped one by default.

    Returns
    -------
    Pool
        With ``clinical_arcs`` set and no arcs.

    Examples
    --------
    >>> pool = clinical_pool(20, seed=1)
    >>> len(pool.patients), pool.clinical_arcs
    (20, True)
    """
    if n_patients < 0:
        raise ValueError(f"n_patients must be >= 0, got {n_patients}")
    if not 0.0 <= ndd_share <= 10.0:
        raise ValueError(f"ndd_share must be in [0, 10], got {ndd_share}")
    rng = np.random.default_rng(seed)
    table = table or nomenclature()
    panel = panel or Panel.shipped()
    freq = _frequencies()
    width = max(4, len(str(n_patients)))

    p_group = rng.choice(4, size=n_patients, p=PATIENT_GROUPS)
    sizes = list(DONORS_PER_PATIENT)
    counts = rng.choice(sizes, size=n_patients, p=list(DONORS_PER_PATIENT.values()))
    owner = np.repeat(np.arange(n_patients), counts)
    n_paired = int(owner.shape[0])
    n_ndds = round(ndd_share * n_patients)
    d_group = np.empty(n_paired + n_ndds, dtype=np.int64)
    for g, group in enumerate(GROUPS):
        mine = np.flatnonzero(p_group[owner] == g)
        d_group[mine] = rng.choice(4, size=mine.shape[0], p=DONOR_GROUPS[group])
    d_group[n_paired:] = rng.choice(4, size=n_ndds, p=NDD_GROUPS)

    abo_ok = ABO_COMPATIBLE[d_group[:n_paired], p_group[owner]]
    has_compatible = np.zeros(n_patients, dtype=bool)
    np.logical_or.at(has_compatible, owner, abo_ok)
    target = [
        _cpra_range(CPRA_ABO_COMPATIBLE if c else CPRA_ABO_INCOMPATIBLE, rng)
        for c in has_compatible
    ]

    haplotypes = sample_haplotypes(freq, 2 * (n_patients + n_paired + n_ndds), rng)
    antigens = [
        tuple(dict.fromkeys(haplotypes[2 * i] + haplotypes[2 * i + 1]))
        for i in range(n_patients + n_paired + n_ndds)
    ]
    patient_antigens = antigens[:n_patients]
    donor_antigens = antigens[n_patients:]
    unacceptable, cpra = _antibodies(patient_antigens, target, panel, table, freq, rng)

    # Calibrate each patient's share of compatible donors to the published chance.
    positive = carries_unacceptable(donor_antigens, unacceptable, table).T
    abo, _ = abo_matrix(
        [GROUPS[g] for g in d_group],
        [None] * len(d_group),
        [GROUPS[g] for g in p_group],
        [None] * n_patients,
        AboRule(),
    )
    candidate = abo.copy()
    candidate[np.arange(n_paired), owner] = False
    compatible = candidate & ~positive
    declined: list[list[int]] = []
    for j in range(n_patients):
        chance = compatibility_chance(round(float(cpra[j]), 2), rng)
        n_abo = int(candidate[:, j].sum())
        mine = np.flatnonzero(compatible[:, j])
        share = mine.shape[0] / n_abo if n_abo else 0.0
        keep = min(1.0, chance / share) if share > 0 else 1.0
        declined.append(mine[rng.random(mine.shape[0]) >= keep].tolist())

    centre_of_patient = rng.integers(1, CENTRES + 1, size=n_patients)
    ndd_centre = rng.integers(1, CENTRES + 1, size=n_ndds)
    p_age = _ages(PATIENT_AGE, n_patients, rng)
    d_age = _ages(DONOR_AGE, n_paired + n_ndds, rng)
    listed_days = rng.integers(0, int(LISTED_YEARS * 365) + 1, size=n_patients)
    dialysis = rng.random(n_patients) < ON_DIALYSIS
    dialysis_days = rng.integers(0, 3 * 365 + 1, size=n_patients)
    previous = rng.choice(3, size=n_patients, p=PREVIOUS_TRANSPLANTS)
    titre_values = [t for t, _ in ANTI_A_TITRES]
    titres = rng.choice(titre_values, size=n_patients, p=[s for _, s in ANTI_A_TITRES])
    a2 = rng.random(n_paired + n_ndds) < A2_SHARE
    molecular = rng.random(n_patients + n_paired + n_ndds) < MOLECULAR_SHARE
    consent_days = rng.integers(0, 60, size=n_paired + n_ndds)

    patient_ids = [f"P{j + 1:0{width}d}" for j in range(n_patients)]
    donor_ids = [f"D{i + 1:0{width}d}" for i in range(n_paired)] + [
        f"N{k + 1:0{width}d}" for k in range(n_ndds)
    ]
    patients = []
    for j in range(n_patients):
        group = GROUPS[p_group[j]]
        listed = as_of - dt.timedelta(days=int(listed_days[j]))
        patients.append(
            Patient(
                patient_ids[j],
                group,
                round(float(cpra[j]), 2),  # labs report cRF in whole percent
                centre=f"centre-{centre_of_patient[j]:02d}",
                hla=_written(patient_antigens[j], bool(molecular[j]), table, j),
                unacceptable=unacceptable[j],
                age=float(p_age[j]),
                listed=listed,
                dialysis_start=listed - dt.timedelta(days=int(dialysis_days[j]))
                if dialysis[j]
                else None,
                previous_transplants=int(previous[j]),
                matching_runs=int(listed_days[j] * RUNS_PER_YEAR // 365),
                anti_a_titre=int(titres[j]) if group in (BloodGroup.O, BloodGroup.B) else None,
                declined_donors=tuple(donor_ids[i] for i in declined[j]),
            )
        )
    donors = []
    for i in range(n_paired + n_ndds):
        group = GROUPS[d_group[i]]
        paired = i < n_paired
        patient = patients[owner[i]] if paired else None
        joined = patient.listed if patient is not None and patient.listed else as_of
        subgroup = None
        if group is BloodGroup.A:
            subgroup = "A2" if a2[i] else "A1"
        elif group is BloodGroup.AB:
            subgroup = "A2B" if a2[i] else "A1B"
        donors.append(
            Donor(
                donor_ids[i],
                patient.id if patient is not None else None,
                group,
                float(d_age[i]),
                centre=patient.centre
                if patient is not None
                else f"centre-{ndd_centre[i - n_paired]:02d}",
                subgroup=subgroup,
                hla=_written(donor_antigens[i], bool(molecular[n_patients + i]), table, i),
                consent=min(as_of, joined + dt.timedelta(days=int(consent_days[i]))),
            )
        )
    return Pool.build(patients, donors, clinical_arcs=True, as_of=as_of)


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def _cpra_range(
    bands: Sequence[tuple[tuple[float, float], float]], rng: np.random.Generator
) -> tuple[float, float, float]:
    """Draw a cPRA band and a target in it: ``(low, target, high)``.

    The published bands give whole-percent values (0.99, 1.0) as single points; such a value
    stands for the cPRAs that round to it, so 1.0 is [0.995, 1] and 0.99 is [0.985, 0.995).
    """
    weights = np.array([w for _, w in bands])
    low, high = bands[int(rng.choice(len(bands), p=weights / weights.sum()))][0]
    if low == high:
        low, high = max(0.0, low - 0.005), min(1.0, high + 0.005)
    if high <= 0.0:
        return 0.0, 0.0, 0.0
    return low, float(rng.uniform(low, high)), high


def _draw_band(
    bands: Sequence[tuple[tuple[float, float], float]], rng: np.random.Generator
) -> float:
    weights = np.array([w for _, w in bands])
    k = int(rng.choice(len(bands), p=weights / weights.sum()))
    low, high = bands[k][0]
    return low if low == high else float(rng.uniform(low, high))


def _ages(
    spec: tuple[float, float, float, float], n: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    mean, sd, low, high = spec
    out: NDArray[np.float64] = np.clip(np.round(rng.normal(mean, sd, size=n)), low, high)
    return out


def _frequencies() -> dict[str, object]:
    import json

    text = resources.files("possible.hla").joinpath("data", "frequencies.json").read_text("utf-8")
    doc: dict[str, object] = json.loads(text)
    return doc


def _antibodies(
    typings: Sequence[tuple[str, ...]],
    target: Sequence[tuple[float, float, float]],
    panel: Panel,
    table: Nomenclature,
    freq: dict[str, object],
    rng: np.random.Generator,
) -> tuple[list[tuple[str, ...]], NDArray[np.float64]]:
    """Draw unacceptable antigens for each patient until their cPRA reaches its target.

    `target` holds ``(low, goal, high)`` per patient: antibodies that would take the cPRA to
    `high` or above are passed over (except in the top band, whose `high` is 1).
    """
    loci = freq["loci"]
    assert isinstance(loci, dict)
    candidates: list[str] = []
    weights: list[float] = []
    for key in ("A", "B", "C", "DR", "DQ"):
        for antigen, share in loci.get(key, {}).items():
            if antigen != "other" and float(share) > 0:
                candidates.append(antigen)
                weights.append(float(share))
    space = TokenSpace(set(candidates) | {t for ts in panel.typings for t in ts}, table=table)
    bits = space.bitsets(panel.typings)
    n = len(panel)
    cand_bits = bits[[space.index[a] for a in candidates]]
    # Antibodies to common antigens are commoner; the square root keeps rare ones in reach.
    p = np.sqrt(np.asarray(weights))
    out: list[tuple[str, ...]] = []
    values = np.zeros(len(typings))
    for j, own in enumerate(typings):
        _, goal, high = target[j]
        if goal <= 0.0:
            out.append(())
            continue
        allowed = np.array([not any(table.related(a, o) for o in own) for a in candidates])
        idx = np.flatnonzero(allowed)
        order = rng.choice(idx, size=idx.shape[0], replace=False, p=p[idx] / p[idx].sum())
        covered = np.zeros(bits.shape[1], dtype=np.uint8)
        chosen: list[str] = []
        value = 0.0
        # Add antibodies while they keep the cPRA inside the band, until it reaches the goal.
        for k in order.tolist():
            trial = covered | cand_bits[k]
            v = int(_POPCOUNT[trial].sum()) / n
            if v >= high and not (high >= 1.0 and v <= 1.0):
                continue
            covered, value = trial, v
            chosen.append(candidates[k])
            if value >= goal:
                break
        out.append(tuple(chosen))
        values[j] = value
    return out, values


# Common alleles of the C groups without serology, for people whose two C alleles both are.
_C_WITHOUT_SEROLOGY = ("C*12:03", "C*14:02", "C*15:02", "C*16:01", "C*17:01", "C*18:01")


def _written(
    antigens: Sequence[str], molecular: bool, table: Nomenclature, k: int
) -> tuple[str, ...]:
    """Write a typing as a lab would: serological names, or a two-field allele per antigen.

    Someone drawn with C alleles of no serology only (the frequencies' ``other``) is still
    typed at C, as a lab would report it, with an allele of such a group (the `k`-th, in
    turn): so the virtual crossmatch knows C was typed.
    """
    typed = (
        tuple(antigens)
        if not molecular
        else tuple(_representatives(table).get(a, a) for a in antigens)
    )
    if not any(table.locus(t) == "C" for t in typed):
        typed += (_C_WITHOUT_SEROLOGY[k % len(_C_WITHOUT_SEROLOGY)],)
    return typed


@cache
def _representatives(table: Nomenclature) -> dict[str, str]:
    """Map each antigen to a common two-field allele expressing it.

    Alleles of the group named after the antigen come first (``A*02:01`` for A2, not a rare
    allele of another group), then the lowest second field.
    """
    best: dict[str, tuple[tuple[int, int], str]] = {}
    names = table.allele_names()
    for group in names:
        antigen = table.antigen(group)
        first = f"{group}:01"
        if ":" not in group and antigen is not None and table.antigen(first) == antigen:
            best.setdefault(antigen, ((0, 1), first))
    for allele in names:
        antigen = table.antigen(allele)
        if ":" not in allele or antigen is None:
            continue
        group = allele.split(":", 1)[0]
        own = table.antigen(group)
        home = own is not None and own in table.ancestors(antigen)
        rank = (0 if home else 1, int(allele.split(":", 1)[1]))
        if antigen not in best or rank < best[antigen][0]:
            best[antigen] = (rank, allele)
    return {antigen: allele for antigen, (_, allele) in best.items()}
