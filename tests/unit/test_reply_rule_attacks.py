"""Adversarial review of #16's one rule for Bits' replies without a command: each test is a reply, a form or a notice
that let text meant for Bits reach the submitter (or anyone outside Bits) on the code as it was, or a notice whose
words about where a reply goes were not true."""

from __future__ import annotations

import pytest

from functions.catalogue import CATALOGUE
from functions.changes import workflow as changes
from functions.core.cases import AddressProof
from functions.core.commands import ANSWER, Decision
from functions.core.model import Channel
from functions.incidents import security
from functions.incidents.workflow import FORWARD, TRIAGE_DECISION, report_error
from functions.intake.commands import Decider, Reading, apply_decision, read_reply
from tests.fakes import clock_of, fake_services
from tests.unit.test_process_workflows import (
    APPROVERS,
    PROVEN_ASKER,
    PROVEN_SECURITY,
    REPORTER,
    breach,
    change_request,
    decide,
    error_report,
    one_queued,
    queued,
)
from tests.unit.test_reading_attacks import HEADERS, parsed, plain
from tests.unit.test_reply_without_command import OWN, _case

INTERNAL = "Frida er sur etter forrige gang, ikke nevn det for henne."
QUESTION = CATALOGUE.decisions["question.bits"]
BITS = Decider("support@bits.example", "Bits brukerstøtte", Channel.EMAIL, "<r@bits.example>", "m-r")


def _html(body: str) -> bytes:
    return f"{HEADERS}Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}\n".encode()


# Words above the command: a colleague's note, then the command in capitals further down. The command's text (and
# all above it) went to the submitter.
ABOVE = [
    (QUESTION, plain(f"{INTERNAL}\n\nSVAR\nVi ser på saken i dag.")),
    (QUESTION, plain(f"{INTERNAL}\n\nLØST\nRettet i versjon 2.")),
    (QUESTION, _html(f"<p>{INTERNAL}</p><p><b>SVAR</b> Vi ser på saken i dag.</p>")),
    (CATALOGUE.decisions["error_report.triage"], plain(f"{INTERNAL}\n\nSPØRSMÅL\nHvilken versjon bruker dere?")),
    (CATALOGUE.decisions["change.handle"], plain(f"{INTERNAL}\n\nAVSLÅTT\nDette ligger utenfor tjenesten.")),
    (CATALOGUE.decisions["onboarding.bits"], plain(f"{INTERNAL}\n\nSVAR: Vi ser på innmeldingen.")),
]


@pytest.mark.parametrize(("decision", "raw"), ABOVE, ids=range(len(ABOVE)))
async def test_text_above_a_command_further_down_never_reaches_the_submitter(decision: Decision, raw: bytes) -> None:
    services = fake_services()
    stored = await _case(services, decision)
    message = parsed(raw)
    applied = await apply_decision(
        services,
        stored,
        CATALOGUE.decisions,
        BITS,
        lambda d: read_reply(message, d),
        decision_name=decision.name,
    )
    for mail in await queued(services, stored.case.reference):
        assert "Frida" not in f"{mail.text}{mail.html}" or mail.to.endswith("@bits.example"), (applied, mail.to)
    events = await services.store.events(stored.case.reference)
    assert not any("Frida" in str(e.data) for e in events if e.public), applied


@pytest.mark.parametrize(
    "body",
    [
        "Svar, Frida ringer henne i morgen.",  # a comma: the README says a stop, colon or dash marks it
        "Svar, hvis hun ringer igjen: vi har ikke mer.",
        "Answer, when she calls back, is no.",
    ],
)
def test_svar_in_small_letters_with_a_comma_is_a_note(body: str) -> None:
    reading = read_reply(parsed(plain(body)), QUESTION)
    assert reading.command is None and reading.problem is None, reading
    assert reading.text == body


@pytest.mark.parametrize(
    "body",
    ["Svar:", "SVAR\n\n-- \nOla Nordmann\nBits", "Svar:\n\nOla", "ANSWER -"],
    ids=["colon", "sig", "name", "dash"],
)
async def test_svar_with_nothing_to_say_sends_no_empty_answer(body: str) -> None:
    services = fake_services()
    stored = await _case(services, QUESTION)
    message = parsed(plain(body))
    applied = await apply_decision(
        services,
        stored,
        CATALOGUE.decisions,
        BITS,
        lambda d: read_reply(message, d),
        decision_name=QUESTION.name,
    )
    assert (applied.status, applied.detail) == ("unclear", "empty")
    assert await services.store.mails(stored.case.reference) == []


@pytest.mark.parametrize("decision", [d for d in OWN if ANSWER in d.commands], ids=lambda d: d.name)
async def test_an_empty_answer_from_the_case_view_sends_nothing(decision: Decision) -> None:
    services = fake_services()
    stored = await _case(services, decision)
    web = Decider("support@bits.example", "Bits brukerstøtte", Channel.WEB, "<web.y@bits.example>", "m-w")
    applied = await apply_decision(
        services, stored, CATALOGUE.decisions, web, lambda _: Reading(ANSWER, "  "), decision_name=decision.name
    )
    assert applied.status == "unclear"
    assert await services.store.mails(stored.case.reference) == []


async def test_the_approvers_notice_says_where_the_reason_goes_and_it_goes_there() -> None:
    """GODKJENT's reason reached the submitter, NAV and every connected company; the approvers' notice said only
    "the reason below", with a footer about notes, so a reason meant for colleagues went out unwarned."""
    services = fake_services()
    case = await changes.submit_change_request(services, change_request(), Channel.API, proof=PROVEN_ASKER)
    await decide(services, changes.HANDLE_DECISION, case.reference, "support@bits.example", changes.COMPLETE)
    notice = await one_queued(services, case.reference, APPROVERS[0], "decide-")
    for body in (notice.text, notice.html):
        assert "Begrunnelsen sendes med beslutningen: til innsenderen, og ved GODKJENT også til NAV" in body, body
    reason = "Nyttig for alle, men først etter valget."
    await decide(services, changes.DECIDE_DECISION, case.reference, APPROVERS[0], changes.APPROVE, reason)
    told = {m.to for m in await queued(services, case.reference) if reason in m.text}
    assert {"fag@demo-forsikring.example", "drift@nav.example", "per@vestkyst-pk.example"} <= told


async def test_an_escalated_breach_tells_bits_what_a_reply_becomes_and_nav_is_told_nothing_of_it() -> None:
    """The escalations to Bits' people had no token and no footer: a reply to them (MOTTATT, a colleague's words)
    is an internal note, and nothing said so or linked the workspace where the breach is acknowledged."""
    services = fake_services()
    reported = await security.report_breach(services, breach(services), Channel.FORM, proof=PROVEN_SECURITY)
    clock_of(services).advance(hours=3)
    await security.check_breach_deadlines(services)
    escalations = [m for m in await queued(services, reported.reference) if m.purpose.startswith("escalation-")]
    assert escalations and all(m.to.endswith("@bits.example") for m in escalations)
    for mail in escalations:
        for body in (mail.text, mail.html):
            assert "blir et internt notat i saken" in body and f"bits/cases/{reported.reference}" in body, body
    [nav] = [m for m in await queued(services, reported.reference) if m.to == "sikkerhet@nav.example"]
    assert "internt notat" not in nav.text and "bits/cases/" not in nav.text


async def test_the_triage_notice_says_that_text_after_videresend_goes_to_the_source() -> None:
    """VIDERESEND NAV's text below went to NAV as "Fra Bits: …"; the notice said only that the report is passed on
    without the reporter's name, beside a footer about notes: a colleague's words after it reached NAV unwarned."""
    services = fake_services()
    case = await report_error(services, error_report(), Channel.API, proof=AddressProof(REPORTER))
    notice = await one_queued(services, case.reference, "support@bits.example")
    for body in (notice.text, notice.html):
        assert "tekst etter kilden sendes med til dem" in body, body
    said = "Kunden har ikke lest dokumentasjonen."
    forwarded = await decide(services, TRIAGE_DECISION, case.reference, "support@bits.example", FORWARD, f"NAV {said}")
    assert any(said in m.text for m in forwarded.mails if m.to == "drift@nav.example")
