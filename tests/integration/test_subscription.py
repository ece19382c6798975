"""Keeping the Graph subscription alive, with the real msgraph-sdk against the Graph stub, state in Azurite."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr

from functions.adapters.graph import GraphClient
from functions.adapters.graph_mailbox import GraphMailbox
from functions.adapters.graph_subscription import keep_subscription
from functions.core.inbound import SUBSCRIPTION_STATE
from functions.core.services import Services
from functions.intake.subscription import receive_notifications
from tests.conftest import NOTIFICATION_SECRET, FakeClock
from tests.graph_stub import GraphStub, StaticToken


@pytest.fixture
async def graph_services(services: Services) -> AsyncIterator[tuple[Services, GraphStub, FakeClock]]:
    stub = GraphStub()
    await stub.start()
    settings = services.settings.model_copy(
        update={
            "mailbox": "graph",
            "graph_base_url": stub.base_url,
            "graph_notification_client_state": SecretStr(NOTIFICATION_SECRET),
        }
    )
    graph = GraphClient(settings, credential=StaticToken())
    original = (services.settings, services.mailbox, services.clock)
    clock = FakeClock()
    services.settings = settings
    services.mailbox = GraphMailbox(graph, "ssu@bits.example", services.state, "p", "f")
    services.clock = clock
    yield services, stub, clock
    await graph.close()
    services.settings, services.mailbox, services.clock = original
    await stub.stop()


async def test_subscription_is_created_kept_renewed_and_recreated(
    graph_services: tuple[Services, GraphStub, FakeClock],
) -> None:
    services, stub, clock = graph_services
    assert await keep_subscription(services) == "created"
    [created] = stub.subscriptions.values()
    assert created["changeType"] == "created" and created["clientState"] == NOTIFICATION_SECRET
    assert created["resource"] == "users/ssu@bits.example/mailFolders('inbox')/messages"
    assert created["notificationUrl"].endswith("/api/mailbox/notifications")
    assert await keep_subscription(services) == "current"
    clock.at += timedelta(days=6)  # within a day of expiry
    assert await keep_subscription(services) == "renewed"
    assert len(stub.subscriptions) == 1
    assert [r.method for r in stub.requests if "/subscriptions" in r.path] == ["POST", "PATCH"]

    removed = {"value": [{"clientState": NOTIFICATION_SECRET, "lifecycleEvent": "subscriptionRemoved"}]}
    result = await receive_notifications(services, json.dumps(removed).encode())
    assert result.status == 202
    assert (await services.state.get(SUBSCRIPTION_STATE) or {}).get("removed") is True
    assert await keep_subscription(services) == "created"
    assert len(stub.subscriptions) == 2


async def test_forged_lifecycle_event_changes_nothing(graph_services: tuple[Services, GraphStub, FakeClock]) -> None:
    services, _, _ = graph_services
    await keep_subscription(services)
    before = await services.state.get(SUBSCRIPTION_STATE)
    forged = {"value": [{"clientState": "not-the-secret", "lifecycleEvent": "subscriptionRemoved"}]}
    assert (await receive_notifications(services, json.dumps(forged).encode())).status == 403
    assert await services.state.get(SUBSCRIPTION_STATE) == before
