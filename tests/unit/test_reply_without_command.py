"""One rule for Bits' replies without a command, in every process: an internal note, sent to nobody. SVAR/ANSWER is
the one way to write to the submitter. Run over every decision of Bits' own the catalogue declares, through
`apply_decision` (the path of both the email reply and the web action), with a handler that would send if it ran."""

from __future__ import annotations

import pytest

from functions.catalogue import CATALOGUE
from functions.core.commands import ANSWER, Decision
from functions.core.inbound import InboundMessage
from functions.core.model import Case, CaseEvent, Channel, Process
from functions.core.services import Services
from functions.core.store import StoredCase
from functions.intake.commands import Decider, Reading, apply_decision, read_reply
from tests.fakes import fake_services
from tests.unit.test_reading_attacks import parsed, plain

OWN = sorted((d for d in CATALOGUE.decisions.values() if d.bits_decides), key=lambda d: d.name)
INTERNAL = "Ring Frida først, hun er sur etter forrige gang. Ikke send dette videre."


async def _case(services: Services, decision: Decision) -> StoredCase:
    now = services.clock.now()
    process = {
        "question": Process.QUESTION,
        "error_report": Process.ERROR_REPORT,
        "security_breach": Process.ERROR_REPORT,
        "change": Process.CHANGE_REQUEST,
        "onboarding": Process.ONBOARDING,
        "alert": Process.NOTIFICATION,
    }[decision.name.split(".")[0]]
    case = Case(
        process=process,
        kind=decision.name.split(".")[0],
        status=sorted(decision.states)[0],
        organisation_number="310000019",
        submitter_name="Frida Fagerli",
        submitter_email="fag@demo-forsikring.example",
        submitter_verified=True,
        title="En sak",
        created_at=now,
        updated_at=now,
    )
    event = CaseEvent(at=now, actor="test", channel=Channel.API, kind="received", public=True, summary="x")
    created = await services.store.create_case(case, event, lambda c: [])
    stored = await services.store.load(created.reference)
    assert stored is not None
    return stored


def test_every_decision_of_bits_own_takes_text_and_names_the_processes_it_should() -> None:
    assert {d.name.split(".")[0] for d in OWN} >= {
        "question",
        "error_report",
        "security_breach",
        "change",
        "onboarding",
    }
    assert all(d.takes_text for d in OWN), "a reply without a command is a note, not 'I did not understand'"
    answering = {d.name for d in OWN if ANSWER in d.commands}
    assert {"question.bits", "error_report.triage", "change.handle", "onboarding.bits"} <= answering, answering


@pytest.mark.parametrize("decision", OWN, ids=lambda d: d.name)
async def test_text_without_a_command_is_an_internal_note_and_reaches_nobody(decision: Decision) -> None:
    services = fake_services()
    stored = await _case(services, decision)
    called = []

    async def would_send(*args: object) -> None:
        called.append(args)
        raise AssertionError("the process's handler is never asked about a note")

    decisions = {decision.name: Decision(decision.name, decision.commands, decision.states, would_send, True, True)}  # type: ignore[arg-type]
    decider = Decider("support@bits.example", "Bits brukerstøtte", Channel.WEB, "<web.x@bits.example>", "m-1")
    applied = await apply_decision(
        services, stored, decisions, decider, lambda _: Reading(None, INTERNAL), decision_name=decision.name
    )
    assert applied.status == "decided" and not called
    events = await services.store.events(stored.case.reference)
    assert (events[-1].kind, events[-1].public) == ("note", False)
    assert events[-1].data["text"] == INTERNAL and events[-1].data["by_name"] == "Bits brukerstøtte"
    assert await services.store.mails(stored.case.reference) == [], "no mail to anyone"
    reloaded = await services.store.load(stored.case.reference)
    assert reloaded is not None and reloaded.case.status == stored.case.status


def _reply(body: str) -> InboundMessage:
    return parsed(plain(body))


QUESTION = CATALOGUE.decisions["question.bits"]


@pytest.mark.parametrize(
    ("body", "command", "text"),
    [
        ("SVAR\nBruk uføregraden.", "answer", "Bruk uføregraden."),
        ("Svar: Bruk uføregraden.", "answer", "Bruk uføregraden."),
        ("Hei!\n\nANSWER\nUse the degree.\n\nBest regards\nBits", "answer", "Use the degree."),
        # An ordinary word at the top without a mark is text: a note, not an answer sent out.
        ("Svar gitt på telefon i dag.", None, "Svar gitt på telefon i dag."),
        ("Svaret er ja, men sjekk med NAV.", None, "Svaret er ja, men sjekk med NAV."),
        # LØST with a line below opening with the ordinary word: one command, not two.
        ("LØST\nSvar gitt på telefon.", "resolve", "Svar gitt på telefon."),
    ],
)
def test_svar_answers_and_ordinary_text_stays_a_note(body: str, command: str | None, text: str) -> None:
    reading = read_reply(_reply(body), QUESTION)
    assert reading.problem is None, reading
    assert (reading.command.name if reading.command else None) == command
    assert reading.text == text


@pytest.mark.parametrize(
    "body",
    [
        "SVAR\nLØST",  # two commands
        "SVAR og LØST",
        "Ikke SVAR ennå",  # negated
        "> SVAR\n> Dette er et sitat",  # only in the quote
    ],
)
def test_an_answer_that_is_unclear_is_asked_about_and_sends_nothing(body: str) -> None:
    reading = read_reply(_reply(body), QUESTION)
    assert reading.command is None and reading.problem is not None, reading


@pytest.mark.parametrize("decision", [d for d in OWN if ANSWER in d.commands], ids=lambda d: d.name)
async def test_svar_sends_the_text_to_the_submitter_and_nothing_else(decision: Decision) -> None:
    services = fake_services()
    stored = await _case(services, decision)
    decider = Decider("support@bits.example", "Bits brukerstøtte", Channel.EMAIL, "<svar@bits.example>", "m-2")
    applied = await apply_decision(
        services,
        stored,
        CATALOGUE.decisions,
        decider,
        lambda _: Reading(ANSWER, "Vi ser på det i dag."),
        decision_name=decision.name,
    )
    assert applied.status == "decided"
    [mail] = await services.store.mails(stored.case.reference)
    assert mail.mail.to == "fag@demo-forsikring.example" and "Svar fra Bits" in mail.mail.subject
    event = (await services.store.events(stored.case.reference))[-1]
    assert (event.kind, event.public, event.data["text"]) == ("answered", True, "Vi ser på det i dag.")
