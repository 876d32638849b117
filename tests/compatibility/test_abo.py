"""Blood group rules, checked by hand."""

from __future__ import annotations

import pytest

from possible.compatibility.abo import AboRule, abo_matrix
from possible.domain import BloodGroup as G
from possible.errors import PolicyError

GROUPS = [G.O, G.A, G.B, G.AB]


def test_standard_rule() -> None:
    ok, by_a2 = abo_matrix(GROUPS, [None] * 4, GROUPS, [None] * 4, AboRule())
    assert ok.tolist() == [
        # O  A      B      AB   <- patient
        [True, True, True, True],  # O donor
        [False, True, False, True],  # A donor
        [False, False, True, True],  # B donor
        [False, False, False, True],  # AB donor
    ]
    assert not by_a2.any()


def test_unknown_blood_group_is_compatible_with_no_one() -> None:
    ok, _ = abo_matrix([G.O, None], [None, None], [G.AB, None], [None, None], AboRule())
    assert ok.tolist() == [[True, False], [False, False]]


def test_a2_rule_is_off_by_default_and_bounded_by_titre() -> None:
    donors, subgroups = [G.A, G.A, G.AB], ["A2", "A1", "A2B"]
    patients, titres = [G.O, G.O, G.B, G.O, G.B], [8, 16, 4, None, 32]
    ok, _ = abo_matrix(donors, subgroups, patients, titres, AboRule())
    assert not ok.any()
    ok, by_a2 = abo_matrix(donors, subgroups, patients, titres, AboRule(a2_max_titre=8))
    assert ok.tolist() == [
        [True, False, True, False, False],  # A2: O at 8 yes, O at 16 no, B at 4 yes, no titre no
        [False, False, False, False, False],  # A1 never
        [False, False, True, False, False],  # A2B: only to B with a low titre
    ]
    assert (by_a2 == ok).all()


@pytest.mark.parametrize("titre", [0, -4, True, 2.5])
def test_a2_rule_needs_a_positive_whole_titre(titre: object) -> None:
    with pytest.raises(PolicyError, match="a2_max_titre"):
        AboRule(a2_max_titre=titre)  # type: ignore[arg-type]
