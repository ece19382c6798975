"""The outbox's wake-ups on Azurite's queues: a write that queued mail puts one base64 message on the outbox queue
(coalesced, never one per mail), a write that queued none puts nothing, and the dev host runs a queue trigger as the
Functions host does (delete on success, seen again on failure, the poison queue after maxDequeueCount)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue.aio import QueueClient

from functions.adapters.queues import QueueWakeup
from functions.core.mail import OutgoingMail
from functions.core.model import Case, CaseEvent, Channel, Process
from functions.core.services import Services
from functions.core.settings import Settings
from functions.devhost.queues import QueueOptions, QueueTrigger
from tests.conftest import unique_prefix


async def messages_on(settings: Settings, queue_name: str | None = None) -> list[str]:
    """The bodies on a queue, as they are stored (peeked: nothing is taken)."""
    async with QueueClient.from_connection_string(
        str(settings.connection_string), queue_name or settings.outbox_queue
    ) as queue:
        try:
            return [str(m.content) for m in await queue.peek_messages(max_messages=32)]
        except ResourceNotFoundError:
            return []  # no queue yet: no message was ever sent to it


def wakeup_of(services: Services) -> QueueWakeup:
    assert isinstance(services.wakeup, QueueWakeup)
    return services.wakeup


def draft(services: Services) -> tuple[Case, CaseEvent]:
    now = services.clock.now()
    case = Case(
        process=Process.QUESTION,
        kind="question",
        status="new",
        organisation_number="310000019",
        submitter_name="Frida Fagerli",
        submitter_email="fag@demo-forsikring.example",
        submitter_verified=True,
        title="Vekking",
        created_at=now,
        updated_at=now,
    )
    return case, CaseEvent(at=now, actor="test", channel=Channel.API, kind="received", public=True, summary="x")


def two_mails(services: Services, case: Case) -> list[OutgoingMail]:
    return [
        services.compose(
            reference=case.reference,
            purpose=f"wake-{i}",
            to=f"person{i}@demo-forsikring.example",
            template="question_received",
            language="nb",
            case=case,
            case_link="http://localhost:7071/api/case-page/x",
            organisation_name="Demo Forsikring ASA",
            identity_numbers_removed=0,
        )
        for i in range(2)
    ]


async def test_a_case_with_two_mails_puts_one_message_the_host_can_read(services: Services) -> None:
    case, event = draft(services)
    await services.store.create_case(case, event, lambda c: two_mails(services, c))
    await wakeup_of(services).flush(30)
    [body] = await messages_on(services.settings)
    assert "queued_at" in json.loads(base64.b64decode(body, validate=True))  # base64, as the queue trigger reads


async def test_a_write_that_queues_no_mail_wakes_nothing(services: Services) -> None:
    case, event = draft(services)
    created = await services.store.create_case(case, event, lambda c: [])
    await services.store.append(created.reference, event)
    await wakeup_of(services).flush(30)
    assert await messages_on(services.settings) == []


async def test_wake_ups_are_coalesced(services: Services) -> None:
    wakeup = wakeup_of(services)
    for _ in range(50):  # many writes in one go (a request's, or many requests' at once): one message
        wakeup.mail_queued()
    await wakeup.flush(30)
    assert len(await messages_on(services.settings)) == 1
    wakeup.mail_queued()
    await asyncio.sleep(0)  # that message is on its way now
    for _ in range(10):  # writes that commit meanwhile share one more, sent after them
        wakeup.mail_queued()
    await wakeup.flush(30)
    assert len(await messages_on(services.settings)) == 3


# -- the dev host's queue trigger ----------------------------------------------------------------------------------


@pytest.fixture
async def queue(settings: Settings) -> AsyncIterator[QueueClient]:
    async with QueueClient.from_connection_string(str(settings.connection_string), unique_prefix()) as client:
        await client.create_queue()
        yield client


class Function:
    """A queue-triggered function that fails or succeeds as `outcomes` say, one per call, and records the bodies."""

    def __init__(self, outcomes: list[Exception | None]) -> None:
        self.outcomes = outcomes
        self.seen: list[bytes] = []

    async def __call__(self, message: func.QueueMessage) -> None:
        self.seen.append(message.get_body())
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome


OPTIONS = QueueOptions(batch_size=1, max_dequeue_count=5, visibility_timeout=0, function_timeout=30)


def trigger(settings: Settings, queue: QueueClient, function: Function) -> QueueTrigger:
    return QueueTrigger("test", function, str(settings.connection_string), queue.queue_name, OPTIONS)


async def test_the_dev_host_deletes_a_message_its_function_took(settings: Settings, queue: QueueClient) -> None:
    function = Function([])
    runner = trigger(settings, queue, function)
    await queue.send_message(base64.b64encode(b'{"wake": 1}').decode())
    assert await runner.poll_once() == 1
    assert function.seen == [b'{"wake": 1}']
    assert await runner.poll_once() == 0
    assert await messages_on(settings, queue.queue_name) == []
    await runner.close()


async def test_a_failed_message_comes_again_and_goes_to_poison_after_five(
    settings: Settings, queue: QueueClient
) -> None:
    function = Function([RuntimeError("storage away")] * 2)
    runner = trigger(settings, queue, function)
    await queue.send_message(base64.b64encode(b"once").decode())
    for _ in range(3):  # fails, fails, succeeds: seen again each time, then gone
        assert await runner.poll_once() == 1
    assert await runner.poll_once() == 0
    assert function.seen == [b"once"] * 3

    function = Function([RuntimeError("always")] * 10)
    runner = trigger(settings, queue, function)
    body = base64.b64encode(b"never").decode()
    await queue.send_message(body)
    for _ in range(5):
        assert await runner.poll_once() == 1
    assert await runner.poll_once() == 0  # five attempts, then moved
    assert function.seen == [b"never"] * 5
    assert await messages_on(settings, f"{queue.queue_name}-poison") == [body]
    await runner.close()


async def test_a_message_that_is_not_base64_goes_to_poison_untouched(settings: Settings, queue: QueueClient) -> None:
    function = Function([])
    runner = trigger(settings, queue, function)
    await queue.send_message("not base64 at all!")
    assert await runner.poll_once() == 1
    assert function.seen == []
    assert await messages_on(settings, f"{queue.queue_name}-poison") == ["not base64 at all!"]
    await runner.close()


async def test_a_message_taken_is_hidden_from_another_poller_while_it_runs(
    settings: Settings, queue: QueueClient
) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(message: func.QueueMessage) -> None:
        started.set()
        await release.wait()

    first = QueueTrigger("one", slow, str(settings.connection_string), queue.queue_name, OPTIONS)
    second = QueueTrigger("two", slow, str(settings.connection_string), queue.queue_name, OPTIONS)
    await queue.send_message(base64.b64encode(b"x").decode())
    running = asyncio.create_task(first.poll_once())
    await asyncio.wait_for(started.wait(), 10)
    assert await second.poll_once() == 0
    release.set()
    assert await running == 1
    await first.close()
    await second.close()
