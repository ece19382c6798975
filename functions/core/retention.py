"""Retention of personal data: a closed case past its process's period is erased down to its audit skeleton.

What stays: the reference, process, kind, status, organisation number, times, each event's kind, time, channel and
the structural facts it recorded (severity, outcome, the command given, the status it left), and who decided when that
was Bits, a source (NAV, Altinn, Digdir) or the expert committee: they act in office, they are not the data subject.
What goes: the submitter's name and address, the title, every free text (descriptions, messages, reasons, event
summaries), every other person's address and name, attachment names and their bytes (the blobs), the mails' addresses
and subjects (purpose, status and times stay) and their letters, and the case's decision tokens.

The period (`Settings.retention_days`, by process or process:kind) runs from the case's last activity: the later of
its last change (closing it) and its last event, so that a message written to a closed case is kept the whole period
too. An erased case carries `personal_data_erased_at` in its details: the sweep skips it without reading further.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .model import Case, CaseEvent, CaseStatus, Channel
from .registry import Registry
from .services import Services
from .settings import Settings
from .store import ConcurrentUpdate, StorageUnavailable
from .targets import is_closed

log = logging.getLogger(__name__)

ERASED = "[slettet]"  # what an erased text reads (Norwegian: the workspace and the export show it as it is)
ERASED_KIND = "personal_data_erased"
ERASED_AT = "personal_data_erased_at"  # in an erased case's details
ACTOR = "retention"
RUN_SECONDS = 240.0
_READ_CONCURRENCY = 16  # event reads in flight at once while listing the files in use

# Keys whose values are the case's structure, never a person's words: kept as they are (lists and records under them
# are still read key by key).
_STRUCTURAL = frozenset(
    {
        "severity",
        "category",
        "outcome",
        "source",
        "sources",
        "sources_notified",
        "revision",
        "version",
        "services",
        "service",
        "environments",
        "environment",
        "production",
        "production_approved",
        "intake",
        "identity_numbers_removed",
        "access_granted",
        "components",
        "component",
        "linked_from",
        "duplicate_of",
        "continued_from",
        "continued_in",
        "reclassified_to",
        "reclassified",
        "draft",
        "terms_version_signed",
        "decision_rounds",
        "address_confirmed",
        "organisation_number",
        "legal_name",  # a company's name
        "status",
        "command",
        "decision",
        "roles",
        "language",
        "content_type",
        "size",
        "inline",
        "refused",
        "purpose",
        "channel",
        "level",
        "escalation_level",
        "at",
        "retention_rule",
        "retention_days",
        ERASED_AT,
    }
)
# Times under keys like discovered_at, gdpr_deadline, assessment_due, defer_until: kept when they read as a time.
_TIME_KEYS = re.compile(r"(_at|_date|_deadline|_due|_until)$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][0-9:.+\-Z]*)?$")
# Who did something: kept when it is one of the deciders (Bits, a source, the committee), erased otherwise.
_WHO = frozenset({"by", "dismissed_by", "confirmed_by", "published_by", "used_by", "decided_by", "lifted_by"})
_WHO_IDS = frozenset({"by_id", "published_by_id"})  # Entra object ids: only Bits' staff have them here


@dataclass(frozen=True)
class Deciders:
    """The people whose identity on a case is their office, not their private data: Bits' staff, the sources'
    contacts and the expert committee, by address (casefolded)."""

    addresses: frozenset[str]

    @classmethod
    def of(cls, settings: Settings, registry: Registry) -> Deciders:
        people = [c.email for c in (registry.bits.contacts if registry.bits else [])]
        people += [c.email for s in registry.sources.values() for c in s.contacts]
        people += list(settings.committee_members)
        return cls(frozenset(p.casefold() for p in people))

    def decided(self, event: CaseEvent) -> bool:
        """Whether the event's actor keeps their name: a decider, a system actor (no address: deadlines, a source's
        key, the link), or Bits' staff acting in the workspace (a decision taken in the browser, signed in)."""
        actor = event.actor.casefold()
        workspace_decision = event.channel == Channel.WEB and isinstance(event.data.get("reply"), dict)
        return "@" not in actor or actor in self.addresses or workspace_decision


def erasable(case: Case) -> bool:
    """Over for good: closed, or a submission whose address was never confirmed (nobody can take it further)."""
    return is_closed(case) or case.status == CaseStatus.AWAITING_CONFIRMATION


def period_days(settings: Settings, case: Case) -> tuple[str, int]:
    """The rule that applies to the case and its days: `unconfirmed` for a submission never confirmed, else
    process:kind when set, else the process's."""
    if case.status == CaseStatus.AWAITING_CONFIRMATION:
        return "unconfirmed", settings.retention_unconfirmed_days
    rules = settings.retention_days
    own = f"{case.process.value}:{case.kind}"
    rule = own if own in rules else case.process.value
    return rule, rules[rule]


def last_activity(case: Case, events: Iterable[CaseEvent]) -> datetime:
    return max([case.updated_at, *(e.at for e in events)])


def _scrub(value: Any, key: str, deciders: Deciders, keep_people: bool) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v, str(k), deciders, keep_people) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, key, deciders, keep_people) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    if key in _STRUCTURAL or key in _WHO_IDS:
        return value
    if _TIME_KEYS.search(key) and _TIME.match(text):
        return value
    if key in _WHO and text.casefold() in deciders.addresses:
        return value
    if key == "by_name" and keep_people:
        return value
    return ERASED


def _attachment_hashes(event: CaseEvent) -> set[str]:
    return {
        str(a["sha256"])
        for a in event.data.get("attachments") or []
        if isinstance(a, dict) and a.get("stored") and isinstance(a.get("sha256"), str) and a["sha256"] != ERASED
    }


def erase_event(event: CaseEvent, deciders: Deciders) -> CaseEvent:
    """The event's skeleton: kind, time, channel, visibility, structural data, and the actor when a decider."""
    if event.kind == ERASED_KIND:
        return event
    keep = deciders.decided(event)
    data = _scrub(event.data, "", deciders, keep)
    for attachment in data.get("attachments") or []:
        if isinstance(attachment, dict):
            # Its bytes are gone: nothing to download, and the workspace says why it is not kept.
            attachment.update(stored=False, refused="erased")
    return event.model_copy(update={"actor": event.actor if keep else ERASED, "summary": ERASED, "data": data})


def erase_case(case: Case, deciders: Deciders, now: datetime, rule: str, days: int) -> Case:
    details = _scrub(case.details, "", deciders, False)
    details[ERASED_AT] = now.isoformat()
    details["retention_rule"] = rule
    update: dict[str, Any] = {"submitter_name": ERASED, "submitter_email": ERASED, "title": ERASED, "details": details}
    if case.status == CaseStatus.AWAITING_CONFIRMATION:
        # Over for good, as its rule says: closed, or `is_open` would keep it in Bits' open cases for ever.
        update["status"] = CaseStatus.CLOSED.value
    return case.model_copy(update=update)


def is_erased(case: Case) -> bool:
    return ERASED_AT in case.details


@dataclass
class Sweep:
    """What one run did: the cases erased, those whose period has not passed, and those that failed (tried again
    on the next run)."""

    erased: list[str] = field(default_factory=list)
    kept: int = 0
    failed: list[str] = field(default_factory=list)
    blobs_deleted: int = 0
    held_forgotten: list[str] = field(default_factory=list)  # held messages deleted whole


class RetentionSweepFailed(Exception):
    """Raised after every case was tried when one or more could not be erased, so that the timer's run counts as
    failed (health and alerts see it) while the others were erased."""


async def erase_expired(services: Services, now: datetime | None = None) -> Sweep:
    """Erase every closed case whose retention period has passed since its last activity. Open cases are never
    touched; an erased case is skipped; a case changed meanwhile (ETag) is left for the next run."""
    now = now or services.clock.now()
    settings = services.settings
    deciders = Deciders.of(settings, await services.registry())
    sweep = Sweep()
    cases = await services.store.cases()
    # The cheap test first: a case changed within its period cannot be due, whatever its events say.
    due = [
        c
        for c in cases
        if erasable(c) and not is_erased(c) and c.updated_at + timedelta(days=period_days(settings, c)[1]) <= now
    ]
    # A file stored (or brought again) from here on belongs to a case this run has not read: kept. The margin
    # allows for the storage server's clock against ours (keeping a file a little longer is the safe side).
    stored_since = now - timedelta(minutes=5)
    in_use: dict[str, set[str]] | None = None  # blob -> the cases that list it, read once and only when needed
    # The host stops a run at five minutes (host.json functionTimeout): a first run over a large backlog erases what
    # it can in four and leaves the rest, counted as kept, for the next night.
    budget = time.monotonic() + RUN_SECONDS
    for done, candidate in enumerate(due):
        reference = candidate.reference
        if time.monotonic() > budget:
            sweep.kept += len(due) - done
            log.info("retention: out of time; %d cases left for the next run", len(due) - done)
            break
        try:
            stored = await services.store.load(reference)
            if stored is None or not erasable(stored.case) or is_erased(stored.case):
                continue
            case = stored.case
            events = await services.store.events(reference)
            rule, days = period_days(settings, case)
            since = last_activity(case, events)
            if since + timedelta(days=days) > now:
                sweep.kept += 1
                continue
            hashes = set().union(*(_attachment_hashes(e) for e in events))
            if hashes and in_use is None:
                in_use = await _blobs_in_use(services, cases)
            # Blobs are named by their content: a file another case (or a held message) still lists stays.
            doomed = {h for h in hashes if not ((in_use or {}).get(h, set()) - {reference, *sweep.erased})}
            for name in sorted(doomed):
                # First: a run that stops here finds the case unerased. Not when a case brought the file meanwhile.
                if not await services.blobs.delete(name, unless_stored_since=stored_since):
                    log.info("retention: a file of %s was stored again meanwhile; kept", reference)
                    doomed.discard(name)
            event = CaseEvent(
                at=now,
                actor=ACTOR,
                channel=Channel.TIMER,
                kind=ERASED_KIND,
                public=False,
                summary=f"Personal data erased: {days} days after the last activity (rule {rule})",
                data={
                    "retention_rule": rule,
                    "retention_days": days,
                    "last_activity_at": since.isoformat(),
                    "attachments_deleted": len(doomed),
                },
            )
            erased = erase_case(case, deciders, now, rule, days)
            await services.store.erase_personal_data(stored, erased, event, lambda e: erase_event(e, deciders), ERASED)
            sweep.erased.append(reference)
            sweep.blobs_deleted += len(doomed)
            log.info("retention: erased %s (rule %s, %d days, %d files)", reference, rule, days, len(doomed))
        except (ConcurrentUpdate, StorageUnavailable) as exc:
            if isinstance(exc, ConcurrentUpdate) and await _erased_meanwhile(services, reference):
                continue  # another sweep (a second worker, one run by hand) erased it: done, not failed
            log.warning("retention: %s not erased now (%s); the next run tries again", reference, type(exc).__name__)
            sweep.failed.append(reference)
    await _forget_held(services, now, stored_since, sweep, cases, in_use, budget)
    # The daily send counts hold recipients' addresses and are read on their own day only (the daily cap).
    await services.limits.forget_sent_before((now - timedelta(days=2)).astimezone(UTC).date().isoformat())
    if sweep.failed:
        raise RetentionSweepFailed(f"{len(sweep.failed)} cases not erased: {', '.join(sweep.failed)}")
    return sweep


async def _forget_held(
    services: Services,
    now: datetime,
    stored_since: datetime,
    sweep: Sweep,
    cases: list[Case],
    in_use: dict[str, set[str]] | None,
    budget: float,
) -> dict[str, set[str]] | None:
    """Delete whole each message held for Bits whose last event is older than SSU_RETENTION_HELD_DAYS: it opened
    no case (what Bits took from it lives on in the case it went to), so nothing of it is kept; its files go too
    unless a case still lists them."""
    by_reference: dict[str, list[CaseEvent]] = {}
    for reference, event in await services.store.held_events():
        by_reference.setdefault(reference, []).append(event)
    days = services.settings.retention_held_days
    for reference, events in sorted(by_reference.items()):
        if max(e.at for e in events) + timedelta(days=days) > now or time.monotonic() > budget:
            continue
        hashes = set().union(*(_attachment_hashes(e) for e in events))
        if hashes and in_use is None:
            in_use = await _blobs_in_use(services, cases)
        for name in sorted(h for h in hashes if not ((in_use or {}).get(h, set()) - {reference})):
            if await services.blobs.delete(name, unless_stored_since=stored_since):
                sweep.blobs_deleted += 1
        try:
            await services.store.forget_held(reference)
        except StorageUnavailable:
            log.warning("retention: held message %s not deleted now; the next run tries again", reference)
            sweep.failed.append(reference)
            continue
        sweep.held_forgotten.append(reference)
        log.info("retention: held message %s deleted (%d days after its last event)", reference, days)
    return in_use


async def _erased_meanwhile(services: Services, reference: str) -> bool:
    try:
        stored = await services.store.load(reference)
    except StorageUnavailable:
        return False
    return stored is not None and is_erased(stored.case)


async def _blobs_in_use(services: Services, cases: list[Case]) -> dict[str, set[str]]:
    """Every stored file any case not yet erased, or any held message, lists: read only when some case to erase has
    files (one read of each such case's events)."""
    used: dict[str, set[str]] = {}
    # Before the run's time budget is looked at again: one query per case, so read several at once (thousands of
    # cases read one by one would take the whole run, night after night).
    gate = asyncio.Semaphore(_READ_CONCURRENCY)

    async def events_of(reference: str) -> tuple[str, list[CaseEvent]]:
        async with gate:
            return reference, await services.store.events(reference)

    live = [c.reference for c in cases if not is_erased(c)]
    for reference, events in await asyncio.gather(*(events_of(r) for r in live)):
        for event in events:
            for name in _attachment_hashes(event):
                used.setdefault(name, set()).add(reference)
    for reference, event in await services.store.held_events():
        for name in _attachment_hashes(event):
            used.setdefault(name, set()).add(reference)
    return used
