"""The outbox over real Azurite when dispatchers race, crash and lose answers: every mail exactly once, and it ends."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from email.parser import BytesHeaderParser
from typing import Any

import pytest

from functions.adapters.graph import GraphClient, GraphTransport
from functions.composition import build_services
from functions.core.mail import OutgoingMail
from functions.core.outbox import DispatchReport, RetryPolicy, dispatch_outbox
from functions.core.services import Services
from functions.core.settings import Settings
from functions.core.store import StorageUnavailable
from tests.conftest import FakeClock
from tests.graph_stub import GraphStub, StaticToken
from tests.integration.test_outbox import queue_question

POLICY = RetryPolicy(max_attempts=3, base_seconds=60, max_seconds=3600)  # and the default maximum age, 48 hours
# A claim holds a mail for 10 minutes (functions/core/outbox.py LEASE): before that no one touches it, after it
# the next dispatcher looks it up at the transport.
WITHIN_LEASE = timedelta(minutes=1)
AFTER_LEASE = timedelta(minutes=11)


class CountingTransport:
    """One mail server shared by every dispatcher: counts what it is given, answers `was_sent` from that, and can
    take its time (`delay`), hang after sending (`hang_after`) or before (`hang_before`), as a crash would."""

    name = "counting"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.sends: Counter[str] = Counter()
        self.asked: list[str] = []
        self.hang_after = False
        self.hang_before = False
        self.handed = asyncio.Event()

    async def send_many(
        self, mails: Sequence[OutgoingMail], start_within: float | None = None
    ) -> list[Exception | None]:
        if self.hang_before:
            self.handed.set()
            await asyncio.Event().wait()
        await asyncio.sleep(self.delay)
        self.sends.update(m.message_id for m in mails)
        if self.hang_after:
            self.handed.set()
            await asyncio.Event().wait()  # sent, and the run dies before it hears back
        return [None] * len(mails)

    async def was_sent(self, mail: OutgoingMail) -> bool | None:
        self.asked.append(mail.message_id)
        return self.sends[mail.message_id] > 0

    async def close(self) -> None:
        return None


async def queue(services: Services, count: int) -> list[str]:
    return list(await asyncio.gather(*(queue_question(services) for _ in range(count))))


async def states(services: Services, references: Sequence[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for reference in references:
        found.update(m.status for m in await services.store.mails(reference))
    return found


def graph_transport(settings: Settings, stub: GraphStub, timeout: float = 30.0) -> GraphTransport:
    changed = settings.model_copy(update={"graph_base_url": stub.base_url, "graph_timeout_seconds": timeout})
    return GraphTransport(GraphClient(changed, credential=StaticToken()), "ssu@bits.example")


@pytest.mark.parametrize("dispatchers", [2, 10])
async def test_dispatchers_at_once_send_each_mail_exactly_once(
    services: Services, settings: Settings, dispatchers: int
) -> None:
    clock = services.clock = FakeClock()
    references = await queue(services, 120)
    transport = CountingTransport(delay=0.02)
    # Each dispatcher is a host of its own: its own clients, only the storage (and the mail server) shared.
    hosts = [build_services(settings, clock=clock) for _ in range(dispatchers)]
    try:
        reports = await asyncio.gather(*(dispatch_outbox(h.store, transport, clock, POLICY) for h in hosts))
    finally:
        for host in hosts:
            await host.close()
    assert len(transport.sends) == 120 and set(transport.sends.values()) == {1}, "no mail sent twice"
    assert sum(r.sent for r in reports) == 120
    assert await states(services, references) == {"sent": 120}
    again = await dispatch_outbox(services.store, transport, clock, POLICY)
    assert again.sent == 0 and set(transport.sends.values()) == {1}


async def test_a_run_that_dies_after_sending_is_reconciled_not_resent(services: Services) -> None:
    clock = services.clock = FakeClock()
    references = await queue(services, 30)
    transport = CountingTransport()
    transport.hang_after = True
    crashed = asyncio.create_task(dispatch_outbox(services.store, transport, clock, POLICY))
    await asyncio.wait_for(transport.handed.wait(), 10)
    await asyncio.sleep(0.2)  # every group handed over
    crashed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await crashed
    transport.hang_after = False
    assert sum(transport.sends.values()) == 30 and await states(services, references) == {"pending": 30}

    clock.at += WITHIN_LEASE
    early = await dispatch_outbox(services.store, transport, clock, POLICY)
    assert set(transport.sends.values()) == {1} and early.sent == 0, "under a live lease no one touches them"
    clock.at += AFTER_LEASE
    later = await dispatch_outbox(services.store, transport, clock, POLICY)
    assert set(transport.sends.values()) == {1}, "looked up at the transport, found sent: not sent again"
    assert (later.sent, later.reconciled) == (0, 30) and len(transport.asked) == 30
    assert await states(services, references) == {"sent": 30}


async def test_a_run_that_dies_after_claiming_sends_later_once(services: Services) -> None:
    clock = services.clock = FakeClock()
    references = await queue(services, 25)
    transport = CountingTransport()
    transport.hang_before = True
    crashed = asyncio.create_task(dispatch_outbox(services.store, transport, clock, POLICY))
    await asyncio.wait_for(transport.handed.wait(), 10)
    await asyncio.sleep(0.2)
    crashed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await crashed
    transport.hang_before = False
    clock.at += AFTER_LEASE
    later = await dispatch_outbox(services.store, transport, clock, POLICY)
    assert len(transport.sends) == 25 and set(transport.sends.values()) == {1}
    assert len(transport.asked) == 25 and (later.sent, later.reconciled) == (25, 0), "looked up, not found: sent"
    assert await states(services, references) == {"sent": 25}


async def test_graph_accepting_then_answering_late_sends_nothing_twice(
    services: Services, settings: Settings, graph_stub: GraphStub
) -> None:
    clock = services.clock = FakeClock()
    references = await queue(services, 20)
    graph_stub.answer_late(0.8)  # the $batch of 20 is taken, and answered after the client gave up
    transport = graph_transport(settings, graph_stub, timeout=0.2)
    try:
        first = await dispatch_outbox(services.store, transport, clock, POLICY)
        assert (first.sent, first.retried) == (0, 20) and len(graph_stub.sent_mime()) == 20
        [record] = await services.store.mails(references[0])
        clock.at += WITHIN_LEASE
        soon = await dispatch_outbox(services.store, transport, clock, POLICY)
        lost = next(iter(graph_stub.sent_items))
        del graph_stub.sent_items[lost]  # one of them Graph did not keep after all
        clock.at += AFTER_LEASE
        later = await dispatch_outbox(services.store, transport, clock, POLICY)
    finally:
        await transport.close()
    sent = Counter(str(BytesHeaderParser().parsebytes(m)["Message-ID"]) for m in graph_stub.sent_mime())
    assert len(sent) == 20 and sent[lost] == 2 and sum(sent.values()) == 21, "only the one not in Sent Items again"
    assert record.status == "pending" and "did not answer" in record.last_error
    assert soon.retried == 0, "a mail Graph may have taken is looked up no sooner than a lease later"
    assert (later.sent, later.reconciled) == (1, 19)
    lookups = [r for r in graph_stub.requests if r.method == "GET"]
    assert len(lookups) == 20
    assert {r.path for r in lookups} == {"/v1.0/users/ssu@bits.example/mailFolders/sentitems/messages"}
    assert await states(services, references) == {"sent": 20}


async def test_a_lookup_that_cannot_tell_waits_and_counts_an_attempt(
    services: Services, settings: Settings, graph_stub: GraphStub
) -> None:
    clock = services.clock = FakeClock()
    [reference] = await queue(services, 1)
    graph_stub.answer_late(0.8)
    transport = graph_transport(settings, graph_stub, timeout=0.2)
    try:
        assert (await dispatch_outbox(services.store, transport, clock, POLICY)).retried == 1
        graph_stub.fail("/sentitems/messages", 503, {})  # Graph cannot say now
        clock.at += AFTER_LEASE
        unsure = await dispatch_outbox(services.store, transport, clock, POLICY)
        assert (unsure.sent, unsure.retried, unsure.reconciled) == (0, 1, 0), "not sent on a guess"
        [record] = await services.store.mails(reference)
        assert record.status == "pending" and record.attempts == 2 and "could not tell" in record.last_error
        clock.at += timedelta(hours=2)
        found = await dispatch_outbox(services.store, transport, clock, POLICY)
    finally:
        await transport.close()
    assert found.reconciled == 1 and len(graph_stub.sent_mime()) == 1
    [record] = await services.store.mails(reference)
    assert record.status == "sent"


async def test_a_mail_that_only_ever_gets_429_fails_at_its_maximum_age(
    services: Services, settings: Settings, graph_stub: GraphStub
) -> None:
    clock = services.clock = FakeClock()
    [reference] = await queue(services, 1)
    for _ in range(40):
        graph_stub.fail("/sendMail", 429, {"Retry-After": "3600"})
    transport = graph_transport(settings, graph_stub)
    reports: list[DispatchReport] = []
    try:
        for _ in range(30):  # every two hours for 60 hours
            reports.append(await dispatch_outbox(services.store, transport, clock, POLICY))
            clock.at += timedelta(hours=2)
    finally:
        await transport.close()
    # Runs at 0, 2, ..., 48 hours: throttled each time, it waits and costs no attempt; at 50 hours it ends, once.
    assert [r.retried for r in reports[:25]] == [1] * 25
    assert reports[25].failed == 1 and sum(r.failed for r in reports) == 1
    assert graph_stub.sent_mime() == [] and len(graph_stub.requests) == 25
    [record] = await services.store.mails(reference)
    assert record.status == "failed" and "48 hours" in record.last_error and "429" in record.last_error
    [event] = [e for e in await services.store.events(reference) if e.kind == "mail_failed"]
    assert event.public is False and "48 hours" in event.summary


class SettleFails:
    """The real store, except that settling sent mails fails as storage does when it stalls."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.failing = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def record_sent_many(self, records: Sequence[Any], now: Any) -> int:
        if self.failing:
            await asyncio.sleep(0.01)
            raise StorageUnavailable("storage did not answer in time")
        return int(await self._store.record_sent_many(records, now))

    async def record_sent(self, record: Any, now: Any) -> None:
        if self.failing:
            raise StorageUnavailable("storage did not answer in time")
        await self._store.record_sent(record, now)


async def test_storage_failing_while_settling_ends_the_run_quietly_and_nothing_is_doubled(
    services: Services,
) -> None:
    clock = services.clock = FakeClock()
    references = await queue(services, 45)
    transport = CountingTransport()
    stalled = SettleFails(services.store)
    first = await dispatch_outbox(stalled, transport, clock, POLICY)
    assert first.sent == 45 and first.unsettled == 45, "sent, not settled, and no error out of the run"
    stalled.failing = False
    clock.at += WITHIN_LEASE
    assert (await dispatch_outbox(stalled, transport, clock, POLICY)).sent == 0
    clock.at += AFTER_LEASE
    later = await dispatch_outbox(stalled, transport, clock, POLICY)
    assert len(transport.sends) == 45 and set(transport.sends.values()) == {1}
    assert (later.sent, later.reconciled) == (0, 45)
    assert await states(services, references) == {"sent": 45}
