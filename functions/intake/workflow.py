"""Email intake: one inbound message becomes a new case, a message on an existing case, or is set aside with a reason.

Every effect on a case is written in one transaction together with a marker of the message (the hash of its
Message-ID), so a message processed twice - a redelivery, or a crash between storing and moving it - has the effect
of one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

from ..alerts.drafts import DRAFT_DECISION, EMAILED_DRAFTS, open_draft, propose
from ..changes.workflow import ASSESS_DECISION, DECIDE_DECISION, FOLLOW_UP_DECISION, HANDLE_DECISION
from ..core.cases import CaseIntake, Submission, open_case
from ..core.mail import OutgoingMail, TransientSendError
from ..core.model import Case, CaseEvent, Channel, Process
from ..core.privacy import mask_identity_numbers
from ..core.registry import Registry
from ..core.services import Services
from ..core.store import AlreadyProcessed, StorageUnavailable, StoredCase
from ..incidents.security import ACKNOWLEDGE_DECISION, REPORTED_DECISION
from ..incidents.workflow import TRIAGE_DECISION
from ..onboarding.workflow import (
    BITS_DECISION,
    COMPANY_DECISION,
    SOURCE_PRODUCTION_DECISION,
    SOURCE_TEST_DECISION,
)
from ..questions.workflow import QUESTION_DECISION
from ..terms.by_email import is_terms_command, publish_by_email
from ..terms.workflow import ACCEPT_DECISION
from .commands import Decision, take_decision, token_in
from .mailbox import Mailbox
from .noise import Kind, classify
from .outcome import Outcome
from .parser import InboundMessage, MalformedMessage, parse_message
from .quotes import split_reply
from .routing import route
from .threading import foreign_ids, reference_in_headers, reference_in_subject

log = logging.getLogger(__name__)

MAX_TEXT = 20_000  # characters of a message kept on its event (an entity property holds 32 K characters)

EMAIL_INTAKES: dict[str, CaseIntake] = {
    intake.name: intake
    for intake in [
        *(
            CaseIntake(f"email-{p.value}", p, "case_received", "case_to_bits")
            for p in Process
            if p not in (Process.QUESTION, Process.ERROR_REPORT, Process.CHANGE_REQUEST, Process.ONBOARDING)
        ),
        # A company that is not registered yet is unknown by definition: its enquiry goes on at once, unverified.
        CaseIntake("email-A", Process.ONBOARDING, "onboarding_email_received", "case_to_bits", hold_unverified=False),
        CaseIntake(
            "email-E",
            Process.CHANGE_REQUEST,
            "case_received",
            "change_request_to_bits",
            bits_decision=HANDLE_DECISION.name,
        ),
        CaseIntake("email-D", Process.QUESTION, "case_received", "case_to_bits", bits_decision=QUESTION_DECISION.name),
        CaseIntake(
            "email-C", Process.ERROR_REPORT, "case_received", "case_to_bits", bits_decision=TRIAGE_DECISION.name
        ),
        CaseIntake(
            "email-C-security",
            Process.ERROR_REPORT,
            "case_received",
            "case_to_bits",
            bits_role="security",
            bits_decision=ACKNOWLEDGE_DECISION.name,
            hold_unverified=False,  # a breach is never held back; an unknown sender is marked unverified
            source_roles=(("NAV", "security"),),
        ),
        EMAILED_DRAFTS,
    ]
}
# The decisions people can take by replying, as the processes declare them.
DECISIONS: dict[str, Decision] = {
    decision.name: decision
    for decision in (
        QUESTION_DECISION,
        TRIAGE_DECISION,
        ACKNOWLEDGE_DECISION,
        REPORTED_DECISION,
        DRAFT_DECISION,
        HANDLE_DECISION,
        ASSESS_DECISION,
        DECIDE_DECISION,
        FOLLOW_UP_DECISION,
        ACCEPT_DECISION,
        BITS_DECISION,
        SOURCE_TEST_DECISION,
        SOURCE_PRODUCTION_DECISION,
        COMPANY_DECISION,
    )
}


async def process_message(services: Services, raw: bytes) -> Outcome:
    settings = services.settings
    try:
        message = parse_message(
            raw, max_attachment_bytes=settings.attachment_max_bytes, allowed_types=tuple(settings.attachment_types)
        )
    except MalformedMessage as exc:
        return Outcome("quarantined", f"unreadable message: {exc}")
    kind = classify(message, own_addresses=(settings.shared_mailbox.casefold(),))
    if kind is Kind.OWN:
        return Outcome("ignored", "our own message")
    reference = await _case_of(services, message)
    stored = await services.store.load(reference) if reference else None
    if kind is Kind.BOUNCE:
        return await _record_bounce(services, message, stored)
    token = token_in(message, settings.shared_mailbox) if kind is Kind.PERSON else None
    try:
        if stored is not None and token is not None:
            outcome = await take_decision(services, message, stored, token, DECISIONS)
        elif stored is not None:
            outcome = await _follow_up(services, message, kind, stored)
        elif kind is not Kind.PERSON:
            return Outcome("ignored", f"{kind.value} message that belongs to no case")
        else:
            outcome = await _new_case(services, message)
    except AlreadyProcessed as done:
        outcome = Outcome("duplicate", "processed before", done.reference)
    if outcome.reference and outcome.status != "held":
        outcome = Outcome(outcome.status, outcome.reason, outcome.reference, message.key)
    return outcome


async def _case_of(services: Services, message: InboundMessage) -> str | None:
    settings = services.settings
    found = reference_in_headers(message, settings.reference_prefix, settings.mail_domain)
    found = found or reference_in_subject(message.subject, settings.reference_prefix)
    if found:
        return found
    for key in foreign_ids(message)[:5]:
        found = await services.store.message_reference(key)
        if found:
            return found
    return None


def _masked(text: str) -> tuple[str, int]:
    masked, count = mask_identity_numbers(text)
    if len(masked) > MAX_TEXT:
        masked = masked[:MAX_TEXT] + "\n[…]"
    return masked, count


async def _attachments(services: Services, message: InboundMessage) -> list[dict[str, Any]]:
    """Store kept attachments in Blob Storage (by content hash: storing twice is a no-op); return their metadata."""
    kept = [a for a in message.attachments if a.content]
    await asyncio.gather(*(services.blobs.put(a.sha256, a.content, a.content_type) for a in kept))
    return [
        {
            "filename": a.filename,
            "content_type": a.content_type,
            "size": a.size,
            "sha256": a.sha256,
            "stored": bool(a.content),
        }
        for a in message.attachments
    ]


def _language(text: str) -> str:
    norwegian = re.search(r"[æøåÆØÅ]|\b(hei|og|ikke|vi|dere|takk|hilsen|gjelder|spørsmål)\b", text, re.IGNORECASE)
    return "nb" if norwegian else "en"


async def _new_case(services: Services, message: InboundMessage) -> Outcome:
    registry = await services.registry()
    if is_terms_command(registry, message):
        # Bits publishes a terms version by email (VILKÅR): validated as the form is, answered when it is not.
        return await publish_by_email(services, message, await _attachments(services, message), [message.key])
    where = route(message.recipients, message.subject, message.text, services.settings.mail_aliases)
    organisations = registry.organisations_of_contact(message.from_address) or registry.organisations_of_domain(
        message.from_address.rsplit("@", 1)[-1]
    )
    text, masked = _masked(message.text)
    subject, masked_in_subject = mask_identity_numbers(message.subject)
    source = registry.source_of_contact(message.from_address)
    notice = where.process is Process.NOTIFICATION or (where.by != "address" and where.kind != "security_breach")
    if source is not None and notice:
        # New mail from NAV, Altinn or Digdir is a notice (an incident, maintenance or a change) unless it was sent
        # to another process's address: a draft alert that Bits publishes (or discards) by replying.
        new_text = split_reply(message.new_text or message.text)[0].strip() or message.text  # no signature block
        case = await open_draft(
            services,
            EMAILED_DRAFTS,
            source_key=source.key,
            name=message.from_name or message.from_address.split("@", 1)[0],
            email=message.from_address,
            title=subject or "(uten emne)",
            description=_masked(new_text)[0],
            proposal=propose(source.key, subject, new_text, services.clock.now()),
            language=_language(f"{message.subject}\n{message.text[:2000]}"),
            markers=[message.key],
            details={"routed_by": where.by},
        )
        log.info("intake: %s opened draft alert %s from %s", message.key, case.reference, source.key)
        return Outcome("new_case", "draft_alert", case.reference)
    intake_name = "email-C-security" if where.kind == "security_breach" else f"email-{where.process.value}"
    submission = Submission(
        kind=where.kind,
        organisation_number=organisations[0].organisation_number if organisations else "",
        name=message.from_name or message.from_address.split("@", 1)[0],
        email=message.from_address,
        title=subject or "(uten emne)",
        language=_language(f"{message.subject}\n{message.text[:2000]}"),
        details={"source": "email", "routed_by": where.by},
        text={
            "message": text,
            "message_id": message.message_id,
            "attachments": await _attachments(services, message),
        },
        identity_numbers_removed=masked + masked_in_subject,
    )
    case = await open_case(services, EMAIL_INTAKES[intake_name], submission, Channel.EMAIL, markers=[message.key])
    log.info("intake: %s opened %s (%s, routed by %s)", message.key, case.reference, where.kind, where.by)
    return Outcome("new_case", where.kind, case.reference)


def _is_participant(registry: Registry, case: Case, sender: str) -> str | None:
    """The sender's part in the case, or None when they have none (and the message is held for Bits)."""
    if sender == case.submitter_email.casefold():
        return "submitter"
    if case.organisation_number and registry.is_contact_of(sender, case.organisation_number):
        return "organisation"
    if registry.bits and any(c.email.casefold() == sender for c in registry.bits.contacts):
        return "bits"
    for source in registry.sources.values():
        if any(c.email.casefold() == sender for c in source.contacts):
            return "source"
    return None


async def _follow_up(services: Services, message: InboundMessage, kind: Kind, stored: StoredCase) -> Outcome:
    case = stored.case
    now = services.clock.now()
    if kind is not Kind.PERSON:
        event = CaseEvent(
            at=now,
            actor=message.from_address,
            channel=Channel.EMAIL,
            kind="automatic_reply",
            public=False,
            summary=f"Automatic message ({kind.value}): {mask_identity_numbers(message.subject)[0]}",
            data={"message_id": message.message_id},
        )
        await services.store.append(case.reference, event, markers=[message.key])
        return Outcome("appended", kind.value, case.reference)
    registry = await services.registry()
    part = _is_participant(registry, case, message.from_address)
    if part is None:
        return Outcome("held", f"held for Bits: the sender is not a participant of {case.reference}", case.reference)
    text, masked = _masked(message.new_text or message.text)
    attachments = await _attachments(services, message)
    from_bits = part == "bits"
    event = CaseEvent(
        at=now,
        actor=message.from_address,
        channel=Channel.EMAIL,
        kind="note" if from_bits else "message",
        public=not from_bits,
        summary=f"{'Note from Bits' if from_bits else 'Message'} by email: {mask_identity_numbers(message.subject)[0]}",
        data={
            "message": text,
            "message_id": message.message_id,
            "attachments": attachments,
            "identity_numbers_removed": masked,
        },
    )
    mails: list[OutgoingMail] = []
    if not from_bits:
        for contact in registry.bits_contacts("support"):
            mails.append(
                services.compose(
                    reference=case.reference,
                    purpose=f"message-{message.key[:16]}",
                    to=contact.email,
                    template="case_message_to_bits",
                    language=contact.language,
                    in_reply_to=message.message_id,
                    case=case,
                    sender=message.from_name or message.from_address,
                    text={"message": text, "attachments": attachments},
                )
            )
    await services.store.append(case.reference, event, mails, markers=[message.key])
    return Outcome("appended", part, case.reference)


async def _record_bounce(services: Services, message: InboundMessage, stored: StoredCase | None) -> Outcome:
    report = message.delivery_report
    assert report is not None
    if stored is None:
        return Outcome("ignored", "delivery report about no known case")
    # Only addresses we did mail on this case count: anyone can send a delivery report naming anyone.
    mailed = {m.mail.to.casefold() for m in await services.store.mails(stored.case.reference)}
    recipients = [r for r in report.recipients if r in mailed]
    if not recipients:
        return Outcome("ignored", "delivery report naming no one we mailed on the case", stored.case.reference)
    event = CaseEvent(
        at=services.clock.now(),
        actor="mail-system",
        channel=Channel.EMAIL,
        kind="mail_bounced",
        public=False,
        summary=f"Delivery to {', '.join(recipients)} failed ({report.status or 'no status'})",
        data={
            "recipients": recipients,
            "status": report.status,
            "permanent": report.permanent,
            "message_id": report.original_message_id,
        },
    )
    try:
        await services.store.append(stored.case.reference, event, markers=[message.key])
    except AlreadyProcessed:
        return Outcome("duplicate", "processed before", stored.case.reference)
    # Counted once the report is recorded (with its marker), so a report seen twice counts once. Bits' own people
    # are never suppressed by a report: a forged one must not be able to silence Bits.
    registry = await services.registry()
    own = {c.email.casefold() for c in (registry.bits.contacts if registry.bits else [])}
    if report.permanent:
        for recipient in (r for r in recipients if r not in own):
            await services.limits.record_bounce(
                recipient, services.clock.now(), services.settings.suppress_after_bounces
            )
    return Outcome("bounce", report.status, stored.case.reference)


@dataclass
class PollReport:
    outcomes: dict[str, int]
    left_for_later: int = 0


async def poll_mailbox(services: Services, mailbox: Mailbox) -> PollReport:
    """Process what waits in the mailbox, a few at a time. One bad message never blocks the others; when storage is
    down, messages stay in the mailbox for the next poll."""
    settings = services.settings
    try:
        items = await mailbox.fetch(settings.mailbox_batch_size)
    except TransientSendError as exc:
        log.warning("intake: the mailbox cannot be read now (%s); next poll", exc)
        return PollReport(outcomes={}, left_for_later=-1)
    gate = asyncio.Semaphore(settings.mailbox_concurrency)
    report = PollReport(outcomes={})
    to_index: dict[str, str] = {}

    async def one(item_raw: Any) -> None:
        async with gate:
            try:
                outcome = await process_message(services, item_raw.raw)
            except StorageUnavailable as exc:
                log.warning("intake: storage unavailable, %s stays in the mailbox: %s", item_raw.id, exc)
                report.left_for_later += 1
                return
            except Exception as exc:  # never let one message stop the poll
                log.exception("intake: %s could not be processed", item_raw.id)
                outcome = Outcome("quarantined", f"internal error: {type(exc).__name__}")
            if outcome.message_key and outcome.reference:
                to_index[outcome.message_key] = outcome.reference
            try:
                await mailbox.settle(item_raw, outcome.settle_as_processed, f"{outcome.status}: {outcome.reason}")
            except TransientSendError as exc:  # processed, but not moved: seen again next time, which is harmless
                log.warning("intake: %s not moved now: %s", item_raw.id, exc)
                report.left_for_later += 1
                return
            report.outcomes[outcome.status] = report.outcomes.get(outcome.status, 0) + 1

    await asyncio.gather(*(one(item) for item in items))
    # Index the messages' ids to their cases, so that a reply to an insurer's own email finds its case too. In
    # batches: on a crash before this, a later reply still threads by our Message-IDs and the subject's reference.
    await services.store.remember_messages(to_index)
    await mailbox.checkpoint(complete=report.left_for_later == 0)
    if items:
        log.info("intake: %s", report)
    return report
