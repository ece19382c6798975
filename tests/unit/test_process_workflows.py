"""Each process's workflow over the in-memory fakes (`tests/fakes.py`): no Azurite, no network, a clock of our own.

What the integration and e2e tests show against real storage and the dev host, shown here at the workflow's own
level: the states a case goes through, its events, exactly which mails go to whom for what, and the tokens they carry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.alerts.models import AlertIn
from functions.alerts.workflow import publish_alert
from functions.catalogue import CATALOGUE
from functions.changes import workflow as changes
from functions.changes.models import ChangeRequest
from functions.core.cases import AddressProof, acknowledgement_id, confirm_submitter
from functions.core.commands import Change, Command, Decision, Reply
from functions.core.forms import Refusal, SubmissionRefused
from functions.core.mail import OutgoingMail, TransientSendError
from functions.core.model import Case, CaseEvent, Channel, Process
from functions.core.outbox import dispatch_outbox
from functions.core.processes import DEADLINE_RUNS, DeadlineJob, DeadlineJobsFailed, run_deadline_jobs
from functions.core.services import Services
from functions.core.store import AlreadyProcessed, AlreadyQueued, ConcurrentUpdate, StoredToken
from functions.core.tokens import issue
from functions.incidents import security
from functions.incidents.models import ErrorReport, SecurityBreach
from functions.incidents.workflow import FORWARD, TRIAGE, TRIAGE_DECISION, report_error
from functions.intake.workflow import poll_mailbox, process_message
from functions.onboarding import workflow as onboarding
from functions.onboarding.models import Registration
from functions.questions.models import Question
from functions.questions.workflow import QUESTION_DECISION, RESOLVE, TO_ERROR, ask_question
from functions.terms import workflow as terms
from functions.terms.models import TermsVersion
from tests.fakes import GO_LIVE, FakeClock, clock_of, fake_services, mailbox_of, transport_of

BITS = "support@bits.example"
ASKER = "fag@demo-forsikring.example"
APPROVERS = ["godkjenner1@bits.example", "godkjenner2@bits.example"]
# What a browser that once confirmed the address by the link proves on its forms (web/forms.py): a registered
# contact's case then goes on at once, as theirs. A typed address proves nothing (test_a_typed_contacts_...).
PROVEN_ASKER = AddressProof(ASKER)
PROVEN_SECURITY = AddressProof("sikkerhet@demo-forsikring.example")
MAIL_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
_replies = itertools.count(1)


# -- helpers ---------------------------------------------------------------------------------------------------------


def question(**changes: Any) -> Question:
    body: dict[str, Any] = {
        "organisation_number": "310000019",
        "name": "Frida Fagerli",
        "email": ASKER,
        "subject": "Hvordan tolke uføregrad mot IFU?",
        "question": "Vi ser uføregrad 50 og IFU i samme svar. Hvilken skal vi bruke?",
        "service": "ufore",
        "environment": "production",
        "category": "data_interpretation",
    }
    return Question.model_validate({**body, **changes})


async def sent_to(services: Services, reference: str) -> set[tuple[str, str]]:
    """(recipient, purpose) of every mail queued on the case."""
    return {(r.mail.to, r.mail.purpose) for r in await services.store.mails(reference)}


async def queued(services: Services, reference: str) -> list[OutgoingMail]:
    """The case's pending mails as queued (with their bodies)."""
    due = await services.store.due_mails(services.clock.now() + timedelta(days=1), 1000)
    return [r.mail for r in due if r.mail.reference == reference]


async def one_queued(services: Services, reference: str, to: str, purpose: str = "") -> OutgoingMail:
    [mail] = [m for m in await queued(services, reference) if m.to == to and m.purpose.startswith(purpose)]
    return mail


async def kinds(services: Services, reference: str) -> list[str]:
    return [e.kind for e in await services.store.events(reference)]


async def status(services: Services, reference: str) -> str:
    stored = await services.store.load(reference)
    assert stored is not None
    return stored.case.status


def token_of(mail: OutgoingMail, *, asks: bool = True) -> str:
    """The token in the mail's Reply-To; in its subject too when the mail asks its reader to decide (`asks`), and
    nowhere in it otherwise (a receipt that merely allows a reply command)."""
    assert mail.reply_to is not None
    found = re.fullmatch(r"ssu\+([a-z2-9]{12})@bits\.example", mail.reply_to)
    assert found, mail.reply_to
    if asks:
        assert mail.subject.endswith(f"#{found.group(1)}")
    else:
        assert found.group(1) not in mail.subject and "#" not in mail.subject, mail.subject
    return found.group(1)


async def decide(
    services: Services,
    decision: Decision,
    reference: str,
    sender: str,
    command: Command | None,
    text: str = "",
    about: str | None = None,
) -> Change:
    """What `take_decision` does once a reply is authenticated: the handler's change, stored, then what follows."""
    stored = await services.store.load(reference)
    assert stored is not None
    reply = Reply(command, text, sender, "", f"<reply-{next(_replies)}@example.test>", about)
    change = await decision.handle(services, stored, reply, await services.registry())
    await services.store.transition(stored, change.case, change.event, change.mails, tokens=change.tokens)
    if change.after is not None:
        await change.after()
    return change


def reply_email(sender: str, to: str, reference: str, body: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: SV: [{reference}] Saken\r\n"
        f"Message-ID: <unit-{next(_replies)}@example.test>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


# -- D: questions ----------------------------------------------------------------------------------------------------


async def test_a_registered_contacts_question_is_new_with_a_receipt_and_a_notice_to_bits() -> None:
    services = fake_services()
    case = await ask_question(services, question(), Channel.FORM, proof=PROVEN_ASKER)
    assert case.reference == "SSU-D-2026-0001"
    assert (case.status, case.submitter_verified) == ("new", True)
    [received] = await services.store.events(case.reference)
    assert received.kind == "received" and received.data["question"] == question().question
    assert await sent_to(services, case.reference) == {(ASKER, "acknowledgement"), (BITS, "notify-support")}

    receipt = await one_queued(services, case.reference, ASKER)
    assert "Vi har mottatt spørsmålet ditt" in receipt.subject and receipt.reply_to is None
    notice = await one_queued(services, case.reference, BITS)
    assert "Nytt spørsmål fra Demo Forsikring ASA" in notice.subject
    token = await services.store.load_token(case.reference, token_of(notice))
    assert token is not None
    assert (token.token.person, token.token.decision, token.token.single_use) == (BITS, "question.bits", False)

    second = await ask_question(services, question(subject="Et til"), Channel.API, proof=PROVEN_ASKER)
    assert second.reference == "SSU-D-2026-0002", "gapless per process and year"


async def test_an_unknown_asker_confirms_first_and_bits_hears_only_then() -> None:
    services = fake_services()
    stranger = "ukjent@annet-selskap.example"
    case = await ask_question(services, question(email=stranger, name="Ukjent Person"), Channel.API)
    assert (case.status, case.submitter_verified) == ("awaiting_confirmation", False)
    assert await sent_to(services, case.reference) == {(stranger, "confirm-submitter")}, "Bits hears nothing yet"

    request = await one_queued(services, case.reference, stranger)
    link = re.search(r"/api/confirm\?t=(\S+)", request.text)
    assert link, request.text
    confirmed = await confirm_submitter(services, link.group(1), CATALOGUE.intakes)
    assert confirmed.outcome == "confirmed"
    assert await status(services, case.reference) == "new"
    assert await kinds(services, case.reference) == ["received", "submitter_confirmed"]
    assert await sent_to(services, case.reference) == {
        (stranger, "confirm-submitter"),
        (stranger, "acknowledgement"),
        (BITS, "notify-support"),
    }
    assert (await confirm_submitter(services, link.group(1), CATALOGUE.intakes)).outcome == "already"
    assert (await confirm_submitter(services, link.group(1)[:-3] + "abc", CATALOGUE.intakes)).outcome == "invalid"


async def test_a_registered_contacts_address_typed_proves_nothing_until_confirmed() -> None:
    services = fake_services()
    typed = await ask_question(services, question(), Channel.API)  # ASKER is a registered contact; only typed here
    assert (typed.status, typed.submitter_verified) == ("awaiting_confirmation", False)
    assert await sent_to(services, typed.reference) == {(ASKER, "confirm-submitter")}, "no receipt, Bits not yet"
    other = AddressProof("someone.else@demo-forsikring.example")  # a browser that proved another address
    elsewhere = await ask_question(services, question(subject="Et til"), Channel.FORM, proof=other)
    assert elsewhere.status == "awaiting_confirmation"
    assert await sent_to(services, elsewhere.reference) == {(ASKER, "confirm-submitter")}
    upper = await ask_question(services, question(subject="Tredje"), Channel.FORM, proof=AddressProof(ASKER.upper()))
    assert (upper.status, upper.submitter_verified) == ("new", True), "the proof is of the address, whatever its case"


async def test_bits_answers_then_resolves_and_the_asker_hears_each_time() -> None:
    services = fake_services()
    case = await ask_question(services, question(), Channel.FORM, proof=PROVEN_ASKER)

    answered = await decide(services, QUESTION_DECISION, case.reference, BITS, None, "Bruk uføregrad.")
    assert answered.case.status == "answered" and answered.event.kind == "answered" and answered.event.public
    [answer] = answered.mails
    assert (answer.to, answer.purpose[:7]) == (ASKER, "answer-")
    assert "Svar fra Bits" in answer.subject and "Bruk uføregrad." in answer.text
    assert answer.in_reply_to == acknowledgement_id(services, case), "threaded under the receipt"

    resolved = await decide(services, QUESTION_DECISION, case.reference, BITS, RESOLVE, "Besvart.")
    assert resolved.case.status == "closed" and resolved.event.kind == "resolved"
    assert [(m.to, m.purpose) for m in resolved.mails] == [(ASKER, "resolved")]
    assert "Saken er avsluttet" in resolved.mails[0].subject
    assert await status(services, case.reference) == "closed"
    assert await kinds(services, case.reference) == ["received", "answered", "resolved"]


async def test_a_question_that_is_an_error_continues_as_one_error_report() -> None:
    services = fake_services()
    case = await ask_question(services, question(), Channel.FORM, proof=PROVEN_ASKER)
    change = await decide(services, QUESTION_DECISION, case.reference, BITS, TO_ERROR, "Feil i API-et.")
    assert change.case.status == "closed" and change.after is not None
    await change.after()  # done twice (a retry after a crash): still one error report
    [report] = await services.store.cases(Process.ERROR_REPORT)
    assert report.reference == "SSU-C-2026-0001" and report.details["linked_from"] == case.reference
    assert report.submitter_email == ASKER and report.status == "new"
    [received] = await services.store.events(report.reference)
    assert received.data["message"] == question().question and received.data["note_from_bits"] == "Feil i API-et."
    continued = [e for e in await services.store.events(case.reference) if e.kind == "continued"]
    assert [e.data["continued_in"] for e in continued] == [report.reference]


# -- the mechanism: a reply email through intake ---------------------------------------------------------------------


async def test_a_reply_email_decides_once_and_a_later_one_is_told() -> None:
    services = fake_services()
    case = await ask_question(services, question(), Channel.FORM, proof=PROVEN_ASKER)
    notice = await one_queued(services, case.reference, BITS)
    assert notice.reply_to is not None
    raw = reply_email(f"Bits brukerstøtte <{BITS}>", notice.reply_to, case.reference, "LØST\nBesvart på telefon.")

    outcome = await process_message(services, raw, CATALOGUE)
    assert (outcome.status, outcome.reason, outcome.reference) == ("decided", "resolve", case.reference)
    assert await status(services, case.reference) == "closed"
    used = await services.store.load_token(case.reference, token_of(notice))
    assert used is not None and used.token.used_by == BITS and used.token.used_command == "resolve"
    assert (ASKER, "resolved") in await sent_to(services, case.reference)

    again = await process_message(services, raw, CATALOGUE)
    assert again.status == "duplicate", "the same message twice has the effect of one"
    late = reply_email(BITS, notice.reply_to, case.reference, "LØST")
    assert (await process_message(services, late, CATALOGUE)).status == "already_decided"
    assert (await kinds(services, case.reference)).count("resolved") == 1
    told = await one_queued(services, case.reference, BITS, "already-")
    assert "Saken er allerede avgjort" in told.subject


async def test_two_replies_at_once_give_one_decision() -> None:
    services = fake_services()
    case = await ask_question(services, question(), Channel.FORM, proof=PROVEN_ASKER)
    notice = await one_queued(services, case.reference, BITS)
    assert notice.reply_to is not None
    replies = [reply_email(BITS, notice.reply_to, case.reference, "LØST") for _ in range(2)]
    outcomes = await asyncio.gather(*(process_message(services, raw, CATALOGUE) for raw in replies))
    assert sorted(o.status for o in outcomes) == ["already_decided", "decided"]
    events = await kinds(services, case.reference)
    assert events.count("resolved") == 1 and events.count("decision_too_late") == 1


async def test_a_spoofed_reply_is_refused_and_changes_nothing() -> None:
    services = fake_services()
    case = await ask_question(services, question(), Channel.FORM, proof=PROVEN_ASKER)
    notice = await one_queued(services, case.reference, BITS)
    assert notice.reply_to is not None
    raw = reply_email("Mallory <mallory@evil.example>", notice.reply_to, case.reference, "LØST")
    outcome = await process_message(services, raw, CATALOGUE)
    assert outcome.status == "refused"
    assert await status(services, case.reference) == "new"
    assert await kinds(services, case.reference) == ["received", "decision_refused"]
    assert await sent_to(services, case.reference) == {(ASKER, "acknowledgement"), (BITS, "notify-support")}


async def test_the_mailbox_poll_opens_a_case_from_an_email_and_settles_it() -> None:
    services = fake_services()
    mailbox = mailbox_of(services)
    mailbox.deliver((MAIL_FIXTURES / "outlook_nb_question.eml").read_bytes())
    report = await poll_mailbox(services, mailbox, CATALOGUE)
    assert report.outcomes == {"new_case": 1} and report.left_for_later == 0
    [(_, processed, reason)] = mailbox.settled
    assert processed and reason.startswith("new_case")
    assert mailbox.inbox == [] and mailbox.checkpoints == [True]
    [case] = await services.store.cases(Process.QUESTION)
    assert (case.submitter_email, case.status, case.details["source"]) == (ASKER, "new", "email")
    assert await sent_to(services, case.reference) == {(ASKER, "acknowledgement"), (BITS, "notify-support")}


# -- C: error reports and security breaches --------------------------------------------------------------------------

REPORTER = "teknisk@demo-forsikring.example"


def error_report() -> ErrorReport:
    return ErrorReport(
        organisation_number="310000019",
        name="Tore Teknisk",
        email=REPORTER,
        environment="production",
        component="ufore-api",
        occurred_at=datetime.fromisoformat("2026-11-28T09:40:00+01:00"),
        http_status=500,
        correlation_id="7f3c2a10-5b7e-4c1e-9d2e-1a2b3c4d5e6f",
        severity="high",
        title="500 fra uføre-API i produksjon",
        description="Siden 09:40 svarer alle kall med 500.",
    )


async def test_an_error_report_opens_with_bits_notified_and_is_forwarded_without_the_reporter() -> None:
    services = fake_services()
    case = await report_error(services, error_report(), Channel.API, proof=AddressProof(REPORTER))
    assert case.reference.startswith("SSU-C-2026-") and case.status == "new"
    assert await sent_to(services, case.reference) == {(REPORTER, "acknowledgement"), (BITS, "notify-support")}
    assert "Vi har mottatt feilmeldingen din" in (await one_queued(services, case.reference, REPORTER)).subject
    notice = await one_queued(services, case.reference, BITS)
    token = await services.store.load_token(case.reference, token_of(notice))
    assert token is not None and token.token.decision == TRIAGE

    forwarded = await decide(services, TRIAGE_DECISION, case.reference, BITS, FORWARD, "NAV\nHaster: produksjon.")
    assert forwarded.case.status == "forwarded"
    [to_nav] = [m for m in forwarded.mails if m.to == "drift@nav.example"]
    assert to_nav.purpose.startswith("forward-NAV-")
    assert "Siden 09:40 svarer alle kall med 500." in to_nav.text and "Haster: produksjon." in to_nav.text
    assert "Tore Teknisk" not in to_nav.text + to_nav.subject and REPORTER not in to_nav.text + to_nav.subject
    [told] = [m for m in forwarded.mails if m.to == REPORTER]
    assert told.purpose.startswith("forwarded-NAV-") and "sendt videre" in told.subject

    resolved = await decide(services, TRIAGE_DECISION, case.reference, BITS, RESOLVE, "Rettet.")
    assert resolved.case.status == "closed"
    assert [(m.to, m.purpose) for m in resolved.mails] == [(REPORTER, "resolved")]
    assert "Feilen er løst" in resolved.mails[0].subject


def breach(services: Services, email: str = "sikkerhet@demo-forsikring.example") -> SecurityBreach:
    discovered = services.clock.now() - timedelta(minutes=10)
    return SecurityBreach(
        organisation_number="310000019",
        name="Siri Sikker",
        email=email,
        phone="+47 22 33 44 55",
        occurred_at=discovered - timedelta(hours=2),
        discovered_at=discovered,
        breach_type=["confidentiality"],
        data_categories="Uføregrad",
        persons_affected=40,
        description="Privat nøkkel lagt i et offentlig repo.",
        containment="Nøkkelen er trukket tilbake.",
    )


async def test_a_breach_alerts_bits_and_nav_security_at_once() -> None:
    services = fake_services()
    reporter = "sikkerhet@demo-forsikring.example"
    reported = breach(services, reporter)
    case = await security.report_breach(services, reported, Channel.FORM, proof=AddressProof(reporter))
    assert case.status == "new" and case.submitter_verified
    assert case.details["gdpr_deadline"] == (reported.discovered_at + timedelta(hours=72)).isoformat()
    assert await sent_to(services, case.reference) == {
        (reporter, "acknowledgement"),
        ("sikkerhet@bits.example", "notify-security"),
        ("sikkerhet@nav.example", "notify-security"),
    }
    bits_alert = await one_queued(services, case.reference, "sikkerhet@bits.example")
    nav_alert = await one_queued(services, case.reference, "sikkerhet@nav.example")
    assert "HASTER" in bits_alert.subject and "HASTER" in nav_alert.subject
    assert nav_alert.reply_to is None, "NAV is told; only Bits acknowledges by reply"
    acknowledge = await services.store.load_token(case.reference, token_of(bits_alert))
    assert acknowledge is not None and acknowledge.token.decision == security.ACKNOWLEDGE
    receipt = await one_queued(services, case.reference, reporter)
    assert token_of(receipt, asks=False) == case.details["submitter_token"]
    reported_token = await services.store.load_token(case.reference, token_of(receipt, asks=False))
    assert reported_token is not None and reported_token.token.decision == security.REPORTED


async def test_a_breach_from_an_unknown_sender_is_never_held_back() -> None:
    services = fake_services()
    stranger = "ukjent@annen-leverandor.example"
    case = await security.report_breach(services, breach(services, stranger), Channel.FORM)
    assert (case.status, case.submitter_verified) == ("new", False)
    assert ("sikkerhet@bits.example", "notify-security") in await sent_to(services, case.reference)


async def test_a_breach_over_a_rate_limit_reaches_bits_and_mails_the_reporter_nothing() -> None:
    services = fake_services()
    over = AddressProof(may_mail=False)  # web/forms.py: the breach form is never refused, over a limit it is quiet
    case = await security.report_breach(services, breach(services), Channel.FORM, proof=over)
    assert (case.status, case.submitter_verified) == ("new", False)
    assert case.details["over_rate_limit"] and case.details["confirmation_withheld"]
    assert await sent_to(services, case.reference) == {("sikkerhet@bits.example", "notify-security")}
    proven_over = AddressProof("sikkerhet@demo-forsikring.example", may_mail=False)
    known = await security.report_breach(services, breach(services), Channel.FORM, proof=proven_over)
    assert known.submitter_verified, "a proven contact: NAV hears at once, the reporter still gets nothing"
    assert await sent_to(services, known.reference) == {
        ("sikkerhet@bits.example", "notify-security"),
        ("sikkerhet@nav.example", "notify-security"),
    }


async def test_an_unacknowledged_breach_escalates_level_by_level_until_bits_replies() -> None:
    services = fake_services(security_escalation_minutes=15)
    clock = clock_of(services)
    case = await security.report_breach(services, breach(services), Channel.FORM, proof=PROVEN_SECURITY)

    async def escalated(level: int) -> list[str]:
        return sorted(to for to, purpose in await sent_to(services, case.reference) if purpose == f"escalation-{level}")

    clock.advance(minutes=14)
    assert await security.check_breach_deadlines(services) == 0
    clock.advance(minutes=2)
    assert await security.check_breach_deadlines(services) == 1
    assert await escalated(1) == [BITS]
    assert await security.check_breach_deadlines(services) == 0, "once per level, however often the timer runs"
    clock.advance(minutes=15)
    assert await security.check_breach_deadlines(services) == 2
    assert await escalated(2) == APPROVERS
    assert (await kinds(services, case.reference)).count("escalated") == 3

    alert = await one_queued(services, case.reference, "sikkerhet@bits.example", "notify-security")
    assert alert.reply_to is not None
    raw = reply_email("sikkerhet@bits.example", alert.reply_to, case.reference, "MOTTATT\nVi ringer dem.")
    assert (await process_message(services, raw, CATALOGUE)).status == "decided"
    assert await status(services, case.reference) == "acknowledged"
    clock.advance(hours=5)
    assert await security.check_breach_deadlines(services) == 0

    stored = await services.store.load(case.reference)
    assert stored is not None
    clock.at = datetime.fromisoformat(stored.case.details["gdpr_deadline"]) - timedelta(hours=11)
    assert await security.check_breach_deadlines(services) == 1
    reminder = await one_queued(services, case.reference, case.submitter_email, "gdpr-reminder")
    assert token_of(reminder) == case.details["submitter_token"]
    assert await security.check_breach_deadlines(services) == 0


# -- E: change requests and terms ------------------------------------------------------------------------------------

COMMITTEE = ["fag@demo-forsikring.example", "kari.nordmann@fjordtrygd.example", "ingrid@nordlys-forsikring.example"]


def change_request() -> ChangeRequest:
    return ChangeRequest(
        organisation_number="310000019",
        name="Frida Fagerli",
        email=ASKER,
        service="ufore",
        change_type="data_element",
        title="Legg til uføretidspunkt i svaret",
        description="Vi trenger uføretidspunktet i svaret.",
        need_and_benefit="Uføretidspunktet avgjør hvilken forsikring som gjelder.",
        urgency="normal",
    )


async def test_a_complete_change_request_goes_to_the_approvers_then_to_nav_and_every_company() -> None:
    services = fake_services()  # no expert committee: straight to decision
    case = await changes.submit_change_request(services, change_request(), Channel.API, proof=PROVEN_ASKER)
    assert case.reference == "SSU-E-2026-0001" and case.status == "new"
    assert await sent_to(services, case.reference) == {(ASKER, "acknowledgement"), (BITS, "notify-support")}
    assert "Nytt endringsønske" in (await one_queued(services, case.reference, BITS)).subject

    complete = await decide(services, changes.HANDLE_DECISION, case.reference, BITS, changes.COMPLETE)
    assert complete.case.status == "awaiting_decision"
    assert sorted((m.to, m.purpose[:9]) for m in complete.mails) == [
        (ASKER, "to-decisi"),
        (APPROVERS[0], "decide-1-"),
        (APPROVERS[1], "decide-1-"),
    ]
    assert sorted((t.person, t.decision, t.single_use) for t in complete.tokens) == [
        (a, changes.DECIDE, True) for a in APPROVERS
    ]

    approved = await decide(services, changes.DECIDE_DECISION, case.reference, APPROVERS[0], changes.APPROVE, "Nyttig.")
    assert approved.case.status == "approved"
    assert [t.decision for t in approved.tokens] == [changes.FOLLOW_UP]
    mails = await sent_to(services, case.reference)
    assert ("drift@nav.example", f"to-nav-{approved.tokens[0].token}") in mails
    assert (ASKER, "decision-approved") in mails
    assert {to for to, purpose in mails if purpose == "change-notice"} == {
        "fag@demo-forsikring.example",
        "teknisk@test-pensjon.example",
        "kari.nordmann@fjordtrygd.example",
        "ingrid@nordlys-forsikring.example",
        "per@vestkyst-pk.example",
    }
    assert "fanned_out_all" in await kinds(services, case.reference)

    done = await decide(services, changes.FOLLOW_UP_DECISION, case.reference, "drift@nav.example", changes.IMPLEMENTED)
    assert done.case.status == "closed" and done.case.details["outcome"] == "implemented"
    assert [(m.to, m.purpose) for m in done.mails] == [(ASKER, "implemented")]


async def test_the_committee_recommends_and_the_request_goes_to_decision_when_all_have() -> None:
    services = fake_services(committee_members=COMMITTEE)
    case = await changes.submit_change_request(services, change_request(), Channel.API, proof=PROVEN_ASKER)
    complete = await decide(services, changes.HANDLE_DECISION, case.reference, BITS, changes.COMPLETE)
    assert complete.case.status == "in_assessment"
    # The submitter is told; each member (the submitter is one of them) is asked with a token of their own.
    assert sorted((m.to, m.purpose[:7]) for m in complete.mails) == sorted(
        [(ASKER, "assessm"), *((member, "assess-") for member in COMMITTEE)]
    )
    assert {t.person for t in complete.tokens} == set(COMMITTEE)

    verdicts = [changes.RECOMMEND, changes.NOT_RECOMMENDED, changes.NEUTRAL]
    for member, verdict in zip(COMMITTEE, verdicts, strict=True):
        assert await status(services, case.reference) == "in_assessment"
        await decide(services, changes.ASSESS_DECISION, case.reference, member, verdict, "Begrunnelse.")
    stored = await services.store.load(case.reference)
    assert stored is not None and stored.case.status == "awaiting_decision"
    assert {m: r["verdict"] for m, r in stored.case.details["recommendations"].items()} == {
        COMMITTEE[0]: "recommended",
        COMMITTEE[1]: "not_recommended",
        COMMITTEE[2]: "neutral",
    }
    assert {to for to, purpose in await sent_to(services, case.reference) if purpose.startswith("decide-1-")} == set(
        APPROVERS
    )


async def test_the_assessment_deadline_sends_the_request_to_decision() -> None:
    services = fake_services(committee_members=COMMITTEE, change_assessment_days=14)
    case = await changes.submit_change_request(services, change_request(), Channel.API, proof=PROVEN_ASKER)
    await decide(services, changes.HANDLE_DECISION, case.reference, BITS, changes.COMPLETE)
    clock_of(services).advance(days=13)
    assert await changes.check_change_requests(services) == 0
    clock_of(services).advance(days=2)
    assert await changes.check_change_requests(services) == 1
    assert await status(services, case.reference) == "awaiting_decision"
    assert (await kinds(services, case.reference))[-1] == "assessment_closed"
    assert await changes.check_change_requests(services) == 0


PUBLISHER = terms.Publisher("admin@bits.example", "Bits admin")


def terms_version(version: str = "2.0") -> TermsVersion:
    return TermsVersion(
        title="Vilkår for SSU",
        version=version,
        effective_date=date(2027, 1, 1),
        summary="Nye krav til logging.",
        document_url=f"https://www.bits.no/ssu/vilkar-{version}.pdf",
    )


SIGNATORIES = {
    "signatar@demo-forsikring.example": "310000019",
    "kari.nordmann@fjordtrygd.example": "310000035",
    "per@vestkyst-pk.example": "310000051",
}


async def test_publishing_terms_tells_each_connected_companys_signatories_and_business_contacts_once() -> None:
    services = fake_services()
    case = await terms.publish_terms(services, terms_version(), Channel.API, PUBLISHER)
    assert (case.reference, case.kind, case.status) == ("SSU-E-2026-0001", "terms", "published")
    mails = [m for m in await queued(services, case.reference) if m.purpose != "terms-receipt"]
    assert sorted((m.to, m.purpose) for m in mails) == sorted(
        [
            ("fag@demo-forsikring.example", "terms-published-310000019"),
            ("signatar@demo-forsikring.example", "terms-published-310000019"),
            ("teknisk@test-pensjon.example", "terms-published-310000027"),
            ("kari.nordmann@fjordtrygd.example", "terms-published-310000035"),
            ("ingrid@nordlys-forsikring.example", "terms-published-310000043"),
            ("per@vestkyst-pk.example", "terms-published-310000051"),
        ]
    )
    assert {m.to for m in mails if m.reply_to} == set(SIGNATORIES), "only signatories accept by reply"
    for mail in (m for m in mails if m.reply_to):
        token = await services.store.load_token(case.reference, token_of(mail))
        assert token is not None and (token.token.decision, token.token.about) == (terms.ACCEPT, SIGNATORIES[mail.to])

    again = await terms.publish_terms(services, terms_version(), Channel.API, PUBLISHER)
    assert again.reference == case.reference
    assert len(await services.store.mails(case.reference)) == 7, "the same version again tells no one twice"
    assert len(await services.store.cases(Process.CHANGE_REQUEST)) == 1


async def test_a_signatory_accepts_the_terms_by_reply_for_their_company() -> None:
    services = fake_services()
    case = await terms.publish_terms(services, terms_version(), Channel.API, PUBLISHER)
    signatory = "signatar@demo-forsikring.example"
    change = await decide(services, terms.ACCEPT_DECISION, case.reference, signatory, terms.ACCEPTED, about="310000019")
    assert change.event.kind == "acceptance_reply" and change.case.status == "published"
    company = await services.registry_store.get_organisation("310000019")
    assert company is not None and company.terms_accepted is not None
    accepted = company.terms_accepted
    assert (accepted.version, accepted.accepted_by, accepted.channel) == ("2.0", signatory, "email")
    table = {row["organisation_number"]: row["accepted"] for row in await terms.acceptance_table(services, case)}
    assert table == {"310000019": True, "310000027": False, "310000035": False, "310000043": False, "310000051": False}
    assert change.after is not None
    await change.after()  # once more: written once
    assert (await kinds(services, case.reference)).count("terms_accepted") == 1

    business = await decide(services, terms.ACCEPT_DECISION, case.reference, ASKER, terms.ACCEPTED)
    assert business.event.kind == "note" and business.after is None, "a business contact is no signatory"


# -- A: onboarding ---------------------------------------------------------------------------------------------------

NEW_COMPANY = "310000078"


def registration(number: str = NEW_COMPANY) -> Registration:
    domain = "nyforsikring.example"
    return Registration.model_validate(
        {
            "organisation_number": number,
            "legal_name": "Ny Forsikring ASA",
            "contacts": [
                {"role": "business", "name": "Berit Fag", "email": f"fag@{domain}", "phone": "+47 22 00 00 01"},
                {"role": "technical", "name": "Tom Tekniker", "email": f"tek@{domain}", "phone": "+47 22 00 00 02"},
                {"role": "security", "name": "Siv Sikker", "email": f"sik@{domain}", "phone": "+47 22 00 00 03"},
                {"role": "signatory", "name": "Berit Fag", "email": f"fag@{domain}", "phone": "+47 22 00 00 01"},
            ],
            "services": ["ufore"],
            "finans_norge_member": True,
            "desired_go_live": GO_LIVE,
        }
    )


async def test_a_registration_is_entered_in_the_registry_only_when_bits_accepts_it() -> None:
    services = fake_services()
    case = await onboarding.register(services, registration(), Channel.API)
    assert (case.reference, case.status) == ("SSU-A-2026-0001", "registered")
    assert await services.registry_store.get_organisation(NEW_COMPANY) is None, "nothing before Bits vouches for it"
    notice = await one_queued(services, case.reference, BITS)
    assert notice.purpose == "notify-support" and "Ny innmelding" in notice.subject
    assert "Virksomheten er ikke i registeret" in notice.text

    with pytest.raises(SubmissionRefused) as refused:
        await onboarding.register(services, registration(), Channel.API)
    assert refused.value.why == Refusal.CONFLICT and refused.value.reference == case.reference, "sent twice: one"
    assert len(await services.store.cases(Process.ONBOARDING)) == 1

    with pytest.raises(SubmissionRefused) as connected:
        await onboarding.register(services, registration("310000019"), Channel.API)
    assert connected.value.why == Refusal.CONFLICT, "a company connected already does not register again"

    await decide(services, onboarding.BITS_DECISION, case.reference, BITS, onboarding.APPROVE)
    company = await services.registry_store.get_organisation(NEW_COMPANY)
    assert company is not None
    assert (company.status, company.onboarding, company.environments) == ("accepted", case.reference, [])
    assert {c.email: sorted(c.roles) for c in company.contacts} == {
        "fag@nyforsikring.example": ["business", "signatory"],
        "tek@nyforsikring.example": ["technical"],
        "sik@nyforsikring.example": ["security"],
    }
    assert (await services.registry()).organisation(NEW_COMPANY) is not None, "the cache sees it at once"


async def test_bits_accepts_a_registration_and_the_signatory_gets_the_agreement() -> None:
    services = fake_services()
    case = await onboarding.register(services, registration(), Channel.API)
    too_early = await decide(services, onboarding.BITS_DECISION, case.reference, BITS, onboarding.SIGNED)
    assert too_early.case.status == "registered" and too_early.event.kind == "step_refused"
    assert [m.to for m in too_early.mails] == [BITS]

    accepted = await decide(services, onboarding.BITS_DECISION, case.reference, BITS, onboarding.APPROVE)
    assert accepted.case.status == "accepted"
    company = await services.registry_store.get_organisation(NEW_COMPANY)
    assert company is not None and company.status == "accepted"
    package = await one_queued(services, case.reference, "fag@nyforsikring.example", "agreement-")
    assert "Tilknytningsavtale til signering" in package.subject
    assert [t.decision for t in accepted.tokens] == [onboarding.COMPANY]


# -- B: alerts -------------------------------------------------------------------------------------------------------


def maintenance(**changes: Any) -> AlertIn:
    body: dict[str, Any] = {
        "source_alert_id": "NAV-2026-117",
        "kind": "maintenance",
        "environments": ["production"],
        "components": ["ufore-api"],
        "severity": "medium",
        "title": "Planlagt vedlikehold av uføre-API",
        "description": "API-et er utilgjengelig i vedlikeholdsvinduet.",
        "starts_at": "2026-12-03T22:00:00+01:00",
        "ends_at": "2026-12-04T02:00:00+01:00",
    }
    return AlertIn.model_validate({**body, **changes})


async def test_an_alert_goes_to_every_affected_technical_contact_and_bits_once() -> None:
    services = fake_services()
    case, created = await publish_alert(services, "NAV", maintenance())
    assert created and case.reference == "SSU-B-2026-0001" and case.status == "published"
    # Production and uføre: Demo Forsikring and Fjordtrygd; Nordlys has only AAP, the others only test.
    assert await sent_to(services, case.reference) == {
        ("api@fjordtrygd.example", "alert-r1"),
        (BITS, "alert-r1"),
        ("teknisk@demo-forsikring.example", "alert-r1"),
    }
    assert all("Planlagt vedlikehold" in m.subject for m in await queued(services, case.reference))
    assert await kinds(services, case.reference) == ["published", "fanned_out", "fanned_out_all"]

    again, created_again = await publish_alert(services, "NAV", maintenance())
    assert (again.reference, created_again) == (case.reference, False)
    assert len(await services.store.mails(case.reference)) == 3, "posting it again sends nothing new"


async def test_a_serious_incident_reaches_business_contacts_and_can_target_one_company() -> None:
    services = fake_services()
    incident = maintenance(
        source_alert_id="NAV-INC-9",
        kind="incident",
        severity="critical",
        components=["aap-api"],
        ends_at=None,
        organisation_number="310000043",
    )
    case, _ = await publish_alert(services, "NAV", incident)
    assert sorted(to for to, _ in await sent_to(services, case.reference)) == [
        "drift@nordlys-forsikring.example",
        "ingrid@nordlys-forsikring.example",
        BITS,
    ]


# -- the catalogue and the deadline jobs -----------------------------------------------------------------------------


def test_the_catalogue_holds_every_processs_declarations() -> None:
    from functions.alerts.process import PROCESS as ALERTS
    from functions.changes.process import PROCESS as CHANGES
    from functions.incidents.process import PROCESS as INCIDENTS
    from functions.onboarding.process import PROCESS as ONBOARDING
    from functions.questions.process import PROCESS as QUESTIONS
    from functions.terms.process import PROCESS as TERMS

    declared = (ALERTS, CHANGES, INCIDENTS, ONBOARDING, QUESTIONS, TERMS)
    assert sorted(map(id, CATALOGUE.processes)) == sorted(map(id, declared))  # the same objects, each once
    assert {d.process for d in declared} == set(Process)
    for process in declared:
        for decision in process.decisions:
            assert CATALOGUE.decisions[decision.name] is decision, decision.name
        for intake in (*process.intakes, *(f.intake for f in process.forms if f.intake)):
            assert CATALOGUE.intakes[intake.name] is intake, intake.name
        for job in process.deadline_jobs:
            assert job in CATALOGUE.deadline_jobs, job.name
    assert {
        "question.bits",
        TRIAGE,
        security.ACKNOWLEDGE,
        security.REPORTED,
        changes.HANDLE,
        changes.ASSESS,
        changes.DECIDE,
        changes.FOLLOW_UP,
        terms.ACCEPT,
        onboarding.BITS,
        onboarding.COMPANY,
        onboarding.SOURCE_TEST,
        onboarding.SOURCE_PRODUCTION,
    } <= set(CATALOGUE.decisions)
    assert set(CATALOGUE.email_intakes) == {"A", "B", "C", "C-security", "D", "E"}


async def test_a_failing_deadline_job_never_stops_the_next_and_both_outcomes_are_recorded() -> None:
    clock = FakeClock()
    services = fake_services(clock=clock)
    ran: list[str] = []

    async def broken(_: Services) -> None:
        raise RuntimeError("boom")

    async def fine(_: Services) -> int:
        ran.append("fine")
        return 0

    first_at = clock.now().isoformat()
    with pytest.raises(DeadlineJobsFailed) as failed:
        await run_deadline_jobs(services, [DeadlineJob("broken", broken), DeadlineJob("fine", fine)])
    assert failed.value.outcomes == {"broken": "failed: RuntimeError", "fine": "ok"} and ran == ["fine"]
    assert await services.state.get(DEADLINE_RUNS) == {
        "broken": {"at": first_at, "outcome": "failed: RuntimeError", "last_ok": None},
        "fine": {"at": first_at, "outcome": "ok", "last_ok": first_at},
    }

    clock.advance(minutes=5)
    with pytest.raises(DeadlineJobsFailed):
        await run_deadline_jobs(services, [DeadlineJob("fine", broken)])
    runs = await services.state.get(DEADLINE_RUNS)
    assert runs is not None
    assert runs["fine"] == {"at": clock.now().isoformat(), "outcome": "failed: RuntimeError", "last_ok": first_at}


async def test_every_catalogued_deadline_job_runs_over_the_fakes() -> None:
    services = fake_services()
    asked = await ask_question(services, question(), Channel.FORM, proof=PROVEN_ASKER)
    reported = await security.report_breach(services, breach(services), Channel.FORM, proof=PROVEN_SECURITY)
    await publish_alert(services, "NAV", maintenance())
    clock_of(services).advance(days=3)
    outcomes = await run_deadline_jobs(services, CATALOGUE.deadline_jobs)
    assert outcomes == {job.name: "ok" for job in CATALOGUE.deadline_jobs}
    assert len(outcomes) == len(CATALOGUE.deadline_jobs) >= 6
    assert {p for _, p in await sent_to(services, reported.reference)} >= {"escalation-1", "escalation-2"}
    target_mails = {m for m in await sent_to(services, asked.reference) if m[1].startswith("target-")}
    assert target_mails == {(a, "target-first_response-overdue") for a in APPROVERS}, "3 days unanswered: overdue"


# -- the outbox over the fake store ----------------------------------------------------------------------------------


async def test_the_outbox_sends_each_mail_once_and_retries_a_transient_failure() -> None:
    services = fake_services(outbox_retry_base_seconds=60)
    transport = transport_of(services)
    transport.script = [TransientSendError("busy")]
    case = await ask_question(services, question(), Channel.FORM, proof=PROVEN_ASKER)

    async def dispatch() -> tuple[int, int, int]:
        report = await dispatch_outbox(
            services.store, transport, services.clock, services.retry_policy, limits=services.limits
        )
        return report.sent, report.retried, report.failed

    assert await dispatch() == (1, 1, 0)
    records = {r.mail.to: r for r in await services.store.mails(case.reference)}
    [waiting] = [r for r in records.values() if r.status == "pending"]
    assert waiting.attempts == 1 and "busy" in waiting.last_error
    assert await dispatch() == (0, 0, 0), "not before the backoff has passed"
    clock_of(services).advance(seconds=61)
    assert await dispatch() == (1, 0, 0)
    assert await dispatch() == (0, 0, 0), "nothing is sent twice"
    assert sorted(m.to for m in transport.sent) == [ASKER, BITS]
    assert {(r.status, r.attempts) for r in await services.store.mails(case.reference)} == {("sent", 1), ("sent", 2)}


# -- the fake store itself keeps the adapter's promises (as tests/integration/test_case_store.py shows them) ---------


async def test_the_fake_case_store_keeps_the_adapters_promises() -> None:
    services = fake_services()
    store, now = services.store, services.clock.now()
    draft = (await ask_question(services, question(), Channel.FORM)).model_copy(update={"reference": ""})
    event = CaseEvent(at=now, actor="t", channel=Channel.API, kind="x", public=False, summary="x")

    def ack(case: Case) -> list[OutgoingMail]:
        return [
            services.compose(
                reference=case.reference,
                purpose="p",
                to=ASKER,
                template="decision_already_taken",
                language="nb",
                case=case,
                decided_by="",
                decided_at="",
            )
        ]

    first = await store.create_case(draft, event, ack, markers=["seen"])
    assert first.reference == "SSU-D-2026-0002"
    with pytest.raises(AlreadyProcessed) as seen:
        await store.create_case(draft, event, ack, markers=["seen"])
    assert seen.value.reference == first.reference
    later = draft.model_copy(update={"created_at": now.replace(year=2027), "process": Process.ERROR_REPORT})
    other = await store.create_case(later, event, ack, markers=["seen"])
    assert other.reference == "SSU-C-2027-0001", "a marker is scoped to its process and year, as in the adapter"
    assert (await store.create_case(draft, event, ack)).reference == "SSU-D-2026-0003", "nothing failed used a number"

    stored = await store.load(first.reference)
    assert stored is not None
    with pytest.raises(AlreadyQueued):
        await store.append(first.reference, event, ack(first))
    token = issue(services, BITS, "question.bits")
    moved = await store.transition(stored, stored.case.model_copy(update={"status": "closed"}), event, tokens=[token])
    with pytest.raises(ConcurrentUpdate):
        await store.transition(stored, stored.case, event)
    found = await store.load_token(first.reference, token.token)
    assert found is not None and await store.load_token("SSU-D-2026-0003", token.token) is None
    used = StoredToken(found.token.model_copy(update={"used_by": BITS}), found.etag)
    moved = await store.transition(moved, moved.case, event, use_token=used)
    with pytest.raises(ConcurrentUpdate):
        await store.transition(moved, moved.case, event, use_token=used)  # the token changed since it was read
    assert [c.reference for c in await store.cases(Process.QUESTION, "closed")] == [first.reference]
    assert [r.mail.text for r in await store.mails(first.reference)] == [""], "the state only, as the adapter keeps it"


def test_the_catalogue_refuses_two_intakes_or_decisions_of_one_name() -> None:
    from functions.core.processes import Catalogue, ProcessDeclaration
    from functions.questions.process import PROCESS as QUESTIONS

    twin = ProcessDeclaration(process=QUESTIONS.process, name="twin", summary="", intakes=QUESTIONS.intakes[:1])
    copied = dataclasses.replace(QUESTIONS.intakes[0])  # equal, but another object under the same name
    with pytest.raises(ValueError, match="two intakes"):
        Catalogue(processes=(QUESTIONS, dataclasses.replace(twin, intakes=(copied,))))
    other = dataclasses.replace(QUESTIONS.decisions[0])
    with pytest.raises(ValueError, match="two decisions"):
        Catalogue(processes=(QUESTIONS, ProcessDeclaration(QUESTIONS.process, "twin", "", decisions=(other,))))
