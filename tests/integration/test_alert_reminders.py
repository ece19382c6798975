"""Maintenance reminders: once before the window, however often the timer runs; again for a revision with new times."""

from __future__ import annotations

from datetime import datetime, timedelta

from functions.alerts.models import AlertIn
from functions.alerts.workflow import publish_alert, remind_alerts, revise_alert
from functions.core.rendering import OSLO
from functions.core.services import Services
from tests.conftest import FakeClock

START = datetime(2026, 12, 3, 22, 0, tzinfo=OSLO)


async def reminders(services: Services, reference: str) -> list[str]:
    return sorted(m.mail.purpose for m in await services.store.mails(reference) if "reminder" in m.mail.purpose)


async def test_one_reminder_per_revision(services: Services) -> None:
    clock = services.clock = FakeClock()
    clock.at = START - timedelta(days=3)
    alert = AlertIn(
        source_alert_id="NAV-REMIND",
        kind="maintenance",
        environments=["production"],
        components=["ufore-api"],
        severity="low",
        title="Vedlikehold",
        description="Kort nedetid.",
        starts_at=START,
        ends_at=START + timedelta(hours=2),
    )
    case, _ = await publish_alert(services, "NAV", alert)
    assert await remind_alerts(services) == 0, "three days before: too early"
    clock.at = START - timedelta(hours=20)
    sent = await remind_alerts(services)
    assert sent == 3  # the two production technical contacts for uføre, and Bits
    for _ in range(3):
        assert await remind_alerts(services) == 0, "never twice"
    stored = await services.store.load(case.reference)
    assert stored is not None
    later = (START + timedelta(hours=2)).isoformat()
    await revise_alert(services, stored, {"starts_at": later, "ends_at": (START + timedelta(hours=4)).isoformat()})
    assert await remind_alerts(services) == 3, "the new revision's window gets its own reminder"
    assert await reminders(services, case.reference) == ["alert-reminder-r1"] * 3 + ["alert-reminder-r2"] * 3
    clock.at = START + timedelta(hours=3)
    assert await remind_alerts(services) == 0, "not after it started"
