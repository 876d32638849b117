"""HLA-A, -B, -DR mismatches and the UK levels, checked by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from possible.compatibility import build_arcs
from possible.compatibility.mismatch import LocusTypes, mismatch_counts, mismatch_level
from possible.domain import BloodGroup, Donor, Patient, Pool
from possible.hla.nomenclature import nomenclature
from possible.hla.typing import matching_typing

N = nomenclature()


def count(locus: str, donor: tuple[str, ...], patient: tuple[str, ...]) -> int:
    d = LocusTypes(locus, [donor], N)
    p = LocusTypes(locus, [patient], N)
    zero = np.zeros(1, dtype=np.int32)
    return int(mismatch_counts(d, p, zero, zero)[0])


@pytest.mark.parametrize(
    ("donor", "patient", "expected"),
    [
        (("A1", "A2"), ("A1", "A2"), 0),
        (("A1", "A2"), ("A1", "A3"), 1),
        (("A1", "A2"), ("A3", "A11"), 2),
        (("A2",), ("A1", "A3"), 1),  # homozygous donor: one antigen, one mismatch at most
        (("A24", "A1"), ("A9", "A1"), 0),  # a broad-typed patient: cannot tell, no mismatch
        (("A23", "A1"), ("A24", "A1"), 1),  # different splits of A9
        (("A*24:02", "A*01:01"), ("A24", "A1"), 0),  # alleles read as their antigens
        (("A2403", "A1"), ("A24", "A1"), 0),  # an associated antigen of A24
        (("A2", "A24"), ("A9", "A24", "A2"), 0),  # a broad and its split are one antigen
        (("A2", "A23"), ("A9", "A24", "A2"), 1),  # kept at the split: A23 is not A24
        (("A1", "A2"), (), -1),  # patient untyped at the locus
        (("B7",), ("A1", "A2"), -1),  # donor untyped at A
    ],
)
def test_a_locus_counts(donor: tuple[str, ...], patient: tuple[str, ...], expected: int) -> None:
    assert count("A", donor, patient) == expected


def test_public_epitopes_are_not_b_antigens() -> None:
    # Bw4 and Bw6 in a typing (as labs list them) neither count nor push B8 out of its slot.
    typing = ("B44", "Bw4", "B8", "Bw6")
    assert count("B", typing, typing) == 0
    assert count("B", typing, ("B44", "B7")) == 1


def test_dr_counts_use_drb1_only() -> None:
    assert count("DRB1", ("DR4", "DR53", "DR7"), ("DR4", "DR53", "DR15", "DR51")) == 1
    assert count("DRB1", ("DRB1*03:01", "DR52"), ("DR3",)) == 0


@pytest.mark.parametrize(
    ("a", "b", "dr", "level"),
    [
        (0, 0, 0, 1),
        (1, 0, 0, 2),
        (2, 1, 0, 2),
        (0, 2, 0, 3),
        (2, 0, 1, 3),
        (0, 1, 1, 3),
        (0, 2, 1, 4),
        (0, 0, 2, 4),
        (-1, 0, 0, 0),
    ],
)
def test_uk_levels(a: int, b: int, dr: int, level: int) -> None:
    got = mismatch_level(np.array([a], np.int8), np.array([b], np.int8), np.array([dr], np.int8))
    assert int(got[0]) == level


def test_an_ambiguous_typing_takes_one_place_at_its_shared_antigen() -> None:
    # B*40:01/40:02 is B60 or B61: one antigen, known at the broad B40. Read as two antigens,
    # it pushed the patient's B44 out and counted the donor's B44 as a mismatch.
    patient = matching_typing(["B*40:01/40:02", "B*44:02"])
    assert patient == ("B40", "B*44:02")
    assert count("B", ("B44",), patient) == 0
    assert count("B", ("B60", "B44"), patient) == 0  # B60 cannot be told apart from B40
    assert count("B", ("B7", "B44"), patient) == 1
    # Alternatives with no antigen in common are left out rather than guessed.
    assert matching_typing(["B*07:02/B*08:01", "B44"]) == ("B44",)


def test_an_ambiguous_patient_typing_scores_as_the_uk_counts() -> None:
    day = dt.date(2026, 1, 1)
    pool = Pool.build(
        [
            Patient("p", BloodGroup.O, cpra=0.0, hla=("A1", "A2", "B*40:01/40:02", "B*44:02",
                                                       "DR4", "DR7")),
            Patient("own", BloodGroup.O, cpra=0.0),
        ],
        [Donor("d", "own", BloodGroup.O, hla=("A1", "A2", "B44", "DR4", "DR7"), consent=day)],
    )  # fmt: skip
    assert build_arcs(pool).explain("d", "p").mismatch == ("000", 1)


def test_a_group_level_name_beside_an_antigen_it_may_be_takes_no_place_of_its_own() -> None:
    patient = matching_typing(["B*15:XX", "B72", "B44"])
    assert patient == ("B72", "B44")
    assert count("B", ("B72", "B44"), patient) == 0
    assert count("DRB1", ("DR13", "DR4"), matching_typing(["DRB1*14:XX", "DR13", "DR4"])) == 0
    assert matching_typing(["B*15:XX", "B44"]) == ("B*15", "B44")  # alone, it is B15
