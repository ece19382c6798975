"""Security breaches through the dev host: urgent notices at once, to Bits and NAV, whoever sends it."""

from __future__ import annotations

from typing import Any

import httpx

from functions.incidents.security import SECURITY_BREACH_FORM
from tests.conftest import DevHostProcess
from tests.e2e.helpers import as_contact, case_json, mails_to, plain

BREACH: dict[str, Any] = dict(SECURITY_BREACH_FORM.example or {})  # the form's declared example


def test_breach_alerts_bits_and_nav_at_once_with_the_clocks(devhost: DevHostProcess) -> None:
    # The company's security contact, from a browser where she has confirmed her address before.
    reference = as_contact(devhost, "incidents/security", BREACH)
    assert case_json(devhost, reference)["case"]["status"] == "new"
    for address in ("sikkerhet@bits.example", "sikkerhet@nav.example"):
        [alert] = mails_to(devhost, reference, address)
        assert "HASTER" in str(alert["Subject"]) and "Privat nøkkel" in plain(alert)
    [receipt] = mails_to(devhost, reference, BREACH["email"])
    text = plain(receipt)
    assert "innen 1. desember 2026 kl. 10.55" in text, "72 hours from discovery, Oslo time"
    assert "senest 29. november 2026 kl. 10.55" in text, "DORA initial report within 24 hours"
    assert str(receipt["Reply-To"]).startswith("ssu+"), "the reporter can answer MELDT"


def test_an_unverified_sender_is_never_held_back(devhost: DevHostProcess) -> None:
    stranger = {**BREACH, "email": "ukjent@annen-leverandor.example", "name": "Ukjent Leverandør"}
    response = httpx.post(f"{devhost.url}/api/incidents/security", json=stranger)
    assert response.status_code == 201 and response.json()["status"] == "new"
    reference = response.json()["reference"]
    assert case_json(devhost, reference)["case"]["submitter_verified"] is False
    [alert] = mails_to(devhost, reference, "sikkerhet@bits.example")
    assert "ikke bevist at adressen tilhører en registrert kontaktperson" in plain(alert)


def test_bad_breach_reports(devhost: DevHostProcess) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"discovered_at": "2026-11-26T10:00:00+01:00"}, "discovered_at", "oppdaget før det skjedde"),
        ({"occurred_at": "2099-01-01T10:00:00+01:00"}, "occurred_at", "frem i tid"),
        ({"breach_type": []}, "breach_type", "minst ett"),
        ({"breach_type": ["loss"]}, "breach_type.0", "Velg et av alternativene"),
        ({"phone": "call me"}, "phone", "Ugyldige tegn"),
    ]
    for change, field, message in cases:
        response = httpx.post(f"{devhost.url}/api/incidents/security", json={**BREACH, **change})
        assert response.status_code == 422, response.text
        assert message in response.json()["errors"][field], response.json()


def test_the_breach_form_renders(devhost: DevHostProcess) -> None:
    page = httpx.get(f"{devhost.url}/api/incidents/security")
    assert page.status_code == 200 and 'name="breach_type" value="integrity"' in page.text
