"""Outgoing email: the message as queued in the outbox (MIME built once, with our headers), and the transport port."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Protocol


class TransientSendError(Exception):
    """The transport could not send now; try again later (after `retry_after` seconds when the server said so)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSendError(Exception):
    """The transport refused this message; retrying will not help."""


@dataclass(frozen=True)
class OutgoingMail:
    """One email to one recipient for one purpose of one case. (case, purpose, recipient) is its identity."""

    reference: str
    purpose: str
    to: str
    subject: str
    message_id: str
    mime: bytes

    @property
    def mail_id(self) -> str:
        return mail_id(self.purpose, self.to)


@dataclass
class MailRecord:
    """An outbox entry as stored: the mail plus its delivery state."""

    mail: OutgoingMail
    status: str  # pending | sent | failed
    attempts: int = 0
    due_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str = ""
    store_key: dict[str, str] = field(default_factory=dict)  # where the store keeps the pending entry


class MailTransport(Protocol):
    name: str

    async def send(self, mail: OutgoingMail) -> None:
        """Send the MIME message as it is, or raise TransientSendError / PermanentSendError."""

    async def close(self) -> None: ...


def mail_id(purpose: str, to: str) -> str:
    return hashlib.sha256(f"{purpose}\n{to.casefold()}".encode()).hexdigest()[:24]


def _one_line(value: str) -> str:
    # Header injection guard: a header value never carries a line break, whatever the template produced.
    return " ".join(value.split())


@dataclass(frozen=True)
class Letter:
    """What a template rendered: subject, text and HTML bodies."""

    subject: str
    text: str
    html: str


def build_mime(
    *,
    reference: str,
    purpose: str,
    sender_name: str,
    sender: str,
    to: str,
    letter: Letter,
    created_at: datetime,
    domain: str,
    in_reply_to: str | None = None,
    reply_to: str | None = None,
) -> OutgoingMail:
    """The MIME message with the headers DESIGN.md asks for: stable Message-ID, threading, loop protection."""
    ident = mail_id(purpose, to)
    message_id = f"<{reference}.{ident}@{domain}>"
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(display_name=_one_line(sender_name), addr_spec=sender)
    msg["To"] = Address(addr_spec=to)
    if reply_to:
        msg["Reply-To"] = Address(addr_spec=reply_to)
    msg["Subject"] = _one_line(letter.subject)
    msg["Date"] = format_datetime(created_at)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-SSU-Reference"] = reference
    msg.set_content(letter.text, charset="utf-8")
    msg.add_alternative(letter.html, subtype="html", charset="utf-8")
    return OutgoingMail(
        reference=reference,
        purpose=purpose,
        to=to,
        subject=_one_line(letter.subject),
        message_id=message_id,
        mime=msg.as_bytes(),
    )
