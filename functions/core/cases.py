"""Opening a case in any process: submitter verification, the first event, the acknowledgement, Bits' notice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .glossary import long_time
from .mail import OutgoingMail, message_id_for
from .model import Case, CaseEvent, CaseStatus, Channel, DecisionToken, Process
from .rate_limits import WINDOW, recipient_limits
from .receipts import first_response_due, sent_rows
from .registry import Registry
from .services import Services
from .signing import sign, verify
from .store import AlreadyProcessed, AlreadyQueued, ConcurrentUpdate, StoredCase
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
    # With hold_unverified=False: an unverified submitter's case reaches Bits at once but not the source_roles, who
    # hear of it through `confirmed_later` once the submitter follows their confirmation link (or earlier, when the
    # process releases it: a breach on Bits' MOTTATT).
    sources_wait_for_verification: bool = False
    # What the process adds when the submitter of a case that went on at once confirms their address: the case as
    # it becomes and the mails that go with it, in the same write as the confirmation.
    confirmed_later: Callable[[Services, Case], Awaitable[tuple[Case, list[OutgoingMail]]]] | None = None
    # What the process adds to the details intake read from a new case's email (intake/fields.py: environment,
    # component, a breach's stated discovery time), e.g. the deadlines that count from that time.
    email_details: Callable[[dict[str, Any]], dict[str, Any]] | None = None


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
    # Whether the channel proved that the submitter owns the address: an email whose sender identity is proven, a
    # browser that remembers a confirmation of this very address (`AddressProof`), Bits' own people. An address
    # typed into a form or a JSON body proves nothing, so the default is False: then even a registered contact's
    # address must confirm by the signed link before the case goes on as theirs.
    email_proven: bool = False
    # False: the address is over its rate limit (a breach, which is never refused): the case is stored and Bits
    # told, but nothing at all is mailed to the submitter's address.
    mail_submitter: bool = True
    filed_by: str | None = None  # the signed-in staff member who sent it on the submitter's behalf


@dataclass(frozen=True)
class AddressProof:
    """What a form's channel proves about the addresses a submission gives, for the process's submit to apply to
    the submitter's address: the address the browser's remembered confirmation vouches for (web/forms.py), whether
    a signed-in member of Bits' staff sent it (they vouch for the address they give: Bits is no relay to itself),
    and whether we may mail the submitter now (not when a breach came in over a rate limit).

    And the submission's own identity, which the submit passes on to the write that stores what it takes (the
    `markers` of `open_case`, `create_case`, `append`), so that the case and its idempotency markers are one
    transaction: sent again, the write raises AlreadyProcessed and stores nothing. The first marker is this very
    submission (a browser form's one-time id; a JSON client's Idempotency-Key with this body), a later one the
    key alone (`key_reused`). A submit that stores nothing lets it pass to the web layer, which answers."""

    remembered: str | None = None
    may_mail: bool = True
    by_staff: bool = False
    filed_by: str | None = None  # the staff member who sent it, when by_staff: recorded on the case
    markers: tuple[str, ...] = ()

    def proves(self, address: str) -> bool:
        if self.by_staff:
            return True
        return self.remembered is not None and address.casefold() == self.remembered.casefold()

    def key_reused(self, done: AlreadyProcessed) -> bool:
        """Whether `done` found the client's Idempotency-Key used with another body (refused), not this very
        submission again (answered as the first time)."""
        return done.marker in self.markers[1:]


NO_PROOF = AddressProof()  # an anonymous post: every address in it is a claim


async def open_case(
    services: Services,
    intake: CaseIntake,
    submission: Submission,
    channel: Channel,
    markers: Sequence[str] = (),
    more_mails: Callable[[Case], Sequence[OutgoingMail]] | None = None,
) -> Case:
    """Store a new case, its first event and its first emails in one write.

    A submitter whose address is proven (`Submission.email_proven`) and is a registered contact of the
    organisation is trusted at once: they get the acknowledgement and Bits is told. Anyone else - a registered
    contact's address merely typed into a form too - gets a signed, expiring confirmation link first; see
    `confirm_submitter`.

    No relay: an address that has not proven itself gets only the neutral confirmation request, with none of the
    submitter's text - also where the case goes on at once (`hold_unverified=False`: Bits is told now, the receipt
    follows the confirmation). A confirmation request for an email's sender (who may be forged) counts against
    that address's rate limit; over it, the case is still stored for Bits, without the request. A form's breach
    over a limit (`mail_submitter=False`) is stored and told to Bits the same way, with no mail to the submitter.
    """
    registry = await services.registry()
    source = registry.source_of_contact(submission.email)
    verified = submission.email_proven and (
        registry.is_contact_of(submission.email, submission.organisation_number)
        or (source is not None and source.organisation_number == submission.organisation_number)
    )
    goes_on = verified or not intake.hold_unverified
    # The request goes where the case waits for it, or a receipt does (none: e.g. a draft Bits opened itself).
    asks = not verified and (not goes_on or intake.acknowledgement_template is not None)
    # Forms and the API were counted at the door (web/rate_limit.py); an email's confirmation request is counted here.
    withheld = asks and (
        not submission.mail_submitter
        or (channel == Channel.EMAIL and await _confirmations_exhausted(services, submission.email, markers))
    )
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
        details={
            **submission.details,
            "intake": intake.name,
            **({"confirmation_withheld": True} if withheld else {}),
            **({"over_rate_limit": True} if not submission.mail_submitter else {}),
            **({"filed_by": submission.filed_by} if submission.filed_by else {}),
        },
    )
    event = CaseEvent(
        at=now,
        actor=submission.filed_by or submission.email,
        channel=channel,
        kind="received",
        public=True,
        summary=f"{intake.process.name.replace('_', ' ').capitalize()} received: {submission.title}",
        data={**submission.text, "verified": verified, "identity_numbers_removed": submission.identity_numbers_removed},
    )

    # No token for an unproven submitter: it would let an address nobody has proven act on the case.
    tokens = _tokens(services, registry, intake, submission.email, submitter_too=verified) if goes_on else {}
    if intake.submitter_decision and submission.email in tokens:
        # Later emails to the submitter (reminders) carry the same token, so that replying to any of them works.
        case = case.model_copy(update={"details": {**case.details, "submitter_token": tokens[submission.email].token}})

    sources = verified or not intake.sources_wait_for_verification

    def mails(numbered: Case) -> Sequence[OutgoingMail]:
        queued: list[OutgoingMail] = list(more_mails(numbered)) if more_mails else []  # the process's own
        if goes_on:
            text = {**submission.text, "identity_numbers_removed": submission.identity_numbers_removed}
            receipt = verified and submission.mail_submitter
            queued += _acknowledgement_and_notice(
                services, registry, intake, numbered, text, tokens, receipt=receipt, sources=sources
            )
        if asks and not withheld:
            queued.append(_confirmation_request(services, numbered, by_email=channel == Channel.EMAIL))
        return queued

    return await services.store.create_case(case, event, mails, markers, list(tokens.values()))


async def _confirmations_exhausted(services: Services, address: str, markers: Sequence[str]) -> bool:
    """Whether the address (and its domain) had its confirmation requests this hour. Counted once per message (its
    marker): a redelivered email, which then finds its case made, costs the address nothing more."""
    limits = recipient_limits(address, services.settings.rate_limit_per_recipient)
    once = "|".join(markers) or None
    return await services.rate_limits.hit(limits, WINDOW, services.clock.now(), once=once) is not None


def _tokens(
    services: Services, registry: Registry, intake: CaseIntake, submitter: str, *, submitter_too: bool = True
) -> dict[str, DecisionToken]:
    """A token for each person who may act by replying: Bits' people on the notice, the submitter on the receipt
    (unless `submitter_too` is False: they have not proven their address yet)."""
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
    if intake.submitter_decision is not None and submitter_too:
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
    settings = services.settings
    return message_id_for(
        settings.effective_signing_key, case.reference, "acknowledgement", case.submitter_email, settings.mail_domain
    )


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
    case page; the submitter's is threaded under their receipt.

    A submitter who has not proven their address (a case that went on at once) gets the neutral confirmation
    request instead, with this purpose: nothing of the case, not even what Bits writes around the submitter's
    title, until they have confirmed; then the receipt, and the case page, show them the case."""
    to = to or case.submitter_email
    if to.casefold() == case.submitter_email.casefold() and not submitter_proven(case):
        return _confirmation_request(services, case, purpose=purpose, language=language, news=True)
    return services.compose(
        reference=case.reference,
        purpose=purpose,
        to=to,
        template=template,
        language=language or case.language,
        in_reply_to=acknowledgement_id(services, case) if to == case.submitter_email else None,
        case=case,
        # The link that writes on the case writes as the submitter: another of the company's people (or Bits) gets
        # the one that follows the case, as the form's sender does.
        case_link=services.case_page_link(case.reference, receipt=to.casefold() != case.submitter_email.casefold()),
        **context,
    )


def _acknowledgement_and_notice(
    services: Services,
    registry: Registry,
    intake: CaseIntake,
    case: Case,
    text: dict[str, Any],
    tokens: dict[str, DecisionToken],
    *,
    receipt: bool = True,
    sources: bool = True,
) -> list[OutgoingMail]:
    """The submitter's receipt (unless `receipt` is False: their address is unproven) and Bits' notice."""
    context: dict[str, Any] = {
        "case": case,
        "text": text,
        "case_link": services.case_page_link(case.reference),
        "organisation_name": organisation_name(registry, case),
        "identity_numbers_removed": int(text.get("identity_numbers_removed", 0)),
        "max_mb": services.settings.attachment_max_bytes // (1024 * 1024),  # for attachments not kept
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
                # The receipt asks nothing (it allows a later reply, e.g. MELDT): its token is in the Reply-To
                # only, never at the end of the subject the submitter reads.
                reply_to=reply_address(services, own.token) if own else None,
                replies_decide=own is not None,
                **context,
                **_receipt_context(services, case, text),
            )
        ]
        if intake.acknowledgement_template and receipt
        else []
    )
    others = [
        c
        for key, role in intake.source_roles
        if key in registry.sources and sources  # False: they wait for the submitter (sources_wait_for_verification)
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
                bits_notice=contact not in others,  # Bits' footer (the rule for replies) for Bits' people only
                **context,
            )
        )
    return mails


def _receipt_context(services: Services, case: Case, text: dict[str, Any]) -> dict[str, Any]:
    """What the receipt repeats (the submitted fields in words, masked as stored) and when Bits answers at the
    latest: the first-response target from now, when the case reaches Bits (created, or its address confirmed)."""
    due = first_response_due(services.settings.response_targets, case, services.clock.now())
    return {
        "sent": sent_rows(case, text, case.language),
        "answer_due": long_time(due, case.language) if due else None,
    }


def submitter_proven(case: Case) -> bool:
    """Whether the submitter's address has proven itself: a registered contact's whose address the channel proved
    (an aligned sender, a browser's remembered confirmation), or confirmed by the signed link. Only then does mail
    to it carry anything of the case."""
    return case.submitter_verified or bool(case.details.get("address_confirmed"))


def confirmation_token(services: Services, case: Case, issued_at: datetime | None = None) -> str:
    expires = (issued_at or case.created_at) + timedelta(hours=services.settings.confirmation_link_hours)
    payload = {"r": case.reference, "e": case.submitter_email.casefold()}
    return sign(services.settings.effective_signing_key, "confirm-submitter", payload, expires)


def _confirmation_request(
    services: Services,
    case: Case,
    *,
    purpose: str = "confirm-submitter",
    language: str | None = None,
    by_email: bool = False,
    news: bool = False,
) -> OutgoingMail:
    """The neutral request to confirm an address: the reference and the link, nothing anyone typed (the template
    gets no case). `news`: Bits has written on the case since (the link is then valid from now)."""
    token = confirmation_token(services, case, services.clock.now() if news else None)
    return services.compose(
        reference=case.reference,
        purpose=purpose,
        to=case.submitter_email,
        template="confirm_submitter",
        language=language or case.language,
        confirm_link=services.link(f"confirm?t={token}"),
        hours=services.settings.confirmation_link_hours,
        by_email=by_email,
        news=news,
    )


@dataclass(frozen=True)
class Confirmation:
    outcome: str  # confirmed | already | invalid
    case: Case | None = None


def confirmation_link_is_valid(services: Services, token: str) -> bool:
    """Whether the token is a confirmation link we signed and that has not expired (GET shows its button only then)."""
    return verify(services.settings.verification_keys, "confirm-submitter", token, services.clock.now()) is not None


async def confirm_submitter(services: Services, token: str, intakes: dict[str, CaseIntake]) -> Confirmation:
    """The submitter followed their link: the case goes on, with the acknowledgement and Bits' notice; or, for a
    case that went on at once, the address is proven now and the receipt follows."""
    payload = verify(services.settings.verification_keys, "confirm-submitter", token, services.clock.now())
    if payload is None:
        return Confirmation("invalid")
    for _ in range(5):
        stored = await services.store.load(str(payload.get("r", "")))
        if stored is None or stored.case.submitter_email.casefold() != payload.get("e"):
            return Confirmation("invalid")
        if stored.case.details.get("dismissed_at"):
            return Confirmation("invalid")  # Bits dismissed the case as bogus: its link brings nothing more
        waiting = stored.case.status == CaseStatus.AWAITING_CONFIRMATION
        if not waiting and submitter_proven(stored.case):
            return Confirmation("already", stored.case)
        try:
            intake = intakes[str(stored.case.details.get("intake", ""))]
            confirm = _confirm if waiting else _prove_address
            return Confirmation("confirmed", await confirm(services, stored, intake))
        except ConcurrentUpdate:
            continue  # confirmed twice at once: read again and answer "already"
    raise ConcurrentUpdate(str(payload.get("r")))


async def _confirm(services: Services, stored: StoredCase, intake: CaseIntake) -> Case:
    registry = await services.registry()
    now = services.clock.now()
    details = {**stored.case.details, "address_confirmed": True}
    case = stored.case.model_copy(update={"status": intake.initial_status, "updated_at": now, "details": details})
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


async def _prove_address(services: Services, stored: StoredCase, intake: CaseIntake) -> Case:
    """A case that went on at once (Bits was told then): the submitter's address is proven now, and they get the
    full receipt, with their token when the process lets them act by replying."""
    registry = await services.registry()
    now = services.clock.now()
    tokens = {
        email: token
        for email, token in _tokens(services, registry, intake, stored.case.submitter_email).items()
        if email == stored.case.submitter_email
    }
    details: dict[str, Any] = {**stored.case.details, "address_confirmed": True}
    if stored.case.submitter_email in tokens:
        details["submitter_token"] = tokens[stored.case.submitter_email].token  # reminders carry it too
    case = stored.case.model_copy(update={"updated_at": now, "details": details})
    event = CaseEvent(
        at=now,
        actor=case.submitter_email,
        channel=Channel.FORM,
        kind="submitter_confirmed",
        public=True,
        summary="The submitter confirmed their email address",
    )
    text = {k: v for k, v in (await submitted(services, case)).items() if k != "verified"}
    receipt = [
        m
        for m in _acknowledgement_and_notice(services, registry, intake, case, text, tokens)
        if m.purpose == "acknowledgement"
    ]
    if intake.confirmed_later is not None:
        case, more = await intake.confirmed_later(services, case)
        receipt += more
        if more:
            event = event.model_copy(update={"data": {**event.data, "also_told": sorted({m.to for m in more})}})
    await services.store.transition(stored, case, event, receipt, tokens=list(tokens.values()))
    return case


FAN_OUT_CHUNK = 45  # two operations per mail and the chunk's event: within the 100 a transaction allows


async def queue_in_chunks(
    services: Services, reference: str, mails: Sequence[OutgoingMail], marker: str, label: str
) -> int:
    """Queue many mails on a case (an alert to every company, a notice of an approved change), a chunk per
    transaction, then record that the fan-out `marker` is done. Returns the mails queued now.

    It resumes whatever changed meanwhile: a mail's identity (case, purpose, recipient) is its own marker, never
    its position in a chunk. Run again after an interruption, it reads which of `mails` the case has and queues
    only the others, in chunks of their own: none is queued twice, and a recipient added to the registry
    meanwhile (who is in `mails` now) is reached. A recipient removed meanwhile keeps a mail that was queued - it
    was due when the fan-out began, and the dispatcher may have sent it already - and gets none that was not.
    Once done, running it again queues nothing: those it concerned then have it (a company that joins later sees
    the alert on its feed).
    """
    if await fanned_out(services, reference, marker):
        return 0
    wanted = list({m.mail_id: m for m in mails}.values())  # once per recipient, in the order given
    pending = await _not_queued(services, reference, wanted)
    queued = start = 0
    while start < len(pending):
        chunk = pending[start : start + FAN_OUT_CHUNK]
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
            await services.store.append(reference, event, chunk)
        except AlreadyQueued:
            # Another run of this fan-out (the same alert posted twice at once, the timer) queued some of the chunk
            # first, and the transaction wrote nothing: read again and queue the rest. Each refusal leaves fewer
            # missing, so this ends; a refusal with none of them written is no such race, and is raised.
            rest = await _not_queued(services, reference, pending[start:])
            if len(rest) == len(pending) - start:
                raise
            pending, start = rest, 0
            continue
        queued += len(chunk)
        start += len(chunk)
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


async def _not_queued(services: Services, reference: str, mails: Sequence[OutgoingMail]) -> list[OutgoingMail]:
    """The mails the case does not have yet (by identity: purpose and recipient), in their order."""
    queued = {record.mail.mail_id for record in await services.store.mails(reference)}
    return [m for m in mails if m.mail_id not in queued]


async def fanned_out(services: Services, reference: str, marker: str) -> bool:
    """Whether the fan-out with this marker finished (else a timer runs it again, which queues only what is missing)."""
    events = await services.store.events(reference)
    return any(e.kind == "fanned_out_all" and e.data.get("marker") == marker for e in events)
