"""Typings against antibody lists in bulk: bit sets against a set-based oracle."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from possible.errors import ValidationError
from possible.hla.nomenclature import nomenclature
from possible.hla.typing import TokenSpace, carries_unacceptable, crossmatch_typing, read_names

N = nomenclature()


def test_read_names_names_the_record_and_the_entry() -> None:
    with pytest.raises(ValidationError) as info:
        read_names(["A2", "B*44:02", "Q17"], record="p7", field="unacceptable")
    assert info.value.record == "p7"
    assert info.value.field == "unacceptable[2]"
    assert "Q17" in str(info.value)


def test_a_typing_with_three_antigens_at_one_locus_is_refused() -> None:
    with pytest.raises(ValidationError) as err:
        read_names(["DR4", "DR15", "DR11", "DR13"], record="d1", field="hla", typing=True)
    assert err.value.record == "d1"
    assert err.value.field == "hla[2]"
    assert "3 different antigens at HLA-DRB1 (DR4, DR15, DR11)" in err.value.message
    # The same names as antibodies are fine: a patient may have many.
    read_names(["DR4", "DR15", "DR11", "DR13"], record="p1", field="unacceptable")


def test_a_null_allele_is_no_antibody_specificity_but_is_a_valid_typing() -> None:
    # A donor may carry a null allele (it expresses nothing); an antibody cannot target one,
    # so listed as unacceptable it is a slip for the antigen meant, not a name to drop.
    assert read_names(["A*02:01N", "A1"], record="d1", field="hla", typing=True)[0].token == "A1"
    with pytest.raises(ValidationError) as err:
        read_names(["A1", "A*02:01N"], record="p1", field="unacceptable")
    assert err.value.field == "unacceptable[1]"
    assert "null allele 'A*02:01N' expresses no antigen" in err.value.message


def test_a_broad_listed_first_does_not_hide_two_splits_after_it() -> None:
    # A9 is A23 or A24; listed with both, the person has A23, A24 and A1: three antigens.
    with pytest.raises(ValidationError) as err:
        read_names(["A9", "A23", "A24", "A1"], record="d1", field="hla", typing=True)
    assert "3 different antigens at HLA-A (A23, A24, A1)" in err.value.message
    read_names(["A9", "A23", "A24"], record="d1", field="hla", typing=True)  # two: fine


@pytest.mark.parametrize(
    ("names", "accepted"),
    [
        (["B*15:XX", "B62", "B44"], True),  # B*15 may be B62: two antigens
        (["DRB1*03:XX", "DR17", "DR18"], True),
        (["B62", "B*15:XX", "B44"], True),
        (["B*15:XX", "B*15:01", "B*15:03", "B*15:16"], False),  # B62, B72, B63: three
        (["B*40:08", "B60", "B44"], True),  # an allele known only at B40 may be B60
        (["B15", "B*15:XX", "B*15:03", "B44"], False),  # B15, B72 and B44
        (["B*15:29", "B*15:01", "B62", "B63"], True),  # B15 (may be B63), B62: two
        (["B*15:XX", "B*35:01", "B35", "B15"], True),  # B35 and B15: two
    ],
)
def test_a_group_level_name_counts_once_with_an_antigen_it_may_be(
    names: list[str], accepted: bool
) -> None:
    if accepted:
        read_names(names, record="d1", field="hla", typing=True)
    else:
        with pytest.raises(ValidationError, match="3 different antigens"):
            read_names(names, record="d1", field="hla", typing=True)


B_NAMES = ["B15", "B*15", "B*15:01", "B*15:03", "B*15:29", "B62", "B63", "B72", "B35", "B44"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(B_NAMES), min_size=2, max_size=5, unique=True), st.randoms())
def test_the_two_antigen_check_does_not_depend_on_the_order_of_names(
    names: list[str], random: Any
) -> None:
    shuffled = list(names)
    random.shuffle(shuffled)
    verdicts = []
    for order in (names, shuffled):
        try:
            read_names(order, record="d", field="hla", typing=True)
            verdicts.append(True)
        except ValidationError:
            verdicts.append(False)
    assert verdicts[0] == verdicts[1]


def test_an_imprecise_drb1_name_brings_the_dr51_52_53_of_every_antigen_it_may_be() -> None:
    # DRB1*08 is DR8 (no DRB3/4/5), but DRB1*08:31 is DR11, which brings DR52.
    assert crossmatch_typing(("DRB1*08", "DR4"), N) == ("DRB1*08", "DR4", "DR52", "DR53")
    assert crossmatch_typing(("DRB1*08:01", "DR4"), N) == ("DRB1*08:01", "DR4", "DR53")


def test_names_that_may_be_the_same_antigen_count_once_in_a_typing() -> None:
    names = ["A2", "A*02:01", "A9", "A24", "B44", "Bw4", "B8", "Bw6", "A*02:01/02:06"]
    assert len(read_names(names, record="d1", field="hla", typing=True)) == 9
    with pytest.raises(ValidationError, match="HLA-A"):
        read_names(["A*02:01", "A*02:06", "A1"], record="d1", field="hla", typing=True)


def test_a_donor_may_carry_its_broad_and_the_splits_of_a_broad_typing() -> None:
    space = TokenSpace(["A9", "A24", "A23", "A*24:02", "A2", "A*02:01"])
    carried = {space.tokens[i] for i in space.carried("A*24:02")}
    assert {"A*24:02", "A24", "A9", "Bw4"} <= carried
    assert "A23" not in carried
    # Typed at broad level only: either split may be there (conservative).
    carried = {space.tokens[i] for i in space.carried("A9")}
    assert {"A9", "A23", "A24", "A*24:02"} <= carried
    # Typed serologically: any allele of the antigen may be there.
    assert space.index["A*02:01"] in space.carried("A2")


def test_hits_by_hand() -> None:
    donors = [("A1", "A24", "B8", "B57"), ("A2", "A23", "B7"), ("A*24:02", "B*07:02")]
    patients = [("A9",), ("A24",), ("Bw4",), ("DR4",), ()]
    space = TokenSpace({t for x in donors + patients for t in x})
    hits = space.hits(patients, space.bitsets(donors), len(donors))
    expected = [
        [True, True, True],  # A9: A24, A23 and A*24:02 are all A9
        [True, False, True],  # A24: not A23
        [True, True, True],  # Bw4: B57; A23; A24
        [False, False, False],
        [False, False, False],
    ]
    assert hits.tolist() == expected


EPITOPES = ("Bw4", "Bw6")
SEROLOGY = [a for locus in N.loci for a in N.antigens(locus)]


def may_be(t: str, u: str) -> bool:
    """Whether someone typed `t` may carry the antigen or allele `u` (epitopes aside)."""
    if u in N.ancestors(t) or t in N.ancestors(u):  # the same, broader, or narrower
        return True
    if "*" in u and ":" not in u and t.startswith(u + ":"):  # a group: any of its alleles
        return True
    if N.imprecise(u) and "*" not in t:  # the antigen of the group or vague allele
        own = N.antigen(u) or ""
        return any(t in N.ancestors(a) or a in N.ancestors(t) for a in (own, *N.splits(own)))
    if "*" not in t:
        return False
    if "*" in u:  # another allele: only if `t` is its group
        return ":" not in t and u.startswith(t + ":")
    own = N.antigen(t)  # known only at a broad: any antigen narrower than it
    if own is not None and N.splits(own) and own in N.ancestors(u):
        return True
    return any(u in N.ancestors(a) for a in N.possible_antigens(t))


@pytest.mark.parametrize(
    ("typed", "antibody", "may_carry"),
    [
        ("B12", "Bw4", True),  # B12 may be B44 (Bw4) ...
        ("B12", "Bw6", True),  # ... or B45 (Bw6)
        ("B*15:XX", "Bw4", True),  # B15 may be B63 or B77 (Bw4)
        ("A19", "Bw4", True),  # A19 may be A32 (Bw4)
        ("B44", "Bw6", False),
        ("B*15:40", "B62", True),  # not in the table: only its group's broad B15 is known
        ("DRB1*03:05", "DR17", True),  # the WHO equivalent is the broad DR3
        ("DRB1*03:05", "DRB1*03:01", False),  # a different allele, known as such
        ("B*44:02", "B45", False),  # known at its split
        ("A*02:01", "A203", False),  # A203 is associated with A2, not a split of it
        ("B*15:XX", "B72", True),  # the B*15 group also holds B70, B71 and B72 alleles
        ("B*15:XX", "B*15:03", True),  # and may be any of its alleles
        ("B15", "B72", False),  # serological B15 is not B70
        ("B*15:40", "B71", True),  # an unlisted allele of a mixed group: serology unknown
        ("B*44:99", "B45", False),  # an unlisted allele of a group with one antigen: B44
        ("A*02:01", "A*02:XX", True),  # an antibody written at group level: the whole group
        ("A2", "A*02:XX", True),
        ("A*24:02", "A*02:XX", False),
        ("DR13", "DRB1*14:XX", False),  # not because one rare DRB1*14 allele is DR13
        ("DRB1*14:53", "DRB1*14:XX", True),  # but that allele itself, as any of the group
        ("B72", "B*15:XX", False),  # anti-B*15 is anti-B15 and its splits ...
        ("B62", "B*15:XX", True),
        ("B60", "B*40:08", True),  # an antibody to an allele known only at B40
        ("DR17", "DRB1*03:05", True),
        ("B62", "B*15:99", True),  # an unlisted allele of the mixed B*15 group
        ("B*40:01", "B*40:08", False),  # a different allele, known as such
    ],
)
def test_a_typing_known_only_at_a_broad_may_carry_its_splits_and_their_epitopes(
    typed: str, antibody: str, may_carry: bool
) -> None:
    typing = tuple(s.token for s in read_names([typed], record="d", field="hla"))
    wanted = tuple(s.token for s in read_names([antibody], record="p", field="unacceptable"))
    assert carries_unacceptable([typing], [wanted]).tolist() == [[may_carry]]


def oracle(typing: tuple[str, ...], unacceptable: tuple[str, ...]) -> bool:
    """Conflict iff the typing may carry an antibody's target, or an antigen bearing its epitope."""
    for u in unacceptable:
        for t in typing:
            if u not in EPITOPES and may_be(t, u):
                return True
            if u in EPITOPES and any(u in N.ancestors(v) and may_be(t, v) for v in [t, *SEROLOGY]):
                return True
    return False


NAMES = [
    "A1", "A2", "A9", "A23", "A24", "A2403", "A*24:02", "A*24:03", "A*02:01", "A203",
    "B7", "B8", "B15", "B62", "B63", "B*15:01", "B57", "B58", "B17", "Bw4", "Bw6",
    "DR4", "DR3", "DR17", "DR18", "DRB1*03:01", "DRB1*03:05", "DRB1*03:99", "B*15:40", "B12",
    "B44", "B45", "A19", "B*15", "B72", "B70", "B*15:03", "B*44", "A*02", "A*24", "B*40:08",
    "B60", "B*40:01", "DQ7", "DQ3",
    "DQB1*03:02",
    "DQA1*05:01",
    "DQA1*05", "DPB1*04:01", "Cw3", "Cw9", "Cw10",
]  # fmt: skip
typings = st.lists(st.tuples(*[st.sampled_from(NAMES)] * 3), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(donors=typings, patients=typings)
def test_hits_agree_with_the_set_oracle(
    donors: list[tuple[str, ...]], patients: list[tuple[str, ...]]
) -> None:
    donors = [tuple(x for x in d if x not in ("Bw4", "Bw6")) for d in donors]
    space = TokenSpace({t for x in donors + patients for t in x})
    hits = space.hits(patients, space.bitsets(donors), len(donors))
    expected = np.array([[oracle(d, p) for d in donors] for p in patients])
    assert (hits == expected).all()
