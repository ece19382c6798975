"""The case store against a real Azurite: one transaction per new case, gapless references, ETag-guarded changes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from functions.composition import build_services
from functions.core.mail import OutgoingMail
from functions.core.model import Case, CaseEvent, Channel, Process
from functions.core.services import Services
from functions.core.settings import AZURITE_CONNECTION_STRING, Settings
from functions.core.store import AlreadyProcessed, AlreadyQueued, ConcurrentUpdate, StorageUnavailable


def draft(**changes: object) -> Case:
    now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    base = Case(
        process=Process.QUESTION,
        kind="question",
        status="new",
        organisation_number="310000019",
        submitter_name="Frida",
        submitter_email="fag@demo-forsikring.example",
        submitter_verified=True,
        environment="test",
        title="Et spørsmål",
        created_at=now,
        updated_at=now,
    )
    return base.model_copy(update=changes)


def received(at: datetime | None = None) -> CaseEvent:
    return CaseEvent(
        at=at or datetime(2026, 11, 29, 10, 0, tzinfo=UTC),
        actor="fag@demo-forsikring.example",
        channel=Channel.FORM,
        kind="received",
        public=True,
        summary="received",
    )


def mail(case: Case, purpose: str = "acknowledgement", size: int = 10) -> OutgoingMail:
    return OutgoingMail(
        reference=case.reference,
        purpose=purpose,
        to=case.submitter_email,
        subject=f"[{case.reference}] x",
        message_id="<m@x>",
        text="x" * size,
        html="<p>x</p>",
        sender="ssu@bits.example",
        sender_name="Bits SSU",
        created_at=case.created_at,
    )


async def test_new_case_event_and_mails_are_written_together(services: Services) -> None:
    case = await services.store.create_case(draft(), received(), lambda c: [mail(c), mail(c, "notify")])
    assert case.reference == "SSU-D-2026-0001"
    stored = await services.store.load(case.reference)
    assert stored is not None and stored.case == case
    assert [e.kind for e in await services.store.events(case.reference)] == ["received"]
    assert sorted(m.mail.purpose for m in await services.store.mails(case.reference)) == ["acknowledgement", "notify"]
    due = await services.store.due_mails(datetime(2026, 11, 29, 10, 0, tzinfo=UTC), 10)
    assert len(due) == 2 and due[0].mail.text == "x" * 10 and due[0].mail.created_at == case.created_at


async def test_a_failed_transaction_leaves_nothing_and_uses_no_number(services: Services) -> None:
    first = await services.store.create_case(draft(), received(), lambda c: [mail(c)])
    # Two mails with the same identity make the service reject the whole transaction.
    with pytest.raises(Exception):  # noqa: B017 - the SDK's conflict error; what matters is what is left
        await services.store.create_case(draft(), received(), lambda c: [mail(c), mail(c)])
    assert [c.reference for c in await services.store.cases(Process.QUESTION)] == [first.reference]
    after = await services.store.create_case(draft(), received(), lambda c: [mail(c)])
    assert after.reference == "SSU-D-2026-0002"


async def test_references_are_unique_under_concurrency_across_instances(settings: Settings, services: Services) -> None:
    # Two service instances stand for two function hosts: they share only the storage.
    other = build_services(settings)
    try:
        creations = [
            (services if i % 2 else other).store.create_case(draft(title=f"Sak {i}"), received(), lambda c: [mail(c)])
            for i in range(40)
        ]
        cases = await asyncio.gather(*creations)
    finally:
        await other.close()
    references = sorted(c.reference for c in cases)
    assert references == [f"SSU-D-2026-{n:04d}" for n in range(1, 41)]
    assert len(await services.store.cases(Process.QUESTION)) == 40


async def test_second_transition_from_the_same_read_is_refused(services: Services) -> None:
    case = await services.store.create_case(draft(), received(), lambda c: [])
    stored = await services.store.load(case.reference)
    assert stored is not None
    later = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
    closed = stored.case.model_copy(update={"status": "closed", "updated_at": later})
    await services.store.transition(stored, closed, received(later))
    with pytest.raises(ConcurrentUpdate):
        await services.store.transition(stored, stored.case.model_copy(update={"status": "other"}), received(later))
    reloaded = await services.store.load(case.reference)
    assert reloaded is not None and reloaded.case.status == "closed"
    assert len(await services.store.events(case.reference)) == 2


async def test_the_same_mail_is_never_queued_twice(services: Services) -> None:
    case = await services.store.create_case(draft(), received(), lambda c: [mail(c)])
    stored = await services.store.load(case.reference)
    assert stored is not None
    with pytest.raises(AlreadyQueued):
        await services.store.transition(stored, stored.case, received(), [mail(case)])
    assert len(await services.store.events(case.reference)) == 1


async def test_cases_are_listed_by_process_and_status(services: Services) -> None:
    a = await services.store.create_case(draft(), received(), lambda c: [])
    b = await services.store.create_case(draft(status="closed"), received(), lambda c: [])
    assert {c.reference for c in await services.store.cases(Process.QUESTION)} == {a.reference, b.reference}
    assert [c.reference for c in await services.store.cases(Process.QUESTION, "closed")] == [b.reference]
    assert await services.store.cases(Process.CHANGE_REQUEST) == []


async def test_large_mail_bodies_are_chunked_and_come_back_whole(services: Services) -> None:
    case = await services.store.create_case(draft(), received(), lambda c: [mail(c, size=200_000)])
    with pytest.raises(ValueError, match="too large"):
        await services.store.create_case(draft(), received(), lambda c: [mail(c, size=2_000_000)])
    due = await services.store.due_mails(datetime(2026, 11, 30, tzinfo=UTC), 10)
    assert [len(r.mail.text) for r in due if r.mail.reference == case.reference] == [200_000]


async def test_unreachable_storage_is_reported_quickly_and_clearly(settings: Settings) -> None:
    dead = Settings(
        storage_connection_string=AZURITE_CONNECTION_STRING.replace(":10002/", ":9/"),
        table_prefix=settings.table_prefix,
        storage_timeout_seconds=1.0,
    )
    broken = build_services(dead)
    try:
        with pytest.raises(StorageUnavailable):
            await broken.store.create_case(draft(), received(), lambda c: [])
        assert await broken.storage.ping() is False
    finally:
        await broken.close()


async def test_cases_written_together_fail_alone(services: Services) -> None:
    first = await services.store.create_case(draft(), received(), lambda c: [mail(c)], markers=["seen-before"])
    creations = [
        services.store.create_case(draft(title=f"Sak {i}"), received(), lambda c: [mail(c)], markers=[f"m{i}"])
        for i in range(10)
    ]
    creations.append(services.store.create_case(draft(), received(), lambda c: [mail(c)], markers=["seen-before"]))
    creations.append(services.store.create_case(draft(), received(), lambda c: [mail(c, size=2_000_000)]))
    results = await asyncio.gather(*creations, return_exceptions=True)
    written = [r for r in results if isinstance(r, Case)]
    assert sorted(c.reference for c in written) == [f"SSU-D-2026-{n:04d}" for n in range(2, 12)]
    assert isinstance(results[10], AlreadyProcessed) and results[10].reference == first.reference
    assert isinstance(results[11], ValueError)
    assert len(await services.store.cases(Process.QUESTION)) == 11
