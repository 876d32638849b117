"""Version 2 of possible's pool JSON: clinical records, against a golden file and the schema."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest

from possible.domain import BloodGroup, DonorStatus, PatientStatus
from possible.errors import FormatError, ValidationErrors
from possible.formats import read_pool, write_pool_json
from possible.formats.pool_json import pool_json_text, read_pool_json
from possible.generate.clinical import clinical_pool

GOLDEN = Path(__file__).parent / "golden" / "clinical_pool.json"
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "pool.schema.json").read_text())


def test_golden_file_reads_to_the_records_it_holds() -> None:
    pool = read_pool(GOLDEN)
    assert pool.clinical_arcs
    assert pool.as_of == dt.date(2026, 1, 1)
    assert len(pool.arcs) == 0
    p1, p2 = pool.patients
    assert p1.hla == ("A*01:01", "A*02:01", "B8", "B44", "DR17", "DR4")
    assert p1.unacceptable == ("A9", "DQ8")
    assert p1.listed == dt.date(2024, 3, 1)
    assert p1.dialysis_start == dt.date(2023, 11, 15)
    assert p1.previous_transplants == 1
    assert p1.declined_donors == ("N1",)
    assert p2.cpra is None
    assert p2.status is PatientStatus.SUSPENDED
    assert p2.anti_a_titre == 8
    assert p2.max_donor_age == 60.0
    d1, d2, n1 = pool.donors
    assert d2.subgroup == "A2"
    assert d2.status is DonorStatus.WITHDRAWN
    assert d1.consent == dt.date(2024, 3, 1)
    assert n1.non_directed
    assert n1.blood_group is BloodGroup.O


def test_written_file_is_the_golden_file_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "pool.json"
    write_pool_json(read_pool(GOLDEN), out)
    assert out.read_bytes() == GOLDEN.read_bytes()


def test_generated_pools_round_trip_and_follow_the_schema(tmp_path: Path) -> None:
    pool = clinical_pool(30, seed=5)
    out = tmp_path / "pool.json"
    write_pool_json(pool, out)
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(out.read_text()))
    again = read_pool(out)
    assert again.patients == pool.patients
    assert again.donors == pool.donors
    assert again.digest() == pool.digest()


def test_golden_file_follows_the_schema() -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(GOLDEN.read_text()))


def test_date_of_birth_gives_an_age_at_the_run_date() -> None:
    doc = {
        "format": "possible.pool",
        "version": 2,
        "as_of": "2026-01-01",
        "patients": [{"id": "p", "date_of_birth": "1976-01-01"}],
        "donors": [],
    }
    assert read_pool_json(json.dumps(doc)).patients[0].age == pytest.approx(50.0, abs=0.01)
    del doc["as_of"]
    with pytest.raises(ValidationErrors, match="needs the run date"):
        read_pool_json(json.dumps(doc))


def test_a_date_of_birth_survives_writing_and_gives_the_age_at_the_next_run() -> None:
    doc = {
        "format": "possible.pool",
        "version": 2,
        "as_of": "2026-01-01",
        "patients": [{"id": "p", "date_of_birth": "1976-01-01"}],
        "donors": [{"id": "d", "patient": "p", "date_of_birth": "1966-01-01"}],
    }
    pool = read_pool_json(json.dumps(doc))
    text = pool_json_text(pool)
    assert '"age"' not in text  # the age is worked out again at each read
    later = read_pool_json(text, as_of=dt.date(2027, 1, 1))
    assert later.patients[0].age == pytest.approx(51.0, abs=0.01)
    assert later.donors[0].age == pytest.approx(61.0, abs=0.01)
    assert later.patients[0].date_of_birth == dt.date(1976, 1, 1)


def test_every_bad_record_is_reported_and_nothing_is_read(tmp_path: Path) -> None:
    doc = json.loads(GOLDEN.read_text())
    doc["patients"][0]["blood_group"] = "C"
    doc["patients"][1]["unacceptable"] = ["A2", "B*4x:01"]
    doc["donors"][0]["status"] = "asleep"
    doc["donors"][2]["subgroup"] = "A2"  # an O donor
    doc["donors"][1]["consent"] = "01/07/2025"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValidationErrors) as info:
        read_pool(path)
    lines = info.value.lines()
    assert len(lines) == 5
    expected = [
        ("'P1'", "'blood_group'", "unknown blood group 'C'"),
        ("'P2'", "'unacceptable[1]'", "malformed HLA allele name"),
        ("'D1'", "'status'", "unknown status"),
        ("'D2'", "'consent'", "not a date"),
        ("'N1'", "'subgroup'", "impossible for blood group O"),
    ]
    for line, (record, field, message) in zip(lines, expected, strict=True):
        assert str(path) in line
        assert f"record {record}" in line
        assert f"field {field}" in line
        assert message in line


def test_a_record_check_does_not_hide_the_fields_already_found_bad() -> None:
    # The record's own checks (a subgroup against its group, a plausible limit) run when it is
    # built, after its fields are read: their errors join the fields', one record each side.
    doc = json.loads(GOLDEN.read_text())
    doc["patients"][0].update(listed="2024-13-45", max_donor_age=0, hla=["A2", "Foo"])
    doc["donors"][0].update(consent="never", subgroup="A1")  # an O donor
    with pytest.raises(ValidationErrors) as info:
        read_pool_json(json.dumps(doc))
    found = {(e.record, e.field) for e in info.value.errors}
    assert found == {
        ("P1", "hla[1]"),
        ("P1", "listed"),
        ("P1", "max_donor_age"),
        ("D1", "consent"),
        ("D1", "subgroup"),
    }


def test_an_unknown_declined_donor_is_reported_with_the_records_bad_fields() -> None:
    doc = json.loads(GOLDEN.read_text())
    doc["patients"][0]["declined_donors"] = ["DX", 5]
    with pytest.raises(ValidationErrors) as info:
        read_pool_json(json.dumps(doc))
    messages = [(e.record, e.field, e.message) for e in info.value.errors]
    assert [m[:2] for m in messages] == [("P1", "declined_donors"), ("P1", "declined_donors")]
    assert "'DX'" in messages[1][2]  # the unknown id, found in the same pass as the bad entry


def test_version_1_files_may_not_use_version_2_keys() -> None:
    doc = {"format": "possible.pool", "version": 1, "as_of": "2026-01-01"}
    doc.update({"patients": [], "donors": [], "arcs": []})
    with pytest.raises(FormatError, match="unknown top-level key"):
        read_pool_json(json.dumps(doc))


def _given_arcs_file(donor_2: str, arcs: str, p2_unacceptable: str = "") -> str:
    return (
        '{"format":"possible.pool","version":2,"patients":['
        '{"id":"p1","blood_group":"O","unacceptable":["A2"]},'
        f'{{"id":"p2","blood_group":"A","unacceptable":[{p2_unacceptable}]}}],"donors":['
        '{"id":"d1","patient":"p1","blood_group":"A","hla":["A1"],"consent":"2026-01-01"},'
        f"{donor_2}],"
        f'"arcs":[{arcs}]}}'
    )


def test_given_arcs_that_the_clinical_records_rule_out_are_all_refused() -> None:
    # d2 -> p1 crosses p1's antibody to A2 and blood group AB -> O; d1 -> p2, p2's to A1.
    donor_2 = '{"id":"d2","patient":"p2","blood_group":"AB","hla":["A2"],"consent":"2026-01-01"}'
    arcs = '{"donor":"d1","patient":"p2","score":1.0},{"donor":"d2","patient":"p1","score":1.0}'
    with pytest.raises(ValidationErrors) as err:
        read_pool_json(_given_arcs_file(donor_2, arcs, '"A1"'))
    first, line = err.value.lines()
    assert "record 'd1'" in first
    assert "unacceptable antigen A1" in first
    assert "record 'd2'" in line
    assert "'p1'" in line
    assert "blood group AB cannot give to O" in line
    assert "unacceptable antigen A2: the donor is typed A2" in line


def test_given_arcs_of_a_withdrawn_donor_are_read_but_never_used() -> None:
    from possible.graph import build_graph

    donor_2 = (
        '{"id":"d2","patient":"p2","blood_group":"O","hla":["A1"],"consent":"2026-01-01",'
        '"status":"withdrawn"}'
    )
    arcs = '{"donor":"d1","patient":"p2","score":1.0},{"donor":"d2","patient":"p1","score":1.0}'
    pool = read_pool_json(_given_arcs_file(donor_2, arcs))
    assert len(pool.arcs) == 2
    graph = build_graph(pool)
    # d2 gives nothing, and p2, whose only donor d2 was, is no longer a pair to give to.
    assert graph.n_arcs == 0
    assert [pool.patients[int(j)].id for j in graph.vertex_patient] == ["p1"]


def test_a_misspelt_key_in_a_version_2_record_is_an_error_not_a_silent_gap() -> None:
    doc = {
        "format": "possible.pool",
        "version": 2,
        "patients": [{"id": "p1", "unacceptable_antigens": ["A2"]}],
        "donors": [{"id": "d1", "patient": "p1", "hla": ["A2"], "Status": "withdrawn"}],
        "arcs": [{"donor": "d1", "patient": "p1", "score": 1.0, "weight": 2.0}],
    }
    with pytest.raises(ValidationErrors) as info:
        read_pool_json(json.dumps(doc))
    lines = info.value.lines()
    assert len(lines) == 3
    assert "record 'p1': field 'unacceptable_antigens': unknown key" in lines[0]
    assert "record 'd1': field 'Status': unknown key" in lines[1]
    assert "record 'arcs[0]': field 'weight': unknown key" in lines[2]
    schema = jsonschema.Draft202012Validator(SCHEMA)
    assert len(list(schema.iter_errors(doc))) == 3
    # Version 1 records may carry keys of their own (ignored), as before.
    v1 = {"format": "possible.pool", "version": 1, "patients": [{"id": "p1", "note": "x"}]}
    v1.update({"donors": [], "arcs": []})
    assert read_pool_json(json.dumps(v1)).patients[0].id == "p1"
    assert not list(schema.iter_errors(v1))


def test_every_bad_field_and_every_bad_reference_is_reported_in_one_pass() -> None:
    doc = {
        "format": "possible.pool",
        "version": 2,
        "patients": [
            {"id": "p1", "hla": ["A99", "B*44:0Z"], "unacceptable": ["Cw99"], "status": "ok"},
            {"id": "p1"},
            {"id": "p2", "declined_donors": ["nobody"]},
        ],
        "donors": [
            {"id": "d1", "patient": "pX", "blood_group": "C"},
            {"id": "d2", "patient": "p1", "blood_group": "Q"},
            {"id": "d3", "patient": "p2"},
        ],
        "arcs": [{"donor": "d3", "patient": "p9", "score": 1.0}],
    }
    with pytest.raises(ValidationErrors) as info:
        read_pool_json(json.dumps(doc))
    found = [(e.record, e.field) for e in info.value.errors]
    assert found == [
        ("p1", "hla[0]"),  # each bad field and name of a record, not only the first
        ("p1", "hla[1]"),
        ("p1", "unacceptable[0]"),
        ("p1", "status"),
        ("d1", "blood_group"),
        ("d2", "blood_group"),
        ("p1", "id"),  # then every reference between records: a duplicate id,
        ("d1", "patient"),  # a partner who does not exist (d2's bad record still counts),
        ("p2", "declined_donors"),
        ("d3", "patient"),  # and an arc to no one
    ]


def test_given_arcs_that_records_merely_leave_open_are_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # d1 is not typed at DQ, where p2 has antibodies; d2 is A2, which the run's A2 rule may
    # allow to give to an O patient with a low titre. Neither is a contradiction.
    doc = {
        "format": "possible.pool",
        "version": 2,
        "patients": [
            {"id": "p1", "blood_group": "O", "anti_a_titre": 4},
            {"id": "p2", "blood_group": "A", "unacceptable": ["DQ2", "DPB1*04:01"]},
        ],
        "donors": [
            {"id": "d1", "patient": "p1", "blood_group": "A", "hla": ["A1", "B8", "DR4"]},
            {"id": "d2", "patient": "p2", "blood_group": "A", "subgroup": "A2"},
        ],
        "arcs": [
            {"donor": "d1", "patient": "p2", "score": 1.0},
            {"donor": "d2", "patient": "p1", "score": 1.0},
        ],
    }
    with caplog.at_level("WARNING"):
        pool = read_pool_json(json.dumps(doc))
    assert len(pool.arcs) == 2
    assert not caplog.records  # reading computes no cPRA


@pytest.mark.parametrize(
    ("patient", "accepted"),
    [
        ({"unacceptable": None}, False),  # null is not "no antibodies"
        ({"unacceptable": ""}, False),
        ({"hla": 0}, False),
        ({"declined_donors": False}, False),
        ({"status": None}, False),
        ({"listed": "20250101"}, False),  # ISO 8601 basic form: not the format's dates
        ({"listed": "2025-W01-1"}, False),
        ({"listed": "2025-01-01"}, True),
        ({"previous_transplants": 1.0}, True),  # JSON Schema's integers include 1.0
        ({"anti_a_titre": 8.0}, True),
        ({"previous_transplants": 1.5}, False),
        ({"matching_runs": 3}, True),
        ({"matching_runs": None}, True),  # not recorded
        ({"matching_runs": -1}, False),
        ({"matching_runs": "3"}, False),
        ({"unacceptable": []}, True),
        ({"previous_transplants": 50}, True),
        ({"previous_transplants": 60}, False),  # beyond any real patient: a typing error
    ],
)
def test_the_reader_and_the_schema_agree(patient: dict[str, object], accepted: bool) -> None:
    doc = {
        "format": "possible.pool",
        "version": 2,
        "patients": [{"id": "p1", **patient}],
        "donors": [],
    }
    assert verdicts(doc) == (accepted, accepted)


@pytest.mark.parametrize(("score", "accepted"), [(1e9, True), (2e9, False)])
def test_the_reader_and_the_schema_agree_on_the_largest_score(score: float, accepted: bool) -> None:
    doc = {
        "format": "possible.pool",
        "version": 2,
        "patients": [{"id": "p1"}, {"id": "p2"}],
        "donors": [{"id": "d1", "patient": "p1"}],
        "arcs": [{"donor": "d1", "patient": "p2", "score": score}],
    }
    assert verdicts(doc) == (accepted, accepted)


def verdicts(doc: dict[str, object]) -> tuple[bool, bool]:
    """Whether the schema, and whether the reader, accept `doc`."""
    schema_ok = not list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc))
    try:
        read_pool_json(json.dumps(doc))
    except (FormatError, ValidationErrors):
        return schema_ok, False
    return schema_ok, True


def test_a_pool_with_birth_dates_but_no_run_date_reads_back_equal(tmp_path: Path) -> None:
    from possible.domain import Donor, Patient, Pool

    pool = Pool.build(
        [Patient("p", age=50.0, date_of_birth=dt.date(1976, 1, 1))],
        [Donor("d", "p", age=60.0, date_of_birth=dt.date(1966, 1, 1))],
        [],
    )
    out = tmp_path / "pool.json"
    write_pool_json(pool, out)
    again = read_pool(out)
    assert again.patients == pool.patients
    assert again.donors == pool.donors


def test_a_donor_with_only_a_birth_date_needs_no_consent_to_give_given_arcs() -> None:
    from possible.graph import build_graph

    doc = {
        "format": "possible.pool",
        "version": 2,
        "as_of": "2026-01-01",
        "patients": [{"id": "p1"}, {"id": "p2"}],
        "donors": [
            {"id": "d1", "patient": "p1", "date_of_birth": "1970-01-01"},
            {"id": "d2", "patient": "p2"},
        ],
        "arcs": [
            {"donor": "d1", "patient": "p2", "score": 1.0},
            {"donor": "d2", "patient": "p1", "score": 1.0},
        ],
    }
    assert build_graph(read_pool_json(json.dumps(doc))).n_arcs == 2


def test_an_age_from_a_date_of_birth_is_not_a_birthday_early() -> None:
    # Rounded to two decimals, 60 years and 364 days read as 61.00, and a centre's limit of 60
    # refused a donor of 60.
    doc = json.loads(GOLDEN.read_text())
    doc["as_of"] = "2025-07-01"
    doc["donors"][0].pop("age", None)
    doc["donors"][0]["date_of_birth"] = "1964-07-02"
    pool = read_pool_json(json.dumps(doc))
    assert pool.donors[pool.donor_index(doc["donors"][0]["id"])].age == 60.99
