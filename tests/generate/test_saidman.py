from __future__ import annotations

import doctest

import numpy as np
import pytest

from possible.domain import Pool
from possible.generate import saidman, saidman_pool
from possible.generate.saidman import (
    BLOOD_GROUP_SHARES,
    BLOOD_GROUPS,
    FEMALE_SHARE,
    PRA_BAND_SHARES,
    PRA_BAND_VALUES,
    SPOUSAL_NEGATIVE_CROSSMATCH_FACTOR,
    SPOUSE_SHARE,
)

N = 5000


@pytest.fixture(scope="module")
def large() -> Pool:
    # One large pool shared by the statistical tests (building it is the slow part).
    return saidman_pool(N, ndd_share=0.05, seed=2006)


def test_same_seed_gives_the_same_pool() -> None:
    assert saidman_pool(150, seed=1).digest() == saidman_pool(150, seed=1).digest()


def test_different_seeds_give_different_pools() -> None:
    assert saidman_pool(150, seed=1).digest() != saidman_pool(150, seed=2).digest()


def test_counts_and_ids() -> None:
    pool = saidman_pool(120, ndd_share=0.1, seed=3)
    assert [p.id for p in pool.patients] == [f"P{k:03d}" for k in range(1, 121)]
    paired = [d for d in pool.donors if not d.non_directed]
    assert [(d.id, d.patient) for d in paired] == [
        (f"D{k:03d}", f"P{k:03d}") for k in range(1, 121)
    ]
    assert [d.id for d in pool.donors if d.non_directed] == [f"N{k:02d}" for k in range(1, 13)]


@pytest.mark.parametrize(
    ("n", "share", "expected"), [(100, 0.05, 5), (30, 0.05, 2), (10, 0.0, 0), (7, 1.0, 7)]
)
def test_ndd_count_is_the_rounded_share(n: int, share: float, expected: int) -> None:
    pool = saidman_pool(n, ndd_share=share, seed=4)
    assert sum(d.non_directed for d in pool.donors) == expected
    assert len(pool.patients) == n


def test_an_empty_pool_is_allowed() -> None:
    pool = saidman_pool(0, seed=5)
    assert (len(pool.patients), len(pool.donors), len(pool.arcs)) == (0, 0, 0)


@pytest.mark.parametrize(
    ("n", "share"), [(-1, 0.05), (10, -0.1), (10, float("nan")), (10, float("inf"))]
)
def test_bad_arguments_are_refused(n: int, share: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        saidman_pool(n, ndd_share=share, seed=0)


def test_attributes_follow_the_model(large: Pool) -> None:
    assert len(large.patients) == N
    assert sum(d.non_directed for d in large.donors) == round(0.05 * N)
    assert {p.cpra for p in large.patients} == set(PRA_BAND_VALUES)
    ages = np.array([d.age for d in large.donors])
    assert (ages.min(), ages.max()) == (18, 70)
    assert np.all(ages == np.round(ages))
    assert set(large.arcs.score.tolist()) == {1.0}


def test_no_donor_gives_to_their_own_patient(large: Pool) -> None:
    own = np.array([large.patient_index(d.patient) if d.patient else -1 for d in large.donors])
    assert not np.any(own[large.arcs.donor] == large.arcs.patient)


def test_every_arc_is_abo_compatible(large: Pool) -> None:
    abo = np.array([[d.can_give_to(p) for p in BLOOD_GROUPS] for d in BLOOD_GROUPS])
    donor_groups = np.array([BLOOD_GROUPS.index(d.blood_group) for d in large.donors])
    patient_groups = np.array([BLOOD_GROUPS.index(p.blood_group) for p in large.patients])
    assert abo[donor_groups[large.arcs.donor], patient_groups[large.arcs.patient]].all()


def _expected_pair_shares() -> tuple[np.ndarray, np.ndarray]:
    """Patient and donor blood-group shares among *incompatible* pairs, from the model."""
    shares = np.array(BLOOD_GROUP_SHARES)
    values = np.array(PRA_BAND_VALUES)
    wife = FEMALE_SHARE * SPOUSE_SHARE
    positive = np.dot(
        PRA_BAND_SHARES,
        (1 - wife) * values + wife * (1 - SPOUSAL_NEGATIVE_CROSSMATCH_FACTOR * (1 - values)),
    )
    abo = np.array([[d.can_give_to(p) for p in BLOOD_GROUPS] for d in BLOOD_GROUPS])
    # joint[d, p]: probability that a drawn pair has these groups and is incompatible
    joint = np.outer(shares, shares) * np.where(abo, positive, 1.0)
    joint /= joint.sum()
    return joint.sum(axis=0), joint.sum(axis=1)


def test_blood_groups_match_the_published_shares(large: Pool) -> None:
    patient_expected, donor_expected = _expected_pair_shares()
    patients = np.array([BLOOD_GROUPS.index(p.blood_group) for p in large.patients])
    paired = [d for d in large.donors if not d.non_directed]
    donors = np.array([BLOOD_GROUPS.index(d.blood_group) for d in paired])
    ndds = np.array([BLOOD_GROUPS.index(d.blood_group) for d in large.donors if d.non_directed])
    # With 5,000 pairs a share's standard error is below 0.0071; allow about 3.5 of them.
    np.testing.assert_allclose(np.bincount(patients, minlength=4) / N, patient_expected, atol=0.025)
    np.testing.assert_allclose(np.bincount(donors, minlength=4) / N, donor_expected, atol=0.025)
    # O patients are over-represented among incompatible pairs, as Saidman et al. found.
    assert patient_expected[0] > BLOOD_GROUP_SHARES[0] + 0.1
    # Non-directed donors are not selected by compatibility: the population's shares.
    np.testing.assert_allclose(
        np.bincount(ndds, minlength=4) / ndds.size, BLOOD_GROUP_SHARES, atol=0.1
    )


def test_pra_bands_of_incompatible_pairs_lean_high(large: Pool) -> None:
    cpra = np.array([p.cpra for p in large.patients])
    low, high = np.mean(cpra == PRA_BAND_VALUES[0]), np.mean(cpra == PRA_BAND_VALUES[2])
    # A high-PRA patient is more often crossmatch-positive, so more often in the pool.
    assert low < PRA_BAND_SHARES[0]
    assert high > PRA_BAND_SHARES[2]


def test_docstring_examples_run() -> None:
    failures, _ = doctest.testmod(saidman)
    assert failures == 0
