"""Escalation of an unacknowledged security breach, round the clock, with a controllable clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from functions.catalogue import CATALOGUE
from functions.core.cases import AddressProof
from functions.core.model import Channel
from functions.core.services import Services
from functions.incidents.models import SecurityBreach
from functions.incidents.security import check_breach_deadlines, report_breach
from functions.intake.workflow import process_message
from tests.conftest import FakeClock


async def breach(services: Services, discovered: datetime) -> str:
    report = SecurityBreach(
        organisation_number="310000019",
        name="Siri",
        email="sikkerhet@demo-forsikring.example",
        phone="+47 22 33 44 55",
        occurred_at=discovered - timedelta(hours=2),
        discovered_at=discovered,
        breach_type=["confidentiality"],
        data_categories="Uføregrad",
        persons_affected="unknown",
        description="Nøkkel lekket.",
        containment="Trukket tilbake.",
    )
    proven = AddressProof(report.email)  # a browser that confirmed the address once: a registered contact's report
    return (await report_breach(services, report, Channel.FORM, proof=proven)).reference


def reply_to(services: Services, reference: str, to: str, body: str, sender: str, n: int) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: SV: [{reference}] Sikkerhetsbrudd\r\n"
        f"Message-ID: <breach-reply-{n}@x.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


async def recipients(services: Services, reference: str, purpose_prefix: str) -> list[str]:
    return sorted(m.mail.to for m in await services.store.mails(reference) if m.mail.purpose.startswith(purpose_prefix))


async def test_escalation_until_acknowledged_and_reminder_until_reported(services: Services) -> None:
    clock = services.clock = FakeClock()
    clock.at = datetime(2026, 11, 21, 23, 30, tzinfo=clock.at.tzinfo)  # a Saturday night: the clock runs anyway
    reference = await breach(services, discovered=clock.at - timedelta(minutes=10))
    assert await check_breach_deadlines(services) == 0
    clock.at += timedelta(minutes=61)
    assert await check_breach_deadlines(services) == 1
    assert await recipients(services, reference, "escalation") == ["support@bits.example"]
    assert await check_breach_deadlines(services) == 0, "once per level, however often the timer runs"
    clock.at += timedelta(minutes=60)
    assert await check_breach_deadlines(services) == 2
    assert await recipients(services, reference, "escalation-2") == [
        "godkjenner1@bits.example",
        "godkjenner2@bits.example",
    ]

    # Bits acknowledges by replying to its alert: no more escalation.
    [alert] = [m.mail for m in await services.store.due_mails(clock.at, 100) if m.mail.to == "sikkerhet@bits.example"]
    assert alert.reply_to is not None
    outcome = await process_message(
        services,
        reply_to(services, reference, alert.reply_to, "MOTTATT\nVi ringer dem.", "sikkerhet@bits.example", 1),
        CATALOGUE,
    )
    assert outcome.status == "decided"
    clock.at += timedelta(hours=5)
    assert await check_breach_deadlines(services) == 0

    # The reporter is reminded 12 hours before the 72-hour point, once; MELDT would have stopped it.
    stored = await services.store.load(reference)
    assert stored is not None
    clock.at = datetime.fromisoformat(stored.case.details["gdpr_deadline"]) - timedelta(hours=11)
    assert await check_breach_deadlines(services) == 1
    assert await recipients(services, reference, "gdpr-reminder") == ["sikkerhet@demo-forsikring.example"]
    assert await check_breach_deadlines(services) == 0


async def test_no_reminder_after_the_reporter_said_meldt(services: Services) -> None:
    clock = services.clock = FakeClock()
    clock.at = datetime(2026, 11, 20, 10, 0, tzinfo=clock.at.tzinfo)
    reference = await breach(services, discovered=clock.at - timedelta(minutes=5))
    [receipt] = [m.mail for m in await services.store.due_mails(clock.at, 100) if m.mail.purpose == "acknowledgement"]
    assert receipt.reply_to is not None
    outcome = await process_message(
        services,
        reply_to(services, reference, receipt.reply_to, "MELDT", "sikkerhet@demo-forsikring.example", 2),
        CATALOGUE,
    )
    assert outcome.status == "decided"
    stored = await services.store.load(reference)
    assert stored is not None and stored.case.details["datatilsynet_notified_at"]
    clock.at = datetime.fromisoformat(stored.case.details["gdpr_deadline"]) - timedelta(hours=2)
    await check_breach_deadlines(services)
    assert await recipients(services, reference, "gdpr-reminder") == []


async def test_a_breach_reported_by_email_escalates_too(services: Services) -> None:
    clock = services.clock = FakeClock()
    raw = (Path(__file__).resolve().parents[1] / "fixtures" / "mail" / "security_breach_nb.eml").read_bytes()
    outcome = await process_message(services, raw, CATALOGUE)
    assert outcome.status == "new_case" and outcome.reference
    clock.at += timedelta(minutes=61)
    assert await check_breach_deadlines(services) == 1
    assert await recipients(services, outcome.reference, "escalation") == ["support@bits.example"]
    [mail] = [m.mail for m in await services.store.due_mails(clock.at, 100) if m.mail.purpose == "escalation-1"]
    assert "IKKE BEKREFTET" in mail.subject


async def test_the_reminder_carries_the_reporters_token(services: Services) -> None:
    clock = services.clock = FakeClock()
    clock.at = datetime(2026, 11, 20, 10, 0, tzinfo=clock.at.tzinfo)
    reference = await breach(services, discovered=clock.at - timedelta(minutes=5))
    stored = await services.store.load(reference)
    assert stored is not None
    clock.at = datetime.fromisoformat(stored.case.details["gdpr_deadline"]) - timedelta(hours=2)
    await check_breach_deadlines(services)
    [reminder] = [m.mail for m in await services.store.due_mails(clock.at, 100) if m.mail.purpose == "gdpr-reminder"]
    token = stored.case.details["submitter_token"]
    assert reminder.reply_to == f"ssu+{token}@bits.example" and reminder.subject.endswith(f"#{token}")
