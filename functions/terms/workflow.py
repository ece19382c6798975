"""Terms (vilkår), part of process E: Bits publishes a version, every connected company must accept it.

Only an admin publishes (the trigger checks the app role; by email, a Bits sender), and the publisher is recorded on
the case and its first event. A version is numbered (2.0, 2.1.3), takes effect after today, and its number is used
once; before anything is sent the admin can preview who gets what (`preview_terms`), and after it the publisher gets
a receipt, queued in the same write as the version.

A version is a case (kind `terms`) whose events record who was told and who accepted. Each connected company's
signatory and business contacts get the version with a signed link of their own; signatories can also reply
AKSEPTERT (their token is bound to them, and they must be the company's signatory in the registry). What a company
has accepted is part of its record in the registry (`terms_accepted`), so the acceptance table, the onboarding
package and the reminders read it from there. Each acceptance is written once (a marker per company and
version); a reminder goes, once, to the companies that have not accepted as the effective date nears.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ..core.cases import submitted
from ..core.commands import Change, Command, Decision, Reply
from ..core.forms import Refusal, SubmissionRefused
from ..core.mail import Letter, OutgoingMail
from ..core.model import Case, CaseEvent, Channel, Contact, DecisionToken, Organisation, Process, TermsAcceptance
from ..core.registry import Registry
from ..core.rendering import OSLO
from ..core.services import Services
from ..core.signing import sign, verify
from ..core.store import AlreadyProcessed
from ..core.tokens import issue, reply_address
from .models import MESSAGES, TermsVersion, version_key

ACCEPT = "terms.accept"
ACCEPTED = Command("accepted", ("AKSEPTERT", "AKSEPTERER", "ACCEPTED", "ACCEPT"))
LINK_PURPOSE = "terms-accept"


def connected(registry: Registry) -> list[Organisation]:
    """The companies the terms bind: connected to test or production."""
    return sorted((o for o in registry.organisations.values() if o.environments), key=lambda o: o.organisation_number)


def accept_link(services: Services, case: Case, organisation_number: str, person: str) -> str:
    expires = datetime.fromisoformat(case.details["effective_date"]).replace(tzinfo=OSLO) + timedelta(days=365)
    token = sign(
        services.settings.effective_signing_key,
        LINK_PURPOSE,
        {"r": case.reference, "o": organisation_number, "p": person.casefold()},
        expires,
    )
    return services.link(f"terms-accept?k={token}")


def read_accept_link(services: Services, token: str) -> dict[str, Any] | None:
    return verify(services.settings.verification_keys, LINK_PURPOSE, token, services.clock.now())


@dataclass(frozen=True)
class Publisher:
    """Who publishes a version: the signed-in admin, or the Bits sender of a VILKÅR email. Gets the receipt."""

    email: str
    name: str
    language: str = "nb"
    in_reply_to: str | None = None  # the VILKÅR email, so that the receipt threads under it
    object_id: str = ""  # the signed-in admin's Entra object id, recorded beside the email (which can change)


@dataclass(frozen=True)
class Recipients:
    """One connected company and the people the version goes to: its signatories and business contacts."""

    organisation: Organisation
    people: list[Contact]


def recipients(registry: Registry) -> list[Recipients]:
    """Who is told of a new version, company by company (the same list the preview shows and the receipt counts)."""
    return [Recipients(o, people) for o in connected(registry) if (people := readers(o))]


def readers(organisation: Organisation) -> list[Contact]:
    """A company's people who must read a version: its signatories (who accept) and business contacts."""
    return [c for c in organisation.contacts if c.has_role("signatory") or c.has_role("business")]


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def recipients_digest(told: list[Recipients]) -> str:
    return digest(sorted((r.organisation.organisation_number, c.email.casefold()) for r in told for c in r.people))


async def publication_digests(services: Services, terms: TermsVersion) -> tuple[str, str]:
    """What a preview is bound to: the digest of the content and of the people it would go to now."""
    return digest(terms.content()), recipients_digest(recipients(await services.registry()))


@dataclass(frozen=True)
class SampleMail:
    """The mail one person would get (in the language they read), shown before anything is sent."""

    language: str
    company: str
    person: str
    letter: Letter


@dataclass(frozen=True)
class TermsPreview:
    """What publishing would send, computed without storing or mailing anything."""

    terms: TermsVersion
    companies: list[Recipients]
    samples: list[SampleMail]  # one per language the recipients read
    content_sha256: str
    recipients_sha256: str

    @property
    def recipient_count(self) -> int:
        return sum(len(r.people) for r in self.companies)


async def published_version(services: Services, version: str) -> Case | None:
    """The published case of this version (2 and 2.0 are one version), if there is one."""
    wanted = version_key(version)
    for case in await services.store.cases(Process.CHANGE_REQUEST, "published"):
        if case.kind == "terms" and version_key(str(case.details.get("version", ""))) == wanted:
            return case
    return None


def _already_published(existing: Case, language: str) -> SubmissionRefused:
    version, reference = existing.details["version"], existing.reference
    nb = f"Versjon {version} er allerede publisert ({reference}). Velg et nytt versjonsnummer."
    en = f"Version {version} has already been published ({reference}). Choose a new version number."
    return SubmissionRefused(
        Refusal.CONFLICT, nb, en, errors={"version": en if language == "en" else nb}, reference=reference
    )


def _not_ahead(terms: TermsVersion) -> SubmissionRefused:
    nb, en = MESSAGES["terms_not_ahead"]
    return SubmissionRefused(Refusal.CONFLICT, nb, en, errors={"effective_date": en if terms.language == "en" else nb})


def _same_content(case: Case, terms: TermsVersion) -> bool:
    return case.details.get("content_sha256") == digest(terms.content())


async def check_publishable(services: Services, terms: TermsVersion) -> Case | None:
    """Refuse (SubmissionRefused) a version whose date is not ahead, or whose number another publication has; the
    case of the very same content published before (a retry), else None."""
    if terms.effective_date <= services.clock.now().astimezone(OSLO).date():
        raise _not_ahead(terms)
    existing = await published_version(services, terms.version)
    if existing is not None and not _same_content(existing, terms):
        raise _already_published(existing, terms.language)
    return existing


def _draft(services: Services, terms: TermsVersion, publisher: Publisher, registry: Registry, **details: Any) -> Case:
    now = services.clock.now()
    return Case(
        process=Process.CHANGE_REQUEST,
        kind="terms",
        status="published",
        organisation_number=registry.bits.organisation_number if registry.bits else "916960190",
        submitter_name=publisher.name,
        submitter_email=publisher.email,
        submitter_verified=True,
        title=f"{terms.title} (versjon {terms.version})",
        language=terms.language,
        created_at=now,
        updated_at=now,
        details={
            "version": terms.version,
            "effective_date": terms.effective_date.isoformat(),
            "document_url": terms.document_url,
            **details,
        },
    )


async def preview_terms(services: Services, terms: TermsVersion) -> TermsPreview:
    """Every company and person a publication would tell, and the mail one of them would get in each language the
    recipients read. Stores nothing, sends nothing; refuses what `publish_terms` would, and a version already
    published even with this very content (publishing it again would tell no one anything new)."""
    existing = await check_publishable(services, terms)
    if existing is not None:
        raise _already_published(existing, terms.language)
    registry = await services.registry()
    told = recipients(registry)
    year = services.clock.now().astimezone(OSLO).year
    placeholder = f"{services.settings.reference_prefix}-{Process.CHANGE_REQUEST.value}-{year}-NNNN"
    draft = _draft(services, terms, Publisher("", ""), registry).model_copy(update={"reference": placeholder})
    samples: list[SampleMail] = []
    for language in ("nb", "en"):
        audience = [(r.organisation, c) for r in told for c in r.people if c.language == language]
        # A signatory's mail shows everything (the reply command too); else any reader's.
        chosen = next(((o, c) for o, c in audience if c.has_role("signatory")), audience[0] if audience else None)
        if chosen is None:
            continue
        organisation, person = chosen
        letter = services.renderer.letter(
            "terms_to_company",
            language,
            placeholder,
            case=draft,
            organisation_name=organisation.legal_name,
            summary=terms.summary,
            reminder=False,
            accept_link=services.link("terms-accept?k=…"),
            replies_decide=person.has_role("signatory"),
        )
        samples.append(SampleMail(language, organisation.legal_name, person.name, letter))
    return TermsPreview(terms, told, samples, digest(terms.content()), recipients_digest(told))


async def publish_terms(
    services: Services,
    terms: TermsVersion,
    channel: Channel,
    publisher: Publisher,
    masked: int = 0,
    *,
    document_sha256: str | None = None,
) -> Case:
    """Store the version and tell every connected company; the publisher gets a receipt, queued in the same write as
    the version. The very same version again is the same case (and finishes telling the companies an interrupted
    run did not reach); another content under a version number already published is refused."""
    existing = await check_publishable(services, terms)
    registry = await services.registry()
    told = recipients(registry)
    if existing is None:
        case = _draft(
            services,
            terms,
            publisher,
            registry,
            document_sha256=document_sha256,
            content_sha256=digest(terms.content()),
            published_by={"email": publisher.email, "name": publisher.name},
            published_by_id=publisher.object_id,
        )
        event = CaseEvent(
            at=case.created_at,
            actor=publisher.email,
            channel=channel,
            kind="received",
            public=True,
            summary=f"Terms version {terms.version} published by {publisher.name}, "
            f"effective {terms.effective_date.isoformat()}",
            data={
                "summary": terms.summary,
                "published_by": {"email": publisher.email, "name": publisher.name},
                "published_by_id": publisher.object_id,
                "identity_numbers_removed": masked,
            },
        )

        def receipt(numbered: Case) -> list[OutgoingMail]:
            return [
                services.compose(
                    reference=numbered.reference,
                    purpose="terms-receipt",
                    to=publisher.email,
                    template="terms_published_receipt",
                    language=publisher.language,
                    in_reply_to=publisher.in_reply_to,
                    case=numbered,
                    companies=[{"legal_name": r.organisation.legal_name, "recipients": len(r.people)} for r in told],
                    recipient_count=sum(len(r.people) for r in told),
                    acceptances_link=services.link(f"terms/{numbered.reference}"),
                )
            ]

        try:
            existing = await services.store.create_case(
                case, event, receipt, markers=[f"terms-{version_key(terms.version)}"]
            )
        except AlreadyProcessed as done:  # published at the same moment by someone else
            loaded = await services.store.load(done.reference)
            assert loaded is not None
            if not _same_content(loaded.case, terms):
                raise _already_published(loaded.case, terms.language) from None
            existing = loaded.case
    for company in told:
        await _tell(services, existing, company.organisation, terms.summary, reminder=False, actor=publisher.email)
    return existing


async def _tell(
    services: Services, case: Case, organisation: Organisation, summary: str, *, reminder: bool, actor: str = "terms"
) -> bool:
    """The version (or the reminder) to one company's signatory and business contacts, in one write with a marker."""
    people = readers(organisation)
    tokens: list[DecisionToken] = []
    mails: list[OutgoingMail] = []
    stage = "reminder" if reminder else "published"
    for person in people:
        token = (
            issue(
                services,
                person.email,
                ACCEPT,
                single_use=False,
                days=services.settings.long_token_days,
                about=organisation.organisation_number,  # a reply accepts for this company only
            )
            if person.has_role("signatory")
            else None
        )
        if token:
            tokens.append(token)
        mails.append(
            services.compose(
                reference=case.reference,
                purpose=f"terms-{stage}-{organisation.organisation_number}",
                to=person.email,
                template="terms_to_company",
                language=person.language,
                reply_to=reply_address(services, token.token) if token else None,
                token=token.token if token else None,
                replies_decide=token is not None,
                case=case,
                organisation_name=organisation.legal_name,
                summary=summary,
                reminder=reminder,
                accept_link=accept_link(services, case, organisation.organisation_number, person.email),
            )
        )
    event = CaseEvent(
        at=services.clock.now(),
        actor=actor,
        channel=Channel.TIMER if reminder else Channel.API,
        kind=f"terms_{stage}_sent",
        public=False,
        summary=f"{'Reminder' if reminder else 'Terms'} sent to {organisation.legal_name}",
        data={"organisation_number": organisation.organisation_number, "recipients": [m.to for m in mails]},
    )
    marker = f"terms-{stage}-{case.reference}-{organisation.organisation_number}"
    try:
        await services.store.append(case.reference, event, mails, markers=[marker], tokens=tokens)
    except AlreadyProcessed:
        return False  # told before
    return True


async def accept(services: Services, case: Case, organisation_number: str, by: str, channel: str) -> str:
    """Record that the company accepted this version: "accepted", or "already" when it had."""
    version = str(case.details["version"])
    now = services.clock.now()
    event = CaseEvent(
        at=now,
        actor=by,
        channel=Channel.EMAIL if channel == "email" else Channel.FORM,
        kind="terms_accepted",
        public=False,
        summary=f"{organisation_number} accepted version {version} ({channel})",
        data={"organisation_number": organisation_number, "by": by, "channel": channel},
    )
    outcome = "accepted"
    try:
        await services.store.append(case.reference, event, markers=[f"accepted-{case.reference}-{organisation_number}"])
    except AlreadyProcessed:
        outcome = "already"

    effective = date.fromisoformat(str(case.details["effective_date"]))

    def record(organisation: Organisation) -> Organisation:
        current = organisation.terms_accepted
        if current and current.version == version:
            return organisation  # recorded before (the event and the registry are both written once)
        if current and current.effective_date and current.effective_date > effective:
            return organisation  # an old version's link, clicked after a newer version was accepted
        acceptance = TermsAcceptance(
            version=version, accepted_by=by, accepted_at=now, channel=channel, effective_date=effective
        )
        return organisation.model_copy(update={"terms_accepted": acceptance})

    # Also after "already": a run that stopped between the event and the registry finishes here.
    await services.registry_store.update_organisation(organisation_number, record)
    services.registry_cache.invalidate()
    return outcome


async def accept_by_reply(services: Services, stored: Any, reply: Reply, registry: Registry) -> Change:
    case = stored.case.model_copy(update={"updated_at": services.clock.now()})
    companies = [
        o.organisation_number
        for o in registry.organisations_of_contact(reply.sender)
        if (contact := o.contact(reply.sender)) is not None
        and contact.has_role("signatory")
        and (reply.about is None or reply.about == o.organisation_number)  # the company the email was about
    ]
    event = CaseEvent(
        at=services.clock.now(),
        actor=reply.sender,
        channel=Channel.EMAIL,
        kind="note" if not companies else "acceptance_reply",
        public=False,
        summary="AKSEPTERT from someone who is no company's signatory"
        if not companies
        else f"AKSEPTERT for {', '.join(companies)}",
    )

    async def record() -> None:
        for number in companies:
            await accept(services, stored.case, number, reply.sender, "email")

    return Change(case, event, after=record if companies else None)


ACCEPT_DECISION = Decision(name=ACCEPT, commands=(ACCEPTED,), states=frozenset({"published"}), handle=accept_by_reply)


async def acceptance_table(services: Services, case: Case) -> list[dict[str, Any]]:
    """Every connected company and whether (by whom, when) it accepted this version, from the registry itself."""
    registry = await services.registry_store.load_registry()
    version = case.details["version"]
    rows = []
    for organisation in connected(registry):
        accepted = organisation.terms_accepted
        current = accepted is not None and accepted.version == version
        rows.append(
            {
                "organisation_number": organisation.organisation_number,
                "legal_name": organisation.legal_name,
                "accepted": current,
                "accepted_by": accepted.accepted_by if current and accepted else None,
                "accepted_at": accepted.accepted_at.isoformat() if current and accepted else None,
                "channel": accepted.channel if current and accepted else None,
                "version_accepted": accepted.version if accepted else None,
            }
        )
    return rows


async def remind_terms(services: Services) -> int:
    """As a version's effective date nears, remind once the companies that have not accepted it."""
    today = services.clock.now().astimezone(OSLO).date()
    lead = timedelta(days=services.settings.terms_reminder_days)
    reminded = 0
    for case in await services.store.cases(Process.CHANGE_REQUEST, "published"):
        if case.kind != "terms":
            continue
        effective = datetime.fromisoformat(case.details["effective_date"]).date()
        if not effective - lead <= today <= effective:
            continue
        registry = await services.registry_store.load_registry()  # fresh: an acceptance a minute ago counts
        summary = str((await submitted(services, case)).get("summary", ""))
        for organisation in connected(registry):
            if organisation.terms_accepted and organisation.terms_accepted.version == case.details["version"]:
                continue
            reminded += await _tell(services, case, organisation, summary, reminder=True)
    return reminded
