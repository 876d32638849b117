from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from possible.domain import BloodGroup, Donor, Patient, Pool
from possible.errors import FormatError, InputError
from possible.formats import (
    read_kep_json,
    read_pool,
    read_pool_json,
    write_kep_json,
    write_pool_json,
)

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "pool.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


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


def assert_same_pool(a: Pool, b: Pool) -> None:
    assert a.patients == b.patients
    assert a.donors == b.donors
    assert triples(a) == triples(b)
    assert a.digest() == b.digest()


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_golden_file_gives_the_same_pool_as_kep_json(golden: Path) -> None:
    VALIDATOR.validate(json.loads((golden / "pool.json").read_text()))
    pool = read_pool_json(golden / "pool.json")
    assert pool.patients[2] == Patient("p3")
    assert pool.donors[4] == Donor("n1", None, BloodGroup.O, 60.0)
    assert_same_pool(pool, read_kep_json(golden / "kep_v1.json"))


def test_written_file_is_the_golden_file_byte_for_byte(golden: Path, tmp_path: Path) -> None:
    write_pool_json(read_kep_json(golden / "kep_v2.json"), tmp_path / "pool.json")
    assert (tmp_path / "pool.json").read_text() == (golden / "pool.json").read_text()


def test_round_trip_through_compressed_files(golden: Path, tmp_path: Path) -> None:
    pool = read_pool(golden / "pool.json")
    for name in ("pool.json.gz", "pool.json.xz"):
        write_pool_json(pool, tmp_path / name)
        assert_same_pool(read_pool(tmp_path / name), pool)
    # Deterministic: no time stamp in the gzip header.
    first = (tmp_path / "pool.json.gz").read_bytes()
    write_pool_json(pool, tmp_path / "pool.json.gz")
    assert (tmp_path / "pool.json.gz").read_bytes() == first
    assert gzip.decompress(first).decode() == (golden / "pool.json").read_text()


def test_records_may_carry_more_keys_but_the_top_level_may_not() -> None:
    doc = {
        "format": "possible.pool",
        "version": 1,
        "patients": [{"id": "p1", "hla": ["A*02:01"]}],
        "donors": [{"id": "d1", "patient": None, "centre": "north"}],
        "arcs": [{"donor": "d1", "patient": "p1", "score": 2, "rule": "ABO"}],
    }
    VALIDATOR.validate(doc)
    pool = read_pool_json(json.dumps(doc))
    assert pool.donors == (Donor("d1"),)
    assert triples(pool) == [("d1", "p1", 2.0)]
    doc["extra"] = 1
    assert not VALIDATOR.is_valid(doc)
    with pytest.raises(FormatError, match="field 'extra': unknown top-level key"):
        read_pool_json(json.dumps(doc))


BASE = '{"format": "possible.pool", "version": 1, '


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "kep", "version": 1}', "field 'format': expected 'possible.pool'"),
        ('{"format": "possible.pool", "version": 3}', "field 'version': unsupported version 3"),
        ('{"format": "possible.pool", "version": true}', "field 'version': unsupported version"),
        (BASE + '"patients": [], "donors": []}', "field 'arcs': missing required field"),
        (
            BASE + '"patients": [{}], "donors": [], "arcs": []}',
            "record 'patients\\[0\\]': field 'id': missing required field",
        ),
        (
            BASE + '"patients": [{"id": 7}], "donors": [], "arcs": []}',
            "record 'patients\\[0\\]': field 'id': expected an id \\(a non-empty string\\), got 7",
        ),
        (
            BASE + '"patients": [{"id": "p1", "cpra": "high"}], "donors": [], "arcs": []}',
            "record 'p1': field 'cpra': expected a number, got a string 'high'",
        ),
        (
            BASE + '"patients": [], "donors": [{"id": "d1", "age": -1}], "arcs": []}',
            "record 'd1': field 'age': age -1.0 is not plausible",
        ),
        (
            BASE + '"patients": [], "donors": [{"id": "d1", "patient": "p1"}], "arcs": []}',
            "record 'd1': field 'patient': paired with unknown patient 'p1'",
        ),
        (
            BASE + '"patients": [], "donors": [{"id": "d1"}], "arcs": [{"donor": "d1"}]}',
            "record 'd1': field 'patient': missing required field",
        ),
        (
            BASE + '"patients": [{"id": "p1"}], "donors": [{"id": "d1"}], "arcs": [7]}',
            "field 'arcs': arc 0 is 7, expected an object",
        ),
        (
            BASE + '"patients": [{"id": "p1"}], "donors": [{"id": "d1"}],'
            ' "arcs": [{"donor": "d2", "patient": "p1", "score": 1.0}]}',
            "record 'd2': field 'donor': arc from unknown donor 'd2'",
        ),
    ],
)
def test_malformed_documents_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_pool_json(text)


# -- property: any pool survives a write and a read, in both writable formats --------------

ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=5)
blood_groups = st.none() | st.sampled_from(list(BloodGroup))


@st.composite
def pools(draw: st.DrawFn) -> Pool:
    patient_ids = draw(st.lists(ids, unique=True, max_size=5))
    patients = [
        Patient(pid, draw(blood_groups), draw(st.none() | st.floats(0, 1))) for pid in patient_ids
    ]
    donors = [
        Donor(
            did,
            draw(st.none() | st.sampled_from(patient_ids)) if patient_ids else None,
            draw(blood_groups),
            draw(st.none() | st.floats(0, 130, exclude_max=True)),
        )
        for did in draw(st.lists(ids, unique=True, max_size=6))
    ]
    candidates = [(d.id, p) for d in donors for p in patient_ids if p != d.patient]
    chosen = draw(st.lists(st.sampled_from(candidates), unique=True) if candidates else st.just([]))
    scores = st.floats(0, 1e9, allow_nan=False, allow_infinity=False)
    return Pool.build(patients, donors, [(d, p, draw(scores)) for d, p in chosen])


@settings(max_examples=60, deadline=None)
@given(pool=pools())
def test_written_pools_read_back_equal(pool: Pool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        ours, theirs = Path(directory, "pool.json"), Path(directory, "kep.json")
        write_pool_json(pool, ours)
        write_kep_json(pool, theirs)
        VALIDATOR.validate(json.loads(ours.read_text(encoding="utf-8")))
        assert_same_pool(read_pool(ours), pool)
        assert_same_pool(read_pool(theirs), pool)
