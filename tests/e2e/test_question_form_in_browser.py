"""The question form as a person uses it, in headless Chromium (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page

from tests.conftest import DevHostProcess


def fill_question(page: Page, organisation_number: str) -> None:
    page.get_by_label("Organisasjonsnummer").fill(organisation_number)
    page.get_by_label("Navn").fill("Frida Fagerli")
    page.get_by_label("E-post").fill("fag@demo-forsikring.example")
    page.get_by_label("Tjeneste").select_option("aap")
    page.get_by_label("Miljø").select_option("test")
    page.get_by_label("Hva gjelder det?").select_option("consent")
    page.get_by_label("Tittel").fill("Samtykke som utløper")
    page.get_by_label("Spørsmål").fill("Hva skjer med et samtykke som utløper midt i en periode?")


def test_person_fills_in_and_submits_the_question_form(devhost: DevHostProcess, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{devhost.url}/api/questions")
    fill_question(page, "310000019")
    page.get_by_role("button", name="Send spørsmålet").click()
    page.wait_for_selector("#reference")
    reference = page.locator("#reference").inner_text()
    assert re.fullmatch(r"SSU-D-\d{4}-\d{4}", reference)
    assert "Takk!" in page.locator("[role=status]").inner_text()
    page.reload()  # Post/Redirect/Get: reloading the receipt sends nothing again
    assert page.locator("#reference").inner_text() == reference
    page.close()


def test_wrong_organisation_number_is_shown_next_to_the_field(devhost: DevHostProcess, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{devhost.url}/api/questions")
    fill_question(page, "310000018")
    page.get_by_role("button", name="Send spørsmålet").click()
    error = page.locator("#organisation_number-error")
    error.wait_for()
    assert "kontrollsiffer" in error.inner_text()
    field = page.get_by_label("Organisasjonsnummer")
    assert field.get_attribute("aria-invalid") == "true"
    assert "organisation_number-error" in (field.get_attribute("aria-describedby") or "")
    assert field.input_value() == "310000018"
    assert page.get_by_label("Tittel").input_value() == "Samtykke som utløper", "the other values are kept"
    page.close()


def test_form_in_english(devhost: DevHostProcess, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{devhost.url}/api/questions?lang=en")
    assert page.get_by_role("heading", name="Ask Bits a question").is_visible()
    assert page.get_by_label("Organisation number").is_visible()
    page.close()
