"""The outbox dispatcher over real Azurite: local and Graph transports, retries, Retry-After, giving up visibly."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email.policy import default

from functions.adapters.graph import GraphClient, GraphTransport
from functions.adapters.local_mail import LocalTransport
from functions.core.mail import MailTransport
from functions.core.outbox import RetryPolicy, dispatch_outbox
from functions.core.services import Services
from functions.core.settings import Settings
from tests.conftest import FakeClock
from tests.graph_stub import GraphStub, StaticToken
from tests.integration.test_case_store import draft, received


def graph_transport(settings: Settings, stub: GraphStub) -> GraphTransport:
    graph_settings = settings.model_copy(update={"graph_base_url": stub.base_url})
    return GraphTransport(GraphClient(graph_settings, credential=StaticToken()), "ssu@bits.example")


async def queue_question(services: Services) -> str:
    clock = services.clock

    def mails(case):
        return [
            services.compose(
                reference=case.reference,
                purpose="acknowledgement",
                to=case.submitter_email,
                template="question_received",
                language="nb",
                case=case,
                case_link="http://localhost/x",
                organisation_name="Demo Forsikring ASA",
                identity_numbers_removed=0,
            )
        ]

    case = await services.store.create_case(
        draft(created_at=clock.now(), updated_at=clock.now()), received(clock.now()), mails
    )
    return case.reference


POLICY = RetryPolicy(max_attempts=3, base_seconds=60, max_seconds=3600)


async def run(services: Services, transport: MailTransport) -> tuple[int, int, int]:
    report = await dispatch_outbox(services.store, transport, services.clock, POLICY)
    return report.sent, report.retried, report.failed


async def test_local_transport_writes_each_mail_once(services: Services, settings: Settings) -> None:
    reference = await queue_question(services)
    transport = LocalTransport(settings.mail_local_dir)
    assert await run(services, transport) == (1, 0, 0)
    assert await run(services, transport) == (0, 0, 0), "nothing is sent twice"
    files = list((settings.mail_local_dir / "outbox").glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=default)
    assert f"[{reference}]" in str(message["Subject"])
    [record] = await services.store.mails(reference)
    assert record.status == "sent" and record.attempts == 1 and record.sent_at is not None


async def test_local_transport_knows_what_it_sent(services: Services, settings: Settings) -> None:
    await queue_question(services)
    [record] = await services.store.due_mails(services.clock.now(), 10)
    transport = LocalTransport(settings.mail_local_dir)
    assert await transport.was_sent(record.mail) is False
    assert await transport.send_many([record.mail]) == [None]
    assert await transport.was_sent(record.mail) is True
    outbox = settings.mail_local_dir / "outbox"
    assert [p.suffix for p in outbox.iterdir()] == [".eml"], "written aside and renamed: nothing partial is left"


async def test_graph_sends_our_mime_unchanged(services: Services, settings: Settings, graph_stub: GraphStub) -> None:
    services.clock = FakeClock()
    reference = await queue_question(services)
    transport = graph_transport(settings, graph_stub)
    try:
        assert await run(services, transport) == (1, 0, 0)
    finally:
        await transport.close()
    [request] = graph_stub.requests
    assert request.method == "POST" and request.path == "/v1.0/users/ssu@bits.example/sendMail"
    assert request.headers["Content-Type"].startswith("text/plain")
    assert request.headers["Authorization"] == "Bearer stub-token"
    [mime] = graph_stub.sent_mime()
    message = email.message_from_bytes(mime, policy=default)
    assert message["Message-ID"].startswith(f"<{reference}.")
    assert message["Auto-Submitted"] == "auto-generated" and message["X-Auto-Response-Suppress"] == "All"
    assert f"[{reference}]" in str(message["Subject"])


async def test_graph_429_waits_for_retry_after_then_sends(
    services: Services, settings: Settings, graph_stub: GraphStub
) -> None:
    clock = services.clock = FakeClock()
    reference = await queue_question(services)
    graph_stub.script.append((429, {"Retry-After": "120"}, None))
    transport = graph_transport(settings, graph_stub)
    try:
        assert await run(services, transport) == (0, 1, 0)
        [record] = await services.store.mails(reference)
        assert record.status == "pending" and "429" in record.last_error
        assert record.attempts == 0, "being throttled costs the mail no attempt"
        clock.at += timedelta(seconds=119)
        assert await run(services, transport) == (0, 0, 0), "not before Retry-After has passed"
        clock.at += timedelta(seconds=14)  # Retry-After, plus its jitter (under 10%)
        assert await run(services, transport) == (1, 0, 0)
    finally:
        await transport.close()
    assert len(graph_stub.requests) == 2
    [record] = await services.store.mails(reference)
    assert record.status == "sent" and record.attempts == 1


async def test_repeated_graph_500s_mark_the_mail_failed_on_its_case(
    services: Services, settings: Settings, graph_stub: GraphStub
) -> None:
    clock = services.clock = FakeClock()
    reference = await queue_question(services)
    graph_stub.script.extend([(500, {}, None)] * 3)
    transport = graph_transport(settings, graph_stub)
    try:
        for expected in [(0, 1, 0), (0, 1, 0), (0, 0, 1)]:
            assert await run(services, transport) == expected
            clock.at += timedelta(hours=2)
        assert await run(services, transport) == (0, 0, 0), "a failed mail is not tried again"
    finally:
        await transport.close()
    [record] = await services.store.mails(reference)
    assert record.status == "failed" and record.attempts == 3
    events = await services.store.events(reference)
    assert [e.kind for e in events] == ["received", "mail_failed"]
    assert events[-1].public is False and "500" in events[-1].summary


async def test_graph_down_keeps_mails_pending_until_it_is_back(
    services: Services, settings: Settings, graph_stub: GraphStub
) -> None:
    clock = services.clock = FakeClock()
    reference = await queue_question(services)
    await graph_stub.stop()  # nothing listens: connection refused
    transport = graph_transport(settings, graph_stub)
    try:
        assert await run(services, transport) == (0, 1, 0)
        [record] = await services.store.mails(reference)
        assert record.status == "pending" and "unreachable" in record.last_error
        await graph_stub.start()  # back on the same port
        clock.at += timedelta(minutes=5)
        assert await run(services, transport) == (1, 0, 0)
    finally:
        await transport.close()
    assert len(graph_stub.sent_mime()) == 1


async def test_graph_refusal_fails_at_once(services: Services, settings: Settings, graph_stub: GraphStub) -> None:
    services.clock = FakeClock()
    reference = await queue_question(services)
    graph_stub.script.append((400, {}, {"error": {"code": "ErrorInvalidRecipients", "message": "bad recipient"}}))
    transport = graph_transport(settings, graph_stub)
    try:
        assert await run(services, transport) == (0, 0, 1)
    finally:
        await transport.close()
    [record] = await services.store.mails(reference)
    assert record.status == "failed" and "400" in record.last_error


async def test_suppressed_addresses_get_no_mail_until_lifted(services: Services, settings: Settings) -> None:
    clock = services.clock = FakeClock()
    for _ in range(3):
        await services.limits.record_bounce("fag@demo-forsikring.example", clock.now(), suppress_after=3)
    assert await services.limits.suppressed() == {"fag@demo-forsikring.example"}
    reference = await queue_question(services)
    report = await dispatch_outbox(
        services.store, LocalTransport(settings.mail_local_dir), clock, POLICY, limits=services.limits
    )
    assert (report.sent, report.failed) == (0, 1)
    [record] = await services.store.mails(reference)
    assert record.status == "failed" and "suppressed" in record.last_error
    assert "mail_failed" in [e.kind for e in await services.store.events(reference)]
    assert await services.limits.lift("FAG@demo-forsikring.example", "admin@bits.example", clock.now()) is True
    assert await services.limits.suppressed() == set()
    [lifted] = await services.limits.lifts()
    assert (lifted["address"], lifted["permanent_bounces"], lifted["lifted_by"]) == (
        "fag@demo-forsikring.example",
        3,
        "admin@bits.example",
    )


async def test_daily_cap_holds_the_rest_until_tomorrow(services: Services, settings: Settings) -> None:
    clock = services.clock = FakeClock()
    references = [await queue_question(services) for _ in range(3)]
    transport = LocalTransport(settings.mail_local_dir)
    report = await dispatch_outbox(services.store, transport, clock, POLICY, limits=services.limits, daily_cap=2)
    assert (report.sent, report.retried) == (2, 1)
    held = [m for ref in references for m in await services.store.mails(ref) if m.status == "pending"]
    assert len(held) == 1 and "daily cap" in held[0].last_error
    assert held[0].due_at == datetime(2026, 11, 30, tzinfo=UTC)
    assert (
        await dispatch_outbox(services.store, transport, clock, POLICY, limits=services.limits, daily_cap=2)
    ).sent == 0
    clock.at = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert (
        await dispatch_outbox(services.store, transport, clock, POLICY, limits=services.limits, daily_cap=2)
    ).sent == 1


async def test_graph_sends_many_mails_as_json_batches_of_twenty(
    services: Services, settings: Settings, graph_stub: GraphStub
) -> None:
    clock = services.clock = FakeClock()
    references = [await queue_question(services) for _ in range(45)]
    graph_stub.fail("/sendMail", 429, {"Retry-After": "30"}, skip=5)  # the sixth item
    graph_stub.fail("/sendMail", 400, {}, skip=10)  # and a refusal further on
    transport = graph_transport(settings, graph_stub)
    try:
        assert await run(services, transport) == (43, 1, 1)
        assert [r.path for r in graph_stub.requests] == ["/v1.0/$batch"] * 3, "45 mails in ⌈45/20⌉ requests"
        batches = [json.loads(r.body)["requests"] for r in graph_stub.requests]
        assert sorted(len(b) for b in batches) == [5, 20, 20]
        assert {i["url"] for b in batches for i in b} == {"/users/ssu@bits.example/sendMail"}
        clock.at += timedelta(seconds=34)  # Retry-After, plus its jitter (under 10%)
        assert await run(services, transport) == (1, 0, 0), "the throttled mail goes after Retry-After"
    finally:
        await transport.close()
    subjects = {str(email.message_from_bytes(m, policy=default)["Subject"]) for m in graph_stub.sent_mime()}
    assert len(graph_stub.sent_mime()) == 44 and len(subjects) == 44
    states = [m.status for ref in references for m in await services.store.mails(ref)]
    assert states.count("sent") == 44 and states.count("failed") == 1


async def test_a_failed_batch_request_keeps_all_its_mails_pending(
    services: Services, settings: Settings, graph_stub: GraphStub
) -> None:
    clock = services.clock = FakeClock()
    for _ in range(3):
        await queue_question(services)
    graph_stub.script.append((503, {"Retry-After": "10"}, None))
    transport = graph_transport(settings, graph_stub)
    try:
        assert await run(services, transport) == (0, 3, 0)
        clock.at += timedelta(seconds=11)
        assert await run(services, transport) == (3, 0, 0)
    finally:
        await transport.close()
    assert len(graph_stub.sent_mime()) == 3
