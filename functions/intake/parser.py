"""One parser for every inbound email: raw RFC 5322 bytes in, the facts the intake needs out.

Python's `email` package does the MIME work: RFC 2047 headers, transfer encodings, charsets, multipart. We use
its compat32 parser, which leaves headers as text until asked: the modern policy parses every header it touches
and made parsing the largest cost of intake. What it leaves to us: decoding the few headers we read, choosing
the body, HTML-only mail as text, mislabelled charsets, the new text apart from the quoted history, delivery
reports, and the headers that tell an automatic message from a person.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import datetime
from email import message_from_bytes
from email.errors import (
    InvalidBase64CharactersDefect,
    InvalidBase64LengthDefect,
    InvalidBase64PaddingDefect,
    InvalidHeaderDefect,
    MisplacedEnvelopeHeaderDefect,
    MissingHeaderBodySeparatorDefect,
    MultipartInvariantViolationDefect,
    StartBoundaryNotFoundDefect,
)
from email.header import decode_header
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from ..core.inbound import Attachment, DeliveryReport, InboundMessage
from ..core.privacy import mask_identity_numbers
from .attachments import judged
from .flowed import unflow
from .html_text import html_to_text
from .quotes import split_reply
from .sender import NO_TRUST, SenderTrust, identify

# A header line's limit (RFC 5322): generous, since what is cut is masked first. Display and file names are masked
# here, before the cut; the subject, whose masked numbers are counted, where it becomes a title (intake/content.py).
MAX_HEADER_TEXT = 998


class MalformedMessage(ValueError):
    """The bytes are not an email we can act on. `code` says why in a word templates turn into a sentence for Bits
    (no_text, unreadable_headers, no_from, several_from, header_defect); the message says it for the log."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


_KEPT_HEADERS = (
    "auto-submitted",
    "x-auto-response-suppress",
    "x-autoreply",
    "x-autorespond",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "return-path",
    "authentication-results",
    "x-ssu-reference",
    "x-ms-exchange-generated-message-source",
)
# A line that is no header ends the parser's header section early, and a "From " line inside it is dropped as an
# mbox envelope: either way, headers a check needs would escape it.
_HEADER_DEFECTS = (MissingHeaderBodySeparatorDefect, MisplacedEnvelopeHeaderDefect)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|vs|wg|tr|videresendt)\s*:", re.IGNORECASE)


def parse_message(
    raw: bytes, *, max_attachment_bytes: int, allowed_types: tuple[str, ...], trust: SenderTrust = NO_TRUST
) -> InboundMessage:
    """Parse one message. Attachments over the size limit or of other types are kept as metadata only."""
    if not raw.strip():
        raise MalformedMessage("no_text", "empty message")
    try:
        msg = message_from_bytes(raw)
        if any(isinstance(d, _HEADER_DEFECTS) for d in msg.defects):
            # The parser stopped reading headers at a line that is none: what follows (a second From, Exchange's
            # own stamps) would be read as body and escape every check on headers.
            raise MalformedMessage("header_defect", "a line in the header section is not a header")
        from_name, from_address = _from(msg)
    except MalformedMessage:
        raise
    except Exception as exc:  # the email package raises many kinds of error on truly broken input
        raise MalformedMessage("unreadable_headers", f"unreadable headers: {type(exc).__name__}") from None
    message_id = _first_id(_header(msg, "message-id")) or _synthetic_id(raw)
    body, attachments = _parts(msg)
    text = _body_text(body)
    subject = " ".join(_header(msg, "subject").split())[:MAX_HEADER_TEXT]
    unreadable = _unreadable(msg, body, text, attachments, subject)
    if unreadable and _delivery_report(msg) is None:
        raise MalformedMessage("no_text", unreadable)
    new_text, _quoted = split_reply(text, sender_name=from_name)
    return InboundMessage(
        message_id=message_id,
        sender=identify(msg, from_name, from_address, trust),
        to=_addresses(msg, "to"),
        cc=_addresses(msg, "cc"),
        delivered_to=_addresses(msg, "delivered-to", "x-original-to", "envelope-to"),
        subject=subject,
        in_reply_to=tuple(_MESSAGE_ID.findall(_header(msg, "in-reply-to"))),
        references=tuple(_MESSAGE_ID.findall(_header(msg, "references"))),
        text=text,
        new_text=new_text,
        attachments=tuple(_attachment(p, inline, max_attachment_bytes, allowed_types) for p, inline in attachments),
        headers={name: " ".join(_header(msg, name).split()) for name in _KEPT_HEADERS if name in msg},
        delivery_report=_delivery_report(msg),
        forwarded=bool(_FORWARD_SUBJECT.match(subject)),
        sent_at=_date(_header(msg, "date")),
    )


_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")
_ADDRESS_IN_NAME = re.compile(r"<[^<>]*>|\S+@\S+")
_FROM_PARSER = HeaderRegistry()


def _from(msg: Message) -> tuple[str, str]:
    """(display name, address) of the one From header, read as mail servers and DMARC read it: the address from the
    header as sent, and encoded words decoded only where they may stand, in the display name."""
    raw = [value for name, value in msg.raw_items() if name.strip().lower() == "from"]  # "From :" is obsolete, valid
    if not raw:
        raise MalformedMessage("no_from", "no valid From address")
    if len(raw) > 1:
        raise MalformedMessage("several_from", "more than one From header")
    value = re.sub(r"\r?\n(?=[ \t])", "", str(raw[0]))  # unfold: a long display name is folded over lines
    if any(0xDC80 <= ord(ch) <= 0xDCFF for ch in value):  # raw 8-bit bytes (RFC 6532): read them as UTF-8
        value = value.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    header = _FROM_PARSER("from", value)
    addresses = header.addresses  # type: ignore[attr-defined]  # an AddressHeader for "from"
    if any(isinstance(d, InvalidHeaderDefect) for d in header.defects) or len(addresses) != 1:
        raise MalformedMessage("no_from", "the From header does not name exactly one address unambiguously")
    address = addresses[0].addr_spec
    if not _ADDRESS.fullmatch(address):
        raise MalformedMessage("no_from", "no valid From address")
    # A display name is the sender's own words: it may say anything, so no address in it is ever shown as theirs.
    name = mask_identity_numbers(" ".join(_ADDRESS_IN_NAME.sub(" ", addresses[0].display_name).split()))[0][:100]
    return name, address.casefold()


def _bytes_text(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset; a wrong or unknown label falls back to UTF-8, then windows-1252."""
    for candidate in (charset or "utf-8", "utf-8", "windows-1252"):
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def _header(msg: Message, name: str) -> str:
    """A header as text: RFC 2047 encoded words decoded; raw 8-bit bytes read as UTF-8, else windows-1252."""
    value = msg.get(name)
    if value is None:
        return ""
    try:
        chunks = decode_header(value)
    except Exception:
        return str(value)
    text = []
    for data, charset in chunks:
        if isinstance(data, str):
            text.append(data)
        else:
            label = None if charset in (None, "unknown-8bit") else charset
            text.append(_bytes_text(data, label))
    return "".join(text)


def _date(value: str) -> datetime | None:
    try:
        found = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    return found if found is not None and found.tzinfo is not None else None


def _first_id(value: str) -> str | None:
    found = _MESSAGE_ID.findall(value)
    return found[0] if found else None


def _synthetic_id(raw: bytes) -> str:
    # A message without Message-ID still needs a stable identity, so that processing it twice changes nothing.
    return f"<sha256.{hashlib.sha256(raw).hexdigest()}@ssu.invalid>"


def _addresses(msg: Message, *names: str) -> tuple[str, ...]:
    values = [str(v) for name in names for v in (msg.get_all(name) or []) if isinstance(v, str)]
    return tuple(addr.casefold() for _, addr in getaddresses(values) if "@" in addr)


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    return _bytes_text(payload, part.get_content_charset()) if isinstance(payload, bytes) else ""


# Parts that are neither the text nor a file sent along: delivery reports, attached messages (read as such), and
# the signatures S/MIME and PGP clients add.
_NOT_ATTACHMENTS = (
    "message/delivery-status",
    "text/rfc822-headers",
    "message/rfc822",
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
)


def _parts(msg: Message) -> tuple[list[Message], list[tuple[Message, bool]]]:
    """The body parts (every text/plain the sender wrote - Apple Mail splits a text around a pasted image - else
    every text/html) and the attachments."""
    plain: list[Message] = []
    html: list[Message] = []
    attachments: list[tuple[Message, bool]] = []
    for part, parent in _own_parts(msg, ""):
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        disposition = str(part.get("content-disposition", "")).strip().lower()
        named = part.get_filename() is not None or disposition.startswith("attachment")
        if content_type in _NOT_ATTACHMENTS:
            continue
        if not named and content_type == "text/plain":
            plain.append(part)
        elif not named and content_type == "text/html":
            html.append(part)
        elif named or part.get_content_maintype() != "text" or "content-id" in part:
            # A file, or an image in the text (a signature's logo: referenced by Content-ID in an HTML mail).
            attachments.append((part, _in_text(part, parent)))
    if len(html) > 1 and not plain:
        html = html[:1]  # HTML alternatives of one text are not joined
    return plain or html, attachments


def _in_text(part: Message, parent: str) -> bool:
    """An image shown inside an HTML text (multipart/related, a Content-ID), not a picture sent as a file."""
    return part.get_content_maintype() == "image" and parent == "multipart/related" and "content-id" in part


def _own_parts(msg: Message, parent: str) -> Iterator[tuple[Message, str]]:
    """The message's parts with their parent's type, without descending into an attached message: its text is not
    what the sender wrote."""
    yield msg, parent
    if msg.get_content_type() == "message/rfc822":
        return
    payload = msg.get_payload()
    if msg.is_multipart() and isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message):
                yield from _own_parts(part, msg.get_content_type())


def _body_text(bodies: list[Message]) -> str:
    texts = []
    for body in bodies:
        content = _decode(body).replace("\x00", "")
        if body.get_content_type() == "text/html":
            content = html_to_text(content)
        elif str(body.get_param("format", "")).casefold() == "flowed":
            content = unflow(content, delsp=str(body.get_param("delsp", "")).casefold() == "yes")
        texts.append(content.replace("\r\n", "\n").replace("\r", "\n").strip())
    return "\n\n".join(t for t in texts if t)


# What the email package notes when a multipart's boundary never appears or a part's transfer encoding is broken:
# then what we have in hand is not what the sender wrote.
_LOST_STRUCTURE = (StartBoundaryNotFoundDefect, MultipartInvariantViolationDefect)
_BROKEN_ENCODING = (InvalidBase64CharactersDefect, InvalidBase64PaddingDefect, InvalidBase64LengthDefect)


def _unreadable(
    msg: Message, bodies: list[Message], text: str, attachments: list[tuple[Message, bool]], subject: str
) -> str | None:
    """Why no text can be recovered from the message, or None when some can (a text, a file, or at least a
    subject). A message set aside is kept for Bits with this reason, and opens no case."""
    if text.strip() and not _binary(bodies) and not _garbled(bodies):
        return None  # what the sender wrote can be read: a broken part elsewhere (an attached message) is Bits' to see
    own = [part for part, _ in _own_parts(msg, "")]
    if any(isinstance(d, _LOST_STRUCTURE) for part in own for d in part.defects):
        return "the message's MIME structure is broken: a multipart boundary never appears, so no part can be read"
    if any(isinstance(d, _BROKEN_ENCODING) for body in bodies for d in body.defects):
        return "the text's transfer encoding (base64) cannot be decoded"
    if _binary(bodies):
        return "the text part holds binary data, not text"
    forwarded = any(part.get_content_type() == "message/rfc822" for part in own)
    if forwarded or any(part.get_filename() for part, _ in attachments):
        return None  # an attached message ("forward as attachment") or a file is readable, though not words
    if not bodies and msg.is_multipart():
        return "the message has no text part and no attached file"
    if not bodies:
        return f"the message's only part is {msg.get_content_type()} without a file name, not text"
    if not subject.strip():
        return "the message has no subject, no text and no attachment"
    return None  # an empty text under a subject: a reply saying nothing, which the reader of replies answers


_BASE64_ALPHABET = re.compile(r"[^A-Za-z0-9+/=\s]")


def _garbled(bodies: list[Message]) -> bool:
    """A text part whose base64 is not base64: characters outside its alphabet, or a length no encoder writes.
    Python decodes around them, and what comes out is noise, not what the sender wrote."""
    for body in bodies:
        if str(body.get("content-transfer-encoding", "")).strip().lower() != "base64":
            continue
        raw = body.get_payload(decode=False)
        if not isinstance(raw, str):
            continue
        letters = re.sub(r"\s", "", raw)
        if _BASE64_ALPHABET.search(raw) or len(letters) % 4:
            return True
    return False


def _binary(bodies: list[Message]) -> bool:
    """A text part whose bytes are mostly not text (more than 1 % NUL in its start, and no UTF-16 label)."""
    for body in bodies:
        payload = body.get_payload(decode=True)
        wide = (body.get_content_charset() or "").startswith(("utf-16", "utf-32"))
        sample = payload[:4096] if isinstance(payload, bytes) else b""
        if not wide and sample and sample.count(0) > max(1, len(sample) // 100):
            return True
    return False


def _attachment(part: Message, inline: bool, max_bytes: int, allowed_types: tuple[str, ...]) -> Attachment:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    filename = _words(part.get_filename() or "")
    return judged(
        data, filename, part.get_content_type(), max_bytes=max_bytes, allowed_types=allowed_types, inline=inline
    )


def _words(value: str) -> str:
    """Decode RFC 2047 words that some mailers put in file names."""
    if "=?" not in value:
        return value
    return "".join(_bytes_text(d, c) if isinstance(d, bytes) else d for d, c in decode_header(value))


def _delivery_report(msg: Message) -> DeliveryReport | None:
    if msg.get_content_type() != "multipart/report" or msg.get_param("report-type") != "delivery-status":
        return None
    recipients: list[str] = []
    status, action, original = "", "", None
    for part in msg.walk():
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            blocks = part.get_payload()
            for block in blocks if isinstance(blocks, list) else []:
                if not isinstance(block, Message):
                    continue
                final = str(block.get("final-recipient", ""))
                if final:
                    recipients.append(final.split(";", 1)[-1].strip().casefold())
                status = status or str(block.get("status", "")).strip()
                action = action or str(block.get("action", "")).strip().lower()
        elif content_type in ("text/rfc822-headers", "message/rfc822"):
            text = _decode(part) if content_type == "text/rfc822-headers" else str(part.get_payload(0))
            match = re.search(r"^Message-ID:\s*(<[^>]+>)", text, re.IGNORECASE | re.MULTILINE)
            original = original or (match.group(1) if match else None)
    permanent = status.startswith("5") or action == "failed"
    return DeliveryReport(tuple(recipients), status, permanent, original)
