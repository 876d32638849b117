"""Consistency of the shipped HLA tables (``possible/hla/data``), independent of any loader."""

import json
import re
from importlib import resources

import pytest

DATA = resources.files("possible.hla") / "data"
SEROLOGY = json.loads((DATA / "serology.json").read_text("utf-8"))
FREQUENCIES = json.loads((DATA / "frequencies.json").read_text("utf-8"))

# The sentinel used in frequencies.json for C allele groups with no serological equivalent.
NO_SEROLOGY = "other"
ALLELE_KEY = re.compile(r"^(?P<locus>[A-Z]+[0-9]?)\*(?P<fields>\d{2,3}(?::\d{2,3})*)$")


def _locus_of() -> dict[str, str]:
    """Antigen name -> locus it is listed under (each name must be listed once)."""
    out: dict[str, str] = {}
    for locus, names in SEROLOGY["antigens"].items():
        for name in names:
            assert name not in out, f"{name} listed under {out.get(name)} and {locus}"
            out[name] = locus
    return out


def test_top_level_keys():
    assert set(SEROLOGY) == {
        "source",
        "version",
        "loci",
        "antigens",
        "parents",
        "alleles",
        "bw4",
        "bw6",
        "drb345",
    }
    assert SEROLOGY["source"].strip()
    assert SEROLOGY["version"].strip()
    assert set(FREQUENCIES) >= {"source", "version", "population", "haplotypes", "loci", "drb345"}


def test_the_drb345_rule_covers_every_drb1_antigen_and_the_panel_uses_the_same():
    rule = SEROLOGY["drb345"]
    assert rule == FREQUENCIES["drb345"]
    locus = _locus_of()
    for antigen in SEROLOGY["antigens"]["DRB1"]:
        # The antigen, or a broader one it belongs to, says which DRB3/4/5 product comes with it.
        chain = [antigen]
        while chain[-1] in SEROLOGY["parents"]:
            chain.append(SEROLOGY["parents"][chain[-1]])
        assert any(a in rule for a in chain), antigen
    for key, value in rule.items():
        assert locus[key] == "DRB1", key
        assert value is None or locus[value] in ("DRB3", "DRB4", "DRB5"), key


def test_loci_and_prefixes():
    loci = SEROLOGY["loci"]
    assert set(loci) == {"A", "B", "C", "DRB1", "DRB3", "DRB4", "DRB5", "DQB1", "DQA1", "DPB1"}
    assert loci["DQA1"] is None
    assert loci["DPB1"] is None
    # Every locus with serology has antigens, and no locus without serology does.
    assert set(SEROLOGY["antigens"]) == {k for k, v in loci.items() if v is not None}
    for locus, names in SEROLOGY["antigens"].items():
        assert names, locus
        prefix = loci[locus]
        for name in names:
            assert name.startswith(prefix), (locus, name)
            assert re.fullmatch(re.escape(prefix) + r"\d+", name), (locus, name)


def test_antigen_names_unique():
    _locus_of()


def test_parents_are_listed_in_the_same_locus():
    where = _locus_of()
    for child, parent in SEROLOGY["parents"].items():
        assert child in where, child
        assert parent in where, parent
        assert where[child] == where[parent], (child, parent)
        assert child != parent


def test_parents_acyclic():
    parents = SEROLOGY["parents"]
    for start in parents:
        seen = {start}
        node = start
        while node in parents:
            node = parents[node]
            assert node not in seen, f"cycle through {start}"
            seen.add(node)


def test_allele_keys_well_formed_and_targets_valid():
    where = _locus_of()
    loci = SEROLOGY["loci"]
    assert SEROLOGY["alleles"]
    for key, antigen in SEROLOGY["alleles"].items():
        m = ALLELE_KEY.match(key)
        assert m, key
        locus = m["locus"]
        assert locus in loci, key
        assert loci[locus] is not None, f"{key}: no serology at {locus}"
        assert where.get(antigen) == locus, (key, antigen)


def test_every_two_field_override_has_a_group_default():
    alleles = SEROLOGY["alleles"]
    for key in alleles:
        if ":" in key:
            assert key.split(":")[0] in alleles, key


@pytest.mark.parametrize(
    ("allele", "antigen"),
    [
        ("A*02:03", "A203"),
        ("A*24:03", "A2403"),
        ("B*14:01", "B64"),
        ("B*14:02", "B65"),
        ("B*15:01", "B62"),
        ("B*15:16", "B63"),
        ("B*40:01", "B60"),
        ("B*40:02", "B61"),
        ("C*03:03", "Cw9"),
        ("C*03:04", "Cw10"),
        ("DRB1*01:03", "DR103"),
        ("DRB1*03:01", "DR17"),
        ("DRB1*03:02", "DR18"),
        ("DRB1*14:04", "DR1404"),
        ("DQB1*03:01", "DQ7"),
        ("DQB1*03:02", "DQ8"),
        ("DQB1*03:03", "DQ9"),
        ("DRB3*01", "DR52"),
        ("DRB4*01", "DR53"),
        ("DRB5*01", "DR51"),
    ],
)
def test_known_equivalents(allele, antigen):
    assert SEROLOGY["alleles"][allele] == antigen


def test_bw4_bw6():
    where = _locus_of()
    bw4, bw6 = set(SEROLOGY["bw4"]), set(SEROLOGY["bw6"])
    assert not bw4 & bw6
    for name in bw4 | bw6:
        assert where.get(name) in {"A", "B"}, name
    assert not {n for n in bw6 if where[n] == "A"}, "no A antigen carries Bw6"


def test_frequencies_sum_to_one_per_locus():
    loci = FREQUENCIES["loci"]
    assert set(loci) == {"A", "B", "C", "DR", "DQ", "DR5x"}
    for name, table in loci.items():
        assert table, name
        assert all(v > 0 for v in table.values()), name
        assert abs(sum(table.values()) - 1.0) < 1e-6, (name, sum(table.values()))
    assert set(loci["DR5x"]) == {"DR51", "DR52", "DR53", "none"}


def test_haplotypes():
    haps = FREQUENCIES["haplotypes"]
    assert len(haps) >= 40
    for h in haps:
        assert set(h) == {"A", "B", "C", "DR", "DQ", "frequency"}, h
        assert h["frequency"] > 0
    assert sum(h["frequency"] for h in haps) < 1
    keys = [tuple(h[k] for k in ("A", "C", "B", "DR", "DQ")) for h in haps]
    assert len(keys) == len(set(keys)), "duplicate haplotype rows"


def test_frequency_antigens_are_in_serology():
    expected = {
        "A": {"A"},
        "B": {"B"},
        "C": {"C"},
        "DR": {"DRB1"},
        "DQ": {"DQB1"},
        "DR5x": {"DRB3", "DRB4", "DRB5"},
    }
    where = _locus_of()
    for name, table in FREQUENCIES["loci"].items():
        for antigen in table:
            if (name, antigen) in {("C", NO_SEROLOGY), ("DR5x", "none")}:
                continue
            assert where.get(antigen) in expected[name], (name, antigen)
    for h in FREQUENCIES["haplotypes"]:
        for key in ("A", "B", "C", "DR", "DQ"):
            if key == "C" and h[key] == NO_SEROLOGY:
                continue
            assert where.get(h[key]) in expected[key], (key, h[key])


def test_drb345_rule():
    where = _locus_of()
    rule = FREQUENCIES["drb345"]
    assert set(FREQUENCIES["loci"]["DR"]) <= set(rule)
    for dr, extra in rule.items():
        assert where.get(dr) == "DRB1", dr
        assert extra in {"DR51", "DR52", "DR53", None}, (dr, extra)
    known = {
        "DR15": "DR51",
        "DR16": "DR51",
        "DR17": "DR52",
        "DR11": "DR52",
        "DR13": "DR52",
        "DR14": "DR52",
        "DR4": "DR53",
        "DR7": "DR53",
        "DR9": "DR53",
        "DR1": None,
        "DR8": None,
        "DR10": None,
    }
    assert {d: rule[d] for d in known} == known


def test_dr5x_follows_dr_and_rule():
    rule = FREQUENCIES["drb345"]
    expected = {"DR51": 0.0, "DR52": 0.0, "DR53": 0.0, "none": 0.0}
    for dr, p in FREQUENCIES["loci"]["DR"].items():
        expected[rule[dr] or "none"] += p
    for key, p in FREQUENCIES["loci"]["DR5x"].items():
        assert abs(p - expected[key]) < 1e-3, (key, p, expected[key])
