"""The health checks behind /api/health: each with its figure and ok / degraded; never personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..core import telemetry
from ..core.inbound import POLL_STATE, SUBSCRIPTION_STATE
from ..core.services import Services
from ..core.store import StorageUnavailable
from ..core.timer_runs import TIMERS, run_state

OK, DEGRADED = "ok", "degraded"


def _check(ok: bool, **figures: Any) -> dict[str, Any]:
    return {"status": OK if ok else DEGRADED, **figures}


def _minutes_since(now: datetime, then: datetime) -> float:
    return round((now - then).total_seconds() / 60, 1)


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


async def outbox_check(services: Services, now: datetime) -> dict[str, Any]:
    """How long the mail queued longest has waited to go out (the same query as Bits' mail health page)."""
    backlog = await services.store.backlog()
    limit = services.settings.health_outbox_max_minutes
    if backlog.oldest_queued_at is None:
        return _check(True, queued=0, oldest_minutes=None, max_minutes=limit)
    age = _minutes_since(now, backlog.oldest_queued_at)
    queued: int | str = f"{backlog.count}+" if backlog.more else backlog.count
    return _check(age <= limit, queued=queued, oldest_minutes=age, max_minutes=limit)


async def poll_check(services: Services, now: datetime) -> dict[str, Any]:
    """When the Graph mailbox was last read through; the local mailbox is read on demand and is not watched."""
    if services.settings.mailbox != "graph":
        return {"status": OK, "last_success": "not used (SSU_MAILBOX=local)"}
    limit = services.settings.health_poll_max_minutes
    last = _when((await services.state.get(POLL_STATE) or {}).get("at"))
    if last is None:
        return _check(False, last_success=None, minutes_ago=None, max_minutes=limit)
    age = _minutes_since(now, last)
    return _check(age <= limit, last_success=last.isoformat(), minutes_ago=age, max_minutes=limit)


async def subscription_check(services: Services, now: datetime) -> dict[str, Any]:
    """When the Graph change-notification subscription expires (none, or removed by Graph, is degraded)."""
    if services.settings.mailbox != "graph":
        return {"status": OK, "expires_at": "not used (SSU_MAILBOX=local)"}
    minimum = services.settings.health_subscription_min_hours
    state = await services.state.get(SUBSCRIPTION_STATE) or {}
    expires = _when(state.get("expires_at"))
    if expires is None or state.get("removed"):
        return _check(False, expires_at=None, removed=bool(state.get("removed")), min_hours=minimum)
    hours = round((expires - now).total_seconds() / 3600, 1)
    return _check(hours >= minimum, expires_at=expires.isoformat(), hours_left=hours, min_hours=minimum)


async def timer_checks(services: Services) -> dict[str, dict[str, Any]]:
    """Each timer's last run and its outcome; one that has not run yet is not a fault (a fresh app, the dev host)."""
    checks: dict[str, dict[str, Any]] = {}
    for name in TIMERS:
        run = await services.state.get(run_state(name))
        if run is None:
            checks[name] = {"status": OK, "last_run": "never"}
            continue
        failed = str(run.get("outcome", "")).startswith("failed")
        checks[name] = _check(
            not failed,
            started_at=run.get("started_at"),
            finished_at=run.get("finished_at"),
            outcome=run.get("outcome"),
            last_ok_at=run.get("last_ok_at"),
        )
    return checks


def _measure(checks: dict[str, dict[str, Any]]) -> None:
    """The figures the alert rules read (infra/modules/monitoring.bicep), at every check: the availability test
    asks every five minutes. Nothing queued counts as 0 minutes; a subscription that is gone as 0 hours left."""
    outbox = checks.get("outbox")
    if outbox is not None:
        telemetry.measure("ssu.health.outbox_oldest_due_minutes", outbox.get("oldest_minutes") or 0.0)
    poll = checks.get("mailbox_poll", {})
    if poll.get("minutes_ago") is not None:
        telemetry.measure("ssu.health.poll_age_minutes", poll["minutes_ago"])
    subscription = checks.get("graph_subscription", {})
    if "min_hours" in subscription:
        telemetry.measure("ssu.health.subscription_hours_left", subscription.get("hours_left") or 0.0)


async def health_report(services: Services) -> dict[str, Any]:
    """Every check; the whole is degraded when any one is. With storage down nothing else can be read."""
    storage_ok = await services.storage.ping()
    checks: dict[str, dict[str, Any]] = {
        "storage": _check(storage_ok),
        "mail_transport": {"status": OK, "name": services.transport.name},
    }
    if storage_ok:
        now = services.clock.now()
        try:
            checks["outbox"] = await outbox_check(services, now)
            checks["mailbox_poll"] = await poll_check(services, now)
            checks["graph_subscription"] = await subscription_check(services, now)
            checks.update({f"timer:{name}": check for name, check in (await timer_checks(services)).items()})
        except StorageUnavailable:  # reachable for the ping, failing since: as good as down
            checks["storage"] = _check(False)
            storage_ok = False
    _measure(checks)
    degraded = sorted(name for name, check in checks.items() if check["status"] != OK)
    return {
        "status": DEGRADED if degraded else OK,
        "storage": "ok" if storage_ok else "unreachable",
        "mail_transport": services.transport.name,
        "failing": degraded,
        "checks": checks,
    }
