"""Outgoing email: the message as queued in the outbox (MIME built once, with our headers), and the transport port."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import charset as email_charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from typing import Protocol

from .privacy import mask_identity_numbers


class TransientSendError(Exception):
    """The transport could not send now; try again later (after `retry_after` seconds when the server said so).

    `maybe_sent`: the request may have reached the server and been accepted (a timeout waiting for the answer, a
    connection lost after the request went out, a gateway timeout): the mail is looked up before it is sent again.
    """

    def __init__(
        self, message: str, retry_after: float | None = None, throttled: bool = False, maybe_sent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.throttled = throttled  # the server asked us to slow down (429): no failure of this mail
        self.maybe_sent = maybe_sent and not throttled


class NotStarted(TransientSendError):
    """The transport did not start sending this mail before the deadline it was given (`start_within`): it never
    left. The outbox leaves such a mail to its claim, which runs out; the next dispatcher looks it up and sends it."""


class PermanentSendError(Exception):
    """The transport refused this message; retrying will not help."""


@dataclass(frozen=True)
class OutgoingMail:
    """One email to one recipient for one purpose of one case. (case, purpose, recipient) is its identity.

    The outbox keeps the rendered letter and the headers; the MIME message is built when it is sent, which keeps
    that work off the request that queued it.
    """

    reference: str
    purpose: str
    to: str
    subject: str
    message_id: str
    text: str
    html: str
    sender: str
    sender_name: str
    created_at: datetime
    in_reply_to: str | None = None
    reply_to: str | None = None

    @property
    def mail_id(self) -> str:
        return mail_id(self.purpose, self.to)

    def mime(self) -> bytes:
        """The RFC 5322 message with the headers DESIGN.md asks for: stable Message-ID, threading, loop protection."""
        msg = MIMEMultipart("alternative")
        msg["From"] = formataddr((self.sender_name, self.sender), charset="utf-8")
        msg["To"] = self.to
        if self.reply_to:
            msg["Reply-To"] = self.reply_to
        msg["Subject"] = _header(self.subject)  # type: ignore[assignment]  # a Header is fine at run time
        msg["Date"] = format_datetime(self.created_at)
        msg["Message-ID"] = self.message_id
        if self.in_reply_to:
            msg["In-Reply-To"] = self.in_reply_to
            msg["References"] = self.in_reply_to
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
        msg["X-SSU-Reference"] = self.reference
        msg.attach(MIMEText(self.text, "plain", _charset=_UTF8_QP))  # type: ignore[arg-type]
        msg.attach(MIMEText(self.html, "html", _charset=_UTF8_QP))  # type: ignore[arg-type]
        return msg.as_bytes()


@dataclass
class MailRecord:
    """An outbox entry as stored: the mail plus its delivery state.

    A pending entry read from the outbox also says whether an earlier hand-off to the transport may have sent it
    (`unsure`: a lease that ran out before its holder settled it, or an error after which the server may have
    accepted it), and who holds or last held its lease.
    """

    mail: OutgoingMail
    status: str  # pending | sent | failed
    attempts: int = 0
    due_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str = ""
    store_key: dict[str, str] = field(default_factory=dict)  # where the store keeps the pending entry
    unsure: bool = False
    lease_owner: str = ""
    lease_until: datetime | None = None
    failed_at: datetime | None = None  # when it failed for good (a failed mail as listed for Bits)


class MailTransport(Protocol):
    name: str

    async def send_many(
        self, mails: Sequence[OutgoingMail], start_within: float | None = None
    ) -> list[Exception | None]:
        """Send each MIME message as it is. One outcome per mail, in order: None when it was sent, else the error
        (TransientSendError / PermanentSendError; anything else counts as transient and maybe sent).

        `start_within`: seconds from now after which no request is started (the caller's claim on these mails is
        about to lapse, when another dispatcher may take and send them): a mail not started by then is `NotStarted`.
        """

    async def was_sent(self, mail: OutgoingMail) -> bool | None:
        """Did this mail (by its Message-ID) go out before? True or False when the transport can tell, None when it
        cannot tell now (unreachable, failing). Raises TransientSendError with `throttled` (and `retry_after` when
        the server said) when the server asked us to wait: that says nothing about the mail, so the outbox asks
        again after the wait and counts no attempt. The outbox asks before it sends a mail whose outcome is
        unknown."""

    async def close(self) -> None: ...


def mail_id(purpose: str, to: str) -> str:
    return hashlib.sha256(f"{purpose}\n{to.casefold()}".encode()).hexdigest()[:24]


def message_id_for(key: bytes, reference: str, purpose: str, to: str, domain: str) -> str:
    """The Message-ID of the mail (case, purpose, recipient): stable, so that a resend is recognised as the same mail,
    and unguessable without our key, so that a delivery report naming it was written by someone who received it."""
    tag = hmac.new(key, f"message-id\n{reference}\n{purpose}\n{to.casefold()}".encode(), hashlib.sha256)
    return f"<{reference}.{tag.hexdigest()[:32]}@{domain}>"


# Quoted-printable keeps Norwegian text readable in the raw message; the compat32 classes used here build a message
# about three times faster than EmailMessage with the SMTP policy, which matters on the form's hot path.
_UTF8_QP = email_charset.Charset("utf-8")
_UTF8_QP.header_encoding = email_charset.QP
_UTF8_QP.body_encoding = email_charset.QP


def _header(value: str) -> str | Header:
    return value if value.isascii() else Header(value, "utf-8")


def _one_line(value: str) -> str:
    # Header injection guard: a header value never carries a line break, whatever the template produced.
    return " ".join(value.split())


@dataclass(frozen=True)
class Letter:
    """What a template rendered: subject, text and HTML bodies."""

    subject: str
    text: str
    html: str


def compose_mail(
    *,
    reference: str,
    purpose: str,
    sender_name: str,
    sender: str,
    to: str,
    letter: Letter,
    created_at: datetime,
    domain: str,
    key: bytes,
    in_reply_to: str | None = None,
    reply_to: str | None = None,
) -> OutgoingMail:
    """A mail ready to queue. Header values are single lines, so nothing can inject a header."""
    for address in (sender, to, reply_to or "", in_reply_to or ""):
        if _one_line(address) != address:
            raise ValueError("a header value cannot contain spaces or line breaks")
    for address in (sender, to, reply_to or ""):
        if "<" in address or ">" in address:
            raise ValueError("an email address cannot contain angle brackets")
    return OutgoingMail(
        reference=reference,
        purpose=purpose,
        to=to,
        # Masked after it is made one line: the title in it was masked as written, and two numbers on two lines
        # (or in columns) may read as one once joined.
        subject=mask_identity_numbers(_one_line(letter.subject))[0],
        message_id=message_id_for(key, reference, purpose, to, domain),
        text=letter.text,
        html=letter.html,
        sender=sender,
        sender_name=_one_line(sender_name),
        created_at=created_at,
        in_reply_to=in_reply_to,
        reply_to=reply_to,
    )
