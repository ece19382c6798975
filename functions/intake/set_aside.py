"""Messages intake cannot take (nothing readable in them, headers no mail server would accept): set aside for Bits.

Such a message opens no case and gets no acknowledgement - there is nothing to acknowledge, and an answer to a
broken or forged message would only help whoever made it. It is moved to the mailbox's folder for messages not
taken in (the local failed/ folder, or SSU_MAILBOX_FAILED_FOLDER in Graph) with the reason, and recorded under a
reference of its own (`SSU-HELD-<key>`, core/model.py) together with a mail that tells Bits' support: in one write
with the message's marker, so that a message seen twice is recorded and told once. A flood of broken mail is told a
few times an hour (SSU_SET_ASIDE_NOTICES_PER_HOUR), and recorded every time.
"""

from __future__ import annotations

import hashlib
import logging
import re
from email import message_from_bytes

from ..core.inbound import Outcome
from ..core.model import CaseEvent, Channel, held_reference
from ..core.privacy import mask_identity_numbers
from ..core.rate_limits import WINDOW, RateLimit
from ..core.services import Services
from ..core.store import AlreadyProcessed
from .parser import MalformedMessage, _header

log = logging.getLogger(__name__)

_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")
_NOTICES = "set-aside-notices"  # the rate limit's key: one counter for the whole mailbox


def _claims(raw: bytes) -> tuple[str, str, str]:
    """(Message-ID, From, Subject) as far as the headers can be read at all: what Bits is shown, masked and cut."""
    try:
        msg = message_from_bytes(raw[:64_000])
        found = _MESSAGE_ID.search(_header(msg, "message-id"))
        sender, subject = _header(msg, "from"), _header(msg, "subject")
    except Exception:  # headers too broken for the email package: nothing but the bytes' hash identifies it
        found, sender, subject = None, "", ""
    message_id = found.group(0) if found else f"<sha256.{hashlib.sha256(raw).hexdigest()}@ssu.invalid>"

    def shown(value: str, limit: int) -> str:
        return mask_identity_numbers(" ".join(value.split()))[0][:limit]

    return message_id, shown(sender, 200), shown(subject, 200)


async def set_aside(services: Services, raw: bytes, problem: MalformedMessage) -> Outcome:
    """Record the message for Bits and tell Bits' support; the outcome moves it to the folder for messages not
    taken in."""
    message_id, sender, subject = _claims(raw)
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
            "subject": subject,
            "size": len(raw),
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
