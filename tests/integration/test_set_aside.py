"""Unreadable mail is set aside for Bits: recorded once per message, Bits told a few times an hour, no case made."""

from __future__ import annotations

from functions.catalogue import CATALOGUE
from functions.core.model import held_reference
from functions.core.services import Services
from functions.intake.threading import message_key
from functions.intake.workflow import poll_mailbox, process_message
from tests.fakes import FakeMailbox


def broken(n: int) -> bytes:
    """A multipart whose boundary never appears: no part of it can be read."""
    return (
        "Authentication-Results: dmarc=pass action=none header.from=demo-forsikring.example\r\n"
        f"From: Frida Fagerli <fag@demo-forsikring.example>\r\nTo: ssu@bits.example\r\nSubject: Feil {n}\r\n"
        f"Message-ID: <broken-{n}@demo-forsikring.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="aaa"\r\n\r\n'
        "--bbb\r\nContent-Type: text/plain\r\n\r\nHei\r\n--bbb--\r\n"
    ).encode()


async def test_a_broken_message_is_recorded_once_and_bits_told_once(services: Services) -> None:
    raw = broken(1)
    first = await process_message(services, raw, CATALOGUE)
    again = await process_message(services, raw, CATALOGUE)
    assert first.status == again.status == "quarantined" and not first.settle_as_processed
    assert "MIME structure is broken" in first.reason
    held = held_reference("SSU", message_key("<broken-1@demo-forsikring.example>"))
    [event] = await services.store.events(held)
    assert event.kind == "message_set_aside" and event.data["claimed_sender"].endswith("<fag@demo-forsikring.example>")
    [told] = await services.store.mails(held)
    assert told.mail.to == "support@bits.example" and "lagt til side" in told.mail.subject
    # No case, no acknowledgement: nothing was opened in any process.
    assert await services.store.cases() == []
    # The outbox sends it like any other mail.
    due = await services.store.due_mails(services.clock.now(), 100)
    assert [r.mail.to for r in due if r.mail.reference == held] == ["support@bits.example"]


async def test_a_flood_of_broken_mail_is_all_recorded_and_told_a_few_times(services: Services) -> None:
    services.settings = services.settings.model_copy(update={"set_aside_notices_per_hour": 3})
    mailbox = FakeMailbox()
    for n in range(8):
        mailbox.deliver(broken(100 + n))
    report = await poll_mailbox(services, mailbox, CATALOGUE)
    assert report.outcomes == {"quarantined": 8}
    assert all(not processed for _, processed, _ in mailbox.settled)
    assert all("unreadable message" in reason for _, _, reason in mailbox.settled)
    recorded = told = 0
    for n in range(8):
        held = held_reference("SSU", message_key(f"<broken-{100 + n}@demo-forsikring.example>"))
        recorded += len(await services.store.events(held))
        told += len(await services.store.mails(held))
    assert (recorded, told) == (8, 3)


async def test_headers_too_broken_to_read_are_still_recorded_by_the_bytes_hash(services: Services) -> None:
    raw = b"From: a@x.example\r\nFrom: b@y.example\r\nSubject: two senders\r\n\r\nGODKJENT\r\n"
    outcome = await process_message(services, raw, CATALOGUE)
    assert outcome.status == "quarantined" and "more than one From" in outcome.reason
    assert (await process_message(services, raw, CATALOGUE)).reason.endswith("(set aside before)")
