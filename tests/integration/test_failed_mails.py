"""Failed mails kept with their letters and sent again once, over real Azurite and over the in-memory fake alike:
listed newest first without their letters, queued again as a new attempt of the same mail (a marker seen before or
a failure already sent again changes nothing), then claimed and sent by the ordinary outbox - looked up first, so
that a mail that went after all is settled, not sent twice; and the count of what is queued but not yet sent."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from functions.core.model import CaseEvent, Channel
from functions.core.outbox import RetryPolicy, dispatch_outbox
from functions.core.services import Services
from functions.core.store import AlreadyProcessed, ConcurrentUpdate
from tests.fakes import FakeClock, fake_services, transport_of
from tests.integration.test_outbox import queue_question

POLICY = RetryPolicy(max_attempts=3, base_seconds=60, max_seconds=3600)
TO = "fag@demo-forsikring.example"


def resent(services: Services, by: str = "support@bits.example") -> CaseEvent:
    now = services.clock.now()
    return CaseEvent(at=now, actor=by, channel=Channel.WEB, kind="mail_resent", public=False, summary="again")


async def failed_mail(services: Services) -> str:
    """A receipt to a suppressed address: it fails for good. Returns the case's reference."""
    for _ in range(3):
        await services.limits.record_bounce(TO, services.clock.now(), 3, status="5.1.1")
    reference = await queue_question(services)
    report = await dispatch_outbox(services.store, services.transport, services.clock, POLICY, limits=services.limits)
    assert (report.sent, report.failed) == (0, 1)
    return reference


async def resend_once(services: Services) -> None:
    reference = await failed_mail(services)
    [listed] = [r for r in await services.store.failed_mails() if r.mail.reference == reference]
    assert listed.status == "failed" and listed.failed_at is not None and "suppressed" in listed.last_error
    assert listed.mail.text == "" and listed.mail.to == TO, "listed without the letter"
    assert await services.store.failed_mail(reference, "0" * 24) is None
    assert await services.store.failed_mail("no-reference", listed.mail.mail_id) is None
    record = await services.store.failed_mail(reference, listed.mail.mail_id)
    assert record is not None and record.mail.text and record.mail.html and record.mail.sender, "with its letter"
    assert (await services.store.backlog()).count == 0
    await services.limits.lift(TO, "admin@bits.example", services.clock.now())

    later = services.clock.now() + timedelta(days=5)  # older than the outbox's maximum age: dated anew
    again = replace(record, mail=replace(record.mail, created_at=later))
    await services.store.resend_failed(again, later, resent(services), markers=["form-1"])
    with pytest.raises(AlreadyProcessed):  # the same form again
        await services.store.resend_failed(again, later, resent(services), markers=["form-1"])
    with pytest.raises(ConcurrentUpdate):  # another form for a failure already sent again
        await services.store.resend_failed(again, later, resent(services), markers=["form-2"])
    assert [r for r in await services.store.failed_mails() if r.mail.reference == reference] == []
    [state] = await services.store.mails(reference)
    assert state.status == "pending" and state.attempts == 0
    backlog = await services.store.backlog()
    assert backlog.count == 1 and backlog.oldest_queued_at == later and not backlog.more
    [due] = await services.store.due_mails(later, 10)
    assert due.unsure, "looked up at the transport before it is sent"
    assert due.mail.message_id == record.mail.message_id and due.mail.text == record.mail.text

    clock = FakeClock(later)
    report = await dispatch_outbox(services.store, services.transport, clock, POLICY, limits=services.limits)
    assert (report.sent, report.failed, report.reconciled) == (1, 0, 0)
    report = await dispatch_outbox(services.store, services.transport, clock, POLICY, limits=services.limits)
    assert report.sent == 0, "nothing is sent twice"
    [state] = await services.store.mails(reference)
    assert state.status == "sent" and state.attempts == 1
    assert [e.kind for e in await services.store.events(reference)].count("mail_resent") == 1
    assert (await services.store.backlog()).count == 0


async def test_a_failed_mail_is_sent_again_once_on_table_storage(services: Services) -> None:
    services.clock = FakeClock()
    await resend_once(services)
    outbox = services.settings.mail_local_dir / "outbox"
    assert len(list(outbox.glob("*.eml"))) == 1


async def test_a_failed_mail_is_sent_again_once_on_the_fake() -> None:
    services = fake_services(clock=FakeClock())
    await resend_once(services)
    assert len(transport_of(services).sent) == 1


async def test_two_resends_at_once_queue_the_mail_once(services: Services) -> None:
    services.clock = FakeClock()
    reference = await failed_mail(services)
    [listed] = [r for r in await services.store.failed_mails() if r.mail.reference == reference]
    record = await services.store.failed_mail(reference, listed.mail.mail_id)
    assert record is not None
    now = services.clock.now()
    outcomes = await asyncio.gather(
        *(services.store.resend_failed(record, now, resent(services), markers=[f"form-{n}"]) for n in range(4)),
        return_exceptions=True,
    )
    assert sum(o is None for o in outcomes) == 1
    assert all(isinstance(o, ConcurrentUpdate) for o in outcomes if o is not None)
    assert len(await services.store.due_mails(now, 10)) == 1
    assert [e.kind for e in await services.store.events(reference)].count("mail_resent") == 1


async def test_a_resent_mail_that_went_after_all_is_settled_not_sent_twice() -> None:
    services = fake_services(clock=FakeClock())
    reference = await failed_mail(services)
    [listed] = await services.store.failed_mails()
    record = await services.store.failed_mail(reference, listed.mail.mail_id)
    assert record is not None
    await services.limits.lift(TO, "admin@bits.example", services.clock.now())
    transport_of(services).sent.append(record.mail)  # its earlier attempt did reach the recipient
    await services.store.resend_failed(record, services.clock.now(), resent(services))
    report = await dispatch_outbox(services.store, services.transport, services.clock, POLICY, limits=services.limits)
    assert (report.sent, report.reconciled) == (0, 1)
    assert len(transport_of(services).sent) == 1
    [state] = await services.store.mails(reference)
    assert state.status == "sent"
