"""What intake takes from a message for a case: its text masked and bounded, its language, its attachments stored.

Used by intake itself and by the processes' handlers of inbound mail, so that every path stores mail the same way.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from ..core.inbound import Attachment, InboundMessage
from ..core.privacy import mask_identity_numbers
from ..core.services import Services

MAX_TEXT = 20_000  # characters of a message kept on its event (an entity property holds 32 K characters)
MAX_SUBJECT = 200  # characters of a subject kept as a case's title


def masked_text(text: str) -> tuple[str, int]:
    """The text with identity numbers masked, cut to MAX_TEXT; and how many numbers were masked."""
    masked, count = mask_identity_numbers(text)
    if len(masked) > MAX_TEXT:
        masked = masked[:MAX_TEXT] + "\n[…]"
    return masked, count


def masked_subject(message: InboundMessage) -> tuple[str, int]:
    """The subject with identity numbers masked, then cut to MAX_SUBJECT (cut first, a number at the cut would be
    left in part and unrecognised); and how many numbers were masked."""
    masked, count = mask_identity_numbers(message.subject)
    return masked[:MAX_SUBJECT].rstrip(), count


async def store_attachments(services: Services, message: InboundMessage) -> list[dict[str, Any]]:
    """Store a message's kept attachments (`keep_attachments`); return their metadata."""
    return await keep_attachments(services, message.attachments)


async def keep_attachments(services: Services, attachments: Sequence[Attachment]) -> list[dict[str, Any]]:
    """Store kept attachments in Blob Storage (by content hash: storing twice is a no-op); return their metadata,
    as every event that carries files lists them."""
    kept = [a for a in attachments if a.content]
    await asyncio.gather(*(services.blobs.put(a.sha256, a.content, a.content_type) for a in kept))
    # The name is the sender's free text too (`vedtak_<fødselsnummer>.pdf`): masked where it is stored and shown.
    return [
        {
            "filename": mask_identity_numbers(a.filename)[0],
            "content_type": a.content_type,
            "size": a.size,
            "sha256": a.sha256,
            "stored": bool(a.content),
            "inline": a.inline,
            "refused": a.refused,
        }
        for a in attachments
    ]


def language_of(message: InboundMessage) -> str:
    """nb when the subject or the start of the text looks Norwegian, else en."""
    text = f"{message.subject}\n{message.text[:2000]}"
    norwegian = re.search(r"[æøåÆØÅ]|\b(hei|og|ikke|vi|dere|takk|hilsen|gjelder|spørsmål)\b", text, re.IGNORECASE)
    return "nb" if norwegian else "en"


def sender_name(message: InboundMessage) -> str:
    """The display name, or the address's local part when there is none; identity numbers in it masked."""
    return mask_identity_numbers(message.from_name or message.from_address.split("@", 1)[0])[0]
