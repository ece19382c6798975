"""Two decisions by reply at the same moment: exactly one is applied (ETag-guarded), the other is told."""

from __future__ import annotations

import asyncio

from functions.core.model import Channel
from functions.core.services import Services
from functions.intake.workflow import process_message
from functions.questions.models import Question
from functions.questions.workflow import ask_question


def resolve_reply(reply_to: str, reference: str, n: int) -> bytes:
    return (
        f"From: Bits brukerstøtte <support@bits.example>\r\nTo: {reply_to}\r\n"
        f"Subject: SV: [{reference}] Nytt spørsmål\r\nMessage-ID: <race-{n}@bits.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nLØST\r\n"
    ).encode()


async def test_two_replies_at_once_give_one_decision(services: Services) -> None:
    question = Question(
        organisation_number="310000019",
        name="Frida",
        email="fag@demo-forsikring.example",
        subject="Kappløp",
        question="Hvem vinner?",
        service="ufore",
        environment="test",
        category="other",
    )
    case = await ask_question(services, question, Channel.FORM)
    [notice] = [r.mail for r in await services.store.due_mails(services.clock.now(), 10) if r.mail.reply_to]
    assert notice.reply_to is not None
    outcomes = await asyncio.gather(
        *(process_message(services, resolve_reply(notice.reply_to, case.reference, n)) for n in range(2))
    )
    assert sorted(o.status for o in outcomes) == ["already_decided", "decided"]
    stored = await services.store.load(case.reference)
    assert stored is not None and stored.case.status == "closed"
    kinds = [e.kind for e in await services.store.events(case.reference)]
    assert kinds.count("resolved") == 1 and kinds.count("decision_too_late") == 1
