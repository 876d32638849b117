from __future__ import annotations

from pathlib import Path

import pytest

from possible.domain import BloodGroup, Donor, Patient
from possible.errors import InputError
from possible.formats import read_kep_json, read_kep_yaml


def test_golden_file_gives_the_same_pool_as_the_json_one(golden: Path) -> None:
    pool = read_kep_yaml(golden / "kep.yaml")
    assert pool.patients == (
        Patient("p1", BloodGroup.A, 0.85),
        Patient("p2", BloodGroup.O, 0.1),
        Patient("p3"),
    )
    assert pool.donors[1] == Donor("d2", "p2", BloodGroup.A, 52.0)
    assert pool.donors[4] == Donor("n1", None, BloodGroup.O, 60.0)
    assert pool.digest() == read_kep_json(golden / "kep_v1.json").digest()


def test_integer_ids_are_read_as_text() -> None:
    pool = read_kep_yaml(
        "schema: 1\ndonors:\n  1: {recipients: [2], matches: [{recipient_id: 4, score: 1}]}\n"
        "  3: {recipients: [4]}\n"
    )
    assert [d.id for d in pool.donors] == ["1", "3"]
    assert [p.id for p in pool.patients] == ["2", "4"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema: 2\ndonors: {}\n", "field 'schema': unsupported schema 2"),
        ("donors: {}\nx: 1\n", "field 'schema': missing required field"),
        ("schema: 1\ndonors: []\n", "field 'donors': expected an object, got a list"),
        (
            "schema: 1\ndonors:\n  d1: {age: 30}\n  d1: {age: 31}\n",
            r"duplicate key 'd1' \(line 4\)",
        ),
        (
            "schema: 1\ndonors:\n  d1: {bloodgroup: Q}\n",
            "record 'd1': field 'bloodgroup': unknown blood group 'Q'",
        ),
        (
            "schema: 1\ndonors:\n  d1: {matches: [{recipient_id: p1, score: '2'}]}\n"
            "recipients:\n  p1: {}\n",
            "record 'd1': field 'score': expected a number, got a string",
        ),
        (
            "schema: 1\ndonors:\n  d1: {matches: [{recipient_id: p1, score: .nan}]}\n"
            "recipients:\n  p1: {}\n",
            "record 'd1': field 'score': .*finite",
        ),
        ("schema: 1\ndonors: {d1: [\n", r"not valid YAML: .*\(line 3\)"),
    ],
)
def test_malformed_documents_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_kep_yaml(text)
