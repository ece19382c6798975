"""The wiring of "at once": which writes wake the dispatcher (over the in-memory store), and that the queue trigger's
queue, connection and role are what infra creates and grants."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

from functions.core.mail import OutgoingMail
from functions.core.model import Case, CaseEvent, Channel, Process
from functions.core.services import Services, WakingCaseStore
from functions.core.settings import AZURITE_CONNECTION_STRING, Settings
from functions.core.store import AlreadyProcessed, ConcurrentUpdate, StorageUnavailable
from functions.devhost.azurite import PROJECT_ROOT
from functions.devhost.queues import QueueOptions, storage_connection, timespan_seconds
from tests.fakes import FakeCaseStore, fake_services
from tests.unit.test_infra_settings import infra_settings


class CountingWakeup:
    def __init__(self) -> None:
        self.calls = 0

    def mail_queued(self) -> None:
        self.calls += 1

    async def close(self) -> None:
        return None


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


def mails(services: Services, case: Case, purpose: str, count: int = 2) -> list[OutgoingMail]:
    return [
        services.compose(
            reference=case.reference,
            purpose=f"{purpose}-{i}",
            to=f"person{i}@demo-forsikring.example",
            template="question_received",
            language="nb",
            case=case,
            case_link="http://localhost:7071/api/case-page/x",
            organisation_name="Demo Forsikring ASA",
            identity_numbers_removed=0,
        )
        for i in range(count)
    ]


def waking() -> tuple[Services, WakingCaseStore, CountingWakeup]:
    services = fake_services()
    wakeup = CountingWakeup()
    store = WakingCaseStore(services.store, wakeup)
    return services, store, wakeup


async def test_a_write_wakes_the_dispatcher_once_when_it_queued_mail_and_never_when_it_did_not() -> None:
    services, store, wakeup = waking()
    case, event = draft(services)
    created = await store.create_case(case, event, lambda c: mails(services, c, "receipt"))
    assert wakeup.calls == 1  # two mails, one write: one wake-up
    await store.create_case(case, event, lambda c: [])
    await store.append(created.reference, event)
    assert wakeup.calls == 1
    await store.append(created.reference, event, mails(services, created, "notice"), markers=["m"])
    assert wakeup.calls == 2
    stored = await store.load(created.reference)
    assert stored is not None
    await store.transition(stored, stored.case, event, mails(services, created, "decided"))
    assert wakeup.calls == 3


async def test_a_write_refused_wakes_nothing() -> None:
    services, store, wakeup = waking()
    case, event = draft(services)
    created = await store.create_case(case, event, lambda c: [], markers=["first"])
    with pytest.raises(AlreadyProcessed):  # a duplicate: nothing was written
        await store.append(created.reference, event, mails(services, created, "again"), markers=["first"])
    stale = await store.load(created.reference)
    assert stale is not None
    await store.transition(stale, stale.case, event)
    with pytest.raises(ConcurrentUpdate):  # someone changed it first: nothing was written
        await store.transition(stale, stale.case, event, mails(services, created, "late"))
    assert wakeup.calls == 0


class TimesOut(FakeCaseStore):
    """Storage that does not answer in time: the write may or may not have committed."""

    async def append(self, reference: str, event: CaseEvent, mails: Sequence[OutgoingMail] = (), *a: Any) -> None:
        raise StorageUnavailable("timed out")


async def test_a_write_whose_outcome_is_unknown_wakes_the_dispatcher_anyway() -> None:
    services = fake_services()
    wakeup = CountingWakeup()
    store = WakingCaseStore(TimesOut(), wakeup)
    case, event = draft(services)
    with pytest.raises(StorageUnavailable):
        await store.append("SSU-D-2026-0001", event, mails(services, case, "maybe"))
    assert wakeup.calls == 1  # the mail may be stored: a wake-up that finds nothing costs one query


def test_the_queue_trigger_s_queue_and_connection_are_what_infra_creates_and_grants() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / "functions").rglob("blueprint.py"))
    assert re.findall(r'queue_trigger\([^)]*queue_name="%([A-Z0-9_]+)%"', source) == ["SSU_OUTBOX_QUEUE"]
    assert re.findall(r'queue_trigger\([^)]*connection="([A-Za-z]+)"', source) == ["AzureWebJobsStorage"]
    app_settings = infra_settings()
    # The host resolves %SSU_OUTBOX_QUEUE% from app settings alone; its connection is the host's own storage
    # account (identity-based), the account whose queue endpoint the app writes to.
    assert app_settings["SSU_OUTBOX_QUEUE"] == "outboxQueue"
    assert app_settings["SSU_QUEUE_ENDPOINT"] == "queueEndpoint"
    assert app_settings["AzureWebJobsStorage__credential"] == "'managedidentity'"
    main = (PROJECT_ROOT / "infra" / "main.bicep").read_text(encoding="utf-8")
    [created] = re.findall(r"outboxQueue: '([a-z0-9-]+)'", main)
    assert created == Settings().outbox_queue  # what infra creates is the app's default name
    storage = (PROJECT_ROOT / "infra" / "modules" / "storage.bicep").read_text(encoding="utf-8")
    assert "queueServices/queues@" in storage and "name: outboxQueue" in storage
    assert "974c5e8b-45b9-4653-ba55-5f855dd0fb88" in storage  # Storage Queue Data Contributor for the identity


def test_the_queue_name_follows_the_table_prefix_so_apps_on_one_account_do_not_wake_each_other() -> None:
    assert Settings().outbox_queue == "ssu-outbox-wake"
    assert Settings(table_prefix="t0123abcDEF").outbox_queue == "t0123abcdef-outbox-wake"
    assert Settings(outbox_queue="mine-wake").outbox_queue == "mine-wake"
    for bad in ("a--b", "-ab", "ab-", "Upper-case", "ab", "x" * 57):
        with pytest.raises(ValueError):
            Settings(outbox_queue=bad)


def test_the_dev_host_reads_the_trigger_connection_and_host_json_as_the_host_does() -> None:
    assert storage_connection("AzureWebJobsStorage", {"AzureWebJobsStorage": "X=1"}, "dev") == "X=1"
    assert storage_connection("Mine", {"AzureWebJobsMine": "X=2"}, "dev") == "X=2"
    assert (
        storage_connection("AzureWebJobsStorage", {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, "dev") == "dev"
    )
    with pytest.raises(KeyError, match="not set"):
        storage_connection("AzureWebJobsStorage", {"AzureWebJobsStorage__accountName": "st"}, "dev")
    assert "QueueEndpoint=http://127.0.0.1:10001/" in AZURITE_CONNECTION_STRING  # what UseDevelopmentStorage means
    options = QueueOptions.from_host_json(PROJECT_ROOT / "host.json")
    assert options == QueueOptions(batch_size=1, max_dequeue_count=5, visibility_timeout=5.0, function_timeout=300.0)
    assert timespan_seconds("1.02:03:04.5") == 93784.5
