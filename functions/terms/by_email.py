"""Bits publishes a terms version by email: a message from one of Bits' own people whose subject (or first line)
starts with VILKÅR (TERMS), with `versjon:`, `tittel:`, `gjelder fra:` and, unless the PDF is attached,
`lenke:` lines; the rest of the text is the summary of what changed. It is validated exactly as the form is; a
message that does not pass gets an answer that says what is missing, and publishes nothing.

The attached PDF is kept in Blob Storage (by its hash) and served at /api/terms-document/<hash> - only a document
of a published terms version, never any other attachment.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from ..core.forms import SubmissionRefused
from ..core.inbound import InboundMessage, Outcome, Route
from ..core.mail import OutgoingMail
from ..core.model import Case, CaseEvent, Channel, Process
from ..core.privacy import mask_fields
from ..core.registry import Registry
from ..core.rendering import OSLO
from ..core.services import Services
from ..intake.content import masked_subject, store_attachments
from ..intake.quotes import split_reply
from ..intake.set_aside import hold_for_bits
from .models import validate_terms
from .workflow import Publisher, publish_terms

log = logging.getLogger(__name__)

_COMMAND = re.compile(r"^\s*(VILKÅR|TERMS)\b[\s:–-]*", re.IGNORECASE)
_FIELD = re.compile(r"^\s*(versjon|version|tittel|title|gjelder fra|effective|lenke|link)\s*:\s*(.+?)\s*$", re.I)
_NAMES = {
    "versjon": "version",
    "version": "version",
    "tittel": "title",
    "title": "title",
    "gjelder fra": "effective_date",
    "effective": "effective_date",
    "lenke": "document_url",
    "link": "document_url",
}


def is_terms_command(registry: Registry, message: InboundMessage) -> bool:
    # Publishing terms is an admin's act, as on the web: only Bits' people with the registry role admin may.
    own = {c.email.casefold() for c in registry.bits_contacts("admin")}
    first = next((line for line in message.new_text.splitlines() if line.strip()), "")
    return message.from_address in own and bool(_COMMAND.match(message.subject) or _COMMAND.match(first))


async def terms_by_email(services: Services, message: InboundMessage, route: Route) -> Outcome | None:
    """The inbound handler: a VILKÅR message from Bits publishes a version; anything else is not ours."""
    if not is_terms_command(await services.registry(), message):
        return None
    return await publish_by_email(services, message, await store_attachments(services, message), [message.key])


def _date(value: str) -> str:
    for pattern in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip(), pattern).date().isoformat()
        except ValueError:
            continue
    return value


async def publish_by_email(
    services: Services, message: InboundMessage, attachments: list[dict[str, Any]], markers: list[str]
) -> Outcome:
    if not message.sender.proven:
        # Publishing terms is Bits' alone: a claim to be Bits that cannot be proven is refused, and the message is
        # held for Bits (recorded for the workspace, and left in the mailbox's failed folder with the reason).
        log.warning("terms: VILKÅR from an unproven sender refused: %s", message.sender.evidence)
        detail = f"refused: VILKÅR from {message.from_address} not proven ({message.sender.evidence})"
        return await hold_for_bits(services, message, "unproven_command", detail)
    language = (await services.registry()).language_of(message.from_address)
    fields: dict[str, Any] = {"language": language}
    summary: list[str] = []
    for line in split_reply(message.new_text or message.text)[0].splitlines():
        match = _FIELD.match(line)
        if match:
            name = _NAMES[match.group(1).casefold()]
            fields[name] = _date(match.group(2)) if name == "effective_date" else match.group(2)
        elif not _COMMAND.match(line):
            summary.append(line)
    fields["summary"] = "\n".join(summary).strip()
    pdf = next((a for a in attachments if a["stored"] and a["content_type"] == "application/pdf"), None)
    own_document = "document_url" not in fields and pdf is not None
    if own_document:
        fields["document_url"] = "https://document.invalid/attached"  # our own link replaces it below
    if "title" not in fields:
        fields["title"] = _COMMAND.sub("", message.subject).strip() or "Vilkår for Syke- og uføreopplysninger fra NAV"
    # Masked before validation, as the form's fields are: the text goes to every connected company. (The display
    # name is masked by the parser.)
    masked = mask_fields(fields)
    # The same rules as the form: a version number, a date after today (by the app's clock), a number not used.
    terms, errors = validate_terms(fields, services.clock.now().astimezone(OSLO).date(), language)
    if terms is None:
        return await _refuse(services, message, errors, markers)
    if own_document and pdf is not None:
        # Our own address (plain http on a dev host, so it skips the https rule that is meant for others' links).
        terms = terms.model_copy(update={"document_url": services.link(f"terms-document/{pdf['sha256']}")})
    document_sha256 = pdf["sha256"] if own_document and pdf is not None else None
    publisher = Publisher(message.from_address, message.from_name or message.from_address, language, message.message_id)
    try:
        case = await publish_terms(services, terms, Channel.EMAIL, publisher, masked, document_sha256=document_sha256)
    except SubmissionRefused as refused:  # e.g. the version number is taken by another publication
        return await _refuse(services, message, refused.errors, markers)
    return Outcome("new_case", "terms", case.reference)


async def _refuse(services: Services, message: InboundMessage, errors: dict[str, str], markers: list[str]) -> Outcome:
    """Nothing is published; the attempt is kept as a closed case, whose reply tells the sender what to fix."""
    registry = await services.registry()
    now = services.clock.now()
    case = Case(
        process=Process.CHANGE_REQUEST,
        kind="terms",
        status="closed",
        organisation_number=registry.bits.organisation_number if registry.bits else "916960190",
        submitter_name=message.from_name or message.from_address,
        submitter_email=message.from_address,
        submitter_verified=True,
        title=f"VILKÅR ikke publisert: {masked_subject(message)[0]}"[:200],
        language=registry.language_of(message.from_address),
        created_at=now,
        updated_at=now,
        details={"outcome": "refused", "errors": errors},
    )
    event = CaseEvent(
        at=now,
        actor=message.from_address,
        channel=Channel.EMAIL,
        kind="received",
        public=False,
        summary="VILKÅR by email refused: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
    )

    def mails(numbered: Case) -> list[OutgoingMail]:
        return [
            services.compose(
                reference=numbered.reference,
                purpose="refused",
                to=message.from_address,
                template="terms_email_refused",
                language=numbered.language,
                in_reply_to=message.message_id,
                case=numbered,
                errors=errors,
            )
        ]

    stored = await services.store.create_case(case, event, mails, markers)
    return Outcome("refused", "VILKÅR with fields missing or wrong: " + ", ".join(errors), stored.reference)


async def terms_document(services: Services, sha256: str) -> bytes | None:
    """The PDF of a published terms version; None for anything else (other attachments are never served)."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        return None
    for case in await services.store.cases(Process.CHANGE_REQUEST):
        if case.kind == "terms" and case.details.get("document_sha256") == sha256:
            return await services.blobs.get(sha256)
    return None
