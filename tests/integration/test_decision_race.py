"""Two decisions by reply at the same moment: exactly one is applied (ETag-guarded), the other is told."""

from __future__ import annotations

import asyncio

from functions.catalogue import CATALOGUE
from functions.core.cases import AddressProof
from functions.core.commands import Change, Command, Decision, Reply
from functions.core.model import CaseEvent, Channel
from functions.core.registry import Registry
from functions.core.services import Services
from functions.core.store import StoredCase
from functions.core.tokens import issue, reply_address
from functions.intake.commands import take_decision
from functions.intake.parser import parse_message
from functions.intake.workflow import process_message
from functions.questions.models import Question
from functions.questions.workflow import ask_question


def resolve_reply(reply_to: str, reference: str, n: int) -> bytes:
    return (
        f"From: Bits brukerstøtte <support@bits.example>\r\nTo: {reply_to}\r\n"
        f"Subject: SV: [{reference}] Nytt spørsmål\r\nMessage-ID: <race-{n}@bits.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nLØST\r\n"
    ).encode()


# A browser that once confirmed Frida's address by the link (web/forms.py): her form then goes on at once as hers.
PROVEN = AddressProof("fag@demo-forsikring.example")


def question(subject: str) -> Question:
    return Question(
        organisation_number="310000019",
        name="Frida",
        email="fag@demo-forsikring.example",
        subject=subject,
        question="Hva gjelder?",
        service="ufore",
        environment="test",
        category="other",
    )


async def test_two_replies_at_once_give_one_decision(services: Services) -> None:
    case = await ask_question(services, question("Kappløp"), Channel.FORM, proof=PROVEN)
    [notice] = [r.mail for r in await services.store.due_mails(services.clock.now(), 10) if r.mail.reply_to]
    assert notice.reply_to is not None
    outcomes = await asyncio.gather(
        *(process_message(services, resolve_reply(notice.reply_to, case.reference, n), CATALOGUE) for n in range(2))
    )
    assert sorted(o.status for o in outcomes) == ["already_decided", "decided"]
    stored = await services.store.load(case.reference)
    assert stored is not None and stored.case.status == "closed"
    kinds = [e.kind for e in await services.store.events(case.reference)]
    assert kinds.count("resolved") == 1 and kinds.count("decision_too_late") == 1


async def test_a_single_use_token_decides_once(services: Services) -> None:
    """What approvals (onboarding, triage, change requests) use: a second reply with the same token changes nothing."""
    approve = Command("approve", ("GODKJENT", "APPROVE"))

    async def approve_case(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
        now = services.clock.now()
        event = CaseEvent(at=now, actor=reply.sender, channel=Channel.EMAIL, kind="approved", public=True, summary="ok")
        return Change(stored.case.model_copy(update={"status": "approved", "updated_at": now}), event)

    decision = Decision("test.approval", (approve,), frozenset({"new", "approved"}), approve_case)
    case = await ask_question(services, question("Godkjenning"), Channel.FORM, proof=PROVEN)
    token = issue(services, "godkjenner1@bits.example", decision.name)
    stored = await services.store.load(case.reference)
    assert stored is not None
    await services.store.transition(
        stored,
        stored.case,
        CaseEvent(
            at=services.clock.now(),
            actor="test",
            channel=Channel.API,
            kind="approval_asked",
            public=False,
            summary="asked",
        ),
        tokens=[token],
    )

    def approval(n: int) -> bytes:
        return (
            f"From: godkjenner1@bits.example\r\nTo: {reply_address(services, token.token)}\r\n"
            f"Subject: SV: [{case.reference}] Beslutning\r\nMessage-ID: <approve-{n}@bits.example>\r\n\r\nGODKJENT\r\n"
        ).encode()

    outcomes = []
    for n in range(2):
        message = parse_message(approval(n), max_attachment_bytes=0, allowed_types=())
        current = await services.store.load(case.reference)
        assert current is not None
        outcomes.append(await take_decision(services, message, current, token.token, {decision.name: decision}))
    assert [o.status for o in outcomes] == ["decided", "already_decided"]
    kinds = [e.kind for e in await services.store.events(case.reference)]
    assert kinds.count("approved") == 1 and kinds.count("decision_too_late") == 1


async def test_a_token_decides_only_on_its_own_case(services: Services) -> None:
    first = await ask_question(services, question("Første"), Channel.FORM, proof=PROVEN)
    second = await ask_question(services, question("Andre"), Channel.FORM, proof=PROVEN)
    [notice] = [
        r.mail
        for r in await services.store.due_mails(services.clock.now(), 20)
        if r.mail.reply_to and r.mail.reference == first.reference
    ]
    assert notice.reply_to is not None
    # The first case's token, sent with the second case's reference.
    outcome = await process_message(services, resolve_reply(notice.reply_to, second.reference, 99), CATALOGUE)
    assert outcome.status == "refused"
    stored = await services.store.load(second.reference)
    assert stored is not None and stored.case.status == "new"


async def test_two_approvers_of_a_change_request_at_the_same_moment(services: Services) -> None:
    """Process E: both approvers reply at once with opposite decisions; exactly one counts, the other is told."""
    from functions.changes.models import ChangeRequest
    from functions.changes.workflow import submit_change_request, to_decision

    request = ChangeRequest(
        organisation_number="310000019",
        name="Frida",
        email="fag@demo-forsikring.example",
        service="ufore",
        change_type="api",
        title="Kappløp mellom godkjennere",
        description="Ny parameter.",
        need_and_benefit="Raskere oppslag.",
        urgency="normal",
    )
    case = await submit_change_request(services, request, Channel.API, proof=PROVEN)
    stored = await services.store.load(case.reference)
    assert stored is not None
    changed, mails, tokens = await to_decision(services, await services.registry(), stored.case, "no_committee")
    event = CaseEvent(
        at=services.clock.now(), actor="t", channel=Channel.API, kind="complete", public=True, summary="x"
    )
    await services.store.transition(stored, changed, event, mails, tokens=tokens)
    by_person = {t.person: t.token for t in tokens}

    def decision(person: str, word: str, n: int) -> bytes:
        return (
            f"From: {person}\r\nTo: {reply_address(services, by_person[person])}\r\n"
            f"Subject: SV: [{case.reference}] Beslutning\r\nMessage-ID: <approver-{n}@bits.example>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{word}\r\nBegrunnelse.\r\n"
        ).encode()

    outcomes = await asyncio.gather(
        process_message(services, decision("godkjenner1@bits.example", "GODKJENT", 1), CATALOGUE),
        process_message(services, decision("godkjenner2@bits.example", "AVSLÅTT", 2), CATALOGUE),
    )
    assert sorted(o.status for o in outcomes) == ["already_decided", "decided"]
    kinds = [e.kind for e in await services.store.events(case.reference)]
    assert kinds.count("approved") + kinds.count("rejected") == 1 and kinds.count("decision_too_late") == 1
