"""The clinical generator: seeded, self-consistent, and true to its published parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from possible.compatibility import build_arcs
from possible.domain import BloodGroup
from possible.formats import write_pool_json
from possible.generate.clinical import (
    CPRA_ABO_COMPATIBLE,
    CPRA_ABO_INCOMPATIBLE,
    GROUPS,
    PATIENT_GROUPS,
    clinical_pool,
)
from possible.hla.cpra import cpra
from possible.hla.typing import read_names


def test_same_seed_same_file(tmp_path: Path) -> None:
    paths = [tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"]
    for path, seed in zip(paths, (4, 4, 5), strict=True):
        write_pool_json(clinical_pool(40, seed=seed), path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_records_are_consistent() -> None:
    pool = clinical_pool(60, ndd_share=0.1, seed=2)
    assert len(pool.patients) == 60
    assert sum(d.non_directed for d in pool.donors) == 6
    donor_ids = {d.id for d in pool.donors}
    own = {d.id: d.patient for d in pool.donors}
    for p in pool.patients:
        read_names(p.hla, record=p.id, field="hla")
        read_names(p.unacceptable, record=p.id, field="unacceptable")
        assert set(p.declined_donors) <= donor_ids
        assert all(own[d] != p.id for d in p.declined_donors)
        assert p.listed is not None
        assert p.listed <= pool.as_of  # type: ignore[operator]
        # One run a quarter since listing.
        assert p.matching_runs == (pool.as_of - p.listed).days * 4 // 365  # type: ignore[operator]
        assert (p.anti_a_titre is not None) == (p.blood_group in (BloodGroup.O, BloodGroup.B))
    for d in pool.donors:
        assert d.consent is not None
        read_names(d.hla, record=d.id, field="hla")
    # A recorded cPRA is what the shipped panel gives for the recorded antibodies.
    recorded = np.array([p.cpra for p in pool.patients])
    computed = cpra([p.unacceptable for p in pool.patients])
    assert np.allclose(recorded, computed, atol=0.005 + 1e-9)  # recorded in whole percent


def test_cpra_lands_in_the_published_bands() -> None:
    pool = clinical_pool(300, seed=8)
    values = np.array([p.cpra for p in pool.patients])
    # Every value is within 2 points of some band's range (the antibody draw stops near it).
    lows = np.array([lo for (lo, _), _ in CPRA_ABO_INCOMPATIBLE])
    highs = np.array([hi for (_, hi), _ in CPRA_ABO_INCOMPATIBLE])
    near = ((values[:, None] >= lows - 0.021) & (values[:, None] <= highs + 0.021)).any(axis=1)
    assert near.all(), values[~near]
    assert [band for band, _ in CPRA_ABO_COMPATIBLE] == [band for band, _ in CPRA_ABO_INCOMPATIBLE]


def test_blood_groups_follow_the_published_shares() -> None:
    pool = clinical_pool(1000, seed=11, ndd_share=0.0)
    counts = np.array([sum(p.blood_group is g for p in pool.patients) for g in GROUPS])
    expected = 1000 * np.array(PATIENT_GROUPS)
    # Binomial standard deviations are at most sqrt(1000 * 0.25) ~ 16; allow 4 of them.
    assert (np.abs(counts - expected) < 64).all(), counts


def test_arcs_build_and_solve() -> None:
    from possible import solve

    compat = build_arcs(clinical_pool(50, seed=3))
    assert len(compat.pool.arcs) > 0
    result = solve(compat.pool)
    assert result.status.value == "optimal"


def test_everyone_is_typed_at_every_locus_their_antibodies_may_target() -> None:
    from possible.hla.nomenclature import nomenclature
    from possible.hla.typing import typed_loci

    table = nomenclature()
    pool = clinical_pool(300, seed=4)
    needed = {"A", "B", "C", "DRB1", "DQB1"}
    for person in (*pool.patients, *pool.donors):
        tokens = [s.token for s in read_names(person.hla, record=person.id, field="hla")]
        assert needed <= typed_loci(tokens, table), person.id
