"""The outbox dispatcher: claims what is due, asks about what may have gone, sends, and settles every mail."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import telemetry
from .clock import Clock
from .mail import MailRecord, MailTransport, NotStarted, PermanentSendError, TransientSendError
from .model import CaseEvent, Channel
from .registry import Registry
from .store import CaseStore, ConcurrentUpdate, DeliveryLimits

log = logging.getLogger(__name__)

# How long a claim holds a mail. Well above what one send can take (a Graph call times out after at most 120 s,
# and a run hands a group over within half a lease or not at all), and long enough for Graph to have saved a sent
# mail in Sent Items before anyone looks there. A mail whose send may have been accepted is looked up no sooner.
LEASE = timedelta(minutes=10)
GROUP = 20  # mails claimed together (one storage transaction) and handed to the transport together (one $batch)
IN_FLIGHT = 3  # groups one run works on at a time
SETTLE_BATCH = 10  # sent mails settled per storage transaction: what a crash or a storage stall leaves in doubt
RETRY_AFTER_JITTER = 0.1  # a server's Retry-After is waited out, plus up to this share of it

# Who holds a lease: this process, then one run of it (two runs in one process never share a lease).
INSTANCE = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float
    max_age_seconds: float = 48 * 3600.0  # a mail not sent this long after it was queued fails

    def ceiling(self, attempts_so_far: int) -> float:
        """The longest wait before the next attempt: doubling from `base_seconds`, at most `max_seconds`."""
        return float(min(self.base_seconds * (2.0 ** min(attempts_so_far, 60)), self.max_seconds))

    def delay(
        self, attempts_so_far: int, retry_after: float | None, rand: Callable[[], float] = random.random
    ) -> float:
        """Seconds to wait before the next attempt. Full jitter: anywhere between 0 and the ceiling, so mails that
        failed together do not come back together. A server's Retry-After is a floor: it, plus up to 10% of it."""
        if retry_after is not None:
            return max(retry_after, 0.0) * (1.0 + RETRY_AFTER_JITTER * rand())
        return self.ceiling(attempts_so_far) * rand()


def own_people(registry: Registry) -> frozenset[str]:
    """Who the daily cap never holds: Bits' own people and the data sources' contacts (the registry's). The cap
    protects outside recipients from us; were it to hold these, 200 forged breach reports would make a real
    breach's HASTER to Bits' security contacts, or NAV's, wait until tomorrow."""
    people = [*(registry.bits.contacts if registry.bits else [])]
    people += [c for source in registry.sources.values() for c in source.contacts]
    return frozenset(c.email.casefold() for c in people)


def _mail_fields(record: MailRecord) -> dict[str, Any]:
    """A mail's telemetry fields: its purpose's family (never its keys or tokens) and its case's process."""
    process = telemetry.case_fields(reference=record.mail.reference).get("ssu.process")
    return {"purpose": telemetry.purpose_family(record.mail.purpose), "process": process}


@dataclass
class DispatchReport:
    sent: int = 0  # handed to the transport and accepted by it
    retried: int = 0
    failed: int = 0
    skipped: int = 0  # taken or settled by another dispatcher meanwhile, or left for the next run
    reconciled: int = 0  # found already sent at the transport (an earlier outcome was unknown): settled, not resent
    unsettled: int = 0  # sent, but storage failed while settling: the lease runs out and the next run reconciles


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
    lease: timedelta = LEASE,
    owner: str | None = None,
) -> DispatchReport:
    """Send every mail that is due now, exactly once however many dispatchers run at the same time.

    Due mails are taken GROUP at a time, IN_FLIGHT groups at once: a group is claimed (an ETag-guarded lease of
    `lease`, one storage transaction per partition; what another dispatcher claimed first is skipped), the mails
    in it whose earlier outcome is unknown are looked up at the transport (`was_sent`), then the group is handed
    to the transport and settled SETTLE_BATCH to a transaction. Storage trouble while claiming or settling is
    logged and never ends the run with an error: an unsettled mail's lease runs out and the next run reconciles it.
    Storage and lookups are done at most `concurrency` at a time.

    With `limits`: no mail to an address suppressed after repeated bounces, and at most `daily_cap` mails a day to
    one address (what is over the cap waits for tomorrow): a loop that slips past the intake's checks stops there.
    Addresses in `never_capped` (casefolded; `own_people`) are not counted and never held by the cap.
    """
    report = DispatchReport()
    now = clock.now()
    due = await store.due_mails(now, limit)
    if not due:
        return report
    run = _Run(
        store=store,
        transport=transport,
        clock=clock,
        policy=policy,
        report=report,
        gate=asyncio.Semaphore(concurrency),
        lease=lease,
        owner=owner or f"{INSTANCE}/{uuid.uuid4().hex[:8]}",
        limits=limits,
        daily_cap=daily_cap,
        never_capped=never_capped,
        day=now.astimezone(UTC).date().isoformat(),
        suppressed=await limits.suppressed() if limits else set(),
    )
    groups = [due[i : i + GROUP] for i in range(0, len(due), GROUP)]
    # Dispatchers that start together read the same rows: each begins at its own place in the list, so that they
    # mostly claim different groups rather than race for the same ones.
    start = random.randrange(len(groups))
    pending = iter(groups[start:] + groups[:start])

    async def worker() -> None:
        for group in pending:
            await run.group(group)

    await asyncio.gather(*(worker() for _ in range(min(IN_FLIGHT, len(groups)))))
    log.info(
        "outbox: sent=%d reconciled=%d retried=%d failed=%d skipped=%d unsettled=%d",
        report.sent,
        report.reconciled,
        report.retried,
        report.failed,
        report.skipped,
        report.unsettled,
    )
    return report


@dataclass
class _Run:
    """One dispatcher run: what it shares between its groups."""

    store: CaseStore
    transport: MailTransport
    clock: Clock
    policy: RetryPolicy
    report: DispatchReport
    gate: asyncio.Semaphore
    lease: timedelta
    owner: str
    limits: DeliveryLimits | None
    daily_cap: int
    never_capped: Collection[str]
    day: str
    suppressed: set[str]

    async def group(self, group: Sequence[MailRecord]) -> None:
        report = self.report
        claimed_at = self.clock.now()
        try:
            claimed = await self.store.claim_mails(group, self.owner, claimed_at + self.lease)
        except Exception:
            # Nothing was sent. Were the claim written after all, its lease runs out and the mails are looked up.
            log.exception("outbox: %d mails could not be claimed; they wait for the next run", len(group))
            report.skipped += len(group)
            return
        report.skipped += len(group) - len(claimed)
        if not claimed:
            return
        unsure = [r for r in claimed if r.unsure]
        answers = await asyncio.gather(*(self._was_sent(r) for r in unsure))
        gone = [r for r, answer in zip(unsure, answers, strict=True) if answer is True]
        candidates = [r for r in claimed if not r.unsure]
        candidates += [r for r, answer in zip(unsure, answers, strict=True) if answer is False]
        steps: list[Awaitable[None]] = [
            self._cannot_tell(r) for r, answer in zip(unsure, answers, strict=True) if answer is None
        ]
        steps += [
            self._lookup_throttled(r, answer)
            for r, answer in zip(unsure, answers, strict=True)
            if isinstance(answer, TransientSendError)
        ]
        sendable: list[MailRecord] = []
        for record in candidates:
            step = self._held_back(record)
            if step is None:
                sendable.append(record)
            else:
                steps.append(step)
        report.reconciled += len(gone)
        await asyncio.gather(*(self._guarded(step) for step in steps), self._settle_sent(gone))
        if not sendable:
            return
        sendable = await self._within_cap(sendable)
        if not sendable:
            return
        # A run hands a claimed group over within half a lease or not at all, and the transport starts no request
        # past that point (it may wait for its own gate meanwhile): after it, another dispatcher may take these.
        left = (self.lease / 2 - (self.clock.now() - claimed_at)).total_seconds()
        if left <= 0:
            log.warning("outbox: %d claimed mails not sent in time; left to their leases", len(sendable))
            report.skipped += len(sendable)
            await self._release(sendable)
            return
        try:
            outcomes = await self.transport.send_many([record.mail for record in sendable], start_within=left)
        except Exception as exc:  # the transport itself broke: what it did before is unknown
            outcomes = [TransientSendError(f"{type(exc).__name__}: {exc}", maybe_sent=True)] * len(sendable)
        pairs = list(zip(sendable, outcomes, strict=True))
        sent = [r for r, outcome in pairs if outcome is None]
        late = [r for r, outcome in pairs if isinstance(outcome, NotStarted)]
        failed = [(r, e) for r, e in pairs if e is not None and not isinstance(e, NotStarted)]
        if late:
            # They never left; left to their leases like a group past half a lease (looked up, then sent, later).
            log.warning("outbox: %d claimed mails not started in time; left to their leases", len(late))
            report.skipped += len(late)
        # What surely did not go gives its place under the daily cap back; what may have gone keeps it.
        unsent = late + [r for r, e in failed if isinstance(e, PermanentSendError)]
        unsent += [r for r, e in failed if isinstance(e, TransientSendError) and not e.maybe_sent]
        report.sent += len(sent)
        for record in sent:
            telemetry.count("ssu.mail.sent", **_mail_fields(record))
        await asyncio.gather(
            self._settle_sent(sent),
            self._release(unsent),
            *(self._guarded(self._settle_error(r, e)) for r, e in failed),
        )

    def _capped(self, record: MailRecord) -> bool:
        return self.limits is not None and record.mail.to.casefold() not in self.never_capped

    async def _within_cap(self, records: Sequence[MailRecord]) -> list[MailRecord]:
        """The mails that may go now under the daily cap. For each capped address in the group its places are
        reserved in the stored count (an ETag-guarded increment) right before sending, so that overlapping runs
        together let no more than the cap through; the rest wait for tomorrow."""
        by_address: dict[str, list[MailRecord]] = {}
        free: list[MailRecord] = []
        for record in records:
            if self._capped(record):
                by_address.setdefault(record.mail.to.casefold(), []).append(record)
            else:
                free.append(record)
        if not by_address:
            return free
        groups = list(by_address.items())
        taken = await asyncio.gather(*(self._reserve(to, group) for to, group in groups))
        go, held = free, []
        for (_, group), n in zip(groups, taken, strict=True):
            if n is not None:  # None: not reserved (storage trouble), neither sent nor held
                go += group[:n]
                held += group[n:]
        await asyncio.gather(*(self._guarded(self._wait_for_tomorrow(r)) for r in held))
        return go

    async def _reserve(self, to: str, group: Sequence[MailRecord]) -> int | None:
        assert self.limits is not None
        async with self.gate:
            try:
                return await self.limits.reserve_sent(self.day, to, len(group), self.daily_cap)
            except Exception:
                # Not sent unchecked: left to their leases (looked up, then sent, once the count can be written).
                log.exception("outbox: the daily count of a recipient could not be reserved; its mails wait")
                self.report.skipped += len(group)
                return None

    async def _release(self, records: Sequence[MailRecord]) -> None:
        counts: dict[str, int] = {}
        for record in records:
            if self._capped(record):
                counts[record.mail.to.casefold()] = counts.get(record.mail.to.casefold(), 0) + 1
        for to, count in counts.items():
            assert self.limits is not None
            try:
                await self.limits.release_sent(self.day, to, count)
            except Exception:  # kept: the address may get a few fewer mails today, never more
                log.exception("outbox: reserved places under the daily cap could not be given back")

    def _wait_for_tomorrow(self, record: MailRecord) -> Awaitable[None]:
        tomorrow = datetime.fromisoformat(self.day).replace(tzinfo=UTC) + timedelta(days=1)
        log.warning("outbox: daily cap reached for a recipient of %s; waits", record.mail.reference)
        self.report.retried += 1
        error = f"daily cap of {self.daily_cap} reached"
        return self.store.record_retry(record, self.clock.now(), tomorrow, error, counts=False)

    async def _was_sent(self, record: MailRecord) -> bool | TransientSendError | None:
        async with self.gate:
            try:
                return await self.transport.was_sent(record.mail)
            except TransientSendError as exc:
                if exc.throttled:
                    return exc
                log.warning("outbox: looking up %s mail %s failed: %s", record.mail.reference, record.mail.mail_id, exc)
                return None
            except Exception:
                log.exception("outbox: looking up %s mail %s failed", record.mail.reference, record.mail.mail_id)
                return None

    async def _settle_sent(self, records: Sequence[MailRecord]) -> None:
        batches = [records[i : i + SETTLE_BATCH] for i in range(0, len(records), SETTLE_BATCH)]
        await asyncio.gather(*(self._settle_batch(batch) for batch in batches))

    async def _settle_batch(self, batch: Sequence[MailRecord]) -> None:
        async with self.gate:
            try:
                settled = await self.store.record_sent_many(batch, self.clock.now())
            except Exception:
                # They went: the leases run out, and the next run finds them sent at the transport and settles them.
                log.exception("outbox: %d sent mails could not be settled; the next run reconciles them", len(batch))
                self.report.unsettled += len(batch)
                return
        if settled < len(batch):
            log.warning("outbox: %d sent mails were settled by another dispatcher", len(batch) - settled)

    async def _guarded(self, step: Awaitable[None]) -> None:
        async with self.gate:
            try:
                await step
            except ConcurrentUpdate:
                self.report.skipped += 1
            except Exception:
                # Recording a retry or a failure failed (storage trouble): the lease runs out and it comes back.
                log.exception("outbox: a mail's outcome could not be recorded")
                self.report.skipped += 1

    def _too_old(self, record: MailRecord) -> bool:
        age = self.clock.now() - record.mail.created_at
        return age.total_seconds() > self.policy.max_age_seconds

    def _held_back(self, record: MailRecord) -> Awaitable[None] | None:
        """The step that records why this mail is not sent now, or None when it may go (the cap aside)."""
        to = record.mail.to.casefold()
        if record.attempts >= self.policy.max_attempts:  # its last attempt's outcome was unknown; it did not go
            self.report.failed += 1
            return self._fail(record, f"gave up after {record.attempts} attempts; last error {record.last_error}")
        if self._too_old(record):
            self.report.failed += 1
            return self._fail(record, f"not sent within {self._max_age()}; last error {record.last_error or 'none'}")
        if to in self.suppressed:
            self.report.failed += 1
            return self._fail(record, "the address is suppressed after repeated permanent bounces")
        return None  # the daily cap is checked later, against the stored count, right before sending

    def _max_age(self) -> str:
        hours = self.policy.max_age_seconds / 3600
        return f"{hours:g} hours"

    async def _cannot_tell(self, record: MailRecord) -> None:
        """The transport cannot say now whether this mail went: it is asked again later; each time is an attempt."""
        attempt = record.attempts + 1
        error = "could not tell whether an earlier attempt sent it"
        if attempt >= self.policy.max_attempts or self._too_old(record):
            self.report.failed += 1
            await self._fail(record, f"{error}, after {attempt} attempts; it may have been sent")
            return
        now = self.clock.now()
        next_at = now + timedelta(seconds=self.policy.delay(record.attempts, None))
        self.report.retried += 1
        await self.store.record_retry(record, now, next_at, error, unsure=True)

    async def _lookup_throttled(self, record: MailRecord, exc: TransientSendError) -> None:
        """The transport asked us to wait before asking again: no answer about the mail, so no attempt counts. It
        is asked again after the server's Retry-After; only the maximum age ends that."""
        now = self.clock.now()
        if self._too_old(record):
            self.report.failed += 1
            await self._fail(record, f"not sent within {self._max_age()}; its lookup was throttled ({exc})")
            return
        self.report.retried += 1
        next_at = now + timedelta(seconds=self.policy.delay(0, exc.retry_after))
        error = f"could not tell whether an earlier attempt sent it: {exc}"
        await self.store.record_retry(record, now, next_at, error, counts=False, unsure=True)

    async def _settle_error(self, record: MailRecord, exc: Exception) -> None:
        """A mail the transport did not (surely) send: failed for good when refused, out of attempts or too old,
        else tried again later - looked up first, a lease later, when the server may have accepted it."""
        mail = record.mail
        attempt = record.attempts + 1
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, PermanentSendError):
            self.report.failed += 1
            await self._fail(record, f"refused: {exc}")
            return
        transient = isinstance(exc, TransientSendError)
        retry_after = exc.retry_after if isinstance(exc, TransientSendError) else None
        throttled = isinstance(exc, TransientSendError) and exc.throttled
        maybe_sent = not transient or (isinstance(exc, TransientSendError) and exc.maybe_sent)
        now = self.clock.now()
        if self._too_old(record):
            self.report.failed += 1
            await self._fail(record, f"not sent within {self._max_age()}; last error {error}")
            return
        if throttled:  # Graph asked us to wait: it says nothing about the mail, so it costs no attempt
            self.report.retried += 1
            next_at = now + timedelta(seconds=self.policy.delay(0, retry_after))
            await self.store.record_retry(record, now, next_at, error, counts=False)
            return
        if attempt >= self.policy.max_attempts and not maybe_sent:
            self.report.failed += 1
            await self._fail(record, f"gave up after {attempt} attempts; last error {error}")
            return
        wait = timedelta(seconds=self.policy.delay(record.attempts, retry_after))
        if maybe_sent:
            # Asked about no sooner than a lease from now; were it found unsent then and out of attempts, it fails.
            wait = max(wait, self.lease)
        next_at = now + wait
        log.warning(
            "outbox: %s mail %s attempt %d failed (%s); next at %s",
            mail.reference,
            mail.mail_id,
            attempt,
            error,
            next_at,
        )
        self.report.retried += 1
        await self.store.record_retry(record, now, next_at, error, unsure=maybe_sent)

    async def _fail(self, record: MailRecord, error: str) -> None:
        now: datetime = self.clock.now()
        mail = record.mail
        telemetry.count("ssu.mail.failed", **_mail_fields(record))
        with telemetry.operation("mail failed", case_reference=mail.reference, **_mail_fields(record)):
            purpose = telemetry.purpose_family(mail.purpose)  # a purpose may end in a decision token
            log.error("outbox: %s mail %s (%s) failed for good: %s", mail.reference, mail.mail_id, purpose, error)
        event = CaseEvent(
            at=now,
            actor="outbox",
            channel=Channel.TIMER,
            kind="mail_failed",
            public=False,
            # The purpose's family: a decision-by-reply mail's purpose ends in its token, which the case view and
            # exports would show.
            summary=f"The email '{purpose}' to {mail.to} could not be sent: {error}",
            data={
                "purpose": purpose,
                "to": mail.to,
                "message_id": mail.message_id,
                "attempts": record.attempts + 1,
            },
        )
        await self.store.record_failed(record, now, error, event)
