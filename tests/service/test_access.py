"""Who may do what: each role's allowed and forbidden actions, through the real app."""

from __future__ import annotations

import pytest

from possible.service.app import create_app
from possible.service.settings import Settings
from registry_app import Api

NEW_PATIENT = {
    "id": "NP1",
    "blood_group": "A",
    "hla": ["A2", "B*44:02", "DR4"],
    "unacceptable": ["A1"],
}


def test_signing_in_and_out(api: Api) -> None:
    assert api.get(None, "/patients").status_code == 401
    bad = api.client.get("/api/v1/patients", headers={"Authorization": "Bearer forged"})
    assert bad.status_code == 401
    me = api.get("north", "/me").json()
    assert (me["role"], me["centre_id"]) == ("coordinator", "north")


def test_failed_sign_ins_are_limited(api: Api) -> None:
    for _ in range(5):
        r = api.client.post("/api/v1/auth/token", data={"username": "north", "password": "wrong"})
        assert r.status_code == 401
    r = api.client.post("/api/v1/auth/token", data={"username": "north", "password": "wrong"})
    assert r.status_code == 429


def test_coordinator_reads_and_writes_only_their_centre(api: Api) -> None:
    r = api.post("north", "/patients", json=NEW_PATIENT)
    assert r.status_code == 201, r.text
    assert r.json()["centre_id"] == "north"
    assert r.json()["status"] == "referral"
    assert api.get("north", "/patients/NP1").status_code == 200
    assert api.get("south", "/patients/NP1").status_code == 403  # cross-centre read refused
    listed = api.get("south", "/patients", params={"limit": 500}).json()
    assert {p["centre_id"] for p in listed["items"]} == {"south"}
    assert "NP1" not in {p["id"] for p in listed["items"]}
    r = api.post("south", "/patients", json={**NEW_PATIENT, "id": "NP2", "centre_id": "north"})
    assert r.status_code == 403
    r = api.patch("south", "/patients/NP1", json={"version": 1, "cpra": 0.5})
    assert r.status_code == 403


def test_administrator_runs_the_programme_but_reads_no_records(api: Api) -> None:
    assert api.get("admin", "/patients").status_code == 403
    assert api.get("admin", "/donors").status_code == 403
    assert api.post("admin", "/centres", json={"id": "east", "name": "East"}).status_code == 201
    assert api.post("north", "/centres", json={"id": "west", "name": "West"}).status_code == 403
    r = api.post(
        "admin",
        "/users",
        json={
            "username": "east1",
            "password": "a-long-password-1",
            "role": "coordinator",
            "centre_id": "east",
        },
    )
    assert r.status_code == 201
    assert api.post("north", "/match-runs", json={}).status_code == 403


def test_auditor_reads_everything_and_changes_nothing(api: Api) -> None:
    assert api.get("auditor", "/patients").json()["total"] == 40
    assert api.get("auditor", "/audit-events").status_code == 200
    assert api.get("north", "/audit-events").status_code == 403
    assert api.get("admin", "/audit-events").status_code == 403
    assert api.post("auditor", "/patients", json=NEW_PATIENT).status_code == 403
    assert api.post("auditor", "/match-runs", json={}).status_code == 403


def test_every_read_and_change_is_audited_without_personal_data(api: Api) -> None:
    api.post("north", "/patients", json=NEW_PATIENT)
    api.get("north", "/patients/NP1")
    api.get("south", "/patients/NP1")
    events = api.get("auditor", "/audit-events", params={"subject_id": "NP1"}).json()["items"]
    seen = [(e["actor"], e["action"]) for e in events]
    assert ("north", "create") in seen
    assert ("north", "read") in seen
    assert ("south", "refused") in seen
    text = str(events)
    for value in ("B*44:02", "DR4", "'A'"):
        assert value not in text


def test_invalid_input_gets_422_naming_the_field(api: Api) -> None:
    r = api.post("north", "/patients", json={**NEW_PATIENT, "hla": ["A2", "Q99"]})
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"][-1] == "hla"
    assert "Q99" in detail["msg"]
    r = api.post("north", "/patients", json={**NEW_PATIENT, "blood_group": "C"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == "blood_group"


def test_a_subgroup_of_another_blood_group_is_refused_where_it_is_typed(api: Api) -> None:
    # Stored, it would be refused by every run's snapshot and stop the whole programme's runs.
    bad = {**NEW_PATIENT, "blood_group": "B", "subgroup": "A2"}
    r = api.post("north", "/patients", json=bad)
    assert r.status_code == 422
    assert "subgroup A2 is impossible for blood group B" in r.json()["detail"]
    assert api.get("north", f"/patients/{NEW_PATIENT['id']}").status_code == 404
    # A correction is judged with the fields it leaves as they are.
    assert api.post("north", "/patients", json={**NEW_PATIENT, "blood_group": "A"}).is_success
    r = api.patch("north", f"/patients/{NEW_PATIENT['id']}", json={"version": 1, "subgroup": "A1B"})
    assert r.status_code == 422
    assert "field 'subgroup'" in r.json()["detail"]
    r = api.patch("north", f"/patients/{NEW_PATIENT['id']}", json={"version": 1, "subgroup": "A2"})
    assert r.status_code == 200
    r = api.post("north", "/donors", json={"id": "ND9", "blood_group": "O", "subgroup": "A1"})
    assert r.status_code == 422
    assert "record 'ND9'" in r.json()["detail"]


def test_a_patient_may_decline_only_a_registered_donor(api: Api) -> None:
    # An unknown id would be dropped by the run's snapshot: a typo would let the patient be
    # offered the very donor they declined.
    donor = api.get("south", "/donors").json()["items"][0]["id"]  # another centre's donor
    r = api.post("north", "/patients", json={**NEW_PATIENT, "declined_donors": ["NOPE", donor]})
    assert r.status_code == 422
    assert r.json()["detail"] == (
        f"record {NEW_PATIENT['id']!r}: field 'declined_donors': no registered donor 'NOPE':"
        " a patient may decline only a registered donor"
    )
    assert api.get("north", f"/patients/{NEW_PATIENT['id']}").status_code == 404
    r = api.post("north", "/patients", json={**NEW_PATIENT, "declined_donors": [donor]})
    assert r.status_code == 201, r.text
    r = api.patch(
        "north", f"/patients/{NEW_PATIENT['id']}", json={"version": 1, "declined_donors": ["X1"]}
    )
    assert r.status_code == 422
    assert "'X1'" in r.json()["detail"]
    assert api.get("north", f"/patients/{NEW_PATIENT['id']}").json()["declined_donors"] == [donor]


def test_every_bad_hla_name_of_a_list_is_reported_with_its_place(api: Api) -> None:
    r = api.post("north", "/patients", json={**NEW_PATIENT, "hla": ["A*0201", "B999", "A1"]})
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"][-1] == "hla"
    assert "[0] malformed HLA allele name 'A*0201'" in error["msg"]
    assert "[1] unknown HLA antigen 'B999'" in error["msg"]


def test_a_donor_paired_to_an_unknown_patient_is_refused_naming_the_field(api: Api) -> None:
    r = api.post("north", "/donors", json={"id": "ND1", "blood_group": "O", "patient_id": "NOPE"})
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "record 'ND1': field 'patient_id': no patient 'NOPE' is registered: register the"
        " patient first"
    )
    south = api.get("south", "/patients").json()["items"][0]["id"]
    r = api.post("north", "/donors", json={"id": "ND1", "blood_group": "O", "patient_id": south})
    assert r.status_code == 403  # another centre's patient: not this coordinator's to pair


def test_a_date_of_birth_giving_no_plausible_age_is_refused(api: Api) -> None:
    # Stored, it was refused by every run's snapshot: one typo stopped the programme's runs.
    assert api.post("north", "/patients", json=NEW_PATIENT).status_code == 201
    donor = api.get("north", "/donors").json()["items"][0]
    for born in ("2064-05-01", "1850-01-01"):
        r = api.patch(
            "north",
            f"/donors/{donor['id']}",
            json={"version": donor["version"], "date_of_birth": born},
        )
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"][-1] == "date_of_birth"
    r = api.patch(
        "north",
        f"/patients/{NEW_PATIENT['id']}",
        json={"version": 1, "date_of_birth": "2999-01-01"},
    )
    assert r.status_code == 422
    assert "is in the future" in r.json()["detail"][0]["msg"]
    r = api.post("admin", "/match-runs", json={"objective": "transplants"})
    assert r.status_code == 202  # the programme's runs go on
    api.wait()


def test_concurrent_edits_lose_no_update(api: Api) -> None:
    api.post("north", "/patients", json=NEW_PATIENT)
    first = api.patch("north", "/patients/NP1", json={"version": 1, "cpra": 0.3})
    assert first.status_code == 200
    assert first.json()["version"] == 2
    second = api.patch("north", "/patients/NP1", json={"version": 1, "cpra": 0.9})
    assert second.status_code == 409
    assert api.get("north", "/patients/NP1").json()["cpra"] == 0.3


def test_production_refuses_the_default_secret(database_url: str) -> None:
    with pytest.raises(RuntimeError, match="refusing to start in production"):
        create_app(Settings(database_url=database_url, environment="production"))
