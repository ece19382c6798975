"""Intake protections found in review: forged delivery reports, over-reading the Graph mailbox, masked subjects."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from functions.adapters.graph import GraphClient
from functions.adapters.graph_mailbox import GraphMailbox
from functions.catalogue import CATALOGUE
from functions.core.cases import confirm_submitter
from functions.core.model import Channel
from functions.core.services import Services
from functions.core.settings import Settings
from functions.intake.workflow import poll_mailbox, process_message
from functions.questions.workflow import ask_question
from tests.graph_stub import GraphStub, StaticToken
from tests.integration.test_decision_race import PROVEN, question

MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"


def bounce(reference: str, recipient: str, n: int, message_id: str | None = None) -> bytes:
    template = (MAIL / "bounce.eml.tmpl").read_bytes()
    raw = template.replace(b"<bounce-{REF}-{RCPT}@bits.example>", f"<bounce-{n}@x.example>".encode())
    named = message_id or f"<{reference}.0abc@bits.example>"
    raw = raw.replace(b"{REF}", reference.encode()).replace(b"{MSGID}", named.encode())
    return raw.replace(b"{RCPT}", recipient.encode())


async def test_delivery_reports_count_once_and_never_silence_bits(services: Services) -> None:
    case = await ask_question(services, question("Sprett"), Channel.FORM, proof=PROVEN)
    sent = {m.mail.to: m.mail.message_id for m in await services.store.mails(case.reference)}
    # A report naming someone we never mailed on the case is ignored.
    assert (
        await process_message(services, bounce(case.reference, "ceo@bits-competitor.example", 1), CATALOGUE)
    ).status == "ignored"
    # A report naming a mail we sent, but not the one to that recipient, is ignored: anyone who got a mail of ours
    # could otherwise silence anyone else.
    other = bounce(case.reference, "fag@demo-forsikring.example", 9, sent["support@bits.example"])
    assert (await process_message(services, other, CATALOGUE)).status == "ignored"
    # The same report twice counts once.
    for _ in range(2):
        report = bounce(case.reference, "fag@demo-forsikring.example", 2, sent["fag@demo-forsikring.example"])
        await process_message(services, report, CATALOGUE)
    [row] = [r for r in await services.limits.suppressions() if r["address"] == "fag@demo-forsikring.example"]
    assert row["permanent_bounces"] == 1
    # Reports naming Bits' own people are recorded on the case but never suppress them.
    for n in range(3, 8):
        report = bounce(case.reference, "support@bits.example", n, sent["support@bits.example"])
        await process_message(services, report, CATALOGUE)
    assert "support@bits.example" not in await services.limits.suppressed()
    kinds = [e.kind for e in await services.store.events(case.reference)]
    assert kinds.count("mail_bounced") == 6


async def test_a_poll_that_reads_more_than_it_takes_loses_nothing(
    services: Services, settings: Settings, graph_stub: GraphStub
) -> None:
    graph = GraphClient(settings.model_copy(update={"graph_base_url": graph_stub.base_url}), credential=StaticToken())
    mailbox = GraphMailbox(graph, "ssu@bits.example", services.state, "p", "f")
    services.settings = services.settings.model_copy(update={"mailbox_batch_size": 3})
    for n in range(5):
        graph_stub.deliver(
            f"From: fag@demo-forsikring.example\r\nTo: ssu@bits.example\r\nSubject: Nr {n}\r\n"
            f"Message-ID: <overread-{n}@x>\r\n\r\nHei {n}\r\n".encode()
        )
    try:
        for _ in range(4):
            await poll_mailbox(services, mailbox, CATALOGUE)
    finally:
        await mailbox.close()
    assert graph_stub.in_folder("inbox") == []
    assert len(await services.store.cases()) == 5


async def test_identity_numbers_in_follow_up_subjects_are_masked(services: Services) -> None:
    case = await ask_question(services, question("Oppfølging"), Channel.FORM, proof=PROVEN)
    subject = f"SV: [{case.reference}] fnr 17050544052"
    raw = (
        f"From: fag@demo-forsikring.example\r\nTo: ssu@bits.example\r\nSubject: {subject}\r\n"
        "Message-ID: <fnr-subject@x>\r\n\r\nSe emnet.\r\n"
    ).encode()
    assert (await process_message(services, raw, CATALOGUE)).status == "appended"
    assert "17050544052" not in str(await services.store.events(case.reference))


def _mail(sender: str, to: str, subject: str, body: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject.replace(' ', '-')}@x.example>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


async def test_only_a_source_contact_makes_a_draft_alert(services: Services) -> None:
    """New mail from NAV is a notice (a draft alert for Bits); the same words from an insurer are not."""
    body = "Uføre-API-et i produksjon har planlagt vedlikehold fredag 22:00-02:00."
    nav = await process_message(
        services, _mail("drift@nav.example", "ssu@bits.example", "Vedlikehold fredag", body), CATALOGUE
    )
    insurer = await process_message(
        services,
        _mail("teknisk@demo-forsikring.example", "ssu@bits.example", "Vedlikehold hos NAV?", body),
        CATALOGUE,
    )
    # NAV writing to another process's address is not a notice either.
    to_changes = await process_message(
        services,
        _mail("drift@nav.example", "ssu+endring@bits.example", "Forslag fra NAV", "Nytt felt i API-et."),
        CATALOGUE,
    )
    assert nav.reference and nav.reference.startswith("SSU-B-") and nav.reason == "draft_alert"
    assert insurer.reference and not insurer.reference.startswith("SSU-B-")
    assert to_changes.reference and to_changes.reference.startswith("SSU-E-")
    stored = await services.store.load(nav.reference)
    assert stored is not None and stored.case.status == "new" and stored.case.details["draft"] is True
    assert [m.mail.to for m in await services.store.mails(nav.reference)] == [
        "drift@nav.example",
        "support@bits.example",
    ]


async def test_an_emailed_registration_points_the_company_to_the_form(services: Services) -> None:
    outcome = await process_message(
        services,
        _mail("ny@ukjent-forsikring.example", "ssu@bits.example", "Innmelding av nytt selskap", "Vi vil bli med."),
        CATALOGUE,
    )
    assert outcome.reference and outcome.reference.startswith("SSU-A-")
    due = await services.store.due_mails(services.clock.now() + timedelta(minutes=1), 100)
    [ask] = [m for m in due if m.mail.reference == outcome.reference and m.mail.to == "ny@ukjent-forsikring.example"]
    # Anyone can write From: anyone; the address gets the neutral request, and the pointer once it is confirmed.
    assert "Innmelding av nytt selskap" not in ask.mail.subject + ask.mail.text and "bli med" not in ask.mail.text
    link = re.search(r"/api/confirm\?t=(\S+)", ask.mail.text)
    assert link and (await confirm_submitter(services, link.group(1), CATALOGUE.intakes)).outcome == "confirmed"
    due = await services.store.due_mails(services.clock.now() + timedelta(minutes=1), 100)
    [ack] = [m for m in due if m.mail.reference == outcome.reference and m.mail.purpose == "acknowledgement"]
    assert "/api/onboarding/registration" in ack.mail.text
