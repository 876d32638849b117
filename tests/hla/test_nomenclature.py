"""Reading HLA names, and how antigens nest (answers checked by hand against the WHO tables)."""

from __future__ import annotations

import pytest

from possible.hla.nomenclature import nomenclature

N = nomenclature()


def tokens(name: str) -> list[str]:
    return [s.token for s in N.parse(name)]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("A2", ["A2"]),
        ("a2", ["A2"]),
        (" B44 ", ["B44"]),
        ("Cw7", ["Cw7"]),
        ("C7", ["Cw7"]),
        ("DR4", ["DR4"]),
        ("DR51", ["DR51"]),
        ("DQ8", ["DQ8"]),
        ("Bw4", ["Bw4"]),
        ("A*02:01", ["A*02:01"]),
        ("HLA-A*02:01", ["A*02:01"]),
        ("B*44:02:01:01", ["B*44:02"]),
        ("A*02:01:01G", ["A*02:01"]),
        ("A*02:01P", ["A*02:01"]),
        ("A*02:01/02:06", ["A*02:01", "A*02:06"]),
        ("A*02:01/A*02:06", ["A*02:01", "A*02:06"]),
        ("A*02:01 / 02:06", ["A*02:01", "A*02:06"]),  # spaces around the slash
        ("C*17:01", ["C*17:01"]),  # a real group without serology
        ("C*12:XX", ["C*12"]),  # such a group at low resolution
        ("C*17", ["C*17"]),
        ("A*02", ["A*02"]),  # allele group only: the group, under its antigen
        ("A*02:XX", ["A*02"]),
        ("B*15", ["B*15"]),  # a group of several antigens
        ("A*02:01N", []),  # a null allele expresses nothing
        ("DRB1*04:01", ["DRB1*04:01"]),
        ("DQA1*05:01", ["DQA1*05:01"]),
        ("DQA1*05", ["DQA1*05"]),
        ("DPB1*04:01", ["DPB1*04:01"]),
        ("DPB1*1001:01", ["DPB1*1001:01"]),  # DPB1 numbers pass 999
        ("A*02:AB", ["A*02"]),  # a multiple-allele code: read as its allele group
        ("DQA1*05:01N", []),
    ],
)
def test_names_read_as_labs_write_them(name: str, expected: list[str]) -> None:
    assert tokens(name) == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("A99", "unknown HLA antigen 'A99'"),
        ("Cw99", "unknown HLA antigen"),
        ("A*2:01", "malformed HLA allele name"),
        ("A*02:01:01:01:01", "malformed HLA allele name"),
        ("DRB9*01:01", "not one used in kidney matching"),
        ("A*99:01", "allele group 'A\\*99' in 'A\\*99:01' is not a known A group"),
        ("DRB1*99:01", "not a known DRB1 group"),
        ("A*00:00", "not a known A group"),
        ("A*02:01/B*07:02", "mixes loci"),
        ("DQA1*07:01", "allele group DQA1\\*07 in 'DQA1\\*07:01' does not exist"),
        ("DQA1*07:01N", "does not exist"),  # even as a null allele
        ("A*0201", "separated by colons since 2010 \\(write A\\*02:01\\)"),
        ("DRB1*0401", "write DRB1\\*04:01"),
        ("DPB1*0401", "write DPB1\\*04:01"),
        ("", "empty HLA name"),
    ],
)
def test_bad_names_say_what_is_wrong(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        N.parse(name)


def test_alleles_nest_into_antigens_splits_and_broads() -> None:
    assert N.ancestors("A*24:03")[:4] == ("A*24:03", "A2403", "A24", "A9")
    assert N.ancestors("B*15:16")[:3] == ("B*15:16", "B63", "B15")
    assert N.ancestors("B*40:01")[:3] == ("B*40:01", "B60", "B40")
    assert N.ancestors("DQB1*03:02")[:3] == ("DQB1*03:02", "DQ8", "DQ3")
    assert N.ancestors("DRB1*03:01")[:3] == ("DRB1*03:01", "DR17", "DR3")
    assert N.ancestors("DQA1*05:01") == ("DQA1*05:01", "DQA1*05")


def test_public_epitopes_follow_the_antigen() -> None:
    assert "Bw4" in N.ancestors("B57")
    assert "Bw6" in N.ancestors("B7")
    assert "Bw4" in N.ancestors("A24")  # one of the A antigens carrying Bw4
    assert "Bw4" not in N.ancestors("A2")


def test_related_antigens_cannot_be_told_apart_while_splits_can() -> None:
    assert N.related("A24", "A9")
    assert N.related("A9", "A24")
    assert N.related("A2403", "A24")
    assert not N.related("A23", "A24")
    assert not N.related("B57", "B58")  # both Bw4, both split from B17, but different
    assert N.related("A*02:01", "A2")


def test_every_two_field_allele_expresses_a_listed_antigen_of_its_locus() -> None:
    for allele in N.allele_names():
        antigen = N.antigen(allele)
        assert antigen is not None
        locus = N.locus(allele)
        assert antigen in N.antigens(locus), allele
