"""Keyboard use and labels: every control can be reached and named without a mouse."""

from __future__ import annotations

from playwright.sync_api import Page, expect

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
