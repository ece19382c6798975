"""A security breach from a sender nobody has verified cannot page NAV: it reaches Bits' security contacts at once,
marked unverified, and NAV's once Bits replies MOTTATT - or, when the address is a registered contact of the company
whose proof was missing, once that contact confirms it - exactly once. A stranger clicking their own link tells NAV
nothing, and Bits can dismiss a bogus report (AVVIST): closed, no escalation, nothing to NAV or the reporter."""

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
CONTACT = "sikkerhet@demo-forsikring.example"  # the demo company's registered security contact
UNCONFIRMED = "Avsenderen er ikke bekreftet"
# What Exchange Online stamps on a message whose From names the company's domain but that came from elsewhere.
DMARC_FAIL = (
    "spf=fail (sender IP is 203.0.113.66) smtp.mailfrom=demo-forsikring.example; dkim=none (message not signed) "
    "header.d=none;dmarc=fail action=oreject header.from=demo-forsikring.example;compauth=fail reason=000"
)


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


def answer(host: DevHostProcess, alert: EmailMessage, text: str) -> None:
    reply(host, alert, text, sender=f"Bits sikkerhet <{BITS_SECURITY}>")


def mottatt(host: DevHostProcess, alert: EmailMessage) -> None:
    answer(host, alert, "MOTTATT\nVi ringer virksomheten.")


def events_of(host: DevHostProcess, reference: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in case_json(host, reference)["events"] if e["kind"] == kind]


def test_an_unverified_breach_reaches_bits_at_once_marked_unverified_and_nav_nothing(devhost: DevHostProcess) -> None:
    reference, _ = stranger_breach(devhost)
    alert = bits_alert(devhost, reference)
    text = plain(alert)
    assert UNCONFIRMED in text and "Privat nøkkel" in text, "Bits gets the whole report, marked unverified"
    assert "NAV varsles når Bits svarer MOTTATT" in text and "En bekreftelse fra noen andre varsler ikke NAV" in text
    assert "AVVIST     er meldingen falsk" in text, "Bits is told how to dismiss a bogus report"
    html = alert.get_body(("html",))
    assert html is not None and UNCONFIRMED in html.get_content() and "AVVIST" in html.get_content()
    assert mails_to(devhost, reference, NAV_SECURITY) == [], "NAV is not paged by an unverified sender"
    case = case_json(devhost, reference)["case"]
    assert case["submitter_verified"] is False and "sources_notified_at" not in case["details"]


def test_a_stranger_confirming_their_own_address_does_not_page_nav(devhost: DevHostProcess) -> None:
    # The attack: a breach "at" any company, with the attacker's own mailbox, and a click on their own link.
    reference, address = stranger_breach(devhost)
    request = confirm_address(devhost, reference, address)
    assert mails_to(devhost, reference, NAV_SECURITY) == [], "owning a mailbox proves nothing about the company"
    case = case_json(devhost, reference)["case"]
    assert case["details"]["address_confirmed"] is True and "sources_notified_at" not in case["details"]
    [confirmed] = events_of(devhost, reference, "submitter_confirmed")
    assert "also_told" not in confirmed["data"]
    [receipt] = mails_to(devhost, reference, address, "mottatt")
    assert "NAVs varsles når meldingen er bekreftet" in plain(receipt), "the receipt does not claim NAV was told"

    link = next(word for word in plain(request).split() if "/api/confirm?t=" in word)
    assert httpx.post(link).status_code == 200  # the link again: still nothing to NAV
    assert mails_to(devhost, reference, NAV_SECURITY) == []

    mottatt(devhost, bits_alert(devhost, reference))  # only Bits' acknowledgement releases it
    assert case_json(devhost, reference)["case"]["details"]["sources_notified_because"] == "acknowledged"
    [notice] = mails_to(devhost, reference, NAV_SECURITY)
    assert "har bekreftet e-postadressen sin, men er ikke registrert kontaktperson" in plain(notice)
    assert "Bits har tatt saken (MOTTATT)" in plain(notice) and notice["Reply-To"] is None


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
    [confirmed] = events_of(devhost, reference, "submitter_confirmed")
    assert "also_told" not in confirmed["data"]


def test_bits_dismisses_a_bogus_breach_and_nobody_hears_more(devhost: DevHostProcess) -> None:
    reference, address = stranger_breach(devhost)
    alert = bits_alert(devhost, reference)
    [request] = mails_to(devhost, reference, address, "Bekreft e-postadressen")
    answer(devhost, alert, "AVVIST\nVirksomheten kjenner ikke til dette.")
    case = case_json(devhost, reference)
    assert case["case"]["status"] == "closed" and case["case"]["details"]["dismissed_by"] == BITS_SECURITY
    [dismissed] = [e for e in case["events"] if e["kind"] == "dismissed"]
    assert dismissed["public"] is False and dismissed["data"]["nav_told_before"] is False
    assert mails_to(devhost, reference, NAV_SECURITY) == [], "dismissed: NAV is never told"

    # The reporter's link does nothing any more: no receipt, no NAV.
    link = next(word for word in plain(request).split() if "/api/confirm?t=" in word)
    assert httpx.post(link).status_code == 400
    assert [str(m["Subject"]) for m in mails_to(devhost, reference, address)] == [str(request["Subject"])]
    assert "submitter_confirmed" not in [e["kind"] for e in case_json(devhost, reference)["events"]]

    mottatt(devhost, alert)  # a MOTTATT after it changes nothing either
    assert case_json(devhost, reference)["case"]["status"] == "closed"
    assert mails_to(devhost, reference, NAV_SECURITY) == []


def test_dismissal_in_english_too(devhost: DevHostProcess) -> None:
    reference, _ = stranger_breach(devhost)
    answer(devhost, bits_alert(devhost, reference), "DISMISSED")
    assert case_json(devhost, reference)["case"]["status"] == "closed"
    assert mails_to(devhost, reference, NAV_SECURITY) == []


# -- by email, on a dev host of the test's own (the shared one's email tests count every case email opened there) -----


@pytest.fixture
def own_devhost(azurite: Azurite, tmp_path: Path) -> Iterator[DevHostProcess]:
    host = start_devhost(tmp_path, {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string})
    load_demo_registry(host.env)
    yield host
    host.stop()


def emailed_breach(host: DevHostProcess, sender: str, verdict: str | None = None) -> str:
    """A breach mailed to the shared mailbox (with Exchange's Authentication-Results when given): its reference."""
    raw = "\r\n".join(
        [
            *([f"Authentication-Results: {verdict}"] if verdict else []),
            f"From: Avsender <{sender}>",
            "To: ssu@bits.example",
            "Subject: Sikkerhetsbrudd hos oss",
            f"Message-ID: <breach-{uuid.uuid4().hex}@mail.example>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "",
            "Vi har hatt et sikkerhetsbrudd: en nøkkel er lekket.",
        ]
    )
    inbox = host.mail_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f"breach-{uuid.uuid4().hex[:8]}.eml").write_bytes(raw.encode())
    poll(host)
    cases = httpx.get(f"{host.url}/api/cases", params={"process": "C"}, headers=sign_in(host)).json()["cases"]
    [case] = [c for c in cases if c["submitter_email"] == sender]
    return str(case["reference"])


def emailed_alert(host: DevHostProcess, reference: str) -> EmailMessage:
    """Bits' notice of an emailed breach (the message as it came, `case_to_bits`)."""
    [alert] = mails_to(host, reference, BITS_SECURITY)
    return alert


def test_an_emailed_breach_from_an_unknown_sender_waits_for_nav_too(own_devhost: DevHostProcess) -> None:
    devhost = own_devhost
    sender = f"ukjent-{uuid.uuid4().hex[:8]}@annen-leverandor.example"
    reference = emailed_breach(devhost, sender)
    alert = emailed_alert(devhost, reference)
    assert UNCONFIRMED in plain(alert) and "AVVIST     er meldingen falsk" in plain(alert)
    confirm_address(devhost, reference, sender)
    assert mails_to(devhost, reference, NAV_SECURITY) == [], "a stranger's confirmation by email tells NAV nothing"
    mottatt(devhost, alert)
    assert len(mails_to(devhost, reference, NAV_SECURITY)) == 1


def test_a_registered_contacts_confirmation_tells_nav_once(own_devhost: DevHostProcess) -> None:
    # The contact's own address, but the message could not be proven (it failed DMARC): it might be forged.
    devhost = own_devhost
    reference = emailed_breach(devhost, CONTACT, DMARC_FAIL)
    case = case_json(devhost, reference)["case"]
    assert (case["organisation_number"], case["submitter_verified"]) == ("310000019", False)
    assert UNCONFIRMED in plain(emailed_alert(devhost, reference))
    assert mails_to(devhost, reference, NAV_SECURITY) == []

    confirm_address(devhost, reference, CONTACT)  # the real contact owns the mailbox: that proves the report theirs
    [notice] = mails_to(devhost, reference, NAV_SECURITY)
    assert "adressen er registrert kontaktperson for virksomheten og er nå bekreftet" in plain(notice)
    assert notice["Reply-To"] is None, "NAV is told; only Bits acknowledges by reply"
    assert case_json(devhost, reference)["case"]["details"]["sources_notified_because"] == "confirmed"
    [confirmed] = events_of(devhost, reference, "submitter_confirmed")
    assert confirmed["data"]["also_told"] == [NAV_SECURITY]

    mottatt(devhost, emailed_alert(devhost, reference))
    assert len(mails_to(devhost, reference, NAV_SECURITY)) == 1, "told once, whatever comes after"
    assert [e["data"].get("sources_notified") for e in events_of(devhost, reference, "acknowledged")] == [[]]


def test_a_proven_registered_contact_tells_nav_at_once(own_devhost: DevHostProcess) -> None:
    devhost = own_devhost
    reference = emailed_breach(devhost, CONTACT)  # no failing verdict: locally, a proven sender
    assert case_json(devhost, reference)["case"]["submitter_verified"] is True
    [notice] = mails_to(devhost, reference, NAV_SECURITY)
    assert UNCONFIRMED not in plain(notice) and UNCONFIRMED not in plain(emailed_alert(devhost, reference))
    mottatt(devhost, emailed_alert(devhost, reference))
    assert len(mails_to(devhost, reference, NAV_SECURITY)) == 1, "MOTTATT tells NAV nothing new"


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


def _reply_to_alert(reply_to: str, subject: str, word: str) -> bytes:
    return (
        f"From: {BITS_SECURITY}\r\nTo: {reply_to}\r\nSubject: SV: {subject}\r\n"
        f"Message-ID: <reply-{uuid.uuid4().hex}@bits.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{word}\r\n"
    ).encode()


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
    raw = _reply_to_alert(alert.reply_to, alert.subject, "MOTTATT")
    assert (await process_message(services, raw, CATALOGUE)).status == "decided"
    clock.at += timedelta(hours=3)
    assert await check_breach_deadlines(services) == 0, "acknowledged: no more escalation"
    told = [m for m in await services.store.mails(case.reference) if m.mail.to == NAV_SECURITY]
    assert [m.mail.purpose for m in told] == ["notify-security"]


async def test_avvist_stops_the_escalation_and_nav_is_never_told(services: Services) -> None:
    clock = services.clock = FakeClock()
    case = await report_breach(services, _breach(services, "falsk@annen-leverandor.example"), Channel.FORM)
    [alert] = [m.mail for m in await services.store.due_mails(clock.at, 100) if m.mail.to == BITS_SECURITY]
    assert alert.reply_to is not None
    raw = _reply_to_alert(alert.reply_to, alert.subject, "AVVIST")
    assert (await process_message(services, raw, CATALOGUE)).status == "decided"
    before = len(await services.store.mails(case.reference))
    for hours in (1, 2, 3, 24, 70):  # every level, and past the reminder point
        clock.at = case.created_at + timedelta(hours=hours)
        assert await check_breach_deadlines(services) == 0, "dismissed: no escalation"
    mails = await services.store.mails(case.reference)
    assert len(mails) == before and not any(m.mail.to == NAV_SECURITY for m in mails)
    stored = await services.store.load(case.reference)
    assert stored is not None and stored.case.status == "closed"
