"""Random pools in the style of Saidman et al. (2006), the field's standard synthetic benchmark.

Source: Saidman SL, Roth AE, Sönmez T, Ünver MU, Delmonico FL. Increasing the opportunity of
live kidney donation by matching for two- and three-way exchanges. *Transplantation*
2006;81(5):773-782.

Published parameters used here:

=====================================================  ==============================
parameter                                              value
=====================================================  ==============================
blood group of patients and donors: O, A, B, AB        0.4814, 0.3373, 0.1428, 0.0385
PRA band of patients: low, medium, high                0.7019, 0.2000, 0.0981
positive crossmatch by PRA band: low, medium, high     0.05, 0.45, 0.90
patient is female                                      0.4090
donor is the patient's spouse                          0.4897
wife's negative crossmatch with her husband            0.75 times her band's chance
=====================================================  ==============================

(PRA bands: low below 10 %, medium 10 to 80 %, high above 80 %.)

How a pool is drawn:

1. Draw pairs (patient and donor blood groups, the patient's PRA band, whether the patient is
   the donor's wife) until `n_patients` of them are *incompatible*: ABO-incompatible, or a
   positive crossmatch with their own donor (for a wife and her husband, with probability
   ``1 - 0.75 * (1 - p)``, pregnancy having sensitised her to him). Compatible pairs go
   straight to transplant and never enter the pool.
2. Draw ``round(ndd_share * n_patients)`` non-directed donors' blood groups.
3. Every donor (paired or not) has an arc to every patient but their own who is
   ABO-compatible and has a negative crossmatch, with probability ``1 - p`` for the patient's
   band value ``p``; every arc scores 1.

Each patient's cPRA is their band's value ``p`` (0.05, 0.45 or 0.90). The raised probability
of a wife with her own husband matters only to step 1; some later generators (PrefLib's data
among them) apply it to all of her crossmatches. Donor ages, which the paper does not model,
are drawn uniformly from the integers 18 to 70.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from possible.domain import ABO_COMPATIBLE, BLOOD_GROUP_ORDER, Donor, Patient, Pool

__all__ = [
    "BLOOD_GROUPS",
    "BLOOD_GROUP_SHARES",
    "FEMALE_SHARE",
    "PRA_BAND_SHARES",
    "PRA_BAND_VALUES",
    "SPOUSAL_NEGATIVE_CROSSMATCH_FACTOR",
    "SPOUSE_SHARE",
    "saidman_pool",
]

BLOOD_GROUPS = BLOOD_GROUP_ORDER
"""The blood groups, in the order of the share tables below."""

BLOOD_GROUP_SHARES = (0.4814, 0.3373, 0.1428, 0.0385)
"""Shares of blood groups O, A, B and AB, among patients and donors alike."""

PRA_BAND_SHARES = (0.7019, 0.2, 0.0981)
"""Shares of patients with low, medium and high PRA."""

PRA_BAND_VALUES = (0.05, 0.45, 0.90)
"""Probability of a positive crossmatch for a patient of each PRA band (also their cPRA)."""

FEMALE_SHARE = 0.4090
"""Share of patients who are female."""

SPOUSE_SHARE = 0.4897
"""Share of paired donors who are their patient's spouse."""

SPOUSAL_NEGATIVE_CROSSMATCH_FACTOR = 0.75
"""A wife's chance of a negative crossmatch with her husband, relative to her band's."""

_MIN_AGE, _MAX_AGE = 18, 70
# Rows of the donor x patient matrix drawn at a time: bounds memory at ~8 MB per 2,000
# patients, and fixes how the random stream is consumed (so the seed alone sets the pool).
_BLOCK_ROWS = 512


def saidman_pool(n_patients: int, *, ndd_share: float = 0.05, seed: int) -> Pool:
    """Draw a random pool with the published parameters of Saidman et al. (2006).

    Parameters
    ----------
    n_patients
        Number of (incompatible) pairs in the pool; each pair is one patient and one donor.
    ndd_share
        Number of non-directed donors, as a share of `n_patients` (rounded to the nearest
        whole donor).
    seed
        Seed of NumPy's default generator: the same seed always gives the same pool.

    Returns
    -------
    Pool
        Patients ``P0001``..., their donors ``D0001``... (donor ``Dk`` for patient ``Pk``) and
        non-directed donors ``N001``..., numbered with as many digits as the count needs.
        Every arc scores 1.

    Raises
    ------
    ValueError
        If `n_patients` is negative or `ndd_share` is negative or not finite.

    Examples
    --------
    >>> pool = saidman_pool(20, ndd_share=0.1, seed=7)
    >>> len(pool.patients), sum(d.non_directed for d in pool.donors)
    (20, 2)
    >>> saidman_pool(20, ndd_share=0.1, seed=7).digest() == pool.digest()
    True
    """
    if n_patients < 0:
        raise ValueError(f"n_patients must be >= 0, got {n_patients!r}")
    if not (np.isfinite(ndd_share) and ndd_share >= 0):
        raise ValueError(f"ndd_share must be finite and >= 0, got {ndd_share!r}")
    n_ndd = round(ndd_share * n_patients)
    rng = np.random.default_rng(seed)

    patient_group, pair_donor_group, band = _incompatible_pairs(rng, n_patients)
    ndd_group = rng.choice(len(BLOOD_GROUPS), size=n_ndd, p=BLOOD_GROUP_SHARES)
    donor_group = np.concatenate([pair_donor_group, ndd_group])
    ages = rng.integers(_MIN_AGE, _MAX_AGE + 1, size=n_patients + n_ndd)
    cpra = np.asarray(PRA_BAND_VALUES)[band]
    arc_donor, arc_patient = _arcs(rng, donor_group, patient_group, cpra)

    patient_ids = _ids("P", n_patients)
    donor_ids = _ids("D", n_patients) + _ids("N", n_ndd)
    patients = [
        Patient(pid, BLOOD_GROUPS[g], float(c))
        for pid, g, c in zip(patient_ids, patient_group.tolist(), cpra.tolist(), strict=True)
    ]
    donors = [
        Donor(did, patient_ids[i] if i < n_patients else None, BLOOD_GROUPS[g], float(age))
        for i, (did, g, age) in enumerate(
            zip(donor_ids, donor_group.tolist(), ages.tolist(), strict=True)
        )
    ]
    ids_of_donors = np.asarray(donor_ids, dtype=object)
    ids_of_patients = np.asarray(patient_ids, dtype=object)
    return Pool.build(
        patients,
        donors,
        arc_arrays=(
            ids_of_donors[arc_donor].tolist(),
            ids_of_patients[arc_patient].tolist(),
            [1.0] * len(arc_donor),
        ),
    )


def _incompatible_pairs(
    rng: np.random.Generator, n: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """Draw pairs in batches until `n` are incompatible; return their first `n`, in order."""
    patient_parts: list[NDArray[np.intp]] = []
    donor_parts: list[NDArray[np.intp]] = []
    band_parts: list[NDArray[np.intp]] = []
    found = 0
    while found < n:
        # About half of all pairs are incompatible; draw twice what is missing, and a margin.
        size = 2 * (n - found) + 64
        patient = rng.choice(len(BLOOD_GROUPS), size=size, p=BLOOD_GROUP_SHARES)
        donor = rng.choice(len(BLOOD_GROUPS), size=size, p=BLOOD_GROUP_SHARES)
        band = rng.choice(len(PRA_BAND_VALUES), size=size, p=PRA_BAND_SHARES)
        wife = (rng.random(size) < FEMALE_SHARE) & (rng.random(size) < SPOUSE_SHARE)
        positive = np.asarray(PRA_BAND_VALUES)[band]
        positive = np.where(
            wife, 1.0 - SPOUSAL_NEGATIVE_CROSSMATCH_FACTOR * (1.0 - positive), positive
        )
        incompatible = ~ABO_COMPATIBLE[donor, patient] | (rng.random(size) < positive)
        keep = np.flatnonzero(incompatible)[: n - found]
        patient_parts.append(patient[keep])
        donor_parts.append(donor[keep])
        band_parts.append(band[keep])
        found += keep.size
    empty = np.empty(0, dtype=np.intp)
    return (
        np.concatenate([empty, *patient_parts]),
        np.concatenate([empty, *donor_parts]),
        np.concatenate([empty, *band_parts]),
    )


def _arcs(
    rng: np.random.Generator,
    donor_group: NDArray[np.intp],
    patient_group: NDArray[np.intp],
    positive: NDArray[np.float64],
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Draw the arc matrix block by block; return the (donor, patient) indices of its arcs.

    Donor ``i < len(patient_group)`` is patient ``i``'s own donor and gets no arc to them.
    """
    n_donors, n_patients = donor_group.size, patient_group.size
    donor_parts: list[NDArray[np.intp]] = [np.empty(0, dtype=np.intp)]
    patient_parts: list[NDArray[np.intp]] = [np.empty(0, dtype=np.intp)]
    for start in range(0, n_donors, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n_donors)
        negative = rng.random((stop - start, n_patients)) >= positive
        ok = ABO_COMPATIBLE[donor_group[start:stop, None], patient_group[None, :]] & negative
        own = np.arange(start, min(stop, n_patients))
        ok[own - start, own] = False
        rows, cols = np.nonzero(ok)
        donor_parts.append(rows + start)
        patient_parts.append(cols)
    return np.concatenate(donor_parts), np.concatenate(patient_parts)


def _ids(prefix: str, count: int) -> list[str]:
    """Return ``prefix`` + 1..count, zero-padded to the width of `count`."""
    width = len(str(count))
    return [f"{prefix}{k:0{width}d}" for k in range(1, count + 1)]
