"""Matching runs and exchanges through the real app: proposal, acceptance, crossmatch, surgery,
consent withdrawal, reproducibility and restarts."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from possible.registry.models import Donor, MatchRun, Patient
from possible.registry.runs import execute_run, snapshot_pool
from registry_app import Api, make_app

POLICY = {"max_cycle": 3, "max_chain": 2, "objective": "transplants", "scoring": "uk"}


def run(api: Api) -> dict[str, Any]:
    r = api.post("admin", "/match-runs", json=POLICY)
    assert r.status_code == 202, r.text
    api.wait()
    done = api.get("admin", f"/match-runs/{r.json()['id']}").json()
    assert done["status"] == "done", done
    return done  # type: ignore[no-any-return]


def people_of(exchange: dict[str, Any]) -> list[str]:
    ids = [x for t in exchange["transplants"] for x in (t["donor"], t["patient"])]
    return ids + ([exchange["to_waiting_list"]] if exchange["to_waiting_list"] else [])


def state(api: Api, person: str) -> str:
    with api.app.state.db.session() as session:
        row = session.get(Donor, person) or session.get(Patient, person)
        assert row is not None
        return row.status


def test_a_run_proposes_exchanges_and_matches_their_people(api: Api) -> None:
    result = run(api)
    assert result["result"]["status"] == "optimal"
    assert result["solver"]["name"] == "highs"
    exchanges = api.get("admin", "/exchanges", params={"run_id": result["id"]}).json()
    assert exchanges, "the demo pool should give at least one exchange"
    assert len(exchanges) == len(result["result"]["exchanges"])
    for e in exchanges:
        assert e["state"] == "proposed"
        for person in people_of(e):
            assert state(api, person) == "matched"
    # A coordinator sees only the exchanges involving their centre.
    mine = api.get("north", "/exchanges").json()
    assert all("north" in e["centres"] for e in mine)
    assert {e["id"] for e in mine} == {e["id"] for e in exchanges if "north" in e["centres"]}
    # Each patient left without any compatible donor says how many donors each rule ruled out.
    reasons = [u["reason"] for u in result["result"]["unmatched"]]
    assert "no_compatible_donor" in reasons, "the demo pool has highly sensitised patients"
    for u in result["result"]["unmatched"]:
        if u["reason"] == "no_compatible_donor":
            assert u["excluded"], u
            assert set(u["excluded"]) <= {
                "donor_unavailable", "patient_unavailable", "blood_group",
                "unacceptable_antigen", "declined", "donor_too_old",
            }  # fmt: skip
        else:
            assert "excluded" not in u


def test_a_run_may_leave_chains_unbounded_but_not_under_the_uk_hierarchy(api: Api) -> None:
    r = api.post("admin", "/match-runs", json={**POLICY, "max_chain": None})
    assert r.status_code == 202, r.text
    api.wait()
    done = api.get("admin", f"/match-runs/{r.json()['id']}").json()
    assert done["status"] == "done", done
    assert done["policy"]["max_chain"] is None
    assert done["result"]["status"] == "optimal"
    refused = api.post(
        "admin", "/match-runs", json={**POLICY, "objective": "uk", "max_chain": None}
    )
    assert refused.status_code == 422
    assert "unbounded chains are not offered" in refused.text


def test_rerunning_a_snapshot_gives_the_identical_result(api: Api) -> None:
    first = run(api)
    r = api.post("admin", f"/match-runs/{first['id']}/rerun")
    assert r.status_code == 202
    api.wait()
    again = api.get("admin", f"/match-runs/{r.json()['id']}").json()
    assert again["status"] == "done"
    assert again["snapshot_digest"] == first["snapshot_digest"]
    assert again["result_digest"] == first["result_digest"]
    assert api.get("admin", "/exchanges", params={"run_id": again["id"]}).json() == []


def test_each_patient_carries_the_runs_they_were_in_and_reruns_do_not_count(api: Api) -> None:
    first = run(api)
    assert api.post("admin", f"/match-runs/{first['id']}/rerun").status_code == 202
    api.wait()
    with api.app.state.db.session() as session:
        row = session.get(MatchRun, first["id"])
        assert row is not None
        before = json.loads(row.snapshot)["patients"]
        pool = snapshot_pool(session, dt.date.today())
    assert before
    assert all(p["matching_runs"] == 0 for p in before)  # the first run had none behind it
    in_first = {p["id"] for p in before}
    # Those left unmatched are in the next snapshot, with one run behind them (not two: the
    # rerun reproduced the first run and gave no one a new chance).
    assert pool.patients
    assert {p.id: p.matching_runs for p in pool.patients} == {
        p.id: int(p.id in in_first) for p in pool.patients
    }
    assert any(p.matching_runs == 1 for p in pool.patients)


def accept_all(api: Api, exchange: dict[str, Any]) -> dict[str, Any]:
    out = exchange
    for centre in exchange["centres"]:
        r = api.post(centre, f"/exchanges/{exchange['id']}/accept")
        assert r.status_code == 200, r.text
        out = r.json()
    assert out["state"] == "accepted"
    return out


def test_a_failed_crossmatch_releases_everyone(api: Api) -> None:
    result = run(api)
    exchange = api.get("admin", "/exchanges", params={"run_id": result["id"]}).json()[0]
    centre = exchange["centres"][0]
    accept_all(api, exchange)
    r = api.post(
        centre,
        f"/exchanges/{exchange['id']}/crossmatch",
        json={"passed": False, "detail": "positive B-cell"},
    )
    assert r.status_code == 200
    assert r.json()["state"] == "broken"
    assert r.json()["broken_reason"] == "crossmatch failed: positive B-cell"
    for person in people_of(exchange):
        assert state(api, person) == "active"
    # Released people are in the next run's pool again.
    assert run(api)["result"]["status"] == "optimal"


def test_an_exchange_carried_to_surgery_schedules_follow_ups(api: Api) -> None:
    result = run(api)
    exchange = api.get("admin", "/exchanges", params={"run_id": result["id"]}).json()[0]
    centre = exchange["centres"][0]
    accept_all(api, exchange)
    assert (
        api.post(
            centre, f"/exchanges/{exchange['id']}/crossmatch", json={"passed": True}
        ).status_code
        == 200
    )
    assert (
        api.post(
            centre, f"/exchanges/{exchange['id']}/schedule", json={"on": "2026-03-01"}
        ).status_code
        == 200
    )
    r = api.post(centre, f"/exchanges/{exchange['id']}/done", params={"on": "2026-03-01"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "done"
    donors = [t["donor"] for t in exchange["transplants"]]
    for donor in donors:
        assert state(api, donor) == "donated"
    for t in exchange["transplants"]:
        assert state(api, t["patient"]) == "transplanted"
    # Three visits per donor; on 2027-06-01 the 6-month and 1-year ones are overdue.
    seen = api.get("auditor", "/follow-ups").json()
    assert len([f for f in seen if f["donor_id"] in donors]) == 3 * len(donors)
    late = api.get("auditor", "/follow-ups", params={"overdue": True, "today": "2027-06-01"}).json()
    assert {f["label"] for f in late if f["donor_id"] == donors[0]} == {"6 months", "1 year"}
    visit = next(f for f in late if f["donor_id"] == donors[0] and f["label"] == "6 months")
    owner = api.get("auditor", f"/donors/{donors[0]}").json()["centre_id"]
    r = api.patch(
        owner,
        f"/follow-ups/{visit['id']}",
        json={
            "version": visit["version"],
            "done_on": "2026-09-01",
            "egfr": 71.0,
            "systolic": 128,
            "diastolic": 80,
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["overdue"] is False
    # Terminal states stay terminal.
    assert (
        api.post(
            centre, f"/exchanges/{exchange['id']}/break", json={"reason": "too late"}
        ).status_code
        == 409
    )


def test_consent_withdrawal_breaks_a_proposed_exchange_at_once(api: Api) -> None:
    result = run(api)
    exchange = api.get("admin", "/exchanges", params={"run_id": result["id"]}).json()[0]
    donor = exchange["transplants"][0]["donor"]
    owner = api.get("auditor", f"/donors/{donor}").json()["centre_id"]
    r = api.post(owner, f"/donors/{donor}/withdraw-consent")
    assert r.status_code == 200
    assert r.json()["status"] == "withdrawn"
    after = next(e for e in api.get("admin", "/exchanges").json() if e["id"] == exchange["id"])
    assert after["state"] == "broken"
    assert after["broken_reason"] == "donor withdrew consent"
    for person in people_of(exchange):
        if person != donor:
            assert state(api, person) == "active"
    # No later run can select the donor.
    later = run(api)
    chosen = {
        x
        for e in later["result"]["exchanges"]
        for x in people_of({**e, "to_waiting_list": e.get("to_waiting_list")})
    }
    assert donor not in chosen
    with api.app.state.db.session() as session:
        snapshot = session.get(MatchRun, later["id"]).snapshot
    assert f'"{donor}"' not in snapshot  # not even in the pool the run saw


def test_consent_withdrawn_during_a_run_is_honoured_when_it_ends(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[int] = []
    monkeypatch.setattr(api.app.state.worker, "submit", queued.append)
    r = api.post("admin", "/match-runs", json=POLICY)
    assert r.status_code == 202
    # The run's snapshot is taken; now a donor of the pool withdraws before the solve ends.
    probe = run_now(api, queued[0], dry=True)
    donor = next(t["donor"] for e in probe for t in e["transplants"])
    owner = api.get("auditor", f"/donors/{donor}").json()["centre_id"]
    assert api.post(owner, f"/donors/{donor}/withdraw-consent").status_code == 200
    execute_run(api.app.state.db, queued[0])
    exchanges = api.get("admin", "/exchanges", params={"run_id": queued[0]}).json()
    hit = [e for e in exchanges if donor in people_of(e)]
    assert len(hit) == 1
    assert hit[0]["state"] == "broken"
    assert donor in hit[0]["broken_reason"]
    for person in people_of(hit[0]):
        assert state(api, person) in ("active", "withdrawn")
    assert state(api, donor) == "withdrawn"


def run_now(api: Api, run_id: int, *, dry: bool) -> list[dict[str, Any]]:
    """Solve a queued run's snapshot without recording anything (to know what it will pick)."""
    from possible.registry.runs import _solve_snapshot

    with api.app.state.db.session() as session:
        row = session.get(MatchRun, run_id)
        assert row is not None
        snapshot, policy = row.snapshot, dict(row.policy)
    assert dry
    return _solve_snapshot(snapshot, policy, lambda _m: None, None)["exchanges"]  # type: ignore[no-any-return]


def test_restart_loses_nothing_and_resumes_queued_runs(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(database_url)
    with TestClient(app) as client:
        api = Api(client)
        assert (
            api.post("north", "/patients", json={"id": "KEEP", "blood_group": "O"}).status_code
            == 201
        )
        monkeypatch.setattr(app.state.worker, "submit", lambda _id: None)  # the process dies first
        run_id = api.post("admin", "/match-runs", json=POLICY).json()["id"]
    monkeypatch.undo()
    again = make_app(database_url)
    with TestClient(again) as client:
        api = Api(client)
        assert api.get("north", "/patients/KEEP").json()["blood_group"] == "O"
        api.wait()
        assert api.get("admin", f"/match-runs/{run_id}").json()["status"] == "done"


def test_no_patient_attribute_reaches_the_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    patient = api.get("auditor", "/patients", params={"limit": 1}).json()["items"][0]
    run(api)
    api.get("north", f"/patients/{patient['id']}")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "the run logs at debug level, so this test looks at real output"
    for name in patient["hla"] + patient["unacceptable"]:
        assert name not in logged


def test_dashboard_and_timeline(api: Api) -> None:
    result = run(api)
    board = api.get("north", "/dashboard", params={"today": "2026-01-01"}).json()
    assert board["scope"] == "north"
    total = sum(board["patients_by_status"].values())
    assert total == api.get("north", "/patients").json()["total"]
    assert set(board["active_by_cpra_band"]) <= {"0-49%", "50-84%", "85-94%", "95-100%", "unknown"}
    assert board["waiting_longest"] == sorted(board["waiting_longest"], key=lambda w: -w["days"])
    admin = api.get("admin", "/dashboard").json()
    assert admin["scope"] == "programme"
    assert "waiting_longest" not in admin  # no person-level lists for the administrator
    summary = result["result"]["summary"]
    assert summary["transplants"] == sum(summary["matched"]["by_blood_group"].values())
    exchange = api.get("north", "/exchanges").json()[0]
    person = next(t["patient"] for t in exchange["transplants"])
    owner = api.get("auditor", f"/patients/{person}").json()["centre_id"]
    story = api.get(owner, f"/people/{person}/timeline").json()
    kinds = [e["what"] for e in story["events"]]
    assert {"state", "run", "exchange"} <= set(kinds)
    other = "south" if owner == "north" else "north"
    assert api.get(other, f"/people/{person}/timeline").status_code == 403


HAND_PANEL = {
    "source": "north-west registry sample 2026",
    "donors": [
        {"hla": ["A1", "A2", "B8", "B44", "DR17", "DR4"], "blood_group": "O"},
        {"hla": ["A3", "A11", "B7", "B35", "DR15", "DR1"], "blood_group": "A"},
        {"hla": ["A2", "A24", "B62", "B60", "DR13", "DR11"], "blood_group": "B"},
        {"hla": ["A1", "A3", "B57", "B8", "DR7", "DR17"], "blood_group": "O"},
    ],
}
OWN_TABLE = {
    "name": "north-west 2026",
    "component": [
        {"name": "transplant", "points": 1},
        {"name": "sensitisation", "fact": "cpra", "bands": [[0.5, 1.0, 4]]},
        {"name": "match", "fact": "mismatch_level", "values": {"1": 3, "2": 2}},
    ],
}


def test_a_programme_runs_with_its_own_points_table_and_cpra_panel(api: Api) -> None:
    assert api.post("north", "/cpra-panels", json=HAND_PANEL).status_code == 403
    bad = {"donors": [{"hla": ["A1", "Q17"]}, {"hla": ["B8"], "blood_group": "Z"}]}
    r = api.post("admin", "/cpra-panels", json=bad)
    assert r.status_code == 422
    assert len(r.json()["problems"]) == 2  # every bad panel donor, at once
    first = r.json()["problems"][0]
    assert "record 'donors[0]': field 'hla[1]': unknown HLA antigen 'Q17'" in first
    assert api.get("admin", "/cpra-panels").json() == []  # nothing kept
    r = api.post("admin", "/cpra-panels", json=HAND_PANEL)
    assert r.status_code == 201, r.text
    panel = r.json()
    assert (panel["source"], panel["donors"]) == (HAND_PANEL["source"], 4)
    assert api.post("admin", "/cpra-panels", json=HAND_PANEL).status_code == 200  # kept once
    assert [p["digest"] for p in api.get("auditor", "/cpra-panels").json()] == [panel["digest"]]
    no_groups = {
        "source": "typings only",
        "donors": [{"hla": d["hla"]} for d in HAND_PANEL["donors"]],
    }
    bare = api.post("admin", "/cpra-panels", json=no_groups).json()["digest"]
    r = api.post(
        "admin", "/match-runs", json={**POLICY, "cpra_panel_digest": bare, "cpra_with_abo": True}
    )
    assert r.status_code == 422  # refused at once, not a run that fails later
    assert "field 'cpra_with_abo'" in r.json()["detail"]

    unknown = api.post("admin", "/match-runs", json={**POLICY, "cpra_panel_digest": "0" * 16})
    assert unknown.status_code == 422
    assert "field 'cpra_panel_digest': no uploaded cPRA panel" in unknown.json()["detail"]
    two_bad = {**OWN_TABLE, "component": [{"name": "x", "points": -1}, {"name": "y"}]}
    refused = api.post("admin", "/match-runs", json={**POLICY, "scoring": two_bad})
    assert refused.status_code == 422
    message = refused.json()["detail"][0]["msg"]
    assert "component 'x': points must be >= 0" in message
    assert "component 'y': give exactly one of" in message

    with api.app.state.db.session() as session:  # no cPRA recorded: the runs compute it
        for p in session.query(Patient):
            p.cpra = None
    policy = {
        **POLICY,
        "objective": "score",
        "scoring": OWN_TABLE,
        "cpra_panel_digest": panel["digest"],
        "cpra_with_abo": True,
    }
    r = api.post("admin", "/match-runs", json=policy)
    assert r.status_code == 202, r.text
    api.wait()
    done = api.get("admin", f"/match-runs/{r.json()['id']}").json()
    assert done["status"] == "done", done
    used = done["result"]["policy"]
    assert used["scoring"] == OWN_TABLE  # kept whole with the run
    assert len(used["scoring_digest"]) == 16
    assert (used["cpra_panel"], used["cpra_panel_digest"]) == (
        HAND_PANEL["source"],
        panel["digest"],
    )
    assert used["cpra_with_abo"] is True
    snapshot_day = dt.date.fromisoformat(used["as_of"])  # local date; created_at is UTC
    assert abs(snapshot_day - dt.date.fromisoformat(done["created_at"][:10])).days <= 1
    assert used["cpra_computed_for"]
    transplants = [t for e in done["result"]["exchanges"] for t in e["transplants"]]
    assert transplants
    for t in transplants:
        assert set(t["breakdown"]) == {"transplant", "sensitisation", "match"}
        assert t["facts"]["cpra"] in {0.0, 0.25, 0.5, 0.75, 1.0}  # a share of four donors
    again = api.post("admin", f"/match-runs/{done['id']}/rerun")
    api.wait()
    rerun = api.get("admin", f"/match-runs/{again.json()['id']}").json()
    assert rerun["result_digest"] == done["result_digest"]
