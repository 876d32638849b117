"""Keyboard use and labels: every control can be reached and named without a mouse."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

SCREENS = Path(__file__).parents[2] / "test-output" / "screens"

UNNAMED = """() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((el) => {
        const label = el.labels && el.labels.length ? el.labels[0].textContent.trim() : '';
        const name = label || el.getAttribute('aria-label') || el.textContent.trim();
        return !name;
    })
    .map((el) => el.outerHTML)"""


def test_sign_in_and_forms_work_from_the_keyboard_with_labels(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_label("User name")).to_be_focused()
    page.keyboard.type("north")
    page.keyboard.press("Tab")
    page.keyboard.type("possible-demo")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dashboard")
    assert page.evaluate(UNNAMED) == []
    page.goto("/#/pairs/new")
    expect(page.get_by_role("heading", name="Add a pair", exact=True)).to_be_visible()
    assert page.evaluate(UNNAMED) == []
    # Submitting empty marks each required field and says so.
    page.get_by_role("button", name="Save pair").press("Enter")
    expect(page.locator("#patient-id-error")).to_have_text("This is required.")
    expect(page.get_by_label("Patient id (opaque, not a name)")).to_have_attribute(
        "aria-invalid", "true"
    )
    page.goto("/#/patients")
    expect(page.get_by_role("heading", name="Patients", exact=True)).to_be_visible()
    assert page.evaluate(UNNAMED) == []


def test_non_directed_donor_form_and_tablet_layout(page: Page) -> None:
    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet held upright
    page.goto("/")
    page.get_by_label("User name").fill("south")
    page.get_by_label("Password").fill("possible-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dashboard")
    # Nothing overflows sideways at tablet width.
    assert page.evaluate("document.documentElement.scrollWidth") <= 820
    page.get_by_role("link", name="Donors").click()
    page.get_by_role("link", name="Add a non-directed donor").click()
    page.get_by_label("Donor id (opaque, not a name)").fill("WEB-N1")
    page.get_by_label("Blood group").select_option("O")
    page.get_by_label("HLA typing").fill("A2 B*44:02 DRB1*04:99:99:99:99")
    page.get_by_role("button", name="Save donor").click()
    expect(page.locator("#ndd-hla-error")).to_contain_text("malformed HLA allele name")
    page.screenshot(path=str(SCREENS / "11-tablet-donor-form-error.png"), full_page=True)
    page.get_by_label("HLA typing").fill("A2 B*44:02 DRB1*04:01")
    page.get_by_label("Consent recorded on").fill("2026-01-05")
    page.get_by_role("button", name="Save donor").click()
    expect(page.get_by_role("heading", name="Donor WEB-N1", exact=True)).to_be_visible()
    expect(page.get_by_text("non-directed")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 820
    page.screenshot(path=str(SCREENS / "12-tablet-new-donor.png"), full_page=True)
