"""Retention against a real Azurite: erasing a case rewrites its stored rows (case, events, mail states) so that no
personal data is left in any property, deletes its letters (failed and pending), its tokens and its file's blob, in
ETag-guarded transactions however many rows it has; a stale read erases nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.catalogue import CATALOGUE
from functions.core.cases import AddressProof
from functions.core.model import HELD_PARTITION, CaseEvent, Channel, held_reference
from functions.core.outbox import RetryPolicy, dispatch_outbox
from functions.core.retention import ERASED, ERASED_KIND, erase_expired
from functions.core.services import Services
from functions.core.store import ConcurrentUpdate
from functions.intake.threading import message_key
from functions.intake.workflow import process_message
from functions.questions.workflow import QUESTION_DECISION, RESOLVE, ask_question
from tests.unit.test_process_workflows import ASKER, BITS, PROVEN_ASKER, decide, question

NAME, PHONE = "Frida Fagerli", "98765432"
TEXT = f"Ring meg på {PHONE}, hilsen {NAME}"
FILE = b"%PDF-1.4 et vedtak " + NAME.encode()
FILE_HASH = hashlib.sha256(FILE).hexdigest()
MESSAGES = 110  # more rows than one transaction takes


async def rows(services: Services, reference: str) -> list[dict[str, Any]]:
    """Every row of the case's partition that belongs to it (by key or by its Reference property), as stored."""
    table = services.storage.table("cases")  # type: ignore[attr-defined]
    partition = f"D-{reference.split('-')[2]}"
    found = [dict(e) async for e in table.query_entities("PartitionKey eq @p", parameters={"p": partition})]
    return [r for r in found if reference in r["RowKey"] or r.get("Reference") == reference]


def text_of(found: list[dict[str, Any]]) -> str:
    def readable(value: Any) -> str:
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    return json.dumps([{k: readable(v) for k, v in r.items()} for r in found], ensure_ascii=False)


async def closed_question(services: Services) -> str:
    for _ in range(3):  # the receipt fails for good: its letter is kept (`failed|`) until Bits sends it again
        await services.limits.record_bounce(ASKER, services.clock.now(), 3, status="5.1.1")
    case = await ask_question(services, question(question=TEXT), Channel.FORM, proof=PROVEN_ASKER)
    policy = RetryPolicy(max_attempts=3, base_seconds=60, max_seconds=3600)
    await dispatch_outbox(services.store, services.transport, services.clock, policy, limits=services.limits)
    await services.blobs.put(FILE_HASH, FILE, "application/pdf")
    attachment = {"filename": f"vedtak {NAME}.pdf", "content_type": "application/pdf", "size": len(FILE)}
    attachment |= {"sha256": FILE_HASH, "stored": True, "inline": False, "refused": False}
    for i in range(MESSAGES):
        data: dict[str, Any] = {"message": f"{TEXT} ({i})", "attachments": [attachment] if i == 0 else []}
        event = CaseEvent(
            at=services.clock.now(), actor=ASKER, channel=Channel.EMAIL, kind="message", public=True, summary=NAME
        )
        await services.store.append(case.reference, event.model_copy(update={"data": data}))
    # The closing mail stays queued (`outbox|`, with its letter): nothing dispatches it here.
    await decide(services, QUESTION_DECISION, case.reference, BITS, RESOLVE, f"Ringte {NAME}.")
    return case.reference


async def test_erasure_removes_the_data_from_the_stored_rows_and_the_blob(services: Services) -> None:
    reference = await closed_question(services)
    before = await rows(services, reference)
    kinds = {r["RowKey"].split("|")[0] for r in before}
    assert {"case", "event", "mail", "failed", "outbox", "token"} <= kinds, kinds
    assert all(s in text_of(before) for s in (NAME, ASKER, PHONE)), "the data is there to be erased"

    now = datetime.now(UTC) + timedelta(days=services.settings.retention_days["D"])
    assert (await erase_expired(services, now - timedelta(days=1))).erased == [], "not a day early"
    assert text_of(await rows(services, reference)) == text_of(before)

    assert (await erase_expired(services, now + timedelta(minutes=1))).erased == [reference]
    after = await rows(services, reference)
    stored = text_of(after)
    for personal in (NAME, ASKER, PHONE, "Ring meg", "demo-forsikring"):
        assert personal not in stored, personal
    assert {r["RowKey"].split("|")[0] for r in after} == {"case", "event", "mail"}, "letters and tokens deleted"
    # received, the failed receipt's event, the messages, resolved, erased
    assert len([r for r in after if r["RowKey"].startswith("event|")]) == MESSAGES + 4
    with pytest.raises(Exception) as gone:
        await services.blobs.get(FILE_HASH)
    assert getattr(gone.value, "status_code", None) == 404, gone.value

    events = await services.store.events(reference)
    assert events[-1].kind == ERASED_KIND and events[-2].kind == "resolved" and events[-2].actor == BITS
    mails = await services.store.mails(reference)
    assert {(m.mail.purpose, m.status) for m in mails} >= {("acknowledgement", "failed"), ("resolved", "failed")}
    assert {m.mail.to for m in mails} == {ERASED}
    assert all(r.mail.reference != reference for r in await services.store.failed_mails())
    assert all(r.mail.reference != reference for r in await services.store.due_mails(now + timedelta(days=1), 1000))

    # The next run skips it, and changes nothing.
    assert (await erase_expired(services, now + timedelta(days=1))).erased == []
    assert text_of(await rows(services, reference)) == stored


async def test_a_stale_read_erases_nothing(services: Services) -> None:
    reference = await closed_question(services)
    stale = await services.store.load(reference)
    assert stale is not None
    note = CaseEvent(
        at=services.clock.now(), actor=BITS, channel=Channel.WEB, kind="note", public=False, summary="changed"
    )
    await services.store.transition(stale, stale.case, note)
    before = text_of(await rows(services, reference))
    erased = stale.case.model_copy(update={"submitter_name": ERASED})
    with pytest.raises(ConcurrentUpdate):
        await services.store.erase_personal_data(
            stale, erased, note, lambda e: e.model_copy(update={"summary": ""}), ERASED
        )
    assert text_of(await rows(services, reference)) == before


async def test_a_message_that_lands_while_the_case_is_erased_is_erased_too_or_the_case_is_left(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`append` writes no case row, so the case's ETag does not guard against it. A message (or a mail
    queued with it) that lands after the sweep read the case's events and before its transactions must not survive
    the erasure with its personal data under a case marked erased, which no later sweep reads again."""
    reference = await closed_question(services)
    erase = services.store.erase_personal_data
    late = CaseEvent(
        at=datetime.now(UTC), actor=ASKER, channel=Channel.EMAIL, kind="message", public=True, summary=NAME
    ).model_copy(update={"data": {"message": TEXT}})

    raced: list[bool] = []

    async def racing(*args: Any, **kwargs: Any) -> Any:
        await services.store.append(reference, late)  # the submitter writes again, just now
        raced.append(True)
        return await erase(*args, **kwargs)

    monkeypatch.setattr(services.store, "erase_personal_data", racing)
    now = datetime.now(UTC) + timedelta(days=services.settings.retention_days["D"], minutes=1)
    await erase_expired(services, now)
    monkeypatch.undo()
    assert raced == [True]
    await erase_expired(services, now + timedelta(days=1))  # a later run does not mend it either
    stored = text_of(await rows(services, reference))
    assert NAME not in stored and PHONE not in stored


async def test_no_daily_send_counter_keeps_the_erased_submitters_address(services: Services) -> None:
    """The daily send counters (`sent|<day>`, by address) name each recipient in clear and are only needed on their
    day (the daily cap): the sweep deletes those of past days, so an erased person's address does not stay there."""
    asker = "kari.fjell@demo-forsikring.example"
    case = await ask_question(services, question(email=asker, question=TEXT), Channel.FORM, proof=AddressProof(asker))
    policy = RetryPolicy(max_attempts=3, base_seconds=60, max_seconds=3600)
    await dispatch_outbox(services.store, services.transport, services.clock, policy, limits=services.limits)
    await decide(services, QUESTION_DECISION, case.reference, BITS, RESOLVE, "Lukket.")
    await dispatch_outbox(services.store, services.transport, services.clock, policy, limits=services.limits)
    now = datetime.now(UTC) + timedelta(days=services.settings.retention_days["D"], minutes=1)
    assert (await erase_expired(services, now)).erased == [case.reference]
    meta = services.storage.table("meta")  # type: ignore[attr-defined]
    holding = [e["PartitionKey"] async for e in meta.query_entities("") if asker in str(dict(e)).casefold()]
    assert holding == []


async def test_blob_storage_keeps_a_file_stored_again_after_the_sweep_began(services: Services) -> None:
    """The conditional delete over real Azurite: a file stored again (a new case brought the same bytes) after the
    sweep's moment is kept; one not stored since is deleted; deleting one that is gone is no error."""
    name = hashlib.sha256(b"felles vedlegg").hexdigest()
    await services.blobs.put(name, b"felles vedlegg", "application/pdf")
    await asyncio.sleep(1.1)  # Last-Modified has whole seconds
    sweep_began = datetime.now(UTC)
    await asyncio.sleep(1.1)
    await services.blobs.put(name, b"felles vedlegg", "application/pdf")  # stored again: touched
    assert await services.blobs.delete(name, unless_stored_since=sweep_began) is False
    assert await services.blobs.get(name) == b"felles vedlegg"
    assert await services.blobs.delete(name, unless_stored_since=datetime.now(UTC) + timedelta(minutes=1)) is True
    assert await services.blobs.delete(name) is True, "gone already: deleting twice is deleting once"


async def test_a_message_held_for_bits_is_deleted_whole_after_its_period(services: Services) -> None:
    """Over real Azurite: a held message (set aside as unreadable) and its notice to Bits are kept for
    SSU_RETENTION_HELD_DAYS after its last event, then every row of it goes, the pending notice too."""
    raw = (
        f"From: Frida Fagerli <{ASKER}>\r\nTo: ssu@bits.example\r\nSubject: Ødelagt\r\n"
        "Message-ID: <held-retention@demo-forsikring.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="aaa"\r\n\r\n--bbb\r\nContent-Type: text/plain\r\n\r\n'
        f"{TEXT}\r\n--bbb--\r\n"
    ).encode()
    assert (await process_message(services, raw, CATALOGUE)).status == "quarantined"
    held = held_reference("SSU", message_key("<held-retention@demo-forsikring.example>"))
    assert await services.store.events(held) and await services.store.mails(held)
    days = services.settings.retention_held_days
    early = await erase_expired(services, datetime.now(UTC) + timedelta(days=days - 1))
    assert early.held_forgotten == [] and await services.store.events(held)
    late = await erase_expired(services, datetime.now(UTC) + timedelta(days=days, minutes=1))
    assert late.held_forgotten == [held]
    table = services.storage.table("cases")  # type: ignore[attr-defined]
    query = "PartitionKey eq @p"
    found = [dict(e) async for e in table.query_entities(query, parameters={"p": HELD_PARTITION})]
    left = [r for r in found if held in r["RowKey"] or r.get("Reference") == held]
    assert all(r["RowKey"].startswith("inbound|") for r in left), left  # the message's hash only: no one in it
    assert held not in {r.mail.reference for r in await services.store.due_mails(datetime.now(UTC), 100)}
    assert (await erase_expired(services, datetime.now(UTC) + timedelta(days=days + 1))).held_forgotten == []
