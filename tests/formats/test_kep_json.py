from __future__ import annotations

import json
from pathlib import Path

import pytest

from possible.domain import BloodGroup, Donor, Patient, Pool
from possible.errors import FormatError, InputError, ValidationError
from possible.formats import read_kep_json, read_pool, write_kep_json

# The pool every kep_solver golden file describes (tests/formats/golden/kep_*).
PATIENTS = (
    Patient("p1", BloodGroup.A, 0.85),
    Patient("p2", BloodGroup.O, 0.1),
    Patient("p3"),
)
DONORS = (
    Donor("d1", "p1", BloodGroup.O, 45.0),
    Donor("d2", "p2", BloodGroup.A, 52.0),
    Donor("d3", "p1", BloodGroup.B, 38.0),
    Donor("d4", "p3", BloodGroup.AB),
    Donor("n1", None, BloodGroup.O, 60.0),
)
ARCS = [
    ("d1", "p2", 12.5),
    ("d2", "p1", 10.0),
    ("d2", "p3", 1.0),
    ("d3", "p2", 8.0),
    ("d4", "p1", 3.0),
    ("n1", "p1", 5.0),
    ("n1", "p2", 6.0),
]


def triples(pool: Pool) -> list[tuple[str, str, float]]:
    return [
        (pool.donors[i].id, pool.patients[j].id, s)
        for i, j, s in zip(
            pool.arcs.donor.tolist(),
            pool.arcs.patient.tolist(),
            pool.arcs.score.tolist(),
            strict=True,
        )
    ]


@pytest.mark.parametrize("name", ["kep_v1.json", "kep_v2.json"])
def test_golden_file_gives_the_pool_field_by_field(golden: Path, name: str) -> None:
    pool = read_kep_json(golden / name)
    assert pool.patients == PATIENTS
    assert pool.donors == DONORS
    assert triples(pool) == ARCS
    # one patient with two donors; one non-directed donor
    assert [d.id for d in pool.donors if d.patient == "p1"] == ["d1", "d3"]
    assert [d.id for d in pool.donors if d.non_directed] == ["n1"]


def test_version_2_gives_cpra_in_percent(golden: Path) -> None:
    pool = read_kep_json(golden / "kep_v2.json")
    assert pool.patients[pool.patient_index("p1")].cpra == 0.85


def test_text_is_read_as_the_document() -> None:
    pool = read_kep_json(
        '{"data": {"7": {"sources": [3], "matches": [{"recipient": 9, "score": 1}]},'
        ' "8": {"sources": [9], "matches": []}}}'
    )
    assert [p.id for p in pool.patients] == ["3", "9"]
    assert triples(pool) == [("7", "9", 1.0)]


def test_version_2_accepts_donors_keyed_by_id() -> None:
    doc = {
        "schema": 3,
        "donors": {"a": {"id": "a", "paired_recipients": ["x"], "outgoing_transplants": []}},
        "recipients": [{"id": "x", "cPRA": 50}],
    }
    pool = read_kep_json(json.dumps(doc))
    assert pool.donors == (Donor("a", "x"),)
    assert pool.patients == (Patient("x", None, 0.5),)


def test_version_2_key_and_id_must_agree() -> None:
    doc = {
        "schema": 2,
        "donors": {"a": {"id": "b", "paired_recipients": [], "outgoing_transplants": []}},
        "recipients": [],
    }
    with pytest.raises(FormatError, match="record 'a': field 'id': is keyed 'a' but has id 'b'"):
        read_kep_json(json.dumps(doc))


def test_version_2_requires_its_lists() -> None:
    doc = {"schema": 2, "donors": [{"id": "a", "paired_recipients": []}], "recipients": []}
    with pytest.raises(FormatError, match="record 'a': field 'outgoing_transplants': missing"):
        read_kep_json(json.dumps(doc))


def test_a_donor_with_two_patients_is_refused() -> None:
    text = '{"data": {"d1": {"sources": ["p1", "p2"]}}}'
    with pytest.raises(FormatError, match="record 'd1': field 'sources': lists 2 patients"):
        read_kep_json(text)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"altruistic": True, "sources": ["p1"]}, "an altruistic donor cannot also list"),
        ({"altruistic": False}, "marked not altruistic but lists no 'sources'"),
        ({"altruistic": "yes"}, "expected true or false, got a string 'yes'"),
    ],
)
def test_altruistic_must_agree_with_sources(record: dict[str, object], message: str) -> None:
    text = json.dumps({"data": {"d1": record}, "recipients": {"p1": {}}})
    with pytest.raises(FormatError, match=f"record 'd1': field 'altruistic': {message}"):
        read_kep_json(text)


def test_conflicting_aliases_are_refused() -> None:
    text = '{"data": {"d1": {"bloodgroup": "O", "bloodtype": "A"}}}'
    with pytest.raises(ValidationError, match="record 'd1': field 'bloodtype': conflicts with"):
        read_kep_json(text)


def test_a_percentage_in_version_1_is_refused_with_a_hint() -> None:
    text = '{"data": {}, "recipients": {"p1": {"cPRA": 85}}}'
    with pytest.raises(
        ValidationError, match=r"record 'p1': field 'cPRA': 85.0 is outside \[0, 1\]"
    ):
        read_kep_json(text)
    with pytest.raises(ValidationError, match="a percentage"):
        read_kep_json(text.replace("85", "50"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "expected an object, got a list"),
        ('{"schema": "2"}', "field 'schema': expected a schema number"),
        ('{"data": 5}', "field 'data': expected an object, got 5"),
        ('{"data": {"d1": {"matches": {"recipient": "p1"}}}}', "field 'matches': expected a list"),
        ('{"data": {"d1": {"matches": [5]}}}', "match 0 is 5, expected an object"),
        ('{"data": {"d1": {"dage": NaN}}}', "NaN is not a number JSON allows"),
        ('{"data": {"d1": {"dage": 45}, "d1": {}}}', "duplicate key 'd1'"),
        (
            '{"data": {"d1": {"dage": 145}}}',
            "record 'd1': field 'dage': age 145.0 is not plausible",
        ),
        ('{"data": {"d1": {"sources": [true]}}}', "field 'sources': expected an id"),
        (
            '{"data": {"d1": {"sources": ["p1"], "matches": [{"recipient": "p1", "score": 1}]}}}',
            "record 'd1': field 'matches': arc to their own patient 'p1'",
        ),
        (
            '{"data": {"d1": {"matches": [{"recipient": "p1", "score": 1},'
            ' {"recipient": "p1", "score": 2}]}}, "recipients": {"p1": {}}}',
            "record 'd1': field 'matches': duplicate arc",
        ),
        ('{"data": {"d1": ', "not valid JSON: .* \\(line 1, column 17\\)"),
    ],
)
def test_malformed_documents_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_kep_json(text)


def test_written_file_reads_back_to_the_same_pool(golden: Path, tmp_path: Path) -> None:
    pool = read_kep_json(golden / "kep_v1.json")
    write_kep_json(pool, tmp_path / "out.json")
    again = read_pool(tmp_path / "out.json")
    assert again.digest() == pool.digest()
    assert again.patients == pool.patients
    assert again.donors == pool.donors
    assert triples(again) == triples(pool)


def test_written_file_is_kep_solver_version_1(golden: Path, tmp_path: Path) -> None:
    write_kep_json(read_kep_json(golden / "kep_v1.json"), tmp_path / "out.json")
    doc = json.loads((tmp_path / "out.json").read_text())
    assert set(doc) == {"data", "recipients"}
    assert doc["data"]["d1"] == {
        "sources": ["p1"],
        "bloodgroup": "O",
        "dage": 45.0,
        "matches": [{"recipient": "p2", "score": 12.5}],
    }
    assert doc["data"]["n1"]["altruistic"] is True
    assert "sources" not in doc["data"]["n1"]
    assert doc["recipients"]["p1"] == {"bloodgroup": "A", "cPRA": 0.85}
    assert doc["recipients"]["p3"] == {}


def test_writing_is_deterministic(golden: Path, tmp_path: Path) -> None:
    pool = read_kep_json(golden / "kep_v2.json")
    write_kep_json(pool, tmp_path / "a.json")
    write_kep_json(read_pool(tmp_path / "a.json"), tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
