"""The outbox over real Azurite as a reviewer broke it: the daily cap across overlapping dispatchers, a throttled
Sent Items lookup, and a claimed group waiting behind the transport's gate past its claim."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from email.parser import BytesHeaderParser

from functions.adapters.graph import SEND_CONCURRENCY
from functions.composition import build_services
from functions.core.clock import SystemClock
from functions.core.mail import NotStarted, OutgoingMail, PermanentSendError
from functions.core.outbox import RetryPolicy, dispatch_outbox
from functions.core.services import Services
from functions.core.settings import Settings
from tests.conftest import FakeClock
from tests.graph_stub import GraphStub
from tests.integration.test_outbox_claims import AFTER_LEASE, POLICY, CountingTransport, graph_transport, queue, states

ADDRESS = "fag@demo-forsikring.example"  # every queued question's acknowledgement goes here


async def test_overlapping_dispatchers_let_no_more_than_the_daily_cap_through(
    services: Services, settings: Settings
) -> None:
    clock = services.clock = FakeClock()
    # More groups than a run works on at once: each run claims its own groups, as overlapping runs do.
    references = await queue(services, 150)
    transport = CountingTransport(delay=0.2)
    hosts = [build_services(settings, clock=clock) for _ in range(3)]
    try:
        reports = await asyncio.gather(
            *(dispatch_outbox(h.store, transport, clock, POLICY, limits=h.limits, daily_cap=5) for h in hosts)
        )
        again = await dispatch_outbox(services.store, transport, clock, POLICY, limits=services.limits, daily_cap=5)
    finally:
        for host in hosts:
            await host.close()
    day = clock.now().date().isoformat()
    assert sum(transport.sends.values()) == 5, "three runs at once: the cap, not three times it"
    assert sum(r.sent for r in reports) == 5 and again.sent == 0
    assert await services.limits.sent_today(day) == {ADDRESS: 5}, "every run's sends counted, none lost"
    assert await states(services, references) == {"sent": 5, "pending": 145}


async def test_the_daily_count_loses_no_concurrent_reservation(services: Services, settings: Settings) -> None:
    hosts = [build_services(settings) for _ in range(4)]
    try:
        taken = await asyncio.gather(
            *(h.limits.reserve_sent("2026-12-01", ADDRESS, 2, 30) for h in hosts for _ in range(5))
        )
        assert sum(taken) == 30 and sorted(taken)[:5] == [0] * 5, "40 wanted, 30 allowed: exactly 30 taken"
        await asyncio.gather(*(h.limits.release_sent("2026-12-01", ADDRESS, 3) for h in hosts))
    finally:
        for host in hosts:
            await host.close()
    assert await services.limits.sent_today("2026-12-01") == {ADDRESS: 18}


class RefusesFirst(CountingTransport):
    """Refuses the first mail it is given for good; sends the rest."""

    refused = False

    async def send_many(
        self, mails: Sequence[OutgoingMail], start_within: float | None = None
    ) -> list[Exception | None]:
        outcomes = await super().send_many(mails, start_within)
        if not self.refused:
            self.refused = True
            self.sends[mails[0].message_id] -= 1
            outcomes[0] = PermanentSendError("550 no such user")
        return outcomes


async def test_a_refused_mail_gives_its_place_under_the_cap_back(services: Services) -> None:
    clock = services.clock = FakeClock()
    references = await queue(services, 5)
    transport = RefusesFirst()
    report = await dispatch_outbox(services.store, transport, clock, POLICY, limits=services.limits, daily_cap=3)
    assert (report.sent, report.failed, report.retried) == (2, 1, 2), "three places taken, one refused"
    assert await services.limits.sent_today(clock.now().date().isoformat()) == {ADDRESS: 2}
    assert await states(services, references) == {"sent": 2, "failed": 1, "pending": 2}


async def test_a_throttled_lookup_waits_its_retry_after_and_costs_no_attempt(
    services: Services, settings: Settings, graph_stub: GraphStub
) -> None:
    clock = services.clock = FakeClock()
    [reference] = await queue(services, 1)
    transport = graph_transport(settings, graph_stub)
    graph_stub.fail("/sendMail", 502, {})  # a bad gateway: Graph may have taken it, so it is looked up first
    for _ in range(6):
        graph_stub.fail("/mailFolders/sentitems/messages", 429, {"Retry-After": "600"})
    try:
        first = await dispatch_outbox(services.store, transport, clock, POLICY)
        [record] = await services.store.mails(reference)
        assert first.retried == 1 and record.attempts == 1 and "502" in record.last_error
        assert graph_stub.sent_mime() == [] and record.due_at == clock.now() + timedelta(minutes=10), "a lease on"
        clock.at += AFTER_LEASE
        for _ in range(6):  # more runs than POLICY's three attempts, each throttled at the lookup
            throttled = await dispatch_outbox(services.store, transport, clock, POLICY)
            [record] = await services.store.mails(reference)
            assert throttled.retried == 1 and record.status == "pending" and record.attempts == 1
            assert "throttled" in record.last_error
            assert record.due_at is not None and record.due_at >= clock.now() + timedelta(seconds=600)
            clock.at += timedelta(seconds=300)
            early = await dispatch_outbox(services.store, transport, clock, POLICY)
            assert (early.sent, early.retried) == (0, 0), "Retry-After is waited out"
            clock.at += timedelta(seconds=400)
        done = await dispatch_outbox(services.store, transport, clock, POLICY)
    finally:
        await transport.close()
    assert done.sent == 1 and len(graph_stub.sent_mime()) == 1, "looked up, not found: sent, once"
    lookups = [r for r in graph_stub.requests if r.path.endswith("/sentitems/messages")]
    assert len(lookups) == 7
    assert await states(services, [reference]) == {"sent": 1}


async def test_a_lookup_throttled_for_ever_ends_at_the_maximum_age(
    services: Services, settings: Settings, graph_stub: GraphStub
) -> None:
    clock = services.clock = FakeClock()
    [reference] = await queue(services, 1)
    transport = graph_transport(settings, graph_stub)
    graph_stub.fail("/sendMail", 504, {})
    for _ in range(40):
        graph_stub.fail("/mailFolders/sentitems/messages", 429, {"Retry-After": "60"})
    failed = 0
    try:
        for _ in range(30):  # every two hours for 60 hours
            failed += (await dispatch_outbox(services.store, transport, clock, POLICY)).failed
            clock.at += timedelta(hours=2)
    finally:
        await transport.close()
    [record] = await services.store.mails(reference)
    assert failed == 1 and record.status == "failed" and "48 hours" in record.last_error
    assert graph_stub.sent_mime() == []


async def test_a_send_never_waits_behind_slow_lookups(
    services: Services, settings: Settings, graph_stub: GraphStub
) -> None:
    clock = services.clock = SystemClock()
    policy = RetryPolicy(max_attempts=8, base_seconds=0, max_seconds=0)
    unsure = await queue(services, 6)
    for record in await services.store.due_mails(clock.now(), 100):  # outcome unknown: each is looked up first
        await services.store.record_retry(record, clock.now(), clock.now(), "ReadTimeout", unsure=True)
    graph_stub.lookup_delay = 2.0  # one gate for all would hold B for two seconds at least
    shared = graph_transport(settings, graph_stub)  # one process: the timer's run and a wake-up's share it
    try:
        a = asyncio.create_task(dispatch_outbox(services.store, shared, clock, policy, owner="A"))
        await asyncio.sleep(0.3)  # A's lookups are under way
        fresh = await queue(services, 5)
        started = time.monotonic()
        b = await dispatch_outbox(services.store, shared, clock, policy, lease=timedelta(seconds=4), owner="B")
        took = time.monotonic() - started
        await a
    finally:
        await shared.close()
    assert b.sent == 5 and took < 1.5, f"B's group went at once, not behind A's lookups ({took:.1f} s)"
    sent = Counter(str(BytesHeaderParser().parsebytes(m)["Message-ID"]) for m in graph_stub.sent_mime())
    assert len(sent) == 11 and set(sent.values()) == {1}
    assert await states(services, unsure + fresh) == {"sent": 11}


async def test_the_transport_starts_no_send_past_the_claims_deadline(
    services: Services, settings: Settings, graph_stub: GraphStub
) -> None:
    references = await queue(services, SEND_CONCURRENCY + 1)
    mails = [(await services.store.mails(r))[0].mail for r in references]
    graph_stub.answer_late(1.0, times=SEND_CONCURRENCY)  # every send slot busy for a second
    transport = graph_transport(settings, graph_stub)
    try:
        busy = [asyncio.create_task(transport.send_many([m])) for m in mails[:-1]]
        await asyncio.sleep(0.2)
        [late] = await transport.send_many(mails[-1:], start_within=0.3)
        assert await asyncio.gather(*busy) == [[None]] * SEND_CONCURRENCY
    finally:
        await transport.close()
    assert isinstance(late, NotStarted), "waited for the gate past its deadline: refused, not sent"
    sent = {str(BytesHeaderParser().parsebytes(m)["Message-ID"]) for m in graph_stub.sent_mime()}
    assert len(sent) == SEND_CONCURRENCY and mails[-1].message_id not in sent


class NeverStarts(CountingTransport):
    async def send_many(
        self, mails: Sequence[OutgoingMail], start_within: float | None = None
    ) -> list[Exception | None]:
        return [NotStarted("not started before the claim's deadline")] * len(mails)


async def test_mails_not_started_stay_claimed_and_go_once_after_their_lease(services: Services) -> None:
    clock = services.clock = FakeClock()
    references = await queue(services, 4)
    first = await dispatch_outbox(services.store, NeverStarts(), clock, POLICY)
    assert (first.sent, first.skipped, first.retried) == (0, 4, 0)
    transport = CountingTransport()
    assert (await dispatch_outbox(services.store, transport, clock, POLICY)).sent == 0, "still claimed"
    clock.at += AFTER_LEASE
    later = await dispatch_outbox(services.store, transport, clock, POLICY)
    assert later.sent == 4 and len(transport.asked) == 4 and set(transport.sends.values()) == {1}
    assert await states(services, references) == {"sent": 4}
