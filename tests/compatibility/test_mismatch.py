"""HLA-A, -B, -DR mismatches and the UK levels, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from possible.compatibility.mismatch import LocusTypes, mismatch_counts, mismatch_level
from possible.hla.nomenclature import nomenclature

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
