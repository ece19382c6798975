"""Response targets at work: the open cases with their clocks and whose move it is, reminders to Bits before a
target is missed, and an escalation after."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from .model import Case, CaseEvent, Channel, Process
from .services import Services
from .store import AlreadyQueued
from .targets import OPEN_STATUSES_WITHOUT_TARGET, Deadlines, deadlines, is_open, target_hours

log = logging.getLogger(__name__)

WhoseMove = Literal["bits", "insurer", "sources", "committee", "approver"]
WHOSE_MOVES: tuple[WhoseMove, ...] = ("bits", "insurer", "sources", "committee", "approver")

# Statuses in which the next step is the submitter's (the insurer's person; for a registration the company's).
_INSURER = {
    "awaiting_confirmation",  # the submitter confirms their address by the link
    "awaiting_contact_confirmation",  # an existing contact of the company confirms the registration
    "answered",
    "waiting_for_reporter",
    "waiting_for_submitter",
    "accepted",  # the company signs the connection agreement
    "test_access",  # the company tests, then asks for production
}
# Statuses in which NAV, Altinn or Digdir act next.
_SOURCES = {
    "forwarded",  # an error report passed to the source
    "agreement_signed",  # NAV and Altinn give test access
    "approved",  # NAV plans the approved change
    "planned",  # NAV implements it
}
_READ_CONCURRENCY = 16  # event reads in flight at once: one storage query each


@dataclass(frozen=True)
class OpenCase:
    """An open case as Bits works it: its events, its response-target clock (None where none runs), whose move it
    is, and whether a target has passed."""

    case: Case
    events: tuple[CaseEvent, ...]
    deadlines: Deadlines | None
    whose_move: WhoseMove
    overdue: bool

    @property
    def due(self) -> datetime | None:
        return self.deadlines.next_due() if self.deadlines else None


def whose_move(case: Case, events: tuple[CaseEvent, ...] | list[CaseEvent], found: Deadlines | None) -> WhoseMove:
    """Who must act next on an open case, read from its process and status (and, where the status alone does not
    say, from its clock and events):

    - the insurer (the submitter, or for a registration the company): while the clock waits for the submitter
      (Bits answered or asked), while an address or a registration awaits confirmation, while a change request or an
      error report waits for the submitter's answer, and in onboarding while the company signs the agreement
      (`accepted`, until the signatory says it is signed: then Bits confirms) or tests (`test_access`);
    - NAV, Altinn or Digdir (`sources`): an error report passed on (`forwarded`), a signed agreement waiting for test
      access, an approved or planned change request, production that Bits approved and NAV opens, and a published
      notice (alert), which its source ends or resolves;
    - the expert committee: a change request in assessment;
    - an approver: a change request awaiting decision, or deferred (it comes back to the approvers on its date);
    - Bits: everything else (new cases, drafts, breaches, registrations to review, production to approve).
    """
    status = case.status
    if found is not None and found.waiting_for_submitter:
        return "insurer"
    if status == "accepted" and any(e.kind == "signatory_signed" for e in events):
        return "bits"
    if status in _INSURER:
        return "insurer"
    if status in _SOURCES or (case.process == Process.NOTIFICATION and status == "published"):
        return "sources"
    if status == "production_requested" and case.details.get("production_approved"):
        return "sources"
    if status == "in_assessment":
        return "committee"
    if status in ("awaiting_decision", "deferred"):
        return "approver"
    return "bits"


async def open_cases(services: Services, now: datetime) -> list[OpenCase]:
    """Every open case of every process (`targets.is_open`) with its events, its response-target clock where one
    runs, and whose move it is; overdue first, then by the next deadline. The one enumeration of open cases: the
    reminders below and Bits' work queue both read it."""
    gate = asyncio.Semaphore(_READ_CONCURRENCY)

    async def one(case: Case) -> OpenCase:
        async with gate:
            events = tuple(await services.store.events(case.reference))
        # Security breaches count round the clock and escalate on their own (incidents/security.py).
        without = case.status in OPEN_STATUSES_WITHOUT_TARGET or case.kind == "security_breach"
        hours = None if without else target_hours(services.settings.response_targets, case)
        found = deadlines(case, list(events), hours, now) if hours else None
        due = found.next_due() if found else None
        return OpenCase(case, events, found, whose_move(case, events, found), bool(due and due <= now))

    rows = list(await asyncio.gather(*(one(case) for case in await services.store.cases() if is_open(case))))
    far = datetime.max.replace(tzinfo=now.tzinfo)
    rows.sort(key=lambda r: (not r.overdue, r.due or far))
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
