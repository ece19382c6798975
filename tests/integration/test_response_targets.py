"""Response targets in office hours: a reminder before, an escalation after, once each; waiting pauses the clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from functions.catalogue import CATALOGUE
from functions.core.deadlines import check_response_targets, open_cases
from functions.core.model import Channel, Process
from functions.core.rendering import OSLO
from functions.core.services import Services
from functions.core.targets import target_hours
from functions.intake.workflow import process_message
from functions.questions.workflow import ask_question
from tests.conftest import FakeClock
from tests.integration.test_decision_race import PROVEN, question


async def sent(services: Services, reference: str, purpose: str) -> list[str]:
    return sorted(m.mail.to for m in await services.store.mails(reference) if m.mail.purpose == purpose)


async def test_reminder_and_escalation_across_a_weekend(services: Services) -> None:
    clock = services.clock = FakeClock()
    clock.at = datetime(2026, 11, 20, 14, 0, tzinfo=OSLO)  # Friday afternoon
    case = await ask_question(services, question("Fredag"), Channel.FORM, proof=PROVEN)
    # 8 office hours: 1:45 on Friday, then Monday 08:00 + 6:15 = 14:15.
    [row] = [r for r in await open_cases(services, clock.at) if r.case.reference == case.reference]
    assert row.deadlines is not None and row.deadlines.first_response_due == datetime(2026, 11, 23, 14, 15, tzinfo=OSLO)
    clock.at = datetime(2026, 11, 22, 12, 0, tzinfo=OSLO)  # Sunday: nothing yet
    assert await check_response_targets(services) == 0
    clock.at = datetime(2026, 11, 23, 13, 20, tzinfo=OSLO)
    assert await check_response_targets(services) == 1
    assert await sent(services, case.reference, "target-first_response-reminder") == ["support@bits.example"]
    clock.at = datetime(2026, 11, 23, 14, 20, tzinfo=OSLO)
    assert await check_response_targets(services) == 2
    assert await sent(services, case.reference, "target-first_response-overdue") == [
        "godkjenner1@bits.example",
        "godkjenner2@bits.example",
    ]
    assert await check_response_targets(services) == 0, "each at most once per case and target"
    assert (await open_cases(services, clock.at))[0].overdue


async def test_waiting_for_the_asker_pauses_the_resolution_clock(services: Services) -> None:
    clock = services.clock = FakeClock()
    clock.at = datetime(2026, 11, 16, 9, 0, tzinfo=OSLO)  # Monday
    case = await ask_question(services, question("Pause"), Channel.FORM, proof=PROVEN)
    [notice] = [m.mail for m in await services.store.due_mails(clock.at, 100) if m.mail.reply_to]
    clock.at += timedelta(hours=1)
    answer = (
        f"From: support@bits.example\r\nTo: {notice.reply_to}\r\nSubject: SV: [{case.reference}] x\r\n"
        "Message-ID: <answer-pause@bits.example>\r\n\r\nSVAR\r\nHer er svaret.\r\n"
    ).encode()
    assert (await process_message(services, answer, CATALOGUE)).status == "decided"
    [row] = [r for r in await open_cases(services, clock.at) if r.case.reference == case.reference]
    assert row.deadlines is not None and row.deadlines.waiting_for_submitter and row.deadlines.resolution_due is None
    assert row.whose_move == "insurer"
    clock.at += timedelta(days=7)  # a week later the asker writes back: that week did not count
    follow_up = (
        f"From: fag@demo-forsikring.example\r\nTo: ssu@bits.example\r\nSubject: SV: [{case.reference}] Svar\r\n"
        "Message-ID: <asker-back@demo-forsikring.example>\r\n\r\nTakk, men hva med AAP?\r\n"
    ).encode()
    assert (await process_message(services, follow_up, CATALOGUE)).status == "appended"
    [row] = [r for r in await open_cases(services, clock.at) if r.case.reference == case.reference]
    assert row.deadlines is not None and row.deadlines.resolution_due is not None
    # 40 office hours from Monday 09:00 plus the paused week (5 working days of 7:45).
    assert row.deadlines.resolution_due > datetime(2026, 11, 23, 9, 0, tzinfo=OSLO) + timedelta(days=7)


async def test_error_reports_without_severity_have_a_target(services: Services) -> None:
    report = (await ask_question(services, question("Fra e-post"), Channel.FORM, proof=PROVEN)).model_copy(
        update={"process": Process.ERROR_REPORT, "details": {}}
    )
    assert target_hours(services.settings.response_targets, report) == (8.0, 40.0)
