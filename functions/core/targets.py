"""Response targets: first response and resolution per process (and severity), counted in Bits' office hours.

Waiting for the submitter (after Bits answered or asked) pauses the clock until they write again. Security
breaches are not here: they count round the clock and escalate on their own (incidents/security.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .model import Case, CaseEvent
from .office_hours import add_office_time, office_time_between

# Bits' first move on a case, in any process: an answer, a question, a triage or handling step, a decision.
FIRST_RESPONSES = {
    "answered",
    "forwarded",
    "question_to_reporter",
    "resolved",
    "acknowledged",
    "complete",
    "duplicate",
    "accepted",
    "rejected",
}
PAUSES = {"answered", "question_to_reporter"}  # the case waits for the submitter
RESUMES = {"message"}  # the submitter wrote again
# Statuses that are no task of Bits' with a clock: closed in one way or another, or waiting for a date or for NAV.
OPEN_STATUSES_WITHOUT_TARGET = {
    "awaiting_confirmation",
    "closed",
    "discarded",
    "deferred",
    "published",  # an alert or a terms version: done from Bits' side
    "approved",  # a change request with NAV
    "planned",
    "in_production",
    "rejected",
    "withdrawn",
    "offboarded",
}
# Statuses of a case that is over: closed one way or another. Its personal data is erased once the process's
# retention period has passed (core/retention.py).
CLOSED_STATUSES = frozenset({"closed", "discarded", "rejected", "withdrawn", "offboarded"})
# Statuses after which a case asks nothing more of anyone: closed, or connected for good (a company in production,
# whose onboarding case is the record of its agreement until it is offboarded).
FINISHED_STATUSES = {*CLOSED_STATUSES, "in_production"}


def is_closed(case: Case) -> bool:
    """Whether the case is over for good: the one test of "closed" (retention counts from it). A company in
    production, a published notice or terms version is finished for Bits but not closed."""
    return case.status in CLOSED_STATUSES


def is_open(case: Case) -> bool:
    """Whether the case still asks someone to act. A published terms version is done (acceptances are followed on
    its own page, /api/terms/<reference>); a published notice stays open until its source ends or resolves it."""
    if case.status in FINISHED_STATUSES:
        return False
    return not (case.kind == "terms" and case.status == "published")


@dataclass(frozen=True)
class Deadlines:
    first_response_due: datetime | None  # None once Bits has responded
    resolution_due: datetime | None  # None while the case waits for the submitter
    waiting_for_submitter: bool

    def next_due(self) -> datetime | None:
        dues = [d for d in (self.first_response_due, self.resolution_due) if d is not None]
        return min(dues) if dues else None


def target_hours(targets: dict[str, list[float]], case: Case) -> tuple[float, float] | None:
    severity = case.details.get("severity")
    # Cases without a severity (from email, or re-classed) fall back to the process's own target.
    found = (targets.get(f"{case.process.value}:{severity}") if severity else None) or targets.get(case.process.value)
    return (float(found[0]), float(found[1])) if found and len(found) == 2 else None


def deadlines(case: Case, events: list[CaseEvent], hours: tuple[float, float], now: datetime) -> Deadlines:
    """The clock starts when Bits got the case: at creation, or when an unknown submitter confirmed their address."""
    responded = any(e.kind in FIRST_RESPONSES for e in events)
    start = next((e.at for e in events if e.kind == "submitter_confirmed"), case.created_at)
    paused = timedelta(0)
    pause_start: datetime | None = None
    for event in events:
        if event.kind in PAUSES and pause_start is None:
            pause_start = event.at
        elif (
            event.kind in RESUMES
            and pause_start is not None
            and event.actor.casefold() == case.submitter_email.casefold()
        ):
            paused += office_time_between(pause_start, event.at)
            pause_start = None
    first = None if responded else add_office_time(start, timedelta(hours=hours[0]))
    if pause_start is not None:
        return Deadlines(first, None, True)
    return Deadlines(first, add_office_time(start, timedelta(hours=hours[1]) + paused), False)
