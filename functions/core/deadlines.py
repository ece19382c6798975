"""Response targets at work: reminders to Bits before a target is missed, an escalation after, and the overview."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from .model import Case, CaseEvent, Channel
from .services import Services
from .store import AlreadyQueued
from .targets import OPEN_STATUSES_WITHOUT_TARGET, Deadlines, deadlines, target_hours

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OverviewRow:
    case: Case
    deadlines: Deadlines | None
    whose_move: str  # bits | submitter
    overdue: bool


async def open_cases(services: Services, now: datetime) -> list[OverviewRow]:
    """Every open case with its deadlines; overdue first, then by the next deadline."""
    rows: list[OverviewRow] = []
    for case in await services.store.cases():
        if case.status in OPEN_STATUSES_WITHOUT_TARGET:
            if case.status == "awaiting_confirmation":
                rows.append(OverviewRow(case, None, "submitter", False))
            continue
        hours = None if case.kind == "security_breach" else target_hours(services.settings.response_targets, case)
        found = deadlines(case, await services.store.events(case.reference), hours, now) if hours else None
        waiting = found.waiting_for_submitter if found else False
        due = found.next_due() if found else None
        rows.append(OverviewRow(case, found, "submitter" if waiting else "bits", bool(due and due <= now)))
    far = datetime.max.replace(tzinfo=now.tzinfo)
    rows.sort(key=lambda r: (not r.overdue, (r.deadlines.next_due() if r.deadlines else None) or far))
    return rows


async def check_response_targets(services: Services) -> int:
    """Remind Bits before a first-response or resolution target and escalate after it; once per case and target."""
    now = services.clock.now()
    registry = await services.registry()
    lead = timedelta(minutes=services.settings.target_reminder_minutes)
    queued = 0
    for row in await open_cases(services, now):
        if row.deadlines is None:
            continue
        for target, due in (
            ("first_response", row.deadlines.first_response_due),
            ("resolution", row.deadlines.resolution_due),
        ):
            if due is None or now < due - lead:
                continue
            stage, role = ("overdue", "approver") if now >= due else ("reminder", "support")
            for contact in registry.bits_contacts(role):
                mail = services.compose(
                    reference=row.case.reference,
                    purpose=f"target-{target}-{stage}",
                    to=contact.email,
                    template="response_target",
                    language=contact.language,
                    case=row.case,
                    target=target,
                    stage=stage,
                    due=due,
                )
                event = CaseEvent(
                    at=now,
                    actor="deadlines",
                    channel=Channel.TIMER,
                    kind=f"target_{stage}",
                    public=False,
                    summary=f"{target.replace('_', ' ')} target {stage} (due {due.isoformat()})",
                )
                try:
                    await services.store.append(row.case.reference, event, [mail])
                    queued += 1
                except AlreadyQueued:
                    continue
    if queued:
        log.info("deadlines: %d response target mails queued", queued)
    return queued
