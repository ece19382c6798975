"""A security breach from a sender nobody has verified cannot page NAV: it reaches Bits' security contacts at once,
marked unverified, and NAV's once the reporter confirms their address or Bits replies MOTTATT - exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from functions.catalogue import CATALOGUE
from functions.core.model import Channel
from functions.core.services import Services
from functions.devhost.azurite import Azurite
from functions.incidents.models import SecurityBreach
from functions.incidents.security import SECURITY_BREACH_FORM, check_breach_deadlines, report_breach
from functions.intake.workflow import process_message
from tests.conftest import DevHostProcess, FakeClock, load_demo_registry, start_devhost
from tests.e2e.helpers import case_json, confirm_address, mails_to, plain, poll, reply, sign_in

BREACH: dict[str, Any] = dict(SECURITY_BREACH_FORM.example or {})
BITS_SECURITY = "sikkerhet@bits.example"
NAV_SECURITY = "sikkerhet@nav.example"
UNCONFIRMED = "Avsenderen er ikke bekreftet"


def stranger_breach(host: DevHostProcess) -> tuple[str, str]:
    """A breach report posted by someone no registry knows, as anyone on the internet could: (reference, address)."""
    address = f"ukjent-{uuid.uuid4().hex[:8]}@annen-leverandor.example"
    response = httpx.post(
        f"{host.url}/api/incidents/security", json={**BREACH, "email": address, "name": "Ukjent Leverandør"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "new", "a breach is never held back from Bits"
    return response.json()["reference"], address


def bits_alert(host: DevHostProcess, reference: str) -> EmailMessage:
    [alert] = mails_to(host, reference, BITS_SECURITY, "HASTER")
    return alert


def mottatt(host: DevHostProcess, alert: EmailMessage) -> None:
    reply(host, alert, "MOTTATT\nVi ringer virksomheten.", sender=f"Bits sikkerhet <{BITS_SECURITY}>")


def test_an_unverified_breach_reaches_bits_at_once_marked_unverified_and_nav_nothing(devhost: DevHostProcess) -> None:
    reference, _ = stranger_breach(devhost)
    alert = bits_alert(devhost, reference)
    text = plain(alert)
    assert UNCONFIRMED in text and "Privat nøkkel" in text, "Bits gets the whole report, marked unverified"
    assert "NAV varsles når avsenderen har bekreftet adressen, eller når Bits svarer MOTTATT" in text
    html = alert.get_body(("html",))
    assert html is not None and UNCONFIRMED in html.get_content()
    assert mails_to(devhost, reference, NAV_SECURITY) == [], "NAV is not paged by an unverified sender"
    case = case_json(devhost, reference)["case"]
    assert case["submitter_verified"] is False and "sources_notified_at" not in case["details"]


def test_the_reporters_confirmation_tells_nav_once(devhost: DevHostProcess) -> None:
    reference, address = stranger_breach(devhost)
    request = confirm_address(devhost, reference, address)
    [notice] = mails_to(devhost, reference, NAV_SECURITY)
    assert "HASTER" in str(notice["Subject"]) and "Privat nøkkel" in plain(notice)
    assert "har bekreftet e-postadressen sin" in plain(notice), "NAV sees what was and was not verified"
    assert notice["Reply-To"] is None, "NAV is told; only Bits acknowledges by reply"
    case = case_json(devhost, reference)
    assert case["case"]["details"]["sources_notified_because"] == "confirmed"
    [confirmed] = [e for e in case["events"] if e["kind"] == "submitter_confirmed"]
    assert confirmed["data"]["also_told"] == [NAV_SECURITY]

    link = next(word for word in plain(request).split() if "/api/confirm?t=" in word)
    assert httpx.post(link).status_code == 200  # the link again
    mottatt(devhost, bits_alert(devhost, reference))  # and Bits' acknowledgement after it
    assert case_json(devhost, reference)["case"]["status"] == "acknowledged"
    assert len(mails_to(devhost, reference, NAV_SECURITY)) == 1, "told once, whatever comes after"
    events = case_json(devhost, reference)["events"]
    assert [e["kind"] for e in events].count("submitter_confirmed") == 1
    assert [e["data"].get("sources_notified") for e in events if e["kind"] == "acknowledged"] == [[]]


def test_bits_mottatt_tells_nav_once(devhost: DevHostProcess) -> None:
    reference, address = stranger_breach(devhost)
    alert = bits_alert(devhost, reference)
    mottatt(devhost, alert)
    case = case_json(devhost, reference)
    assert case["case"]["status"] == "acknowledged"
    assert case["case"]["details"]["sources_notified_because"] == "acknowledged"
    [acknowledged] = [e for e in case["events"] if e["kind"] == "acknowledged"]
    assert acknowledged["data"]["sources_notified"] == ["NAV"]
    [notice] = mails_to(devhost, reference, NAV_SECURITY)
    assert UNCONFIRMED in plain(notice) and "Bits har tatt saken (MOTTATT)" in plain(notice)

    mottatt(devhost, alert)  # Bits again
    confirm_address(devhost, reference, address)  # and the reporter's confirmation after it
    assert len(mails_to(devhost, reference, NAV_SECURITY)) == 1, "told once, whatever comes after"
    [confirmed] = [e for e in case_json(devhost, reference)["events"] if e["kind"] == "submitter_confirmed"]
    assert "also_told" not in confirmed["data"]


def test_a_verified_reporter_tells_nav_at_once_as_before(devhost: DevHostProcess) -> None:
    response = httpx.post(f"{devhost.url}/api/incidents/security", json=BREACH)  # a registered security contact
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]
    [notice] = mails_to(devhost, reference, NAV_SECURITY)
    assert "HASTER" in str(notice["Subject"]) and UNCONFIRMED not in plain(notice)
    assert UNCONFIRMED not in plain(bits_alert(devhost, reference))
    mottatt(devhost, bits_alert(devhost, reference))
    assert len(mails_to(devhost, reference, NAV_SECURITY)) == 1, "MOTTATT tells NAV nothing new"


@pytest.fixture
def own_devhost(azurite: Azurite, tmp_path: Path) -> Iterator[DevHostProcess]:
    """A dev host of this test's own: the shared one's email tests count every case that email opened there."""
    host = start_devhost(tmp_path, {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string})
    load_demo_registry(host.env)
    yield host
    host.stop()


def test_an_emailed_breach_from_an_unknown_sender_waits_for_nav_too(own_devhost: DevHostProcess) -> None:
    devhost = own_devhost
    sender = f"ukjent-{uuid.uuid4().hex[:8]}@annen-leverandor.example"
    message_id = f"<breach-{uuid.uuid4().hex}@annen-leverandor.example>"
    raw = "\r\n".join(
        [
            f"From: Ukjent <{sender}>",
            "To: ssu@bits.example",
            "Subject: Sikkerhetsbrudd hos oss",
            f"Message-ID: {message_id}",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "",
            "Vi har hatt et sikkerhetsbrudd: en nøkkel er lekket.",
        ]
    )
    inbox = devhost.mail_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f"breach-{uuid.uuid4().hex[:8]}.eml").write_bytes(raw.encode())
    poll(devhost)
    cases = httpx.get(f"{devhost.url}/api/cases", params={"process": "C"}, headers=sign_in(devhost)).json()["cases"]
    [case] = [c for c in cases if c["submitter_email"] == sender]
    reference = case["reference"]
    [alert] = mails_to(devhost, reference, BITS_SECURITY)
    assert UNCONFIRMED in plain(alert)
    assert mails_to(devhost, reference, NAV_SECURITY) == []
    mottatt(devhost, alert)
    assert len(mails_to(devhost, reference, NAV_SECURITY)) == 1


# -- the escalation timer, with a clock of our own (over Azurite, as the timer runs it) ------------------------------


def _breach(services: Services, email: str) -> SecurityBreach:
    discovered = services.clock.now() - timedelta(minutes=5)
    return SecurityBreach(
        organisation_number="310000019",
        name="Ukjent",
        email=email,
        phone="+47 22 33 44 55",
        occurred_at=discovered - timedelta(hours=1),
        discovered_at=discovered,
        breach_type=["confidentiality"],
        data_categories="Uføregrad",
        persons_affected="unknown",
        description="Nøkkel lekket.",
        containment="Trukket tilbake.",
    )


async def test_an_unverified_breach_still_escalates_at_bits_and_mottatt_stops_it(services: Services) -> None:
    clock = services.clock = FakeClock()
    case = await report_breach(services, _breach(services, "ukjent@annen-leverandor.example"), Channel.FORM)
    clock.at += timedelta(minutes=services.settings.security_escalation_minutes + 1)
    assert await check_breach_deadlines(services) == 1
    mails = {(m.mail.to, m.mail.purpose) for m in await services.store.mails(case.reference)}
    assert ("support@bits.example", "escalation-1") in mails
    assert not any(to == NAV_SECURITY for to, _ in mails), "escalation goes to Bits, never to NAV"
    [escalation] = [m.mail for m in await services.store.due_mails(clock.at, 100) if m.mail.purpose == "escalation-1"]
    assert UNCONFIRMED in escalation.text

    [alert] = [m.mail for m in await services.store.due_mails(clock.at, 100) if m.mail.to == BITS_SECURITY]
    assert alert.reply_to is not None
    raw = (
        f"From: {BITS_SECURITY}\r\nTo: {alert.reply_to}\r\nSubject: SV: {alert.subject}\r\n"
        f"Message-ID: <mottatt-{uuid.uuid4().hex}@bits.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "MOTTATT\r\n"
    ).encode()
    assert (await process_message(services, raw, CATALOGUE)).status == "decided"
    clock.at += timedelta(hours=3)
    assert await check_breach_deadlines(services) == 0, "acknowledged: no more escalation"
    told = [m for m in await services.store.mails(case.reference) if m.mail.to == NAV_SECURITY]
    assert [m.mail.purpose for m in told] == ["notify-security"]
