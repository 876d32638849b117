"""cPRA against hand-made panels, the shipped panel, and panel files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from possible.domain import BloodGroup
from possible.errors import FormatError, PolicyError, ValidationError, ValidationErrors
from possible.hla.cpra import PANEL_SIZE, Panel, cpra

PANEL = Panel(
    (("A1", "A2"), ("A2", "A3"), ("A3", "A11"), ("A1", "A24")),
    (BloodGroup.O, BloodGroup.A, BloodGroup.B, BloodGroup.O),
    "hand-made",
)


def test_cpra_is_the_share_of_the_panel_ruled_out() -> None:
    values = cpra([(), ("A2",), ("A9",), ("A1", "A3"), ("A23",)], PANEL)
    assert values.tolist() == [0.0, 0.5, 0.25, 1.0, 0.0]


def test_abo_inclusive_cpra_also_rules_out_incompatible_panel_donors() -> None:
    # An O patient cannot take the A and B panel donors: half the panel before any antibody.
    values = cpra([(), ("A24",)], PANEL, blood_groups=[BloodGroup.O, BloodGroup.AB])
    assert values.tolist() == [0.5, 0.25]


def test_abo_inclusive_cpra_needs_a_panel_with_blood_groups() -> None:
    without = Panel(PANEL.typings, None, "typings only")
    with pytest.raises(PolicyError, match="typings only has none"):
        cpra([("A2",)], without, blood_groups=[BloodGroup.O])


def test_panel_donors_typed_at_drb1_carry_the_dr51_52_53_it_implies() -> None:
    # As the crossmatch reads donors: DR17 and DR11 bring DR52; DR15 brings DR51; DR1 nothing.
    panel = Panel((("DR17", "DR11"), ("DR15", "DR1"), ("DR17", "DR52"), ("DR1",)), None, "DR")
    assert cpra([("DR52",), ("DR51",), ("DR53",)], panel).tolist() == [0.5, 0.25, 0.0]


def test_cpra_counts_a_serological_blank_as_the_crossmatch_does() -> None:
    # C*12 has no serological antigen: a panel donor typed only Cw7 may hide it, as a donor.
    panel = Panel(
        (("A1", "Cw7"), ("A1", "Cw7", "Cw4"), ("A1", "C*07:01"), ("A1", "C*12:03")), None, "C"
    )
    assert cpra([("C*12:03",), ("C*12",), ("Cw7",)], panel).tolist() == [0.5, 0.5, 0.75]


def test_shipped_panel_is_the_same_on_every_call_and_plausible() -> None:
    first, second = Panel.shipped(), Panel.shipped()
    assert first.typings == second.typings
    assert len(first) == PANEL_SIZE
    assert first.blood_groups is not None
    # About half of Europeans carry A2 (gene frequency near 0.28): a broad sanity check.
    a2 = float(cpra([("A2",)])[0])
    assert 0.35 < a2 < 0.65
    assert float(cpra([("A1", "A2", "A3", "A11", "A9", "A10", "A19", "A28")])[0]) > 0.97


def test_panel_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "panel.json"
    donors = [
        {"hla": ["A1", "A2"], "blood_group": "O"},
        {"hla": ["A*03:01", "A11"], "blood_group": "A"},
    ]
    path.write_text(json.dumps({"source": "test panel", "donors": donors}))
    panel = Panel.read(path)
    assert panel.typings == (("A1", "A2"), ("A*03:01", "A11"))
    assert panel.source == "test panel"
    assert cpra([("A3",)], panel).tolist() == [0.5]


def test_bad_panel_files_name_the_donor_and_field(tmp_path: Path) -> None:
    path = tmp_path / "panel.json"
    path.write_text(json.dumps({"donors": [{"hla": ["A1"]}, {"hla": ["A1", "Q3"]}]}))
    with pytest.raises(ValidationError) as info:
        Panel.read(path)
    assert info.value.record == "donors[1]"
    assert info.value.field == "hla[1]"
    bad = [{"hla": ["A1", "Q3"]}, {"hla": ["A1"], "blood_group": "C"}, 7, {"hla": ["A9x"]}]
    path.write_text(json.dumps({"donors": bad}))
    with pytest.raises(ValidationErrors) as every:
        Panel.read(path)
    assert [(e.record, e.field) for e in every.value.errors] == [
        ("donors[0]", "hla[1]"),
        ("donors[1]", "blood_group"),
        ("donors[2]", None),
        ("donors[3]", "hla[0]"),
    ]
    assert all(e.source == str(path) for e in every.value.errors)
    path.write_text("{}")
    with pytest.raises(FormatError, match="non-empty list 'donors'"):
        Panel.read(path)


def test_antibodies_at_loci_the_panel_lacks_are_counted_in_a_warning_without_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="possible.hla.cpra"):
        values = cpra([["DPB1*04:01"], ["A2", "DQA1*05:01", "DPB1*02:01"], ["A2"]])
    assert values[0] == 0.0  # the shipped panel has no DPB1: nothing is ruled out
    assert values[1] == values[2]
    (record,) = caplog.records
    assert "HLA-DPB1 for 2, HLA-DQA1 for 1" in record.getMessage()
    caplog.clear()
    with caplog.at_level("WARNING", logger="possible.hla.cpra"):
        cpra([["A2", "DQ8", "DR52"]])
    assert not caplog.records
