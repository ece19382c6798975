"""In-memory fakes of the ports, and `fake_services`: the workflows under unit test without Azurite.

The case store behaves like the Table Storage adapter (`functions/adapters/tables.py`) wherever a workflow can tell:
references gapless per process and year, one write per change that either happens whole or not at all, the case's
and a token's ETag, a mail's identity (case, purpose, recipient), idempotency markers scoped like the adapter's (one
per partition, i.e. per process and year of the case written), the outbox's pending entries guarded by their ETag,
and what `mails()` returns (the delivery state, without the bodies). Every record is stored as JSON, so a workflow
that changes an object after writing it changes nothing stored. Each operation yields to the event loop once, as a
round trip would, so that concurrent workflows interleave as they do against real storage.

This is a test double, not a second adapter: no partitions listing, no group commit, no size limits.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from functions.core.clock import Clock
from functions.core.inbound import InboxItem
from functions.core.mail import MailRecord, OutgoingMail
from functions.core.model import (
    HELD_PATTERN,
    Bits,
    Case,
    CaseEvent,
    DataSource,
    DecisionToken,
    Organisation,
    Process,
    format_reference,
    parse_reference,
    partition_of,
)
from functions.core.rate_limits import EMPTY, Counts, RateLimit, decide
from functions.core.registry import Registry
from functions.core.rendering import Renderer
from functions.core.services import RegistryCache, Services
from functions.core.settings import Settings
from functions.core.store import (
    AlreadyProcessed,
    AlreadyQueued,
    Backlog,
    ConcurrentUpdate,
    MailsFor,
    StoredCase,
    StoredToken,
)
from functions.registry_import import parse_registry_file

DEMO_REGISTRY = Path(__file__).resolve().parents[1] / "data" / "demo-registry.json"
_etags = itertools.count(1)


def _etag() -> str:
    return f'W/"fake-{next(_etags)}"'


_partition = partition_of


def _time_key(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")


class FakeClock:
    """A clock the test moves by hand: set `at`, or `advance(minutes=…)`."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime(2026, 11, 29, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


@dataclass
class _MailState:
    mail: OutgoingMail
    status: str
    due_at: datetime
    attempts: int = 0
    sent_at: datetime | None = None
    last_error: str = ""


@dataclass
class _Pending:
    mail: OutgoingMail
    due_at: datetime
    attempts: int
    etag: str = field(default_factory=_etag)
    unsure: bool = False
    lease_owner: str = ""
    last_error: str = ""


class FakeCaseStore:
    """The CaseStore port in memory."""

    def __init__(self, reference_prefix: str = "SSU") -> None:
        self._prefix = reference_prefix
        self._counters: dict[str, int] = {}  # partition -> last sequence number
        self._cases: dict[str, tuple[str, str]] = {}  # reference -> (case JSON, etag)
        self._events: dict[str, list[str]] = {}  # reference -> event JSON, in write order
        self._mails: dict[tuple[str, str], _MailState] = {}  # (reference, mail id)
        self._outbox: dict[tuple[str, str], _Pending] = {}  # (partition, row key) of a pending mail
        self._markers: dict[tuple[str, str], str] = {}  # (partition, marker) -> reference
        self._tokens: dict[tuple[str, str], tuple[str, str, str]] = {}  # (partition, token) -> (ref, JSON, etag)
        self._messages: dict[str, str] = {}
        self._failed: dict[tuple[str, str], MailRecord] = {}  # (reference, mail id) -> the failed mail, with letter

    # -- writing, all or nothing ------------------------------------------------------------------------------------

    def _check_new(
        self,
        partition: str,
        reference: str,
        mails: Sequence[OutgoingMail],
        markers: Sequence[str],
        tokens: Sequence[DecisionToken],
    ) -> None:
        """What the adapter's transaction would refuse with 409: an input seen before, or a row that exists."""
        for marker in markers:
            if (partition, marker) in self._markers:
                raise AlreadyProcessed(self._markers[partition, marker], marker)
        mail_keys = [(m.reference, m.mail_id) for m in mails]
        token_keys = [(partition, t.token) for t in tokens]
        if (
            any(k in self._mails for k in mail_keys)
            or len(set(mail_keys)) < len(mail_keys)
            or any(k in self._tokens for k in token_keys)
            or len(set(token_keys)) < len(token_keys)
        ):
            raise AlreadyQueued(reference)

    def _write(
        self,
        partition: str,
        reference: str,
        event: CaseEvent,
        mails: Sequence[OutgoingMail],
        due_at: datetime,
        markers: Sequence[str],
        tokens: Sequence[DecisionToken],
    ) -> None:
        self._events.setdefault(reference, []).append(event.model_dump_json())
        for mail in mails:
            self._mails[mail.reference, mail.mail_id] = _MailState(mail, "pending", due_at)
            self._outbox[partition, self._row_key(mail, due_at)] = _Pending(mail, due_at, 0)
        for marker in markers:
            self._markers[partition, marker] = reference
        for token in tokens:
            self._tokens[partition, token.token] = (reference, token.model_dump_json(), _etag())

    @staticmethod
    def _row_key(mail: OutgoingMail, due_at: datetime) -> str:
        return f"outbox|{_time_key(due_at)}|{mail.reference}|{mail.mail_id}"

    async def create_case(
        self,
        case: Case,
        event: CaseEvent,
        mails: MailsFor,
        markers: Sequence[str] = (),
        tokens: Sequence[DecisionToken] = (),
    ) -> Case:
        await asyncio.sleep(0)
        year = case.created_at.astimezone(UTC).year
        partition = f"{case.process.value}-{year}"
        seq = self._counters.get(partition, 0) + 1
        numbered = case.model_copy(update={"reference": format_reference(self._prefix, case.process, year, seq)})
        built = list(mails(numbered))  # raises before anything is written or a number is used
        self._check_new(partition, numbered.reference, built, markers, tokens)
        self._counters[partition] = seq
        self._cases[numbered.reference] = (numbered.model_dump_json(), _etag())
        self._write(partition, numbered.reference, event, built, numbered.created_at, markers, tokens)
        return numbered

    async def transition(
        self,
        stored: StoredCase,
        case: Case,
        event: CaseEvent,
        mails: Sequence[OutgoingMail] = (),
        markers: Sequence[str] = (),
        tokens: Sequence[DecisionToken] = (),
        use_token: StoredToken | None = None,
    ) -> StoredCase:
        await asyncio.sleep(0)
        partition = _partition(case.reference)
        current = self._cases.get(case.reference)
        if current is None:
            raise LookupError(f"no case {case.reference}")  # the adapter's update fails with 404 here
        if current[1] != stored.etag:
            raise ConcurrentUpdate(case.reference)
        self._check_new(partition, case.reference, mails, markers, tokens)
        used_key = (partition, use_token.token.token) if use_token else None
        if use_token and (used_key not in self._tokens or self._tokens[used_key][2] != use_token.etag):
            raise ConcurrentUpdate(case.reference)
        etag = _etag()
        self._cases[case.reference] = (case.model_dump_json(), etag)
        self._write(partition, case.reference, event, mails, case.updated_at, markers, tokens)
        if use_token and used_key:
            self._tokens[used_key] = (self._tokens[used_key][0], use_token.token.model_dump_json(), _etag())
        return StoredCase(case, etag)

    async def append(
        self,
        reference: str,
        event: CaseEvent,
        mails: Sequence[OutgoingMail] = (),
        markers: Sequence[str] = (),
        tokens: Sequence[DecisionToken] = (),
    ) -> None:
        await asyncio.sleep(0)
        partition = _partition(reference)
        self._check_new(partition, reference, mails, markers, tokens)
        self._write(partition, reference, event, mails, event.at, markers, tokens)

    async def remember_messages(self, references: dict[str, str]) -> None:
        await asyncio.sleep(0)
        self._messages.update(references)

    async def message_reference(self, key: str) -> str | None:
        await asyncio.sleep(0)
        return self._messages.get(key)

    # -- reading ----------------------------------------------------------------------------------------------------

    async def load(self, reference: str) -> StoredCase | None:
        await asyncio.sleep(0)
        found = self._cases.get(reference) if parse_reference(reference) else None
        return StoredCase(Case.model_validate_json(found[0]), found[1]) if found else None

    async def load_token(self, reference: str, token: str) -> StoredToken | None:
        await asyncio.sleep(0)
        if parse_reference(reference) is None:
            return None
        found = self._tokens.get((_partition(reference), token))
        if found is None or found[0] != reference:
            return None  # a token of another case in the same partition decides nothing here
        return StoredToken(DecisionToken.model_validate_json(found[1]), found[2])

    async def tokens(self, reference: str) -> list[DecisionToken]:
        await asyncio.sleep(0)
        return [DecisionToken.model_validate_json(body) for (ref, body, _) in self._tokens.values() if ref == reference]

    async def events(self, reference: str) -> list[CaseEvent]:
        await asyncio.sleep(0)
        events = [CaseEvent.model_validate_json(e) for e in self._events.get(reference, [])]
        return sorted(events, key=lambda e: e.at)  # in time order, as the adapter's row keys sort them

    async def held_events(self) -> list[tuple[str, CaseEvent]]:
        await asyncio.sleep(0)
        held = sorted(r for r in self._events if HELD_PATTERN.match(r))
        events = {r: [CaseEvent.model_validate_json(e) for e in self._events[r]] for r in held}
        return [(r, e) for r in held for e in sorted(events[r], key=lambda e: e.at)]

    async def mails(self, reference: str) -> list[MailRecord]:
        """The delivery state of each mail, like the adapter: the bodies are not part of it."""
        await asyncio.sleep(0)
        states = sorted(((k, s) for k, s in self._mails.items() if k[0] == reference), key=lambda item: item[0][1])
        return [
            MailRecord(
                mail=OutgoingMail(
                    reference, s.mail.purpose, s.mail.to, s.mail.subject, s.mail.message_id, "", "", "", "", s.due_at
                ),
                status=s.status,
                attempts=s.attempts,
                due_at=s.due_at,
                sent_at=s.sent_at,
                last_error=s.last_error,
            )
            for _, s in states
        ]

    async def cases(self, process: Process | None = None, status: str | None = None) -> list[Case]:
        await asyncio.sleep(0)
        found = [Case.model_validate_json(body) for body, _ in self._cases.values()]
        found = [
            c for c in found if (process is None or c.process == process) and (status is None or c.status == status)
        ]
        return sorted(found, key=lambda c: (_partition(c.reference), c.reference))

    # -- the outbox -------------------------------------------------------------------------------------------------

    async def due_mails(self, now: datetime, limit: int) -> list[MailRecord]:
        await asyncio.sleep(0)
        high = f"outbox|{_time_key(now)}~"
        due = sorted(k for k in self._outbox if k[1] < high)[:limit]
        return [self._pending_record(k) for k in due]

    def _pending_record(self, key: tuple[str, str]) -> MailRecord:
        pending = self._outbox[key]
        return MailRecord(
            mail=pending.mail,
            status="pending",
            attempts=pending.attempts,
            due_at=pending.due_at,
            last_error=pending.last_error,
            store_key={"PartitionKey": key[0], "RowKey": key[1], "etag": pending.etag},
            unsure=pending.unsure or bool(pending.lease_owner),  # a lease read back ran out unsettled
            lease_owner=pending.lease_owner,
            lease_until=pending.due_at if pending.lease_owner else None,
        )

    def _replace_pending(self, record: MailRecord, due_at: datetime, **changes: Any) -> tuple[str, str]:
        """Move the pending entry to `due_at` if no one changed it since it was read (else ConcurrentUpdate)."""
        key = (record.store_key["PartitionKey"], record.store_key["RowKey"])
        pending = self._outbox.get(key)
        if pending is None or pending.etag != record.store_key["etag"]:
            raise ConcurrentUpdate(record.mail.reference)
        del self._outbox[key]
        moved = (key[0], self._row_key(record.mail, due_at))
        self._outbox[moved] = replace(pending, due_at=due_at, etag=_etag(), **changes)
        return moved

    async def claim_mails(self, records: Sequence[MailRecord], owner: str, until: datetime) -> list[MailRecord]:
        """Like the adapter: a claim moves the entry to when its lease runs out; what someone took is left out."""
        await asyncio.sleep(0)
        claimed: list[MailRecord] = []
        for record in records:
            try:
                key = self._replace_pending(record, until, lease_owner=owner, unsure=record.unsure)
            except ConcurrentUpdate:
                continue
            claimed.append(self._pending_record(key))
            claimed[-1].unsure = record.unsure
        return claimed

    def _settle(self, record: MailRecord, **state: Any) -> None:
        """Remove the pending entry if no one else changed it, and record the mail's new state."""
        key = (record.store_key["PartitionKey"], record.store_key["RowKey"])
        pending = self._outbox.get(key)
        if pending is None or pending.etag != record.store_key["etag"]:
            raise ConcurrentUpdate(record.mail.reference)  # another dispatcher settled it first
        del self._outbox[key]
        mail_key = (record.mail.reference, record.mail.mail_id)
        self._mails[mail_key] = replace(self._mails[mail_key], **state)

    async def record_sent(self, record: MailRecord, now: datetime) -> None:
        await asyncio.sleep(0)
        self._settle(record, status="sent", sent_at=now, attempts=record.attempts + 1, last_error="")

    async def record_sent_many(self, records: Sequence[MailRecord], now: datetime) -> int:
        settled = 0
        for record in records:
            try:
                await self.record_sent(record, now)
                settled += 1
            except ConcurrentUpdate:
                continue
        return settled

    async def record_retry(
        self,
        record: MailRecord,
        now: datetime,
        next_at: datetime,
        error: str,
        counts: bool = True,
        unsure: bool = False,
    ) -> None:
        await asyncio.sleep(0)
        attempts = record.attempts + (1 if counts else 0)
        self._replace_pending(
            record, next_at, attempts=attempts, unsure=unsure, lease_owner="", last_error=error[:1000]
        )
        mail_key = (record.mail.reference, record.mail.mail_id)
        self._mails[mail_key] = replace(
            self._mails[mail_key], status="pending", attempts=attempts, last_error=error[:1000], due_at=next_at
        )

    async def record_failed(self, record: MailRecord, now: datetime, error: str, event: CaseEvent) -> None:
        await asyncio.sleep(0)
        self._settle(record, status="failed", attempts=record.attempts + 1, last_error=error[:1000])
        self._events.setdefault(record.mail.reference, []).append(event.model_dump_json())
        key = (record.mail.reference, record.mail.mail_id)
        self._failed[key] = MailRecord(
            mail=record.mail,
            status="failed",
            attempts=record.attempts + 1,
            last_error=error[:1000],
            failed_at=now,
            store_key={"PartitionKey": _partition(record.mail.reference), "RowKey": f"failed|{key[0]}|{key[1]}"}
            | {"etag": _etag()},
        )

    async def failed_mails(self, limit: int = 200) -> list[MailRecord]:
        await asyncio.sleep(0)
        newest = sorted(self._failed.values(), key=lambda r: r.failed_at or datetime.min, reverse=True)[:limit]
        return [replace(r, mail=replace(r.mail, text="", html="", sender="", sender_name="")) for r in newest]

    async def failed_mail(self, reference: str, mail_id: str) -> MailRecord | None:
        await asyncio.sleep(0)
        found = self._failed.get((reference, mail_id))
        return replace(found, store_key=dict(found.store_key)) if found else None

    async def resend_failed(
        self, record: MailRecord, now: datetime, event: CaseEvent, markers: Sequence[str] = ()
    ) -> None:
        await asyncio.sleep(0)
        reference, key = record.mail.reference, (record.mail.reference, record.mail.mail_id)
        partition = _partition(reference)
        for marker in markers:
            if (partition, marker) in self._markers:
                raise AlreadyProcessed(self._markers[partition, marker], marker)
        found = self._failed.get(key)
        if found is None or found.store_key["etag"] != record.store_key.get("etag"):
            raise ConcurrentUpdate(reference)
        del self._failed[key]
        self._outbox[partition, self._row_key(record.mail, now)] = _Pending(record.mail, now, 0, unsure=True)
        self._mails[key] = replace(self._mails[key], status="pending", attempts=0, last_error="", due_at=now)
        self._events.setdefault(reference, []).append(event.model_dump_json())
        for marker in markers:
            self._markers[partition, marker] = reference

    async def backlog(self, limit: int = 1000) -> Backlog:
        await asyncio.sleep(0)
        queued = [p.mail.created_at for p in self._outbox.values()]
        return Backlog(min(len(queued), limit), min(queued, default=None), more=len(queued) > limit)

    async def erase_personal_data(
        self,
        stored: StoredCase,
        case: Case,
        event: CaseEvent,
        erase_event: Callable[[CaseEvent], CaseEvent],
        marker: str,
    ) -> StoredCase:
        await asyncio.sleep(0)
        reference = case.reference
        current = self._cases.get(reference)
        if current is None or current[1] != stored.etag:
            raise ConcurrentUpdate(reference)
        partition = _partition(reference)
        self._events[reference] = [
            erase_event(CaseEvent.model_validate_json(e)).model_dump_json() for e in self._events.get(reference, [])
        ]
        for key, state in list(self._mails.items()):
            if key[0] == reference:
                mail = replace(state.mail, to=marker, subject=marker, text="", html="")
                status = "failed" if state.status == "pending" else state.status  # its letter goes
                self._mails[key] = replace(
                    state, mail=mail, status=status, last_error=marker if state.last_error else ""
                )
        for key in [k for k, p in self._outbox.items() if p.mail.reference == reference]:
            del self._outbox[key]
        for key in [k for k in self._failed if k[0] == reference]:
            del self._failed[key]
        for key in [k for k, t in self._tokens.items() if k[0] == partition and t[0] == reference]:
            del self._tokens[key]
        etag = _etag()
        self._cases[reference] = (case.model_dump_json(), etag)
        self._events[reference].append(event.model_dump_json())
        return StoredCase(case, etag)

    async def forget_held(self, reference: str) -> int:
        await asyncio.sleep(0)
        rows = len(self._events.pop(reference, []))
        for store in (self._mails, self._failed):
            for key in [k for k in store if k[0] == reference]:
                del store[key]
                rows += 1
        for key in [k for k, p in self._outbox.items() if p.mail.reference == reference]:
            del self._outbox[key]
            rows += 1
        return rows


class FakeRegistryStore:
    """The RegistryStore port over one `Registry`, copied in and out as the adapter's JSON bodies would be."""

    def __init__(self, registry: Registry) -> None:
        self._organisations: dict[str, str] = {}
        self._sources: dict[str, str] = {}
        self._bits: str | None = None
        self._save(registry)

    def _save(self, registry: Registry) -> int:
        self._organisations.update({n: o.model_dump_json() for n, o in registry.organisations.items()})
        self._sources.update({k: s.model_dump_json() for k, s in registry.sources.items()})
        if registry.bits:
            self._bits = registry.bits.model_dump_json()
        return len(registry.organisations) + len(registry.sources) + (1 if registry.bits else 0)

    async def load_registry(self) -> Registry:
        await asyncio.sleep(0)
        return Registry.of(
            [Organisation.model_validate_json(self._organisations[n]) for n in sorted(self._organisations)],
            [DataSource.model_validate_json(self._sources[k]) for k in sorted(self._sources)],
            Bits.model_validate_json(self._bits) if self._bits else None,
        )

    async def save_registry(self, registry: Registry) -> int:
        await asyncio.sleep(0)
        return self._save(registry)

    async def update_organisation(
        self, organisation_number: str, change: Callable[[Organisation], Organisation]
    ) -> Organisation | None:
        current = await self.get_organisation(organisation_number)
        if current is None:
            return None
        changed = change(current)
        self._organisations[organisation_number] = changed.model_dump_json()
        return changed

    async def get_organisation(self, organisation_number: str) -> Organisation | None:
        await asyncio.sleep(0)
        body = self._organisations.get(organisation_number)
        return Organisation.model_validate_json(body) if body else None

    async def put_organisation(self, organisation: Organisation) -> None:
        await asyncio.sleep(0)
        self._organisations[organisation.organisation_number] = organisation.model_dump_json()


@dataclass
class _Bounces:
    count: int
    last_at: datetime
    suppressed: bool
    first_at: datetime | None = None
    status: str = ""
    reference: str = ""


class FakeDeliveryLimits:
    def __init__(self) -> None:
        self.bounces: dict[str, _Bounces] = {}  # by address, casefolded
        self.sent: dict[str, dict[str, int]] = {}  # by day, then address
        self.lifted: list[dict[str, Any]] = []  # newest first

    async def suppressed(self) -> set[str]:
        return {a for a, b in self.bounces.items() if b.suppressed}

    async def suppressions(self) -> list[dict[str, Any]]:
        return [
            {
                "address": a,
                "permanent_bounces": b.count,
                "suppressed": b.suppressed,
                "last_bounce_at": b.last_at.isoformat(),
                "first_bounce_at": (b.first_at or b.last_at).isoformat(),
                "last_status": b.status,
                "last_reference": b.reference,
            }
            for a, b in self.bounces.items()
        ]

    async def record_bounce(
        self, address: str, at: datetime, suppress_after: int, status: str = "", reference: str = ""
    ) -> bool:
        known = self.bounces.get(address.casefold())
        count = (known.count if known else 0) + 1
        first = known.first_at or known.last_at if known else at
        status = "".join(c for c in status if c.isdigit() or c == ".")[:20]
        self.bounces[address.casefold()] = _Bounces(count, at, count >= suppress_after, first, status, reference[:40])
        return count >= suppress_after

    async def lift(self, address: str, by: str, at: datetime, by_id: str = "") -> bool:
        lifted = self.bounces.pop(address.casefold(), None)
        if lifted is not None:
            record = {"address": address.casefold(), "permanent_bounces": lifted.count, "lifted_by": by}
            self.lifted.insert(0, {**record, "lifted_by_id": by_id})
        return lifted is not None

    async def lifts(self) -> list[dict[str, Any]]:
        return list(self.lifted)

    async def sent_today(self, day: str) -> dict[str, int]:
        return dict(self.sent.get(day, {}))

    async def reserve_sent(self, day: str, address: str, wanted: int, cap: int) -> int:
        counts = self.sent.setdefault(day, {})
        taken = max(0, min(wanted, cap - counts.get(address.casefold(), 0)))
        counts[address.casefold()] = counts.get(address.casefold(), 0) + taken
        return taken

    async def forget_sent_before(self, day: str) -> int:
        gone = [d for d in self.sent if d < day]
        rows = sum(len(self.sent.pop(d)) for d in gone)
        return rows

    async def release_sent(self, day: str, address: str, count: int) -> None:
        counts = self.sent.setdefault(day, {})
        counts[address.casefold()] = max(0, counts.get(address.casefold(), 0) - count)


class FakeRateLimits:
    """The counters by key, decided by the same arithmetic as the adapter's; all or nothing per hit."""

    def __init__(self) -> None:
        self.counts: dict[str, Counts] = {}
        self.once: set[str] = set()

    async def hit(
        self, limits: Sequence[RateLimit], window: timedelta, now: datetime, once: str | None = None
    ) -> int | None:
        await asyncio.sleep(0)
        if once is not None and once in self.once:
            return None
        unique = list({limit.key: limit for limit in limits}.values())
        wait, after = decide([(limit, self.counts.get(limit.key, EMPTY)) for limit in unique], now, window)
        if wait is None:
            self.counts.update({limit.key: counts for limit, counts in zip(unique, after, strict=True)})
            if once is not None:
                self.once.add(once)
        return wait


class FakeStateStore:
    def __init__(self) -> None:
        self.records: dict[str, str] = {}

    async def get(self, name: str) -> dict[str, Any] | None:
        value = json.loads(self.records[name]) if name in self.records else None
        return value if isinstance(value, dict) else None

    async def put(self, name: str, value: dict[str, Any]) -> None:
        self.records[name] = json.dumps(value)


class FakeAttachmentStore:
    """Blobs with the time each was last stored (by the services' clock, as Blob Storage keeps Last-Modified)."""

    def __init__(self) -> None:
        self.blobs: dict[str, tuple[bytes, str]] = {}
        self.stored_at: dict[str, datetime] = {}
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)  # fake_services reads its services' clock

    async def put(self, name: str, data: bytes, content_type: str) -> None:
        self.blobs[name] = (data, content_type)
        self.stored_at[name] = self.now()

    async def get(self, name: str) -> bytes:
        return self.blobs[name][0]

    async def delete(self, name: str, unless_stored_since: datetime | None = None) -> bool:
        at = self.stored_at.get(name)
        if unless_stored_since is not None and at is not None and at >= unless_stored_since:
            return False
        self.blobs.pop(name, None)
        self.stored_at.pop(name, None)
        return True

    async def close(self) -> None:
        return None


class FakeStorageAccount:
    def __init__(self) -> None:
        self.round_trips = 0

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


class FakeMailbox:
    """Messages waiting (`deliver` them), and how each was settled."""

    name = "fake"
    failed_folder = "failed"

    def __init__(self) -> None:
        self.inbox: list[InboxItem] = []
        self.settled: list[tuple[InboxItem, bool, str]] = []
        self.checkpoints: list[bool] = []

    def deliver(self, raw: bytes) -> InboxItem:
        item = InboxItem(f"item-{len(self.inbox) + len(self.settled) + 1}", raw)
        self.inbox.append(item)
        return item

    async def fetch(self, limit: int) -> list[InboxItem]:
        return self.inbox[:limit]

    async def settle(self, item: InboxItem, processed: bool, reason: str) -> None:
        self.inbox.remove(item)
        self.settled.append((item, processed, reason))

    async def checkpoint(self, complete: bool) -> None:
        self.checkpoints.append(complete)

    async def close(self) -> None:
        return None


class FakeTransport:
    """Records what it sends; `script` holds the outcomes of the next sends (None: sent), then every mail goes.
    `was_sent` answers from what it sent, by Message-ID."""

    name = "fake"

    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []
        self.script: list[Exception | None] = []

    async def send_many(
        self, mails: Sequence[OutgoingMail], start_within: float | None = None
    ) -> list[Exception | None]:
        outcomes: list[Exception | None] = []
        for mail in mails:
            outcome = self.script.pop(0) if self.script else None
            if outcome is None or getattr(outcome, "maybe_sent", False):
                self.sent.append(mail)  # a "maybe sent" error stands for a send whose answer was lost
            outcomes.append(outcome)
        return outcomes

    async def was_sent(self, mail: OutgoingMail) -> bool | None:
        await asyncio.sleep(0)
        return any(m.message_id == mail.message_id for m in self.sent)

    async def close(self) -> None:
        return None


def fake_services(registry: Registry | None = None, clock: Clock | None = None, **setting_overrides: Any) -> Services:
    """Services over the fakes, with the real settings (local mode), renderer and, by default, the demo registry."""
    settings = Settings(**setting_overrides)
    registry_store = FakeRegistryStore(registry or parse_registry_file(DEMO_REGISTRY))
    blobs = FakeAttachmentStore()
    built = Services(
        settings=settings,
        storage=FakeStorageAccount(),
        store=FakeCaseStore(settings.reference_prefix),
        registry_store=registry_store,
        registry_cache=RegistryCache(registry_store, settings.registry_cache_seconds),
        renderer=Renderer(),
        transport=FakeTransport(),
        clock=clock or FakeClock(),
        blobs=blobs,
        mailbox=FakeMailbox(),
        limits=FakeDeliveryLimits(),
        state=FakeStateStore(),
        rate_limits=FakeRateLimits(),
    )
    blobs.now = lambda: built.clock.now()  # whichever clock a test gives the services later
    return built


def transport_of(services: Services) -> FakeTransport:
    assert isinstance(services.transport, FakeTransport)
    return services.transport


def mailbox_of(services: Services) -> FakeMailbox:
    assert isinstance(services.mailbox, FakeMailbox)
    return services.mailbox


def clock_of(services: Services) -> FakeClock:
    assert isinstance(services.clock, FakeClock)
    return services.clock


# A go-live date some months ahead of whenever the tests run (a date in the past is refused by the registration).
GO_LIVE = (date.today() + timedelta(days=120)).isoformat()
