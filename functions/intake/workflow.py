"""Email intake: one inbound message becomes a new case, a message on an existing case, or is set aside with a reason.

Every effect on a case is written in one transaction together with a marker of the message (the hash of its
Message-ID), so a message processed twice - a redelivery, or a crash between storing and moving it - has the effect
of one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from ..core import telemetry
from ..core.cases import Submission, open_case
from ..core.inbound import POLL_STATE, InboundMessage, Mailbox, Outcome
from ..core.mail import OutgoingMail, TransientSendError, message_id_for
from ..core.model import Case, CaseEvent, Channel
from ..core.privacy import mask_identity_numbers
from ..core.processes import Catalogue
from ..core.registry import Registry
from ..core.retention import is_erased
from ..core.services import Services
from ..core.store import AlreadyProcessed, StorageUnavailable, StoredCase
from .commands import take_decision, token_in
from .content import language_of, masked_subject, masked_text, sender_name, store_attachments
from .fields import environment_in, read_fields
from .noise import Kind, classify
from .parser import MalformedMessage, parse_message
from .quotes import without_boilerplate
from .routing import route
from .sender import SenderTrust
from .set_aside import hold_for_bits, set_aside
from .threading import foreign_ids, reference_in_headers, reference_in_subject

log = logging.getLogger(__name__)


async def process_message(services: Services, raw: bytes, catalogue: Catalogue) -> Outcome:
    """Parse one message and hand it on: to the decision its token names, to its case, to the first process
    handler that takes it, or to the intake its route names. One `intake email` span, counted by outcome."""
    with telemetry.operation("intake email", one_case=True, channel="email") as intake:
        outcome = await _process_message(services, raw, catalogue)
        intake.note(outcome=outcome.status)
        if outcome.reference:
            intake.note_case(reference=outcome.reference)
        telemetry.count("ssu.intake.outcome", channel="email", outcome=outcome.status)
        return outcome


async def _process_message(services: Services, raw: bytes, catalogue: Catalogue) -> Outcome:
    settings = services.settings
    try:
        message = parse_message(
            raw,
            max_attachment_bytes=settings.attachment_max_bytes,
            allowed_types=tuple(settings.attachment_types),
            trust=SenderTrust.of(settings),
        )
    except MalformedMessage as problem:
        return await set_aside(services, raw, problem)
    telemetry.note(message_id=message.key)
    kind = classify(message, own_addresses=(settings.shared_mailbox.casefold(),))
    if kind is Kind.OWN:
        return Outcome("ignored", "our own message")
    reference = await _case_of(services, message)
    stored = await services.store.load(reference) if reference else None
    if stored is not None and is_erased(stored.case):
        # Its personal data is gone for good: what is written to it now is taken in as if it named no case (a
        # person's message opens one of its own, with its own period), never kept under the skeleton for ever.
        stored = None
    if kind is Kind.BOUNCE:
        return await _record_bounce(services, message, stored)
    token = token_in(message, settings.shared_mailbox) if kind is Kind.PERSON else None
    try:
        if stored is not None and token is not None:
            outcome = await take_decision(services, message, stored, token, catalogue.decisions)
        elif stored is not None:
            outcome = await _follow_up(services, message, kind, stored)
        elif kind is not Kind.PERSON:
            return Outcome("ignored", f"{kind.value} message that belongs to no case")
        else:
            outcome = await _new_case(services, message, catalogue)
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


async def _new_case(services: Services, message: InboundMessage, catalogue: Catalogue) -> Outcome:
    where = route(message.recipients, message.subject, message.text, services.settings.mail_aliases)
    for handler in catalogue.inbound:
        taken = await handler(services, message, where)
        if taken is not None:
            return taken
    registry = await services.registry()
    organisations = registry.organisations_of_contact(message.from_address) or registry.organisations_of_domain(
        message.from_address.rsplit("@", 1)[-1]
    )
    text, masked = masked_text(without_boilerplate(message.text))
    subject, masked_in_subject = masked_subject(message)
    intake = catalogue.email_intakes["C-security" if where.kind == "security_breach" else where.process.value]
    details = {"source": "email", "routed_by": where.by, **read_fields(message, where, services.clock.now())}
    submission = Submission(
        kind=where.kind,
        organisation_number=organisations[0].organisation_number if organisations else "",
        name=sender_name(message),
        email=message.from_address,
        title=subject or "(uten emne)",
        language=language_of(message),
        environment=environment_in(message.subject, message.text),
        details=intake.email_details(details) if intake.email_details else details,
        text={
            "message": text,
            "message_id": message.message_id,
            "attachments": await store_attachments(services, message),
        },
        identity_numbers_removed=masked + masked_in_subject,
        email_proven=message.sender.proven,
    )
    case = await open_case(services, intake, submission, Channel.EMAIL, markers=[message.key])
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
            summary=f"Automatic message ({kind.value}): {masked_subject(message)[0]}",
            data={"message_id": message.message_id},
        )
        await services.store.append(case.reference, event, markers=[message.key])
        return Outcome("appended", kind.value, case.reference)
    registry = await services.registry()
    part = _is_participant(registry, case, message.from_address)
    if part is None:
        detail = f"the sender is not a participant of {case.reference}"
        return await hold_for_bits(services, message, "not_participant", detail, case.reference)
    text, masked = masked_text(message.new_text or message.text)
    said = CaseMessage(
        sender=message.from_address,
        name=sender_name(message),
        shown_sender=_shown_sender(message),
        text=text,
        identity_numbers_removed=masked,
        attachments=await store_attachments(services, message),
        message_id=message.message_id,
        key=message.key,
        proven=message.sender.proven,
        evidence=message.sender.evidence,
        channel=Channel.EMAIL,
        subject=masked_subject(message)[0],
    )
    await add_message(services, registry, case, part, said, markers=[message.key])
    return Outcome("appended", part if said.proven else f"{part}, unverified", case.reference)


@dataclass(frozen=True)
class CaseMessage:
    """A participant's message on a case, from whichever channel brought it (a reply by email, the box on the case
    page): what it says (masked), its stored attachments, and how its sender is known."""

    sender: str  # the address, as mail servers read it or as the signed link proves it
    name: str  # the sender's name (masked), for the mail that tells them of files not kept
    shown_sender: str  # as Bits reads it: the name beside the address
    text: str
    identity_numbers_removed: int
    attachments: list[dict[str, Any]]
    message_id: str
    key: str  # what its mails' purposes are keyed by: sent again, it queues nothing twice
    proven: bool
    evidence: str
    channel: Channel
    subject: str = ""  # an email's subject (masked); none on the case page


async def add_message(
    services: Services, registry: Registry, case: Case, part: str, said: CaseMessage, markers: list[str]
) -> None:
    """The one way a participant's message lands on a case: its event, Bits' support told
    (`case_message_to_bits`), the sender told of files we did not keep; in one write with `markers`, so that the
    same message twice is stored once (AlreadyProcessed)."""
    from_bits = part == "bits" and said.proven
    by_email = said.channel == Channel.EMAIL
    via, subject = ("by email", f": {said.subject}") if by_email else ("on the case page", "")
    if not said.proven:
        # Never attributed to the person it names: kept on the case for Bits alone, and Bits is told it is unproven.
        event_kind, summary = "message_unverified", f"Unconfirmed message {via} (claims {part}){subject}"
    elif from_bits:
        event_kind, summary = "note", f"Note from Bits {via}{subject}"
    else:
        event_kind, summary = "message", f"Message {via}{subject}"
    event = CaseEvent(
        at=services.clock.now(),
        actor=said.sender,
        channel=said.channel,
        kind=event_kind,
        public=said.proven and not from_bits,
        summary=summary,
        data={
            "message": said.text,
            "message_id": said.message_id,
            "attachments": said.attachments,
            "identity_numbers_removed": said.identity_numbers_removed,
            "sender_proven": said.proven,
            "sender_evidence": said.evidence,
        },
    )
    mails: list[OutgoingMail] = []
    if not from_bits:
        for contact in registry.bits_contacts("support"):
            mails.append(
                services.compose(
                    reference=case.reference,
                    purpose=f"message-{said.key[:16]}",
                    to=contact.email,
                    template="case_message_to_bits",
                    language=contact.language,
                    in_reply_to=said.message_id,
                    case=case,
                    sender=said.shown_sender,
                    text={"message": said.text, "attachments": said.attachments},
                    unverified=not said.proven,
                    evidence=said.evidence,
                )
            )
    if said.proven and not from_bits and any(a["refused"] for a in said.attachments):
        # The sender is told which files were not kept and why, so that they can send them in a form we keep.
        mails.append(
            services.compose(
                reference=case.reference,
                purpose=f"attachments-{said.key[:16]}",
                to=said.sender,
                template="attachments_not_kept",
                language=registry.language_of(said.sender),
                in_reply_to=said.message_id,
                case=case,
                person=said.name,
                text={"attachments": said.attachments},
                max_mb=services.settings.attachment_max_bytes // (1024 * 1024),
            )
        )
    await services.store.append(case.reference, event, mails, markers=markers)


def _shown_sender(message: InboundMessage) -> str:
    """The sender as Bits reads it: the (masked) display name beside the address, never the name alone."""
    name = mask_identity_numbers(message.from_name)[0]
    return f"{name} <{message.from_address}>" if name else message.from_address


# Contacts whose silence would go unnoticed until it matters: Bits hears of each of their bounces before the address
# is suppressed.
_WATCHED_ROLES = frozenset({"security", "technical"})


async def _record_bounce(services: Services, message: InboundMessage, stored: StoredCase | None) -> Outcome:
    report = message.delivery_report
    assert report is not None
    if stored is None:
        return Outcome("ignored", "delivery report about no known case")
    reference = stored.case.reference
    # A report counts only for the recipient of the very mail it names. Our Message-IDs carry a part only our key
    # makes (core/mail.py), so naming one proves the report was written by someone who had that mail in hand: anyone
    # can send a delivery report naming anyone, but not one naming the Message-ID of a mail to someone else.
    named = report.original_message_id
    settings = services.settings
    recipients = sorted(
        {
            m.mail.to.casefold()
            for m in await services.store.mails(reference)
            if named is not None
            and m.mail.message_id == named
            and m.mail.to.casefold() in report.recipients
            # Recomputed rather than trusted as stored: mails queued before Message-IDs were keyed carry ids anyone
            # can compute, and those must not count.
            and any(
                named == message_id_for(key, reference, m.mail.purpose, m.mail.to, settings.mail_domain)
                for key in settings.verification_keys
            )
        }
    )
    if not recipients:
        return Outcome("ignored", "delivery report naming none of our mails to its recipients", reference)
    now = services.clock.now()
    event = CaseEvent(
        at=now,
        actor="mail-system",
        channel=Channel.EMAIL,
        kind="mail_bounced",
        public=False,
        summary=f"Delivery to {', '.join(recipients)} failed ({report.status or 'no status'})",
        data={"recipients": recipients, "status": report.status, "permanent": report.permanent, "message_id": named},
    )
    registry = await services.registry()
    own = {c.email.casefold() for c in (registry.bits.contacts if registry.bits else [])}
    counted = [r for r in recipients if r not in own] if report.permanent else []
    watched = [r for r in counted if registry.roles_of(r) & _WATCHED_ROLES]
    warnings = [
        services.compose(
            reference=reference,
            purpose=f"bounce-warning-{message.key[:16]}",
            to=contact.email,
            template="contact_bouncing_to_bits",
            language=contact.language,
            case=stored.case,
            recipients=watched,
            roles=sorted({role for r in watched for role in registry.roles_of(r) & _WATCHED_ROLES}),
            status=report.status,
            suppress_after=services.settings.suppress_after_bounces,
        )
        for contact in (registry.bits_contacts("support") if watched else [])
    ]
    try:
        await services.store.append(reference, event, warnings, markers=[message.key])
    except AlreadyProcessed:
        return Outcome("duplicate", "processed before", reference)
    # Counted once the report is recorded (with its marker), so a report seen twice counts once. Bits' own people
    # are never suppressed by a report.
    for recipient in counted:
        await services.limits.record_bounce(
            recipient, now, services.settings.suppress_after_bounces, status=report.status, reference=reference
        )
    return Outcome("bounce", report.status, reference)


@dataclass
class PollReport:
    outcomes: dict[str, int]
    left_for_later: int = 0


async def poll_mailbox(services: Services, mailbox: Mailbox, catalogue: Catalogue) -> PollReport:
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
                outcome = await process_message(services, item_raw.raw, catalogue)
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
    # The mailbox was read and every message handled or left for the next poll: a successful poll (health reads it).
    await services.state.put(POLL_STATE, {"at": services.clock.now().isoformat()})
    if items:
        log.info("intake: %s", report)
    return report
