"""Replies to decisions that explain (#17): what an unclear reply was read as and the commands that apply to the case
now, who decided a case already decided and when, the committee by name and company, and a committee member's
recommendation on their own organisation's request flagged to Bits and never counted."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.catalogue import CATALOGUE
from functions.changes import workflow as changes
from functions.core.commands import Change, Command, Decision, Reply, Step
from functions.core.model import Channel
from functions.core.registry import Registry
from functions.core.services import Services
from functions.core.store import StoredCase
from functions.core.tokens import issue, reply_address
from functions.intake.commands import take_decision
from functions.intake.workflow import process_message
from functions.onboarding import workflow as onboarding
from tests.fakes import FakeClock, clock_of, fake_services
from tests.unit.test_process_workflows import (
    APPROVERS,
    BITS,
    PROVEN_ASKER,
    change_request,
    decide,
    kinds,
    one_queued,
    queued,
    registration,
    reply_email,
    status,
)
from tests.unit.test_reading_attacks import parsed

# The submitter (Frida, Demo Forsikring ASA: the request's organisation) sits on the committee; Tess reads English.
FRIDA, KARI, TESS = "fag@demo-forsikring.example", "kari.nordmann@fjordtrygd.example", "teknisk@test-pensjon.example"
COMMITTEE = [FRIDA, KARI, TESS]
# 1 December 2026 09:15 in Oslo (UTC+1).
NOW = datetime(2026, 12, 1, 8, 15, tzinfo=UTC)


def _services(**settings: Any) -> Services:
    return fake_services(clock=FakeClock(NOW), committee_members=COMMITTEE, **settings)


async def _in_assessment(services: Services) -> str:
    case = await changes.submit_change_request(services, change_request(), Channel.API, proof=PROVEN_ASKER)
    await decide(services, changes.HANDLE_DECISION, case.reference, BITS, changes.COMPLETE)
    assert await status(services, case.reference) == "in_assessment"
    return case.reference


async def _awaiting_decision(services: Services) -> str:
    reference = await _in_assessment(services)
    for member, verdict in ((FRIDA, changes.RECOMMEND), (KARI, changes.NOT_RECOMMENDED), (TESS, changes.NEUTRAL)):
        await _reply(services, reference, member, verdict.words[0] + "\nBegrunnelse.")
    assert await status(services, reference) == "awaiting_decision"
    return reference


async def _reply(services: Services, reference: str, person: str, body: str, name: str = "") -> str:
    """The person answers the mail that asked them (its Reply-To) through the mailbox: the outcome's status."""
    mails = await queued(services, reference)
    [asked] = [m for m in mails if m.to == person and m.purpose.startswith(("assess-", "decide-")) and m.reply_to]
    assert asked.reply_to is not None
    sender = f"{name} <{person}>" if name else person
    return (await process_message(services, reply_email(sender, asked.reply_to, reference, body), CATALOGUE)).status


def _listed(text: str) -> list[str]:
    """The commands the answer offers: the lines of its list, the word before the dash."""
    return re.findall(r"^  (\S+(?: IKKE| RECOMMENDED)?)(?: – |$)", text, re.M)


# -- an unclear reply says what was read and what applies now --------------------------------------------------------


async def test_ja_godkjent_from_a_committee_member_is_told_it_belongs_to_another_step_and_gets_only_theirs() -> None:
    """The attack on the old answer: "Ja, godkjent!" to the committee's mail was "empty" and listed nothing useful.
    Now it says GODKJENT is another step's, and lists exactly the committee's three commands, each with what it does."""
    services = _services()
    reference = await _in_assessment(services)
    assert await _reply(services, reference, KARI, "Ja, godkjent!") == "unclear"
    told = await one_queued(services, reference, KARI, "clarify-")
    assert "Dette forsto vi: vi fant GODKJENT, men det hører til et annet steg i saken" in told.text
    assert _listed(told.text) == ["ANBEFALER", "ANBEFALER IKKE", "NØYTRAL"]
    assert "ANBEFALER IKKE – anbefaler ikke endringen" in told.text
    assert not re.search(r"^  (GODKJENT|AVSLÅTT|UTSATT)\b", told.text, re.M)
    assert re.findall(r"<li><strong>([^<]+)</strong>", told.html) == ["ANBEFALER", "ANBEFALER IKKE", "NØYTRAL"]
    assert await status(services, reference) == "in_assessment"


async def test_an_english_reader_gets_the_english_words_and_what_they_do() -> None:
    services = _services()
    reference = await _in_assessment(services)
    assert await _reply(services, reference, TESS, "RECOMMENDED or NEUTRAL, not sure") == "unclear"
    told = await one_queued(services, reference, TESS, "clarify-")
    assert "we found two commands in what you wrote (RECOMMENDED and NEUTRAL)" in told.text
    assert _listed(told.text) == ["RECOMMENDED", "NOT RECOMMENDED", "NEUTRAL"]
    assert "NEUTRAL – neither for nor against" in told.text


@pytest.mark.parametrize(
    ("body", "understood"),
    [
        ("GODKJENT eller AVSLÅTT?", "vi fant to kommandoer i det du skrev (GODKJENT og AVSLÅTT)"),
        ("Ikke godkjent", "vi fant GODKJENT, men også et nektende ord"),
        (
            "tir. 1. des. 2026 kl. 10:12 skrev Bits <ssu@bits.example>:\n> GODKJENT",
            "kommandoen sto bare i den siterte teksten",
        ),
    ],
)
async def test_an_approvers_unclear_reply_says_what_was_read_and_lists_the_decisions_commands(
    body: str, understood: str
) -> None:
    services = _services()
    reference = await _awaiting_decision(services)
    assert await _reply(services, reference, APPROVERS[0], body) == "unclear"
    told = await one_queued(services, reference, APPROVERS[0], "clarify-")
    assert f"Dette forsto vi: {understood}" in told.text
    assert _listed(told.text) == ["GODKJENT", "AVSLÅTT", "UTSATT"]
    assert "UTSATT – utsetter saken til datoen du skriver" in told.text
    assert "SVAR" not in _listed(told.text) and "KOMPLETT" not in told.text  # Bits' handling is another step


# A decision whose commands do not all apply in every state: the reply offers only those that apply now.
OPEN = Command("open", ("ÅPNE", "OPEN"))
CLOSE = Command("close", ("STENG", "CLOSE"), states=frozenset({"open"}))


async def _nothing(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
    step = Step(services, stored.case, reply)
    return Change(step.case, step.event("note", "nothing", False))


GATE = Decision("test.gate", (OPEN, CLOSE), frozenset({"new", "open"}), _nothing)


def test_commands_in_holds_the_commands_whose_states_hold_the_status() -> None:
    assert GATE.commands_in("new") == (OPEN,)
    assert GATE.commands_in("open") == (OPEN, CLOSE)
    assert GATE.commands_in("closed") == ()
    assert changes.DECIDE_DECISION.commands_in("awaiting_decision") == changes.DECIDE_DECISION.commands
    assert changes.DECIDE_DECISION.commands_in("approved") == ()


async def test_an_unclear_reply_lists_only_the_commands_that_apply_in_the_cases_state() -> None:
    services = _services()
    case = await changes.submit_change_request(services, change_request(), Channel.API, proof=PROVEN_ASKER)
    stored = await services.store.load(case.reference)
    assert stored is not None and stored.case.status == "new"
    token = issue(services, KARI, GATE.name)
    await services.store.append(
        case.reference, Step(services, stored.case, _no_reply()).event("t", "t", False), [], [], [token]
    )
    raw = reply_email(KARI, reply_address(services, token.token), case.reference, "ÅPNE og STENG")
    outcome = await take_decision(services, parsed(raw), stored, token.token, {GATE.name: GATE})
    assert outcome.status == "unclear"
    told = await one_queued(services, case.reference, KARI, "clarify-")
    assert _listed(told.text) == ["ÅPNE"], "STENG applies only to an open case"


async def test_bits_unclear_reply_on_an_accepted_registration_offers_signert_and_not_godkjent() -> None:
    """The registration is accepted: GODKJENT no longer applies (the handler refuses it), SIGNERT does now."""
    services = fake_services(clock=FakeClock(NOW))
    case = await onboarding.register(services, registration(), Channel.API)
    await decide(services, onboarding.BITS_DECISION, case.reference, BITS, onboarding.APPROVE)
    assert await status(services, case.reference) == "accepted"
    stored = await services.store.load(case.reference)
    assert stored is not None
    token = issue(services, BITS, onboarding.BITS)
    await services.store.append(
        case.reference, Step(services, stored.case, _no_reply()).event("t", "t", False), [], [], [token]
    )
    raw = reply_email(BITS, reply_address(services, token.token), case.reference, "SIGNERT eller AVSLÅTT?")
    outcome = await take_decision(services, parsed(raw), stored, token.token, CATALOGUE.decisions)
    assert outcome.status == "unclear"
    told = await one_queued(services, case.reference, BITS, "clarify-")
    assert _listed(told.text) == ["SVAR", "AVSLÅTT", "SPØRSMÅL", "SIGNERT", "AVSLUTT"]
    assert "SIGNERT – bekrefter at tilknytningsavtalen er signert" in told.text


def _no_reply() -> Reply:
    return Reply(None, "", "test", "", "<t@example.test>")


# -- a case already decided: what, by whom, when ----------------------------------------------------------------------


async def test_a_second_approver_is_told_what_was_decided_by_whom_and_when() -> None:
    services = _services()
    reference = await _awaiting_decision(services)
    clock_of(services).advance(hours=1)  # 10:15 in Oslo
    assert await _reply(services, reference, APPROVERS[0], "GODKJENT\nNyttig.", name="Kari Godkjenner") == "decided"
    clock_of(services).advance(hours=1)
    assert await _reply(services, reference, APPROVERS[1], "AVSLÅTT\nFor dyrt.") == "already_decided"
    told = await one_queued(services, reference, APPROVERS[1], "already-")
    assert (
        "Avgjort av Kari Godkjenner (godkjenner1@bits.example) 1. desember 2026 kl. 10.15: GODKJENT – godkjenner "
        "endringsønsket" in told.text
    )
    assert "Status nå: Godkjent – hos NAV." in told.text
    assert "Kari Godkjenner (godkjenner1@bits.example)" in told.html and "<strong>GODKJENT</strong>" in told.html
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", told.text)
    assert await status(services, reference) == "approved"


async def test_the_approver_who_decided_and_replies_again_is_told_it_was_their_own_decision() -> None:
    services = _services()
    reference = await _awaiting_decision(services)
    assert await _reply(services, reference, APPROVERS[0], "UTSATT til 1.3.2027", name="Kari Godkjenner") == "decided"
    assert await _reply(services, reference, APPROVERS[0], "GODKJENT likevel") == "already_decided"
    told = await one_queued(services, reference, APPROVERS[0], "already-")
    assert "Du avgjorde den selv 1. desember 2026 kl. 09.15: UTSATT" in told.text
    assert "Status nå: Utsatt." in told.text


async def test_a_member_answering_after_the_deadline_is_told_the_deadline_moved_it() -> None:
    services = _services(change_assessment_days=14)
    reference = await _in_assessment(services)
    assert await _reply(services, reference, FRIDA, "ANBEFALER") == "decided"
    clock_of(services).advance(days=15)
    assert await changes.check_change_requests(services) == 1
    assert await _reply(services, reference, KARI, "ANBEFALER") == "already_decided"
    told = await one_queued(services, reference, KARI, "already-")
    assert "Fristen for fagutvalget gikk ut 16. desember 2026 kl. 09.15, og saken gikk videre" in told.text
    assert "Avgjort av" not in told.text, "Frida's recommendation did not decide it"


# -- the committee by name and company; a conflict of interest --------------------------------------------------------


async def test_the_approvers_see_the_committee_by_name_and_company() -> None:
    services = _services()
    reference = await _awaiting_decision(services)
    asked = await one_queued(services, reference, APPROVERS[0], "decide-1-")
    assert (
        "Kari Nordmann, Fjordtrygd Livsforsikring AS (kari.nordmann@fjordtrygd.example): anbefaler ikke" in asked.text
    )
    assert "Tess Tester, Test Pensjon AS (teknisk@test-pensjon.example): nøytral – Begrunnelse." in asked.text
    assert "<li>Kari Nordmann, Fjordtrygd Livsforsikring AS (kari.nordmann@fjordtrygd.example)" in asked.html
    assert not re.search(r"^  [\w.]+@[\w.-]+:", asked.text, re.M), "no member as a bare address"


async def test_a_member_recommending_their_own_organisations_request_is_flagged_and_not_counted() -> None:
    """The attack: Frida submitted the request for Demo Forsikring and, on the committee, recommended it; her word
    counted like the others' and nobody was told."""
    services = _services()
    reference = await _awaiting_decision(services)
    stored = await services.store.load(reference)
    assert stored is not None
    recorded = stored.case.details["recommendations"]
    assert recorded[FRIDA]["verdict"] == "recommended" and recorded[FRIDA]["conflict"] is True  # still on the case
    assert "conflict" not in recorded[KARI] and "conflict" not in recorded[TESS]
    events = [e for e in await services.store.events(reference) if e.kind == "recommendation"]
    assert [e.data["conflict"] for e in events] == [True, False, False]

    # Bits' support hears of it, in words.
    [flag] = [m for m in await queued(services, reference) if m.purpose.startswith("conflict-")]
    assert flag.to == BITS and "Inhabil anbefaling" in flag.subject
    assert "Frida Fagerli fra Demo Forsikring ASA (fag@demo-forsikring.example)" in flag.text
    assert "ikke talt med" in flag.text
    # The approvers see it marked, and counted without it: 0 recommend (Frida's is out), 1 against, 1 neutral.
    asked = await one_queued(services, reference, APPROVERS[0], "decide-1-")
    assert "(talt med: 0 anbefaler, 1 anbefaler ikke, 1 nøytral)" in asked.text
    assert "Frida Fagerli, Demo Forsikring ASA (fag@demo-forsikring.example): anbefaler" in asked.text
    assert "Inhabil, ikke talt med: Demo Forsikring ASA sendte selv inn endringsønsket." in asked.text
    assert "Inhabil, ikke talt med" in asked.html
    assert asked.text.count("Inhabil") == 1, "only Frida is conflicted"
    assert (await kinds(services, reference)).count("recommendation") == 3


async def test_no_conflict_when_the_submitting_organisation_has_no_one_on_the_committee() -> None:
    services = fake_services(clock=FakeClock(NOW), committee_members=[KARI, TESS])
    case = await changes.submit_change_request(services, change_request(), Channel.API, proof=PROVEN_ASKER)
    await decide(services, changes.HANDLE_DECISION, case.reference, BITS, changes.COMPLETE)
    for member in (KARI, TESS):
        assert await _reply(services, case.reference, member, "ANBEFALER") == "decided"
    asked = await one_queued(services, case.reference, APPROVERS[0], "decide-1-")
    assert "(talt med: 2 anbefaler, 0 anbefaler ikke, 0 nøytral)" in asked.text and "Inhabil" not in asked.text
    assert not [m for m in await queued(services, case.reference) if m.purpose.startswith("conflict-")]
