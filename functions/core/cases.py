"""Opening a case in any process: submitter verification, the first event, the acknowledgement, Bits' notice."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .mail import OutgoingMail, mail_id
from .model import Case, CaseEvent, CaseStatus, Channel, DecisionToken, Process
from .registry import Registry
from .services import Services
from .signing import sign, verify
from .store import ConcurrentUpdate, StoredCase
from .tokens import issue, reply_address


@dataclass(frozen=True)
class CaseIntake:
    """How cases of a process are opened through one channel: its templates and who at Bits is told.

    The name is stored on the case, so that a later step (the submitter's confirmation) uses the same templates.
    """

    name: str
    process: Process
    acknowledgement_template: str | None  # None: the submitter gets no receipt (e.g. Bits opened the case itself)
    bits_template: str
    bits_role: str = "support"
    bits_decision: str | None = None  # the decision Bits' people can take by replying to the notice
    submitter_decision: str | None = None  # the decision the submitter can take by replying to the acknowledgement
    hold_unverified: bool = True  # False: an unknown sender is marked unverified but the case goes on at once
    source_roles: tuple[
        tuple[str, str], ...
    ] = ()  # (data source, role) who get the notice too, e.g. ("NAV", "security")
    initial_status: str = CaseStatus.NEW  # the process's first state once the case goes on (e.g. "registered")
    long_tokens: bool = False  # the process runs for months: its tokens live SSU_LONG_TOKEN_DAYS
    email_route: str | None = None  # the route (see intake/routing.py) whose new emails open cases through it


@dataclass(frozen=True)
class Submission:
    """A validated request for a new case, from any channel."""

    kind: str
    organisation_number: str
    name: str
    email: str
    title: str
    language: str
    environment: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    text: dict[str, Any] = field(default_factory=dict)  # the long fields, kept on the first event
    identity_numbers_removed: int = 0  # masked by the privacy guard before we got here


async def open_case(
    services: Services, intake: CaseIntake, submission: Submission, channel: Channel, markers: Sequence[str] = ()
) -> Case:
    """Store a new case, its first event and its first emails in one write.

    A submitter who is a registered contact of the organisation is trusted at once: they get the acknowledgement
    and Bits is told. Anyone else gets a signed, expiring confirmation link first; see `confirm_submitter`.
    """
    registry = await services.registry()
    source = registry.source_of_contact(submission.email)
    verified = registry.is_contact_of(submission.email, submission.organisation_number) or (
        source is not None and source.organisation_number == submission.organisation_number
    )
    goes_on = verified or not intake.hold_unverified
    now = services.clock.now()
    case = Case(
        process=intake.process,
        kind=submission.kind,
        status=intake.initial_status if goes_on else CaseStatus.AWAITING_CONFIRMATION,
        organisation_number=submission.organisation_number,
        submitter_name=submission.name,
        submitter_email=submission.email,
        submitter_verified=verified,
        environment=submission.environment,
        title=submission.title,
        language=submission.language,
        created_at=now,
        updated_at=now,
        details={**submission.details, "intake": intake.name},
    )
    event = CaseEvent(
        at=now,
        actor=submission.email,
        channel=channel,
        kind="received",
        public=True,
        summary=f"{intake.process.name.replace('_', ' ').capitalize()} received: {submission.title}",
        data={**submission.text, "verified": verified, "identity_numbers_removed": submission.identity_numbers_removed},
    )

    tokens = _tokens(services, registry, intake, submission.email) if goes_on else {}
    if intake.submitter_decision and submission.email in tokens:
        # Later emails to the submitter (reminders) carry the same token, so that replying to any of them works.
        case = case.model_copy(update={"details": {**case.details, "submitter_token": tokens[submission.email].token}})

    def mails(numbered: Case) -> Sequence[OutgoingMail]:
        if goes_on:
            text = {**submission.text, "identity_numbers_removed": submission.identity_numbers_removed}
            return _acknowledgement_and_notice(services, registry, intake, numbered, text, tokens)
        return [_confirmation_request(services, numbered)]

    return await services.store.create_case(case, event, mails, markers, list(tokens.values()))


def _tokens(services: Services, registry: Registry, intake: CaseIntake, submitter: str) -> dict[str, DecisionToken]:
    """A token for each person who may act by replying: Bits' people on the notice, the submitter on the receipt."""
    tokens: dict[str, DecisionToken] = {}
    if intake.bits_decision is not None:
        for contact in registry.bits_contacts(intake.bits_role):
            tokens[contact.email] = issue(
                services,
                contact.email,
                intake.bits_decision,
                single_use=False,
                days=services.settings.long_token_days if intake.long_tokens else None,
            )
    if intake.submitter_decision is not None:
        tokens[submitter] = issue(
            services,
            submitter,
            intake.submitter_decision,
            single_use=False,
            days=services.settings.long_token_days if intake.long_tokens else None,
        )
    return tokens


async def submitted(services: Services, case: Case) -> dict[str, Any]:
    """What the submitter sent, as the case's first event keeps it (a form's fields, or an email's text)."""
    received = next((e for e in await services.store.events(case.reference) if e.kind == "received"), None)
    return dict(received.data) if received else {}


def organisation_name(registry: Registry, case: Case) -> str:
    """The company's legal name, or its number when the registry does not know it."""
    organisation = registry.organisation(case.organisation_number)
    return organisation.legal_name if organisation else case.organisation_number


def acknowledgement_id(services: Services, case: Case) -> str:
    """The Message-ID of the submitter's acknowledgement, to thread later emails under it."""
    return f"<{case.reference}.{mail_id('acknowledgement', case.submitter_email)}@{services.settings.mail_domain}>"


def tell_submitter(
    services: Services,
    case: Case,
    *,
    purpose: str,
    template: str,
    to: str | None = None,
    language: str | None = None,
    **context: Any,
) -> OutgoingMail:
    """An email about the case to its submitter (or `to`, another of the company's people), with the link to the
    case page; the submitter's is threaded under their receipt."""
    to = to or case.submitter_email
    return services.compose(
        reference=case.reference,
        purpose=purpose,
        to=to,
        template=template,
        language=language or case.language,
        in_reply_to=acknowledgement_id(services, case) if to == case.submitter_email else None,
        case=case,
        case_link=services.case_page_link(case.reference),
        **context,
    )


def _acknowledgement_and_notice(
    services: Services,
    registry: Registry,
    intake: CaseIntake,
    case: Case,
    text: dict[str, Any],
    tokens: dict[str, DecisionToken],
) -> list[OutgoingMail]:
    context: dict[str, Any] = {
        "case": case,
        "text": text,
        "case_link": services.case_page_link(case.reference),
        "organisation_name": organisation_name(registry, case),
        "identity_numbers_removed": int(text.get("identity_numbers_removed", 0)),
    }
    own = tokens.get(case.submitter_email) if intake.submitter_decision else None
    mails = (
        [
            services.compose(
                reference=case.reference,
                purpose="acknowledgement",
                to=case.submitter_email,
                template=intake.acknowledgement_template,
                language=case.language,
                reply_to=reply_address(services, own.token) if own else None,
                token=own.token if own else None,
                replies_decide=own is not None,
                **context,
            )
        ]
        if intake.acknowledgement_template
        else []
    )
    others = [
        c
        for key, role in intake.source_roles
        if key in registry.sources
        for c in registry.sources[key].contacts
        if c.has_role(role)
    ]
    for contact in [*registry.bits_contacts(intake.bits_role), *others]:
        token = tokens.get(contact.email) if intake.bits_decision else None
        mails.append(
            services.compose(
                reference=case.reference,
                purpose=f"notify-{intake.bits_role}",
                to=contact.email,
                template=intake.bits_template,
                language=contact.language,
                reply_to=reply_address(services, token.token) if token else None,
                token=token.token if token else None,
                replies_decide=token is not None,
                **context,
            )
        )
    return mails


def confirmation_token(services: Services, case: Case) -> str:
    expires = case.created_at + timedelta(hours=services.settings.confirmation_link_hours)
    payload = {"r": case.reference, "e": case.submitter_email.casefold()}
    return sign(services.settings.effective_signing_key, "confirm-submitter", payload, expires)


def _confirmation_request(services: Services, case: Case) -> OutgoingMail:
    return services.compose(
        reference=case.reference,
        purpose="confirm-submitter",
        to=case.submitter_email,
        template="confirm_submitter",
        language=case.language,
        case=case,
        confirm_link=services.link(f"confirm?t={confirmation_token(services, case)}"),
        case_link=services.case_page_link(case.reference),
        hours=services.settings.confirmation_link_hours,
    )


@dataclass(frozen=True)
class Confirmation:
    outcome: str  # confirmed | already | invalid
    case: Case | None = None


async def confirm_submitter(services: Services, token: str, intakes: dict[str, CaseIntake]) -> Confirmation:
    """The submitter followed their link: the case goes on, with the acknowledgement and Bits' notice."""
    payload = verify(services.settings.verification_keys, "confirm-submitter", token, services.clock.now())
    if payload is None:
        return Confirmation("invalid")
    for _ in range(5):
        stored = await services.store.load(str(payload.get("r", "")))
        if stored is None or stored.case.submitter_email.casefold() != payload.get("e"):
            return Confirmation("invalid")
        if stored.case.status != CaseStatus.AWAITING_CONFIRMATION:
            return Confirmation("already", stored.case)
        try:
            intake = intakes[str(stored.case.details.get("intake", ""))]
            return Confirmation("confirmed", await _confirm(services, stored, intake))
        except ConcurrentUpdate:
            continue  # confirmed twice at once: read again and answer "already"
    raise ConcurrentUpdate(str(payload.get("r")))


async def _confirm(services: Services, stored: StoredCase, intake: CaseIntake) -> Case:
    registry = await services.registry()
    now = services.clock.now()
    case = stored.case.model_copy(update={"status": intake.initial_status, "updated_at": now})
    event = CaseEvent(
        at=now,
        actor=case.submitter_email,
        channel=Channel.FORM,
        kind="submitter_confirmed",
        public=True,
        summary="The submitter confirmed their email address",
    )
    text = {k: v for k, v in (await submitted(services, case)).items() if k != "verified"}
    tokens = _tokens(services, registry, intake, case.submitter_email)
    mails = _acknowledgement_and_notice(services, registry, intake, case, text, tokens)
    await services.store.transition(stored, case, event, mails, tokens=list(tokens.values()))
    return case


FAN_OUT_CHUNK = 45  # two operations per mail and the chunk's event: within the 100 a transaction allows


async def queue_in_chunks(
    services: Services, reference: str, mails: Sequence[OutgoingMail], marker: str, label: str
) -> int:
    """Queue many mails on a case (an alert to every company, a notice of an approved change), a chunk per
    transaction, each chunk with a marker: doing it again after an interruption queues only what is missing.
    Returns the mails queued now."""
    from .store import AlreadyProcessed

    queued = 0
    for start in range(0, len(mails), FAN_OUT_CHUNK):
        chunk = mails[start : start + FAN_OUT_CHUNK]
        event = CaseEvent(
            at=services.clock.now(),
            actor="fan-out",
            channel=Channel.TIMER,
            kind="fanned_out",
            public=False,
            summary=f"{label}: {len(chunk)} recipients queued",
            data={"label": label, "recipients": [m.to for m in chunk]},
        )
        try:
            await services.store.append(reference, event, list(chunk), markers=[f"{marker}-{start // FAN_OUT_CHUNK}"])
            queued += len(chunk)
        except AlreadyProcessed:
            continue  # this chunk went out before
    done = CaseEvent(
        at=services.clock.now(),
        actor="fan-out",
        channel=Channel.TIMER,
        kind="fanned_out_all",
        public=False,
        summary=f"{label}: every recipient queued",
        data={"marker": marker},
    )
    with suppress(AlreadyProcessed):
        await services.store.append(reference, done, markers=[f"{marker}-done"])
    return queued


async def fanned_out(services: Services, reference: str, marker: str) -> bool:
    """Whether the fan-out with this marker finished (else a timer runs it again; its chunks make that safe)."""
    events = await services.store.events(reference)
    return any(e.kind == "fanned_out_all" and e.data.get("marker") == marker for e in events)
