"""The storage ports the workflows use, and the errors every adapter raises."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from .mail import MailRecord, OutgoingMail
from .model import Case, CaseEvent, DecisionToken, Organisation, Process
from .rate_limits import RateLimit
from .registry import Registry

MailsFor = Callable[[Case], Sequence[OutgoingMail]]


class StorageUnavailable(Exception):
    """Storage could not be reached or answered with a server error; nothing was written."""


class ConcurrentUpdate(Exception):
    """Someone else changed the case first (ETag mismatch); reload and decide again."""


class AlreadyProcessed(Exception):
    """This input (e.g. an email, by its Message-ID) was processed before; `reference` is the case it went to, and
    `marker` the one of the write's markers that was found (the first found, in the order given)."""

    def __init__(self, reference: str, marker: str | None = None) -> None:
        super().__init__(reference)
        self.reference, self.marker = reference, marker


class AlreadyQueued(Exception):
    """The same mail (case, purpose, recipient) was queued before; nothing was written."""


@dataclass(frozen=True)
class StoredCase:
    case: Case
    etag: str


@dataclass(frozen=True)
class StoredToken:
    token: DecisionToken
    etag: str


@dataclass(frozen=True)
class Backlog:
    """The mails queued and not yet sent: how many (counted up to a limit; `more` when there are more) and when the
    one that has waited longest was queued."""

    count: int
    oldest_queued_at: datetime | None
    more: bool = False


class CaseStore(Protocol):
    async def create_case(
        self,
        case: Case,
        event: CaseEvent,
        mails: MailsFor,
        markers: Sequence[str] = (),
        tokens: Sequence[DecisionToken] = (),
    ) -> Case:
        """Allocate the reference and write the case, its first event and its mails in one transaction.

        `mails` builds the emails once the reference is known (they carry it in subject and Message-ID).
        `markers` are idempotency keys (e.g. of the email that caused it): seen before, AlreadyProcessed is raised.
        `tokens` are the decision tokens its emails carry.
        """

    async def load(self, reference: str) -> StoredCase | None: ...

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
        """Replace the case if it is unchanged since `stored` was read, with the event and mails, atomically.

        `use_token` records a decision token as used, guarded by its ETag like the case.
        """

    async def load_token(self, reference: str, token: str) -> StoredToken | None: ...

    async def tokens(self, reference: str) -> list[DecisionToken]:
        """Every decision token issued on the case (used, expired or not), in no particular order."""

    async def append(
        self,
        reference: str,
        event: CaseEvent,
        mails: Sequence[OutgoingMail] = (),
        markers: Sequence[str] = (),
        tokens: Sequence[DecisionToken] = (),
    ) -> None:
        """Add an event (and its mails, and the tokens they carry) to a case without changing the case itself."""

    async def remember_messages(self, references: dict[str, str]) -> None:
        """Index emails' identities (hashes of their Message-IDs) to the cases they belong to."""

    async def message_reference(self, key: str) -> str | None: ...

    async def events(self, reference: str) -> list[CaseEvent]: ...

    async def held_events(self) -> list[tuple[str, CaseEvent]]:
        """Every event of the messages held for Bits (the `held` partition), with its held reference; by reference,
        each reference's in time order."""

    async def mails(self, reference: str) -> list[MailRecord]: ...

    async def cases(self, process: Process | None = None, status: str | None = None) -> list[Case]: ...

    async def due_mails(self, now: datetime, limit: int) -> list[MailRecord]:
        """Pending mails due at `now`, oldest first: never one under a live lease (a claimed mail is due again only
        when its lease runs out; it then comes back `unsure`, with the lease's owner)."""

    async def claim_mails(self, records: Sequence[MailRecord], owner: str, until: datetime) -> list[MailRecord]:
        """Take each mail for `owner` until `until`, only if no one changed it since it was read (ETag): the claimed
        ones come back with their new store keys (settle those), the others were taken by someone else. A few
        storage transactions, one per partition where they fit."""

    async def record_sent(self, record: MailRecord, now: datetime) -> None: ...

    async def record_sent_many(self, records: Sequence[MailRecord], now: datetime) -> int:
        """Settle claimed mails as sent, up to 10 to a transaction; returns how many were settled (one settled or
        claimed by someone else meanwhile is skipped)."""

    async def record_retry(
        self,
        record: MailRecord,
        now: datetime,
        next_at: datetime,
        error: str,
        counts: bool = True,
        unsure: bool = False,
    ) -> None:
        """Send it again at `next_at`; `counts=False` when the wait was no failure of the mail's (throttling, the
        daily cap), so that it does not use up the attempts; `unsure` when it may have been sent (it is looked up
        before it is sent again)."""

    async def record_failed(self, record: MailRecord, now: datetime, error: str, event: CaseEvent) -> None:
        """Settle a claimed mail as failed for good, with the event; its letter is kept (`failed_mail`), so that
        Bits can send it again."""

    async def failed_mails(self, limit: int = 200) -> list[MailRecord]:
        """The mails that failed for good and were not sent again since, newest first (at most `limit`), without
        their letters: each with `failed_at` and its last error."""

    async def failed_mail(self, reference: str, mail_id: str) -> MailRecord | None:
        """One failed mail with its letter, as `resend_failed` takes it; None when there is none (never failed,
        or sent again since)."""

    async def resend_failed(
        self, record: MailRecord, now: datetime, event: CaseEvent, markers: Sequence[str] = ()
    ) -> None:
        """Queue the failed mail `record` (as `failed_mail` read it) again, due `now`: a new attempt of the same
        mail (its identity and Message-ID), which the outbox claims, looks up at the transport and sends like any
        other; with the event, in one transaction. ConcurrentUpdate when it is no longer failed as read (sent again
        meanwhile); AlreadyProcessed when a marker was seen before."""

    async def backlog(self, limit: int = 1000) -> Backlog:
        """The mails queued and not yet sent (pending, waiting to be retried, or claimed), counted up to `limit`."""

    async def erase_personal_data(
        self,
        stored: StoredCase,
        case: Case,
        event: CaseEvent,
        erase_event: Callable[[CaseEvent], CaseEvent],
        marker: str,
    ) -> StoredCase:
        """Erase a case's personal data where it is stored (core/retention.py decides what): the case replaced by
        `case`, each of its events by `erase_event(event)`, each mail's address, subject and last error by `marker`
        (purpose, status and times kept; a mail still pending becomes failed, as its letter goes), its letters
        (pending or failed) and decision tokens deleted, and `event` added. Guarded by the case's ETag throughout:
        ConcurrentUpdate when the case changed since `stored` was read. A case with many rows takes several
        transactions, the case itself replaced in the last one, so that a run that stops half-way leaves the case
        unerased for the next run to finish."""

    async def forget_held(self, reference: str) -> int:
        """Delete a held message's record whole (`SSU-HELD-…`: its events, mails and letters); returns the rows
        deleted. A held message opened no case, so no skeleton is kept; deleting what is gone already is no error."""
        ...


class RegistryStore(Protocol):
    async def load_registry(self) -> Registry: ...

    async def save_registry(self, registry: Registry) -> int:
        """Upsert every organisation, source and Bits entry; returns how many entries were written."""

    async def update_organisation(
        self, organisation_number: str, change: Callable[[Organisation], Organisation]
    ) -> Organisation | None:
        """Apply `change` to one organisation under its ETag (read again and retried on a conflict); None when the
        registry does not know it."""

    async def get_organisation(self, organisation_number: str) -> Organisation | None:
        """One organisation as stored now (not from the cache)."""

    async def put_organisation(self, organisation: Organisation) -> None:
        """Add or replace one organisation."""


class DeliveryLimits(Protocol):
    async def suppressed(self) -> set[str]: ...

    async def suppressions(self) -> list[dict[str, Any]]: ...

    async def record_bounce(
        self, address: str, at: datetime, suppress_after: int, status: str = "", reference: str = ""
    ) -> bool:
        """Count a permanent bounce of `address` (its delivery status code, e.g. 5.1.1, and the case of the mail
        that bounced are kept as the latest); True when the address is (now) suppressed."""

    async def lift(self, address: str, by: str, at: datetime, by_id: str = "") -> bool:
        """Lift a suppression and forget its bounces, recording who lifted it (a staff member's email, and their
        Entra object id `by_id`, which stays when the email changes) and when; False when the address was not
        listed."""

    async def lifts(self) -> list[dict[str, Any]]:
        """The latest suppressions lifted (up to 100), newest first: address, bounces it had, who lifted it (email
        and object id) and when."""

    async def sent_today(self, day: str) -> dict[str, int]:
        """How many mails each address got (or has reserved) on `day`, by address (casefolded)."""

    async def reserve_sent(self, day: str, address: str, wanted: int, cap: int) -> int:
        """Take up to `wanted` of `address`'s `cap` mails on `day`, as one increment that no concurrent writer can
        lose (every dispatcher checks the cap against the stored count); returns how many were taken (0 at the
        cap). Raises ConcurrentUpdate when the count keeps changing under it."""

    async def forget_sent_before(self, day: str) -> int:
        """Delete the daily counts (which hold addresses) of the days before `day`; returns how many rows went."""
        ...

    async def release_sent(self, day: str, address: str, count: int) -> None:
        """Give back `count` reserved mails that surely did not go (never below 0)."""


class RateLimits(Protocol):
    """Counters of anonymous submissions (per client network, recipient address, organisation number)."""

    async def hit(
        self, limits: Sequence[RateLimit], window: timedelta, now: datetime, once: str | None = None
    ) -> int | None:
        """Count one submission against every counter, all or nothing: when any counter is at its limit (see
        `core.rate_limits.decide`), nothing is counted and the answer is the seconds to wait; else None.

        `once` names what is counted (an email's identity): a hit with a `once` that was counted before is allowed
        and counts nothing again, so that a message processed twice (redelivered, retried) counts once.

        Exact under concurrency: two hits that read the same counts cannot both be counted (the write is guarded by
        what was read, and the loser reads again)."""


class StateStore(Protocol):
    """Small named records of the app's own state (the Graph delta link, the subscription, timer runs)."""

    async def get(self, name: str) -> dict[str, Any] | None: ...

    async def put(self, name: str, value: dict[str, Any]) -> None: ...


class AttachmentStore(Protocol):
    """Attachments' bytes by content hash (Blob Storage in Azure and Azurite)."""

    async def put(self, name: str, data: bytes, content_type: str) -> None:
        """Store the bytes under their hash; when they are stored already, mark them as stored again now (the
        retention sweep keeps a file that a case brought while it ran: `delete`'s `unless_stored_since`)."""

    async def get(self, name: str) -> bytes: ...

    async def delete(self, name: str, unless_stored_since: datetime | None = None) -> bool:
        """Remove the attachment's bytes, unless they were stored (or stored again) at or after
        `unless_stored_since`: then keep them and return False. One that is not there is no error (deleting twice
        is deleting once)."""

    async def close(self) -> None: ...


class StorageAccount(Protocol):
    """The storage account as a whole: whether it answers, and how many round trips this process made."""

    round_trips: int

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
