"""Inbound mail in the domain's terms: the Mailbox port, a parsed message, where it was routed, what became of it.

The parser and the routing rules live in `intake`; the shapes live here, so that a process's handler of inbound
mail (terms by email, alert drafts) and the process catalogue can name them without importing intake."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from .model import Process

# Records in the state store that the notification endpoint and the subscription keeper share.
SUBSCRIPTION_STATE = "mailbox-subscription"
NOTIFIED_STATE = "mailbox-notified"
# When the mailbox was last read through (the intake poll); /api/health says how long ago.
POLL_STATE = "mailbox-poll"


@dataclass(frozen=True)
class InboxItem:
    """One message waiting in the mailbox: the adapter's id for it and its raw bytes."""

    id: str
    raw: bytes


class Mailbox(Protocol):
    name: str

    @property
    def failed_folder(self) -> str:
        """Where messages not taken in are kept, as a person finds it (a folder in the shared mailbox)."""

    async def fetch(self, limit: int) -> list[InboxItem]:
        """Messages not yet settled, oldest first (at most `limit`)."""

    async def settle(self, item: InboxItem, processed: bool, reason: str) -> None:
        """Move the message to processed/ or failed/; the reason is kept beside a failed one."""

    async def checkpoint(self, complete: bool) -> None:
        """After a round: `complete` when every fetched message was settled (the Graph delta link moves on then)."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    sha256: str
    content: bytes = field(repr=False, default=b"")  # empty when not kept
    inline: bool = False  # an image in the text (a signature's logo, a pasted screenshot), not a file sent along
    refused: str = ""  # why it was not kept: "type" (not a type we keep) or "size" (over the limit); "" when kept


@dataclass(frozen=True)
class DeliveryReport:
    """A delivery status notification (bounce): who could not be reached, and the message it was about."""

    recipients: tuple[str, ...]
    status: str  # e.g. 5.1.1
    permanent: bool
    original_message_id: str | None


@dataclass(frozen=True)
class Sender:
    """Who sent a message: the From address as mail servers read it, its display name, and whether it is proven
    (computed once by intake, see intake/sender.py). An unproven sender is never taken for the person it names."""

    address: str
    name: str
    proven: bool
    evidence: str  # what proved it, or why it is not proven: for the audit trail and for Bits


@dataclass(frozen=True)
class InboundMessage:
    message_id: str
    sender: Sender
    to: tuple[str, ...]
    cc: tuple[str, ...]
    delivered_to: tuple[str, ...]
    subject: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str
    new_text: str
    attachments: tuple[Attachment, ...]
    headers: dict[str, str]  # lower-case names of the few headers the intake looks at
    delivery_report: DeliveryReport | None = None
    forwarded: bool = False
    sent_at: datetime | None = None  # the Date header, when it is a valid date: what "i dag" in the text means

    @property
    def from_address(self) -> str:
        return self.sender.address

    @property
    def from_name(self) -> str:
        return self.sender.name

    @property
    def key(self) -> str:
        """A short, stable identity for idempotency: the hash of the Message-ID."""
        return hashlib.sha256(self.message_id.encode()).hexdigest()[:32]

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.delivered_to + self.to + self.cc


@dataclass(frozen=True)
class Route:
    process: Process
    kind: str  # the kind of case within the process
    by: str  # what decided it: "address", "keywords" or "default"


@dataclass(frozen=True)
class Outcome:
    """`settle_as_processed` decides the folder the message is moved to."""

    # new_case | appended | decided | unclear | refused | already_decided | duplicate | ignored | bounce | held |
    # quarantined
    status: str
    reason: str = ""
    reference: str | None = None
    message_key: str | None = None  # set when the message belongs to a case: to be indexed for threading

    @property
    def settle_as_processed(self) -> bool:
        return self.status not in ("held", "quarantined")
