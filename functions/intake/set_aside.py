"""Messages intake cannot take (nothing readable in them, headers no mail server would accept): set aside for Bits.

Such a message opens no case and gets no acknowledgement - there is nothing to acknowledge, and an answer to a
broken or forged message would only help whoever made it. It is moved to the mailbox's folder for messages not
taken in (the local failed/ folder, or SSU_MAILBOX_FAILED_FOLDER in Graph) with the reason, and recorded under a
reference of its own (`SSU-HELD-<key>`, core/model.py) together with a mail that tells Bits' support: in one write
with the message's marker, so that a message seen twice is recorded and told once. A flood of broken mail is told a
few times an hour (SSU_SET_ASIDE_NOTICES_PER_HOUR), and recorded every time. The record keeps the start of the
message's body as received (masked, not read as MIME), for Bits' workspace to show and act on.

A readable message that may not go where it asks (a stranger writing on a case, a command claiming to be Bits that
cannot be proven) is held for Bits the same way (`hold_for_bits`): recorded under its own `SSU-HELD-<key>` with its
text, in one write with the message's marker, and left in the folder for messages not taken in.
"""

from __future__ import annotations

import hashlib
import logging
import re
from contextlib import suppress
from email import message_from_bytes

from ..core.inbound import InboundMessage, Outcome
from ..core.model import CaseEvent, Channel, held_reference
from ..core.privacy import mask_identity_numbers
from ..core.rate_limits import WINDOW, RateLimit
from ..core.services import Services
from ..core.store import AlreadyProcessed
from .content import language_of, masked_subject, masked_text, sender_name, store_attachments
from .parser import MalformedMessage, _from, _header

log = logging.getLogger(__name__)

_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")
_NOTICES = "set-aside-notices"  # the rate limit's key: one counter for the whole mailbox
_EXCERPT = 4_000  # characters of a set-aside message's body kept: enough to see what it is, not a store of junk


def _claims(raw: bytes) -> tuple[str, str, str, tuple[str, str]]:
    """(Message-ID, From, Subject) as far as the headers can be read at all: what Bits is shown, masked and cut;
    and the sender (display name, address) as mail servers read it, as every path reads it (parser._from: never
    an address from decoded encoded words), ("", "") when the From names no one address unambiguously."""
    who = ("", "")
    try:
        msg = message_from_bytes(raw[:64_000])
        found = _MESSAGE_ID.search(_header(msg, "message-id"))
        sender, subject = _header(msg, "from"), _header(msg, "subject")
    except Exception:  # headers too broken for the email package: nothing but the bytes' hash identifies it
        found, sender, subject = None, "", ""
    else:
        with suppress(Exception):  # no From, several, or one that cannot be read: no one to act on
            who = _from(msg)
    message_id = found.group(0) if found else f"<sha256.{hashlib.sha256(raw).hexdigest()}@ssu.invalid>"

    def shown(value: str, limit: int) -> str:
        return mask_identity_numbers(" ".join(value.split()))[0][:limit]

    return message_id, shown(sender, 200), shown(subject, 200), who


def _excerpt(raw: bytes) -> str:
    """The start of the body as received, below the header section: bytes read as UTF-8 (what cannot be read
    replaced), identity numbers masked. Not read as MIME: the message is set aside because that failed."""
    cut = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=-1)
    body = raw[cut:].strip() if cut >= 0 else b""
    text = body[: _EXCERPT * 4].decode("utf-8", "replace").replace("\x00", "")
    return mask_identity_numbers(text[:_EXCERPT])[0]


async def set_aside(services: Services, raw: bytes, problem: MalformedMessage) -> Outcome:
    """Record the message for Bits and tell Bits' support; the outcome moves it to the folder for messages not
    taken in."""
    message_id, sender, subject, (name, address) = _claims(raw)
    key = hashlib.sha256(message_id.encode()).hexdigest()[:32]
    reference = held_reference(services.settings.reference_prefix, key)
    now = services.clock.now()
    event = CaseEvent(
        at=now,
        actor="mail-intake",
        channel=Channel.EMAIL,
        kind="message_set_aside",
        public=False,
        summary=f"A message was set aside for Bits: {problem}",
        data={
            "problem": problem.code,
            "detail": str(problem),
            "message_id": message_id,
            "claimed_sender": sender,
            "sender_address": address,
            "sender_name": name,
            "subject": subject,
            "size": len(raw),
            "text": _excerpt(raw),
        },
    )
    notices = [RateLimit(_NOTICES, services.settings.set_aside_notices_per_hour)]
    told = await services.rate_limits.hit(notices, WINDOW, now, once=key) is None
    registry = await services.registry()
    mails = [
        services.compose(
            reference=reference,
            purpose="set-aside",
            to=contact.email,
            template="message_set_aside_to_bits",
            language=contact.language,
            set_aside_for=problem.code,
            claimed_sender=sender,
            claimed_subject=subject,
            received_at=now,
            folder=services.mailbox.failed_folder,
        )
        for contact in (registry.bits_contacts("support") if told else [])
    ]
    try:
        await services.store.append(reference, event, mails, markers=[key])
    except AlreadyProcessed:
        return Outcome("quarantined", f"unreadable message: {problem} (set aside before)")
    log.warning("intake: a message was set aside as %s (%s)", reference, problem.code)
    return Outcome("quarantined", f"unreadable message: {problem}")


async def hold_for_bits(
    services: Services, message: InboundMessage, problem: str, detail: str, case: str | None = None
) -> Outcome:
    """Record a readable message that may not go where it asks as held for Bits (`problem` says why in a word the
    workspace puts in words; `case` the case it writes on); the outcome leaves it in the folder for messages not
    taken in. Recorded once per message: seen again, it is held as before."""
    text, masked = masked_text(message.new_text or message.text)
    name = mask_identity_numbers(message.from_name)[0]
    event = CaseEvent(
        at=services.clock.now(),
        actor="mail-intake",
        channel=Channel.EMAIL,
        kind="message_held",
        public=False,
        summary=f"A message was held for Bits: {detail}",
        data={
            "problem": problem,
            "detail": detail,
            "message_id": message.message_id,
            "claimed_sender": f"{name} <{message.from_address}>" if name else message.from_address,
            "sender_address": message.from_address,
            "sender_name": sender_name(message),
            "sender_proven": message.sender.proven,
            "sender_evidence": message.sender.evidence,
            "subject": masked_subject(message)[0],
            "language": language_of(message),
            "text": text,
            "identity_numbers_removed": masked,
            "attachments": await store_attachments(services, message),
            **({"case": case} if case else {}),
        },
    )
    reference = held_reference(services.settings.reference_prefix, message.key)
    try:
        await services.store.append(reference, event, markers=[message.key])
    except AlreadyProcessed:
        return Outcome("held", f"held for Bits: {detail} (held before)", case)
    log.warning("intake: a message was held for Bits as %s (%s)", reference, problem)
    return Outcome("held", f"held for Bits: {detail}", case)
