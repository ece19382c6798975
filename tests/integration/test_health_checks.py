"""/api/health's checks over real Azurite: a stuck outbox, a silent Graph mailbox, an expiring subscription and a
failed timer run each make it degraded (503), with the figure; otherwise it is ok."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import azure.functions as func
import pytest

from functions.core.inbound import POLL_STATE, SUBSCRIPTION_STATE
from functions.core.mail import TransientSendError
from functions.core.services import Services
from functions.core.timer_runs import run_state, timed_run
from functions.intake.workflow import poll_mailbox
from functions.operations.health import health_report
from tests.conftest import NOTIFICATION_SECRET
from tests.fakes import FakeClock
from tests.integration.test_outbox import queue_question
from tests.unit.test_auth_matrix import trigger


def graph_mailbox(services: Services) -> Services:
    """The same services, read as if the mailbox were Graph (only the settings the checks read change)."""
    settings = services.settings.model_copy(
        update={"mailbox": "graph", "graph_notification_client_state": NOTIFICATION_SECRET}
    )
    return replace(services, settings=settings)


async def test_ok_when_nothing_waits_and_nothing_failed(services: Services) -> None:
    services.clock = FakeClock()
    report = await health_report(services)
    assert report["status"] == "ok" and report["failing"] == []
    assert report["checks"]["outbox"] == {"status": "ok", "queued": 0, "oldest_minutes": None, "max_minutes": 15.0}
    assert report["checks"]["mailbox_poll"]["last_success"] == "not used (SSU_MAILBOX=local)"
    assert report["checks"]["graph_subscription"]["expires_at"] == "not used (SSU_MAILBOX=local)"
    assert report["checks"]["timer:outbox_dispatch"] == {"status": "ok", "last_run": "never"}


async def test_a_due_mail_waiting_past_the_threshold_degrades(services: Services) -> None:
    clock = services.clock = FakeClock()
    await queue_question(services)
    clock.advance(minutes=15)
    assert (await health_report(services))["status"] == "ok"  # at the threshold: still ok
    clock.advance(minutes=1)
    report = await health_report(services)
    assert report["status"] == "degraded" and report["failing"] == ["outbox"]
    assert report["checks"]["outbox"] == {
        "status": "degraded",
        "queued": 1,
        "oldest_minutes": 16.0,
        "max_minutes": 15.0,
    }
    assert "@" not in str(report)  # no addresses, no names: figures only


async def test_a_graph_mailbox_not_polled_lately_degrades(services: Services) -> None:
    clock = services.clock = FakeClock()
    graph = graph_mailbox(services)
    await services.state.put(
        SUBSCRIPTION_STATE, {"id": "s", "expires_at": (clock.now() + timedelta(days=3)).isoformat()}
    )
    never = await health_report(graph)
    assert never["failing"] == ["mailbox_poll"] and never["checks"]["mailbox_poll"]["last_success"] is None
    await services.state.put(POLL_STATE, {"at": clock.now().isoformat()})
    clock.advance(minutes=10)
    assert (await health_report(graph))["status"] == "ok"
    clock.advance(minutes=1)
    late = await health_report(graph)
    assert late["status"] == "degraded" and late["failing"] == ["mailbox_poll"]
    assert late["checks"]["mailbox_poll"]["minutes_ago"] == 11.0
    # The same record means nothing with the local mailbox.
    assert (await health_report(services))["status"] == "ok"


async def test_a_graph_subscription_near_expiry_or_removed_degrades(services: Services) -> None:
    clock = services.clock = FakeClock()
    graph = graph_mailbox(services)
    await services.state.put(POLL_STATE, {"at": clock.now().isoformat()})
    expires = clock.now() + timedelta(hours=12)
    await services.state.put(SUBSCRIPTION_STATE, {"id": "s", "expires_at": expires.isoformat()})
    assert (await health_report(graph))["status"] == "ok"
    clock.advance(minutes=6)
    near = await health_report(graph)
    assert near["failing"] == ["graph_subscription"] and near["checks"]["graph_subscription"]["hours_left"] == 11.9
    await services.state.put(SUBSCRIPTION_STATE, {"id": "s", "expires_at": expires.isoformat(), "removed": True})
    clock.at -= timedelta(minutes=6)
    assert (await health_report(graph))["failing"] == ["graph_subscription"]


async def test_a_failed_timer_run_degrades_until_a_run_succeeds(services: Services) -> None:
    clock = services.clock = FakeClock()

    async def failing() -> None:
        raise RuntimeError("a message that may name someone: ola@example.no")

    with pytest.raises(RuntimeError):
        await timed_run(services, "deadlines_check", failing)
    report = await health_report(services)
    assert report["status"] == "degraded" and report["failing"] == ["timer:deadlines_check"]
    run = report["checks"]["timer:deadlines_check"]
    assert run["outcome"] == "failed: RuntimeError" and run["last_ok_at"] is None
    assert "ola@example.no" not in str(report)
    clock.advance(minutes=5)

    async def working() -> str:
        return "done"

    assert await timed_run(services, "deadlines_check", working) == "done"
    again = await health_report(services)
    assert again["status"] == "ok"
    assert again["checks"]["timer:deadlines_check"]["last_ok_at"] == clock.now().isoformat()
    assert (await services.state.get(run_state("deadlines_check")) or {})["outcome"] == "ok"


async def test_the_trigger_answers_503_when_degraded(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    services.clock = FakeClock()
    monkeypatch.setattr("functions.composition.get_services", lambda: services)
    health = trigger("health")
    request = func.HttpRequest("GET", "/api/health", body=b"")
    assert (await health(request)).status_code == 200
    with pytest.raises(RuntimeError):
        await timed_run(services, "outbox_dispatch", _fail)
    answer = await health(request)
    assert answer.status_code == 503
    body = json.loads(answer.get_body())
    assert body["status"] == "degraded" and body["failing"] == ["timer:outbox_dispatch"]


async def _fail() -> None:
    raise RuntimeError("down")


class _UnreadableMailbox:
    """A mailbox Graph cannot be reached for now."""

    async def fetch(self, limit: int) -> list[object]:
        raise TransientSendError("Graph is down")


async def test_a_poll_records_its_success_and_a_failed_read_does_not(services: Services) -> None:
    from functions.catalogue import CATALOGUE

    clock = services.clock = FakeClock()
    await poll_mailbox(services, services.mailbox, CATALOGUE)
    assert await services.state.get(POLL_STATE) == {"at": clock.now().isoformat()}
    clock.advance(minutes=30)
    report = await poll_mailbox(services, _UnreadableMailbox(), CATALOGUE)  # type: ignore[arg-type]
    assert report.left_for_later == -1
    assert await services.state.get(POLL_STATE) == {"at": (clock.now() - timedelta(minutes=30)).isoformat()}
