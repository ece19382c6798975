"""The registration form (process A) as a person fills it in headless Chromium: a row per contact role, "same
person as above", services as check boxes, errors next to the right row."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, Page

from tests.conftest import DevHostProcess
from tests.e2e.helpers import case_json, in_registry, new_organisation_number, sign_in


def row(page: Page, index: int, name: str, email: str, phone: str) -> None:
    page.locator(f"[id='contacts.{index}.name']").fill(name)
    page.locator(f"[id='contacts.{index}.email']").fill(email)
    page.locator(f"[id='contacts.{index}.phone']").fill(phone)
    page.locator(f"[id='contacts.{index}.language']").select_option("nb")


def fill(page: Page, number: str) -> None:
    page.get_by_label("Organisasjonsnummer").first.fill(number)
    page.get_by_label("Juridisk navn").fill("Nettleser Forsikring AS")
    page.get_by_label("Uføretrygd").check()
    page.get_by_label("Arbeidsavklaringspenger (AAP)").check()
    row(page, 0, "Berit Fag", "berit@nettleser.example", "+47 22 00 00 01")
    row(page, 1, "Tom Tekniker", "tom@nettleser.example", "+47 22 00 00 02")
    page.locator("[name='contacts.2.same']").check()  # the technical contact is the security contact too
    row(page, 3, "Sam Signatar", "sam@nettleser.example", "+47 22 00 00 04")
    page.get_by_label("Vi er medlem av Finans Norge").check()
    page.get_by_label("Ønsket produksjonsstart").fill("2027-03-01")


def test_the_registration_form_with_contact_rows(devhost: DevHostProcess, browser: Browser) -> None:
    number = new_organisation_number()
    page = browser.new_page()
    page.goto(f"{devhost.url}/api/onboarding/registration")
    fill(page, number)
    page.locator("[id='contacts.3.email']").fill("not-an-address")
    page.get_by_role("button", name="Send innmeldingen").click()
    error = page.locator("[id='contacts.3.email-error']")
    error.wait_for()
    assert "gyldig e-postadresse" in error.inner_text()
    assert page.locator("[id='contacts.0.name']").input_value() == "Berit Fag", "values are kept"
    assert httpx.get(f"{devhost.url}/api/registry/organisations/{number}", headers=sign_in(devhost)).status_code == 404

    page.locator("[id='contacts.3.email']").fill("sam@nettleser.example")
    page.get_by_role("button", name="Send innmeldingen").click()
    page.wait_for_selector("#reference")
    reference = page.locator("#reference").inner_text()
    assert re.fullmatch(r"SSU-A-\d{4}-\d{4}", reference)
    case = case_json(devhost, reference)["case"]
    roles = {c["role"]: c["email"] for c in case["details"]["contacts"]}
    assert roles == {
        "business": "berit@nettleser.example",
        "technical": "tom@nettleser.example",
        "security": "tom@nettleser.example",
        "signatory": "sam@nettleser.example",
    }
    assert case["status"] == "registered"
    assert not in_registry(devhost, number), "the registry gets the company when Bits accepts it"
    page.close()
