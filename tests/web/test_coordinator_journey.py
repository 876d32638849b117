"""A programme's day in the browser: a coordinator adds a pair (and fixes a bad HLA name), the
administrator runs a match, a donor withdraws consent, and the auditor sees it all.

Screenshots of each screen are saved under ``test-output/screens/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

PASSWORD = "possible-demo"
SCREENS = Path(__file__).parents[2] / "test-output" / "screens"


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def sign_in(page: Page, user: str) -> None:
    page.goto("/#/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("dashboard", ignore_case=True)


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()


def api(page: Page, path: str) -> Any:
    return page.evaluate(
        """async (path) => {
            const r = await fetch('/api/v1' + path,
                {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('token')}});
            return r.json();
        }""",
        path,
    )


def test_coordinator_admin_and_auditor_journey(page: Page) -> None:
    # A wrong password is refused with a message.
    page.goto("/")
    page.get_by_label("User name").fill("north")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").first).to_contain_text("wrong user name or password")
    shot(page, "01-sign-in-refused")

    sign_in(page, "north")
    expect(page.get_by_text("Active patients by blood group")).to_be_visible()
    shot(page, "02-coordinator-dashboard")

    page.get_by_role("link", name="Patients").click()
    expect(page.get_by_role("heading", name="Patients", exact=True)).to_be_visible()
    shot(page, "03-patients")

    # Add a pair with a bad HLA name: the field says what is wrong.
    page.get_by_role("link", name="Add a pair").click()
    page.get_by_label("Patient id").fill("WEB-P1")
    page.get_by_label("Patient blood group").select_option("A")
    page.get_by_label("Patient HLA typing").fill("A2 B44 DR4 Q17")
    page.get_by_label("Unacceptable antigens").fill("A1")
    page.get_by_label("Donor id").fill("WEB-D1")
    page.get_by_label("Donor blood group").select_option("O")
    page.get_by_label("Donor HLA typing").fill("A1, B8, DRB1*03:01")
    page.get_by_label("Donor consent recorded on").fill("2025-12-01")
    page.get_by_role("button", name="Save pair").click()
    error = page.locator("#patient-hla-error")
    expect(error).to_contain_text("Q17")
    expect(page.get_by_label("Patient HLA typing")).to_have_attribute("aria-invalid", "true")
    shot(page, "04-pair-form-error")

    page.get_by_label("Patient HLA typing").fill("A2 B44 DR4")
    page.get_by_role("button", name="Save pair").click()
    expect(page.get_by_role("heading", name="Patient WEB-P1", exact=True)).to_be_visible()
    expect(page.get_by_text("referral", exact=True).first).to_be_visible()
    shot(page, "05-new-patient")
    sign_out(page)

    # The administrator runs a match and sees the progress and the diagrams.
    sign_in(page, "admin")
    page.get_by_role("link", name="Matching runs").click()
    page.get_by_label("Objective").select_option("transplants")
    page.get_by_label("Chains of any length").check()
    expect(page.get_by_label("cPRA panel (where not recorded)")).to_have_value("")  # shipped
    page.get_by_label("Blood group counts in computed cPRA").check()
    expect(page.get_by_label("Longest chain")).to_be_disabled()
    page.get_by_role("button", name="Start matching run").click()
    expect(page.locator("#run-progress")).to_be_visible()
    expect(page.locator("#run-phase")).to_contain_text("done")
    expect(page.locator("svg.diagram").first).to_be_visible()
    # Each transplant says what its points were counted from.
    first = page.locator("section.exchange").first
    expect(first.get_by_role("columnheader", name="counted from")).to_be_visible()
    expect(first.get_by_role("cell").filter(has_text="mismatch level").first).to_be_visible()
    expect(page.get_by_role("heading", name="Patients not matched", exact=True)).to_be_visible()
    shot(page, "06-run-result")
    policy = api(page, "/match-runs")[0]["policy"]
    assert (policy["cpra_with_abo"], policy["cpra_panel_digest"]) == (True, None)
    page.get_by_role("link", name="Matching runs").click()
    expect(page.get_by_role("heading", name="Matching runs", exact=True)).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="chains of any length")).to_have_count(1)
    sign_out(page)

    # A donor of the north centre who is in a proposed exchange withdraws consent.
    sign_in(page, "north")
    exchanges = api(page, "/exchanges")
    donors = {d["id"] for d in api(page, "/donors?limit=500")["items"]}
    target = next(
        (e, t["donor"])
        for e in exchanges
        for t in e["transplants"]
        if t["donor"] in donors and e["state"] == "proposed"
    )
    exchange, donor = target
    page.get_by_role("link", name="Exchanges").click()
    expect(page.locator(f"[data-exchange='{exchange['id']}']")).to_contain_text("proposed")
    shot(page, "07-exchanges-before")
    page.goto(f"/#/donors/{donor}")
    expect(page.get_by_role("heading", name=f"Donor {donor}", exact=True)).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Withdraw consent").click()
    expect(page.get_by_text("consent withdrawn").first).to_be_visible()
    shot(page, "08-donor-withdrawn")
    page.get_by_role("link", name="Exchanges").click()
    section = page.locator(f"[data-exchange='{exchange['id']}']")
    expect(section).to_contain_text("broken")
    expect(section).to_contain_text("donor withdrew consent")
    shot(page, "09-exchange-broken")
    sign_out(page)

    # The auditor sees those events.
    sign_in(page, "auditor")
    page.get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", name="Audit trail", exact=True)).to_be_visible()
    table = page.get_by_role("table")
    expect(table).to_contain_text("withdraw_consent")
    expect(table).to_contain_text("start_run")
    expect(table).to_contain_text(f"donor {donor}")
    shot(page, "10-audit-trail")


def test_exchange_follow_through_in_the_browser(page: Page) -> None:
    sign_in(page, "admin")
    proposed = [e for e in api(page, "/exchanges") if e["state"] == "proposed"]
    if not proposed:  # the journey above ran first and used them: start another run
        page.get_by_role("link", name="Matching runs").click()
        page.get_by_role("button", name="Start matching run").click()
        expect(page.locator("#run-phase")).to_contain_text("done")
        proposed = [e for e in api(page, "/exchanges") if e["state"] == "proposed"]
    exchange = proposed[0]
    sign_out(page)
    section = page.locator(f"[data-exchange='{exchange['id']}']")
    for centre in exchange["centres"]:
        sign_in(page, centre)
        page.get_by_role("link", name="Exchanges").click()
        section.get_by_role("button", name="Accept for my centre").click()
        expect(section).to_contain_text("accepted by")
        if centre != exchange["centres"][-1]:
            sign_out(page)
    expect(section).to_contain_text("State: accepted")
    shot(page, "13-exchange-accepted")
    section.get_by_role("button", name="Crossmatch failed").click()
    section.get_by_label("Crossmatch failed").fill("positive flow crossmatch")
    section.get_by_role("button", name="Confirm").click()
    expect(section).to_contain_text("broken")
    expect(section).to_contain_text("crossmatch failed: positive flow crossmatch")
    shot(page, "14-exchange-crossmatch-failed")


def _json_file(name: str, doc: object) -> Any:
    return {"name": name, "mimeType": "application/json", "buffer": json.dumps(doc).encode()}


def test_the_administrator_sets_the_programmes_own_panel_and_points(page: Page) -> None:
    sign_in(page, "admin")
    page.get_by_role("link", name="Matching runs").click()
    # A panel with a bad donor: every problem named, nothing kept.
    bad = {"source": "bad", "donors": [{"hla": ["A1", "Q17"]}, {"hla": ["B8"], "blood_group": "Z"}]}
    page.get_by_label("Panel file (JSON)").set_input_files(files=[_json_file("bad.json", bad)])
    page.get_by_role("button", name="Upload panel").click()
    error = page.locator("#panel-file-error")
    expect(error).to_contain_text("record 'donors[0]': field 'hla[1]': unknown HLA antigen 'Q17'")
    expect(error).to_contain_text("record 'donors[1]': field 'blood_group'")
    good = {"source": "north-west sample", "donors": [{"hla": ["A1", "B8", "DR17"]}]}
    page.get_by_label("Panel file (JSON)").set_input_files(files=[_json_file("good.json", good)])
    page.get_by_role("button", name="Upload panel").click()
    panel = page.get_by_label("cPRA panel (where not recorded)")
    expect(panel.locator("option")).to_contain_text(
        ["Shipped panel", "north-west sample (1 donors)"]
    )
    # A points table with two bad lines: both named.
    table = {"name": "mine", "component": [{"name": "x", "points": -1}, {"name": "y"}]}
    own = page.get_by_label("Own points table (JSON file, optional)")
    own.set_input_files(files=[_json_file("table.json", table)])
    page.get_by_label("Objective").select_option("score")
    page.get_by_role("button", name="Start matching run").click()
    refused = page.locator("#run-error")
    expect(refused).to_contain_text("component 'x': points must be >= 0")
    expect(refused).to_contain_text("component 'y': give exactly one of")
    table = {
        "name": "mine",
        "component": [
            {"name": "transplant", "points": 1},
            {"name": "match", "fact": "mismatch_level", "values": {"1": 3, "2": 2}},
        ],
    }
    own.set_input_files(files=[_json_file("table.json", table)])
    page.get_by_role("button", name="Start matching run").click()
    expect(page.locator("#run-phase")).to_contain_text("done")
    first = page.locator("section.exchange").first
    expect(first.get_by_role("columnheader", name="match", exact=True)).to_be_visible()
    assert api(page, "/match-runs")[0]["policy"]["scoring"] == table
    expect(page.locator("#run-policy")).to_contain_text("Scoring: mine (the programme's own table)")
    shot(page, "15-own-points-table-run")
