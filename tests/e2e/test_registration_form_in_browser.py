"""The registration form (process A) as a person fills it in headless Chromium: a row per contact role, "same
person as above", services as check boxes, errors next to the right row."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, Page

from tests.conftest import DevHostProcess
from tests.e2e.helpers import new_organisation_number, organisation


def row(page: Page, index: int, name: str, email: str, phone: str) -> None:
    page.locator(f"[id='contacts.{index}.name']").fill(name)
    page.locator(f"[id='contacts.{index}.email']").fill(email)
    page.locator(f"[id='contacts.{index}.phone']").fill(phone)
    page.locator(f"[id='contacts.{index}.language']").select_option("nb")


def fill(page: Page, number: str) -> None:
    page.get_by_label("Organisasjonsnummer").first.fill(number)
    page.get_by_label("Juridisk navn").fill("Nettleser Forsikring AS")
    page.get_by_label("Uføreopplysninger").check()
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
    assert httpx.get(f"{devhost.url}/api/registry/organisations/{number}").status_code == 404

    page.locator("[id='contacts.3.email']").fill("sam@nettleser.example")
    page.get_by_role("button", name="Send innmeldingen").click()
    page.wait_for_selector("#reference")
    assert re.fullmatch(r"SSU-A-\d{4}-\d{4}", page.locator("#reference").inner_text())
    stored = organisation(devhost, number)
    roles = {c["email"]: sorted(c["roles"]) for c in stored["contacts"]}
    assert roles == {
        "berit@nettleser.example": ["business"],
        "tom@nettleser.example": ["security", "technical"],
        "sam@nettleser.example": ["signatory"],
    }
    assert stored["status"] == "registered"
    page.close()
