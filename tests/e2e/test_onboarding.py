"""Process A through the dev host: a new company from registration to production, every step a reply email, the
registry checked at each step, and alerts reaching it exactly from test access (test) and production (production)."""

from __future__ import annotations

import random
import re
from email.message import EmailMessage
from typing import Any

import httpx

from tests.conftest import DevHostProcess
from tests.e2e.helpers import (
    MAINTENANCE,
    case_json,
    confirm_address,
    dispatch,
    in_registry,
    new_organisation_number,
    organisation,
    outbox_mails,
    plain,
    post,
    reply,
    sign_in,
)
from tests.fakes import GO_LIVE

BITS = "support@bits.example"


def registration(number: str) -> dict[str, Any]:
    domain = f"nyforsikring{number}.example"
    return {
        "organisation_number": number,
        "legal_name": "Ny Forsikring ASA",
        "contacts": [
            {"role": "business", "name": "Berit Fag", "email": f"fag@{domain}", "phone": "+47 22 00 00 01"},
            {"role": "technical", "name": "Tom Tekniker", "email": f"tek@{domain}", "phone": "+47 22 00 00 02"},
            {"role": "security", "name": "Siv Sikker", "email": f"sik@{domain}", "phone": "+47 22 00 00 03"},
            {"role": "signatory", "name": "Sam Signatar", "email": f"sign@{domain}", "phone": "+47 22 00 00 04"},
        ],
        "services": ["ufore"],
        "finans_norge_member": True,
        "desired_go_live": GO_LIVE,
        "comments": "Vi bruker egen integrasjon.",
    }


def one(host: DevHostProcess, reference: str, address: str, subject: str) -> EmailMessage:
    dispatch(host)
    found = [m for m in outbox_mails(host, reference) if str(m["To"]) == address and subject in str(m["Subject"])]
    assert len(found) == 1, [(str(m["To"]), str(m["Subject"])) for m in outbox_mails(host, reference)]
    return found[0]


def alert_reaches(host: DevHostProcess, environment: str, address: str) -> bool:
    alert = post(
        host,
        {**MAINTENANCE, "source_alert_id": f"ONB-{random.randint(0, 10**9)}", "environments": [environment]},
    ).json()["id"]
    dispatch(host)
    return address in {str(m["To"]) for m in outbox_mails(host, alert)}


def test_a_new_company_from_registration_to_production(devhost: DevHostProcess) -> None:
    number = new_organisation_number()
    body = registration(number)
    domain = f"nyforsikring{number}.example"
    technical = f"tek@{domain}"
    response = httpx.post(f"{devhost.url}/api/onboarding/registration", json=body)
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]
    assert reference.startswith("SSU-A-")
    assert not in_registry(devhost, number), "nothing is written to the registry before Bits accepts"
    confirm_address(devhost, reference, f"fag@{domain}")  # the registrant's address is nobody's yet: neutral first
    receipt = one(devhost, reference, f"fag@{domain}", "mottatt innmeldingen")
    assert "TRUKKET" in plain(receipt)

    # Bits accepts by replying; the signatory gets the agreement package with the terms version.
    notice = one(devhost, reference, BITS, "Ny innmelding")
    assert "Sam Signatar" in plain(notice) and "GODKJENT" in plain(notice)
    reply(devhost, notice, "SIGNERT")  # too early: refused, nothing changes
    assert case_json(devhost, reference)["case"]["status"] == "registered"
    assert "kan ikke brukes nå" in plain(one(devhost, reference, BITS, "Steget kan ikke tas nå"))
    reply(devhost, notice, "GODKJENT")
    assert organisation(devhost, number)["status"] == "accepted"
    package = one(devhost, reference, f"sign@{domain}", "Tilknytningsavtale til signering")
    assert "versjon 1.0" in plain(package)

    # The signatory says it is signed (Gmail); Bits confirms; NAV and Altinn are asked for test access.
    reply(devhost, package, "SIGNERT", sender=f"Sam Signatar <sign@{domain}>", style="gmail")
    assert case_json(devhost, reference)["case"]["status"] == "accepted"
    assert one(devhost, reference, BITS, "Signataren sier")
    reply(devhost, notice, "SIGNERT")
    stored = organisation(devhost, number)
    assert stored["status"] == "agreement_signed" and stored["terms_accepted"]["version"] == "1.0"
    nav_order = one(devhost, reference, "onboarding@nav.example", "Bestilling av testtilgang")
    altinn_order = one(devhost, reference, "drift@altinn.example", "Bestilling av testtilgang")
    reply(devhost, nav_order, "TILGANG GITT", sender="NAV onboarding <onboarding@nav.example>")
    assert case_json(devhost, reference)["case"]["status"] == "agreement_signed", "Altinn has not answered yet"
    assert not alert_reaches(devhost, "test", technical)
    reply(devhost, altinn_order, "TILGANG GITT", sender="Altinn drift <drift@altinn.example>", style="iphone")
    stored = organisation(devhost, number)
    assert stored["status"] == "test_access" and stored["environments"] == ["test"] and stored["services"] == ["ufore"]
    assert one(devhost, reference, technical, "testtilgang")
    assert alert_reaches(devhost, "test", technical), "test alerts from test access on"
    assert not alert_reaches(devhost, "production", technical), "no production alerts before production"

    # The technical contact asks for production; Bits approves; NAV opens it.
    request = {
        "organisation_number": number,
        "name": "Tom Tekniker",
        "email": technical,
        "integration_tests_passed_on": "2026-11-20",
        "test_report_reference": "NAV-TEST-2026-311",
        "production_redirect_domains": ["https://app.nyforsikring.no"],
        "maskinporten_client_id": "a1b2c3d4-prod",
        "consent_text_confirmed": True,
        "notices_subscribed": True,
    }
    asked = httpx.post(f"{devhost.url}/api/onboarding/production", json=request)
    assert asked.status_code == 202 and asked.json()["status"] == "pending_confirmation", asked.text
    assert organisation(devhost, number)["status"] == "test_access", "nothing goes on before the contact confirms"
    confirm = one(devhost, reference, technical, "Bekreft bestillingen av produksjon")
    link = re.findall(r"https?://\S+/api/onboarding/production/confirm\?k=\S+", plain(confirm))[0]
    shown = httpx.get(link)
    assert shown.status_code == 200 and "a1b2c3d4-prod" in shown.text
    assert organisation(devhost, number)["status"] == "test_access", "opening the link changes nothing"
    assert "sendt til Bits" in httpx.post(link).text
    assert "Allerede sendt" in httpx.post(link).text
    assert organisation(devhost, number)["status"] == "production_requested"
    production_notice = one(devhost, reference, BITS, "Påkobling til produksjon bestilt")
    assert "a1b2c3d4-prod" in plain(production_notice)
    reply(devhost, production_notice, "GODKJENT")
    nav_production = one(devhost, reference, "onboarding@nav.example", "produksjonstilgang")
    assert not alert_reaches(devhost, "production", technical)
    reply(devhost, nav_production, "TILGANG GITT", sender="NAV onboarding <onboarding@nav.example>")
    stored = organisation(devhost, number)
    assert stored["status"] == "in_production" and stored["environments"] == ["test", "production"]
    assert case_json(devhost, reference)["case"]["status"] == "in_production"
    assert one(devhost, reference, technical, "koblet til produksjon")
    assert alert_reaches(devhost, "production", technical), "production alerts once in production"
    page = httpx.get(re.findall(r"https?://\S+case-page\S+", plain(receipt))[0])
    assert page.status_code == 200 and "I produksjon" in page.text

    # Bits offboards it: disconnected, no more alerts.
    reply(devhost, notice, "AVSLUTT\nAvtalen er sagt opp.")
    assert organisation(devhost, number)["environments"] == []
    assert not alert_reaches(devhost, "production", technical)


def test_bad_registrations_and_requests_change_nothing(devhost: DevHostProcess) -> None:
    url = f"{devhost.url}/api/onboarding/registration"
    number = new_organisation_number()
    wrong = httpx.post(url, json={**registration(number), "organisation_number": "310000018"})
    assert wrong.status_code == 422 and "organisation_number" in wrong.json()["errors"]
    missing = {**registration(number), "contacts": registration(number)["contacts"][:2]}
    answer = httpx.post(url, json=missing)
    assert answer.status_code == 422 and "security, signatory" in answer.json()["errors"]["contacts"]
    assert (
        httpx.get(f"{devhost.url}/api/registry/organisations/{number}", headers=sign_in(devhost)).status_code == 404
    ), "nothing stored"

    first = httpx.post(url, json=registration(number))
    assert first.status_code == 201
    again = httpx.post(url, json=registration(number))
    assert again.status_code == 409 and again.json()["reference"] == first.json()["reference"]
    assert first.json()["reference"] in again.json()["message"]

    request = {
        "organisation_number": number,
        "name": "Ukjent",
        "email": "noen@annet.example",
        "integration_tests_passed_on": "2026-11-20",
        "test_report_reference": "X",
        "production_redirect_domains": ["https://app.example"],
        "maskinporten_client_id": "abc-123",
        "consent_text_confirmed": True,
        "notices_subscribed": True,
    }
    # Whoever the address is, the same answer (it tells no one who is a contact): and nothing is sent or stored.
    stranger = httpx.post(f"{devhost.url}/api/onboarding/production", json=request)
    assert stranger.status_code == 202 and stranger.json()["status"] == "pending_confirmation", stranger.text
    assert "reference" not in stranger.json()
    technical = f"tek@nyforsikring{number}.example"
    too_early = httpx.post(f"{devhost.url}/api/onboarding/production", json={**request, "email": technical})
    # The company is in no registry before Bits accepts it, so nobody is its technical contact yet.
    assert too_early.status_code == 202
    assert too_early.json()["message"].replace(technical, "X") == stranger.json()["message"].replace(
        "noen@annet.example", "X"
    )
    dispatch(devhost)
    assert not [m for m in outbox_mails(devhost, first.json()["reference"]) if "produksjon" in str(m["Subject"])]
    assert not in_registry(devhost, number)
    assert case_json(devhost, first.json()["reference"])["case"]["status"] == "registered"


def test_the_company_withdraws_and_may_register_again(devhost: DevHostProcess) -> None:
    number = new_organisation_number()
    url = f"{devhost.url}/api/onboarding/registration"
    reference = httpx.post(url, json=registration(number)).json()["reference"]
    confirm_address(devhost, reference, f"fag@nyforsikring{number}.example")
    receipt = one(devhost, reference, f"fag@nyforsikring{number}.example", "mottatt innmeldingen")
    reply(devhost, receipt, "TRUKKET\nVi venter et år.", sender=f"Berit Fag <fag@nyforsikring{number}.example>")
    assert case_json(devhost, reference)["case"]["status"] == "withdrawn"
    assert not in_registry(devhost, number), "withdrawn before Bits accepted it: never entered"
    assert one(devhost, reference, BITS, "trukket")
    again = httpx.post(url, json=registration(number))
    assert again.status_code == 201 and again.json()["reference"] != reference


def test_contacts_change_only_when_an_existing_contact_confirms(devhost: DevHostProcess) -> None:
    number = new_organisation_number()
    registered = httpx.post(f"{devhost.url}/api/onboarding/registration", json=registration(number))
    assert registered.status_code == 201
    reply(devhost, one(devhost, registered.json()["reference"], BITS, "Ny innmelding"), "GODKJENT")  # now entered
    before = organisation(devhost, number)["contacts"]
    contacts = [
        {**c, "email": c["email"].replace("tek@", "ny-tek@")} if c["role"] == "technical" else c
        for c in registration(number)["contacts"]
    ]
    update = {"organisation_number": number, "name": "Tom", "email": "tom@annet.example", "contacts": contacts}
    response = httpx.post(f"{devhost.url}/api/registry/contacts", json=update)
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]
    assert organisation(devhost, number)["contacts"] == before, "nothing changes before the confirmation"
    mail = one(devhost, reference, f"sign@nyforsikring{number}.example", "Bekreft nye kontaktpersoner")
    link = re.findall(r"https?://\S+/api/registry/contacts/confirm\?k=\S+", plain(mail))[0]
    page = httpx.get(link)
    assert page.status_code == 200 and "ny-tek@" in page.text
    assert organisation(devhost, number)["contacts"] == before, "opening the link changes nothing"
    assert httpx.post(link.replace("k=", "k=forged")).status_code == 400
    assert "kontaktpersonene er endret" in httpx.post(link).text
    assert "Allerede behandlet" in httpx.post(link).text
    emails = {c["email"] for c in organisation(devhost, number)["contacts"]}
    assert f"ny-tek@nyforsikring{number}.example" in emails and f"tek@nyforsikring{number}.example" not in emails
    unknown = httpx.post(
        f"{devhost.url}/api/registry/contacts", json={**update, "organisation_number": new_organisation_number()}
    )
    assert unknown.status_code == 404 and "organisation_number" in unknown.json()["errors"]
