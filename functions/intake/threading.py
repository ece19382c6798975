"""Which case a message belongs to: our Message-IDs in In-Reply-To/References, or the reference in the subject."""

from __future__ import annotations

import hashlib
import re

from ..core.inbound import InboundMessage


def message_key(message_id: str) -> str:
    return hashlib.sha256(message_id.encode()).hexdigest()[:32]


def reference_in_headers(message: InboundMessage, prefix: str, domain: str) -> str | None:
    """Our own Message-IDs look like <SSU-D-2026-0001.<hash>@domain>: a reply names one of them."""
    ours = re.compile(rf"^<({re.escape(prefix)}-[A-E]-\d{{4}}-\d{{4,}})\.[0-9a-f]+@{re.escape(domain)}>$", re.I)
    report = message.delivery_report
    bounced = (report.original_message_id,) if report and report.original_message_id else ()
    for message_id in (*message.in_reply_to, *reversed(message.references), *bounced):
        match = ours.match(message_id)
        if match:
            return match.group(1).upper()
    return None


def reference_in_subject(subject: str, prefix: str) -> str | None:
    """Also when mail systems mangle the subject: 'SV: (Opened) [SSU-C-2026-0042]', 'RE: SSU C 2026 0042'."""
    pattern = rf"\b{re.escape(prefix)}[\s_-]*([A-E])[\s_-]*(\d{{4}})[\s_-]*(\d{{4,}})\b"
    match = re.search(pattern, subject, re.IGNORECASE)
    if match is None:
        return None
    return f"{prefix}-{match.group(1).upper()}-{match.group(2)}-{match.group(3)}"


def foreign_ids(message: InboundMessage) -> list[str]:
    """Message-IDs this message answers that were not ours (e.g. the insurer's first email): looked up by key."""
    return [message_key(m) for m in (*message.in_reply_to, *reversed(message.references))]
