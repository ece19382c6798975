"""Terms (vilkår), part of process E: Bits publishes a version, every connected company must accept it.

A version is a case (kind `terms`) whose events record who was told and who accepted. Each connected company's
signatory and business contacts get the version with a signed link of their own; signatories can also reply
AKSEPTERT (their token is bound to them, and they must be the company's signatory in the registry). What a company
has accepted is part of its record in the registry (`terms_accepted`), so the acceptance table, the onboarding
package and the reminders read it from there. Each acceptance is written once (a marker per company and
version); a reminder goes, once, to the companies that have not accepted as the effective date nears.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from ..core.cases import submitted
from ..core.commands import Change, Command, Decision, Reply
from ..core.mail import OutgoingMail
from ..core.model import Case, CaseEvent, Channel, DecisionToken, Organisation, Process, TermsAcceptance
from ..core.registry import Registry
from ..core.rendering import OSLO
from ..core.services import Services
from ..core.signing import sign, verify
from ..core.store import AlreadyProcessed
from ..core.tokens import issue, reply_address
from .models import TermsVersion

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


async def publish_terms(
    services: Services, terms: TermsVersion, channel: Channel, masked: int = 0, *, document_sha256: str | None = None
) -> Case:
    """Store the version and tell every connected company. The same version again is the same case (and finishes
    telling the companies an interrupted run did not reach)."""
    registry = await services.registry()
    now = services.clock.now()
    case = Case(
        process=Process.CHANGE_REQUEST,
        kind="terms",
        status="published",
        organisation_number=registry.bits.organisation_number if registry.bits else "916960190",
        submitter_name=terms.name,
        submitter_email=terms.email,
        submitter_verified=True,
        title=f"{terms.title} (versjon {terms.version})",
        language=terms.language,
        created_at=now,
        updated_at=now,
        details={
            "version": terms.version,
            "effective_date": terms.effective_date.isoformat(),
            "document_url": terms.document_url,
            "document_sha256": document_sha256,
        },
    )
    event = CaseEvent(
        at=now,
        actor=terms.email,
        channel=channel,
        kind="received",
        public=True,
        summary=f"Terms version {terms.version} published, effective {terms.effective_date.isoformat()}",
        data={"summary": terms.summary},
    )
    try:
        stored = await services.store.create_case(case, event, lambda c: [], markers=[f"terms-{terms.version}"])
    except AlreadyProcessed as done:
        loaded = await services.store.load(done.reference)
        assert loaded is not None
        stored = loaded.case
    for organisation in connected(registry):
        await _tell(services, stored, organisation, terms.summary, reminder=False)
    return stored


async def _tell(services: Services, case: Case, organisation: Organisation, summary: str, *, reminder: bool) -> bool:
    """The version (or the reminder) to one company's signatory and business contacts, in one write with a marker."""
    people = [c for c in organisation.contacts if c.has_role("signatory") or c.has_role("business")]
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
        actor="terms",
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
