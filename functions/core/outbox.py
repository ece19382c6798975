"""The outbox dispatcher: sends what is due, retries with backoff, and records every mail that finally fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .clock import Clock
from .mail import MailRecord, MailTransport, PermanentSendError, TransientSendError
from .model import CaseEvent, Channel
from .registry import Registry
from .store import CaseStore, ConcurrentUpdate, DeliveryLimits

log = logging.getLogger(__name__)

# Sent mails are settled in one storage transaction per chunk; a crash mid-chunk re-sends at most this many
# (with the same Message-ID, which mail clients use to drop duplicates).
CHUNK = 60  # three Graph $batch requests of 20


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float

    def delay(self, attempts_so_far: int, retry_after: float | None) -> float:
        """Seconds to wait before the next attempt: the server's Retry-After when given, else doubling backoff."""
        if retry_after is not None:
            return float(min(max(retry_after, 0.0), max(self.max_seconds, retry_after)))
        return float(min(self.base_seconds * (2**attempts_so_far), self.max_seconds))


def own_people(registry: Registry) -> frozenset[str]:
    """Who the daily cap never holds: Bits' own people and the data sources' contacts (the registry's). The cap
    protects outside recipients from us; were it to hold these, 200 forged breach reports would make a real
    breach's HASTER to Bits' security contacts, or NAV's, wait until tomorrow."""
    people = [*(registry.bits.contacts if registry.bits else [])]
    people += [c for source in registry.sources.values() for c in source.contacts]
    return frozenset(c.email.casefold() for c in people)


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0


async def dispatch_outbox(
    store: CaseStore,
    transport: MailTransport,
    clock: Clock,
    policy: RetryPolicy,
    *,
    limits: DeliveryLimits | None = None,
    daily_cap: int = 200,
    never_capped: Collection[str] = frozenset(),
    concurrency: int = 16,
    limit: int = 2000,
) -> DispatchReport:
    """Send every mail that is due now, a chunk at a time (the transport batches within it); outcomes are recorded
    at most `concurrency` at a time.

    With `limits`: no mail to an address suppressed after repeated bounces, and at most `daily_cap` mails a day to
    one address (what is over the cap waits for tomorrow): a loop that slips past the intake's checks stops there.
    Addresses in `never_capped` (casefolded; `own_people`) are not counted and never held by the cap.
    """
    report = DispatchReport()
    now = clock.now()
    due = await store.due_mails(now, limit)
    if not due:
        return report
    gate = asyncio.Semaphore(concurrency)
    day = now.astimezone(UTC).date()
    suppressed = await limits.suppressed() if limits else set()
    sent_today = await limits.sent_today(day.isoformat()) if limits else {}
    counted: dict[str, int] = {}

    async def guarded(step: Awaitable[None]) -> None:
        async with gate:
            try:
                await step
            except ConcurrentUpdate:
                report.skipped += 1
            except Exception:
                # Recording a retry or a failure failed (storage trouble): the mail stays due and is tried again.
                # Never let it stop the chunk, or the mails already sent in it would not be settled and go twice.
                log.exception("outbox: a mail's outcome could not be recorded")
                report.skipped += 1

    def held_back(record: MailRecord) -> Awaitable[None] | None:
        """The step that records why this mail is not sent now, or None when it may go."""
        to = record.mail.to.casefold()
        if to in suppressed:
            report.failed += 1
            return _fail(store, clock, record, "the address is suppressed after repeated permanent bounces")
        if to in never_capped:
            return None
        if limits and sent_today.get(to, 0) + counted.get(to, 0) >= daily_cap:
            tomorrow = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
            log.warning("outbox: daily cap reached for a recipient of %s; waits", record.mail.reference)
            report.retried += 1
            return store.record_retry(record, clock.now(), tomorrow, f"daily cap of {daily_cap} reached", counts=False)
        counted[to] = counted.get(to, 0) + 1
        return None

    for start in range(0, len(due), CHUNK):
        chunk = due[start : start + CHUNK]
        steps = [(record, held_back(record)) for record in chunk]
        sendable = [record for record, step in steps if step is None]
        await asyncio.gather(*(guarded(step) for _, step in steps if step is not None))
        if not sendable:
            continue
        try:
            outcomes = await transport.send_many([record.mail for record in sendable])
        except Exception as exc:  # the transport itself broke: every mail in the chunk stays and is tried again
            outcomes = [exc] * len(sendable)
        failed = [(record, outcome) for record, outcome in zip(sendable, outcomes, strict=True) if outcome]
        await asyncio.gather(*(guarded(_settle_error(store, clock, policy, r, e, report)) for r, e in failed))
        sent = [record for record, outcome in zip(sendable, outcomes, strict=True) if outcome is None]
        if sent:
            settled = await store.record_sent_many(sent, clock.now())
            report.sent += settled
            report.skipped += len(sent) - settled
    if limits and counted:
        await limits.add_sent(day.isoformat(), {a: sent_today.get(a, 0) + n for a, n in counted.items()})
    log.info(
        "outbox: sent=%d retried=%d failed=%d skipped=%d",
        report.sent,
        report.retried,
        report.failed,
        report.skipped,
    )
    return report


async def _settle_error(
    store: CaseStore,
    clock: Clock,
    policy: RetryPolicy,
    record: MailRecord,
    exc: Exception,
    report: DispatchReport,
) -> None:
    """A mail the transport did not send: failed for good when refused or out of attempts, else tried again later."""
    mail = record.mail
    attempt = record.attempts + 1
    if isinstance(exc, PermanentSendError):
        report.failed += 1
        await _fail(store, clock, record, f"refused: {exc}")
        return
    retry_after = exc.retry_after if isinstance(exc, TransientSendError) else None
    throttled = isinstance(exc, TransientSendError) and exc.throttled
    error = f"{type(exc).__name__}: {exc}"
    if throttled:  # Graph asked us to wait: it says nothing about the mail, so it costs no attempt
        now = clock.now()
        report.retried += 1
        await store.record_retry(
            record, now, now + timedelta(seconds=policy.delay(0, retry_after)), error, counts=False
        )
        return
    if attempt >= policy.max_attempts:
        report.failed += 1
        await _fail(store, clock, record, f"gave up after {attempt} attempts; last error {error}")
        return
    now = clock.now()
    next_at = now + timedelta(seconds=policy.delay(record.attempts, retry_after))
    log.warning(
        "outbox: %s mail %s attempt %d failed (%s); next at %s", mail.reference, mail.mail_id, attempt, error, next_at
    )
    report.retried += 1
    await store.record_retry(record, now, next_at, error)


async def _fail(store: CaseStore, clock: Clock, record: MailRecord, error: str) -> None:
    now: datetime = clock.now()
    mail = record.mail
    log.error("outbox: %s mail %s (%s) failed for good: %s", mail.reference, mail.mail_id, mail.purpose, error)
    event = CaseEvent(
        at=now,
        actor="outbox",
        channel=Channel.TIMER,
        kind="mail_failed",
        public=False,
        summary=f"The email '{mail.purpose}' to {mail.to} could not be sent: {error}",
        data={"purpose": mail.purpose, "to": mail.to, "message_id": mail.message_id, "attempts": record.attempts + 1},
    )
    await store.record_failed(record, now, error, event)
