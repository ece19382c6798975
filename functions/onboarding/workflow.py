"""Process A, onboarding a data consumer: registration → accepted → agreement signed → test access → production
requested → in production, or rejected / withdrawn from anywhere, and offboarded at the end of the road.

Every step is a reply to one of our emails, checked against the state machine below: Bits (GODKJENT, AVSLÅTT,
SPØRSMÅL, SIGNERT, AVSLUTT), NAV and Altinn (TILGANG GITT), the company (TRUKKET, and the signatory's SIGNERT,
which Bits confirms). A step that does not fit where the onboarding is gets a clear answer (where it is and what
comes next) and changes nothing. The registry follows each step once the registration is vouched for (entry.py):
a new company is entered when Bits accepts it; a company the registry knows waits in `awaiting_contact_confirmation`
until one of its existing contacts confirms (then it is `registered` with the new contacts) or Bits accepts. It gets
`test` when NAV and Altinn have given test access and `production` when NAV has opened it - so alerts reach it
exactly from then on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from ..core.cases import NO_PROOF, AddressProof, CaseIntake, Submission, open_case, tell_submitter
from ..core.commands import ANSWER, Change, Command, Decision, Reply, Step, ask_by_reply
from ..core.forms import Refusal, SubmissionPending, SubmissionRefused, WebForm
from ..core.glossary import ONBOARDING_STEPS, status_words
from ..core.mail import OutgoingMail
from ..core.model import Case, CaseEvent, Channel, Organisation, Process, TermsAcceptance
from ..core.office_hours import is_working_day
from ..core.registry import Registry
from ..core.rendering import OSLO
from ..core.services import Services
from ..core.signing import sign, verify
from ..core.store import AlreadyProcessed, ConcurrentUpdate, StoredCase
from .entry import (
    AWAITING_CONTACT,
    REGISTRY_STATE,
    apply_registration,
    belongs_in_registry,
    confirmation_mails,
    confirmers_to_ask,
    held_by_another,
)
from .models import ProductionRequest, Registration, production_from_browser, registration_from_browser

log = logging.getLogger(__name__)

BITS = "onboarding.bits"
PRODUCTION_PURPOSE = "production-request"
SOURCE_TEST = "onboarding.source.test"  # NAV's and Altinn's test-access tokens act only on test access
SOURCE_PRODUCTION = "onboarding.source.production"  # NAV's production token only on production
COMPANY = "onboarding.company"

# Where GODKJENT and SIGNERT apply (the handlers refuse them elsewhere): what an unclear reply offers in each state.
APPROVE = Command(
    "approve",
    ("GODKJENT", "APPROVE", "APPROVED"),
    states=frozenset({"registered", AWAITING_CONTACT, "production_requested"}),
)
REJECT = Command("reject", ("AVSLÅTT", "REJECT", "REJECTED"), refusal=True)
ASK = Command("ask", ("SPØRSMÅL", "ASK"), ordinary_words=True)
SIGNED = Command("signed", ("SIGNERT", "SIGNED"), states=frozenset({"accepted"}))
OFFBOARD = Command("offboard", ("AVSLUTT", "OFFBOARD"), refusal=True)
GRANTED = Command("granted", ("TILGANG GITT", "ACCESS GRANTED"))
WITHDRAW = Command("withdraw", ("TRUKKET", "WITHDRAWN", "WITHDRAW"), refusal=True)

STEPS = ["registered", "accepted", "agreement_signed", "test_access", "production_requested", "in_production"]
OPEN = {AWAITING_CONTACT, *STEPS[:-1]}
CLOSED = {"rejected", "withdrawn", "offboarded"}
TEST_SOURCES = ("NAV", "ALTINN")  # who gives test access; NAV alone opens production

REGISTRATIONS = CaseIntake(
    name="onboarding-registration",
    process=Process.ONBOARDING,
    acknowledgement_template="onboarding_received",
    bits_template="onboarding_to_bits",
    bits_decision=BITS,
    submitter_decision=COMPANY,
    hold_unverified=False,  # a new company is in no registry yet; Bits verifies it before accepting
    initial_status="registered",
    long_tokens=True,  # Bits offboards a company years later by replying to this notice
)
# A registration for a company the registry knows: it waits for one of the company's contacts, or for Bits.
KNOWN_REGISTRATIONS = dataclasses.replace(
    REGISTRATIONS, name="onboarding-registration-known", initial_status=AWAITING_CONTACT
)
# A company that is not registered yet is unknown by definition: its enquiry by email goes on at once, unverified.
EMAILED_REGISTRATIONS = CaseIntake(
    "email-A", Process.ONBOARDING, "onboarding_email_received", "case_to_bits", hold_unverified=False, email_route="A"
)


async def register(
    services: Services, registration: Registration, channel: Channel, masked: int = 0, *, proof: AddressProof = NO_PROOF
) -> Case:
    """Open the onboarding. Nothing is written to the registry here: a company it does not know is entered when Bits
    accepts the registration; for one it knows, the entry (contacts included) changes only when one of the
    company's existing contacts confirms through the link mailed to them now, or when Bits accepts."""
    number = registration.organisation_number
    existing = await services.registry_store.get_organisation(number)
    if existing is not None and existing.onboarding and existing.status in OPEN:
        raise SubmissionRefused(
            Refusal.CONFLICT,
            f"Det finnes allerede en åpen innmelding for {number}: {existing.onboarding}. Svar på e-posten i den "
            "saken, eller kontakt Bits.",
            f"There is already an open registration for {number}: {existing.onboarding}. Reply to the email of "
            "that case, or contact Bits.",
            reference=existing.onboarding,
        )
    if existing is not None and existing.environments:
        raise SubmissionRefused(
            Refusal.CONFLICT,
            f"{existing.legal_name} er allerede tilknyttet ({', '.join(existing.environments)}). Kontakt Bits for "
            "endringer.",
            f"{existing.legal_name} is already connected ({', '.join(existing.environments)}). Contact Bits for "
            "changes.",
        )
    # One waiting confirmation per company; each contact asked counts against their rate limit (entry.py).
    asked, withheld = await confirmers_to_ask(services, existing) if existing is not None else ([], [])
    submitter = next(c for c in registration.contacts if c.role == "business")
    submission = Submission(
        kind="registration",
        organisation_number=number,
        name=submitter.name,
        email=submitter.email,
        title=f"Innmelding: {registration.legal_name}",
        language=registration.language,
        details={
            "legal_name": registration.legal_name,
            "services": registration.services,
            "supplier_organisation_number": registration.supplier_organisation_number,
            "supplier_name": registration.supplier_name,
            "finans_norge_member": registration.finans_norge_member,
            "desired_go_live": registration.desired_go_live.isoformat(),
            "contacts": [c.model_dump() for c in registration.contacts],
            # For Bits' notice: what the registry holds now, and who was asked to confirm (registry data only).
            "registry_status": existing.status if existing else None,
            "confirmation_sent_to": [c.email for c in asked],
            **({"confirmation_withheld_for": [c.email for c in withheld]} if withheld else {}),
        },
        text={"comments": registration.comments or ""},
        identity_numbers_removed=masked,
        email_proven=proof.proves(submitter.email),
        mail_submitter=proof.may_mail,
        filed_by=proof.filed_by,
    )
    intake = KNOWN_REGISTRATIONS if existing is not None else REGISTRATIONS
    ask = partial(confirmation_mails, services, existing, people=asked) if existing is not None else None
    # The same registration sent twice (a double click) is one case. Anyone else's registration for the number is a
    # case of its own: a registration that nobody vouched for blocks no one (no squatting); the first one vouched
    # for takes the entry, and the others are then refused.
    digest = hashlib.sha256(registration.model_dump_json().encode()).hexdigest()[:20]
    marker = f"registration-{number}-{digest}"
    for _ in range(20):
        try:
            # The submission's own markers first: the very same submission again is answered as the first time.
            markers = [*proof.markers, marker]
            return await open_case(services, intake, submission, channel, markers=markers, more_mails=ask)
        except AlreadyProcessed as done:
            if done.marker in proof.markers:
                raise
            earlier = await services.store.load(done.reference)
            if earlier is None or earlier.case.status not in CLOSED:
                raise SubmissionRefused(
                    Refusal.CONFLICT,
                    f"Det finnes allerede en åpen innmelding for {number}: {done.reference}.",
                    f"There is already an open registration for {number}: {done.reference}.",
                    reference=done.reference,
                ) from None
            marker = f"{marker}-{done.reference}"  # the same registration again after that one closed: a new case
    raise SubmissionRefused(
        Refusal.CONFLICT,
        f"Innmeldingen for {number} er sendt mange ganger. Kontakt Bits.",
        f"The registration for {number} has been sent many times. Contact Bits.",
    )


REGISTRATION_FORM = WebForm(
    template="registration",
    route="onboarding/registration",
    model=Registration,
    submit=register,
    from_browser=registration_from_browser,
    intake=REGISTRATIONS,
    example={
        "organisation_number": "310000078",
        "legal_name": "Ny Forsikring ASA",
        "contacts": [
            {"role": "business", "name": "Berit Fag", "email": "fag@nyforsikring.example", "phone": "+47 22 00 00 01"},
            {
                "role": "technical",
                "name": "Tom Tekniker",
                "email": "tek@nyforsikring.example",
                "phone": "+47 22 00 00 02",
            },
            {"role": "security", "name": "Siv Sikker", "email": "sik@nyforsikring.example", "phone": "+47 22 00 00 03"},
            {
                "role": "signatory",
                "name": "Sam Signatar",
                "email": "sign@nyforsikring.example",
                "phone": "+47 22 00 00 04",
            },
        ],
        "services": ["ufore"],
        "finans_norge_member": True,
        # Some months ahead, whenever the example is read: a go-live date in the past is refused.
        "desired_go_live": (date.today() + timedelta(days=120)).isoformat(),
    },
)


# -- shared pieces ---------------------------------------------------------------------------------------------------


def _follows(case: Case, organisation: Organisation) -> Organisation | None:
    """The company's registry entry as this onboarding case says it should be; None when it already is, or when
    the entry belongs to another onboarding (a later round)."""
    if organisation.onboarding != case.reference or case.status not in REGISTRY_STATE:
        return None
    status, environments = REGISTRY_STATE[case.status]
    update: dict[str, Any] = {}
    if organisation.status != status or organisation.environments != environments:
        update = {"status": status, "environments": environments}
        if environments:
            update["services"] = list(case.details.get("services", []))
        if status in CLOSED and organisation.status not in CLOSED:
            update["onboarding_rounds"] = organisation.onboarding_rounds + 1  # a new registration may start
    version = case.details.get("terms_version_signed")
    if version and organisation.terms_accepted is None:
        signatory = next(iter(_contacts(case, "signatory")), {"email": case.submitter_email})
        update["terms_accepted"] = TermsAcceptance(
            version=str(version), accepted_by=signatory["email"], accepted_at=case.updated_at, channel="agreement"
        )
    return organisation.model_copy(update=update) if update else None


async def sync_registry(services: Services, case: Case) -> None:
    """Bring the company's registry entry to where its onboarding is (after each step, and on every timer run, so a
    step whose registry write failed is mended)."""
    await services.registry_store.update_organisation(
        case.organisation_number, lambda organisation: _follows(case, organisation) or organisation
    )
    services.registry_cache.invalidate()


def _sync(services: Services, case: Case) -> Callable[[], Awaitable[None]]:
    return lambda: sync_registry(services, case)


def _enter(services: Services, case: Case) -> Callable[[], Awaitable[None]]:
    """After Bits' acceptance: the registration becomes the company's entry, then follows the case."""

    async def enter() -> None:
        await apply_registration(services, case)
        await sync_registry(services, case)

    return enter


def next_step(case: Case) -> str:
    """What the onboarding waits for, in words for the case page and the refusals."""
    status = case.status
    if status == "production_requested" and case.details.get("production_approved"):
        return "nav_opens_production"
    if status == "agreement_signed":
        return "test_access"
    return {
        AWAITING_CONTACT: "contact_confirms",
        "registered": "bits_accepts",
        "accepted": "agreement_signed",
        "test_access": "production_request",
        "production_requested": "bits_approves_production",
    }.get(status, "none")


def tell(
    services: Services, case: Case, to: str, language: str, purpose: str, update: str, text: str = "", **more: Any
) -> OutgoingMail:
    return tell_submitter(
        services,
        case,
        purpose=purpose,
        template="onboarding_update",
        to=to,
        language=language,
        update=update,
        text=text,
        next_step=next_step(case),
        **more,
    )


def _contacts(case: Case, role: str) -> list[dict[str, Any]]:
    return [c for c in case.details.get("contacts", []) if c["role"] == role]


async def current_terms(services: Services) -> dict[str, str]:
    """The terms version in force for new companies: the latest published (process E), else the configured one."""
    published = [c for c in await services.store.cases(Process.CHANGE_REQUEST, "published") if c.kind == "terms"]
    if published:
        latest = max(published, key=lambda c: (c.details["effective_date"], c.created_at))
        return {"version": str(latest.details["version"]), "url": str(latest.details["document_url"])}
    settings = services.settings
    return {"version": settings.default_terms_version, "url": settings.default_terms_url}


class _Step(Step):
    def __init__(self, services: Services, stored: StoredCase, reply: Reply) -> None:
        super().__init__(services, stored.case, reply)

    def refused(self, registry: Registry, what: str) -> Change:
        """A step that does not fit where the onboarding is: nothing changes, and whoever tried learns why."""
        case = self.case
        mail = tell(
            self.services,
            case,
            self.reply.sender,
            registry.language_of(self.reply.sender),
            f"refused-{self.key}",
            "refused",
            what,
        )
        event = self.event("step_refused", f"{what} refused: the onboarding is {case.status}", False, command=what)
        return Change(case, event, [mail])


# -- Bits ------------------------------------------------------------------------------------------------------------


async def bits_decides(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
    step = _Step(services, stored, reply)
    case, status = step.case, step.case.status
    command = reply.command.name if reply.command else None
    submitter = case.submitter_email
    if reply.command == ANSWER:
        return step.answer()
    if command == "ask" and status in OPEN:
        mail = tell(services, case, submitter, case.language, f"question-{step.key}", "question", step.text)
        return Change(case, step.event("question_to_reporter", "Bits asked the company", True, text=step.text), [mail])
    if command == "reject" and status in OPEN:
        changed = step.moved("rejected", reason=step.text)
        mail = tell(services, changed, submitter, case.language, "rejected", "rejected", step.text)

        return Change(
            changed,
            step.event("rejected", "Bits rejected the onboarding", True),
            [mail],
            after=_sync(services, changed),
        )
    if command == "approve" and status in ("registered", AWAITING_CONTACT):
        # Bits' acceptance vouches for the registration (for a known company, in place of its contacts' link),
        # unless another onboarding has taken the company's entry in the meantime.
        held = held_by_another(await services.registry_store.get_organisation(case.organisation_number), case)
        if held:
            return step.refused(registry, f"GODKJENT ({held})")
        changed = step.moved("accepted")
        terms = await current_terms(services)
        signatories = [c["email"] for c in _contacts(case, "signatory")]
        package, tokens = ask_by_reply(
            services,
            registry,
            changed,
            signatories,
            COMPANY,
            "onboarding_agreement",
            "agreement",
            single_use=False,
            days=services.settings.long_token_days,
            terms=terms,
            agreement_url=services.settings.agreement_url,
            dpa_url=services.settings.dpa_url,
        )
        told = tell(services, changed, submitter, case.language, "accepted", "accepted")

        event = step.event("accepted", "Bits accepted the registration", True)
        return Change(changed, event, [told, *package], tokens, after=_enter(services, changed))
    if command == "signed" and status == "accepted":
        terms = await current_terms(services)
        changed = step.moved("agreement_signed", terms_version_signed=terms["version"], access_granted=[])
        people = [
            c.email
            for key in TEST_SOURCES
            if key in registry.sources
            for c in registry.sources[key].contacts
            if c.has_role("onboarding")
        ]
        orders, tokens = ask_by_reply(
            services,
            registry,
            changed,
            people,
            SOURCE_TEST,
            "onboarding_access_request",
            "test-access",
            single_use=False,
            days=services.settings.long_token_days,
            environment="test",
        )
        told = tell(services, changed, submitter, case.language, "signed", "signed", terms["version"])

        event = step.event("agreement_signed", f"Agreement signed with terms {terms['version']}", True)
        return Change(changed, event, [told, *orders], tokens, after=_sync(services, changed))
    if command == "approve" and status == "production_requested" and not case.details.get("production_approved"):
        changed = step.moved("production_requested", production_approved=step.now.isoformat())
        nav = registry.sources.get("NAV")
        people = [c.email for c in nav.contacts if c.has_role("onboarding")] if nav else []
        orders, tokens = ask_by_reply(
            services,
            registry,
            changed,
            people,
            SOURCE_PRODUCTION,
            "onboarding_access_request",
            "production-access",
            single_use=False,
            days=services.settings.long_token_days,
            environment="production",
        )
        told = tell(services, changed, submitter, case.language, "production_approved", "production_approved")
        event = step.event("production_approved", "Bits approved production; NAV is asked to open it", True)
        return Change(changed, event, [told, *orders], tokens)
    if command == "offboard" and status not in CLOSED:
        changed = step.moved("offboarded")
        mail = tell(services, changed, submitter, case.language, "offboarded", "offboarded", step.text)

        return Change(
            changed,
            step.event("offboarded", "Bits offboarded the company", True),
            [mail],
            after=_sync(services, changed),
        )
    return step.refused(registry, reply.command.words[0] if reply.command else "")


# -- NAV and Altinn --------------------------------------------------------------------------------------------------


async def source_grants(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
    step = _Step(services, stored, reply)
    case = step.case
    source = registry.source_of_contact(reply.sender)
    key = source.key if source else reply.sender
    if reply.command is None:
        return Change(
            case, step.event("message", f"Message from {key}", False, message=step.text), step.to_bits(registry)
        )
    technical = [c["email"] for c in _contacts(case, "technical")]
    if case.status == "agreement_signed":
        granted = sorted({*case.details.get("access_granted", []), key})
        waiting = [s for s in TEST_SOURCES if s in registry.sources and s not in granted]
        if waiting:
            changed = step.moved("agreement_signed", access_granted=granted)
            return Change(changed, step.event("access_granted", f"{key} gave test access", True, source=key))
        changed = step.moved("test_access", access_granted=granted)
        mails = [
            tell(services, changed, person, registry.language_of(person), "test-access", "test_access")
            for person in dict.fromkeys([case.submitter_email, *technical])
        ]

        event = step.event("test_access", "Test access given: connected to test", True, source=key)
        return Change(changed, event, mails, after=_sync(services, changed))
    if case.status == "production_requested" and case.details.get("production_approved") and key == "NAV":
        changed = step.moved("in_production")
        people = dict.fromkeys(
            [case.submitter_email, *technical, *(c.email for c in registry.bits_contacts("support"))]
        )
        mails = [
            tell(services, changed, person, registry.language_of(person), "in-production", "in_production")
            for person in people
        ]

        event = step.event("in_production", "NAV opened production: connected to production", True, source=key)
        return Change(changed, event, mails, after=_sync(services, changed))
    return step.refused(registry, reply.command.words[0])


# -- the company -----------------------------------------------------------------------------------------------------


async def company_acts(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
    step = _Step(services, stored, reply)
    case = step.case
    if reply.command is None:
        event = step.event("message", "Message from the company", True, message=step.text)
        return Change(case, event, step.to_bits(registry))
    if reply.command == WITHDRAW and case.status in OPEN:
        changed = step.moved("withdrawn", reason=step.text)
        bits = [c.email for c in registry.bits_contacts("support")]
        mails = [
            tell(services, changed, person, registry.language_of(person), "withdrawn", "withdrawn", step.text)
            for person in [case.submitter_email, *bits]
        ]

        return Change(
            changed, step.event("withdrawn", "The company withdrew", True), mails, after=_sync(services, changed)
        )
    if reply.command == SIGNED and case.status == "accepted":
        # The signatory's word is recorded; the state moves when Bits, who sees the e-signing service, confirms.
        bits = [c.email for c in registry.bits_contacts("support")]
        mails = [
            tell(services, case, person, registry.language_of(person), f"says-signed-{step.key}", "confirm_signed")
            for person in bits
        ]
        return Change(case, step.event("signatory_signed", "The signatory says the agreement is signed", True), mails)
    return step.refused(registry, reply.command.words[0])


BITS_DECISION = Decision(
    name=BITS,
    commands=(ANSWER, APPROVE, REJECT, ASK, SIGNED, OFFBOARD),
    states=frozenset({*OPEN, "in_production"}),
    handle=bits_decides,
    bits_decides=True,
)
SOURCE_TEST_DECISION = Decision(
    name=SOURCE_TEST,
    commands=(GRANTED,),
    states=frozenset({"agreement_signed"}),
    handle=source_grants,
    accepts_plain_text=True,
)
SOURCE_PRODUCTION_DECISION = Decision(
    name=SOURCE_PRODUCTION,
    commands=(GRANTED,),
    states=frozenset({"production_requested"}),
    handle=source_grants,
    accepts_plain_text=True,
)
COMPANY_DECISION = Decision(
    name=COMPANY, commands=(WITHDRAW, SIGNED), states=frozenset(OPEN), handle=company_acts, accepts_plain_text=True
)


# -- connection to production ----------------------------------------------------------------------------------------


async def _production_case(services: Services, request: ProductionRequest) -> StoredCase:
    """The onboarding the request is for, when the address is a registered technical or business contact of the
    company and the company has test access; otherwise the refusal that says why."""
    number = request.organisation_number
    organisation = await services.registry_store.get_organisation(number)
    contact = organisation.contact(request.email) if organisation else None
    if organisation is None or contact is None or not (contact.has_role("technical") or contact.has_role("business")):
        at_field = (
            "Adressen er ikke registrert som teknisk kontakt eller fagkontakt for virksomheten.",
            "The address is not registered as a technical or business contact of the company.",
        )
        contacts, registration = services.link("registry/contacts"), services.link("onboarding/registration")
        nb = (
            f"{at_field[0]} Bare de kan bestille produksjon. Skal du være kontakt, kan virksomheten endre "
            f"kontaktpersonene her: {contacts}. Er virksomheten ikke meldt inn ennå, melder dere den inn her: "
            f"{registration}"
        )
        en = (
            f"{at_field[1]} Only they can ask for production. If you should be one, the company can change its "
            f"contacts here: {contacts}?lang=en. If the company is not registered yet, register it here: "
            f"{registration}?lang=en"
        )
        errors = {"email": at_field[1] if request.language == "en" else at_field[0]}
        raise SubmissionRefused(Refusal.NOT_ALLOWED, nb, en, errors=errors)
    stored = await services.store.load(organisation.onboarding) if organisation.onboarding else None
    if stored is None or stored.case.status != "test_access":
        nb, en = _not_yet(services, organisation, stored.case if stored else None)
        raise SubmissionRefused(Refusal.CONFLICT, nb, en, reference=stored.case.reference if stored else None)
    return stored


def _not_yet(services: Services, organisation: Organisation, case: Case | None) -> tuple[str, str]:
    """Why the company cannot ask for production now, in words (nb, en): where it stands and what to do next. A
    company with no onboarding case here came from the registry (it was connected before these forms): Bits
    connects it by email."""
    name, mailbox = organisation.legal_name, services.settings.shared_mailbox
    status = case.status if case else organisation.status
    words = status_words(status, "nb").lower(), status_words(status, "en").lower()
    if status == "in_production" or "production" in organisation.environments:
        return (
            f"{name} er allerede koblet til produksjon, så det er ingenting å bestille. Skal noe endres i produksjon "
            f"(redirect-domener, Maskinporten-klient), skriv til Bits på {mailbox}.",
            f"{name} is already connected to production, so there is nothing to ask for. To change something in "
            f"production (redirect domains, Maskinporten client), write to Bits at {mailbox}.",
        )
    if status == "production_requested":
        step = ONBOARDING_STEPS[next_step(case) if case else "bits_approves_production"]
        return (
            f"Påkobling til produksjon er allerede bestilt for {name}. Det som gjenstår nå, er {step[0]}. Du trenger "
            "ikke sende bestillingen på nytt; du får e-post når produksjon er åpnet.",
            f"Production has already been requested for {name}. What remains now is {step[1]}. There is no need to "
            "send the request again; you will get an email when production is open.",
        )
    if case is None:
        return (
            f"{name} står hos Bits som «{words[0]}», men har ingen innmelding her, så påkoblingen kan ikke bestilles "
            f"i dette skjemaet. Send bestillingen på e-post til Bits på {mailbox}, med organisasjonsnummeret "
            f"{organisation.organisation_number} i emnet, så kobler Bits dere til.",
            f'{name} is listed by Bits as "{words[1]}" but has no registration here, so production cannot be '
            f"requested with this form. Email the request to Bits at {mailbox}, with the organisation number "
            f"{organisation.organisation_number} in the subject, and Bits will connect you.",
        )
    step = ONBOARDING_STEPS.get(next_step(case), ONBOARDING_STEPS["none"])
    if status in CLOSED:
        link = services.link("onboarding/registration")
        return (
            f"Innmeldingen av {name} er {words[0]} og ikke lenger åpen, så produksjon kan ikke bestilles. For å koble "
            f"virksomheten til melder dere den inn på nytt: {link}",
            f"The registration of {name} is {words[1]} and no longer open, so production cannot be requested. To "
            f"connect the company, register it again: {link}?lang=en",
        )
    return (
        f"Påkobling til produksjon kan bestilles når {name} har testtilgang. Innmeldingen står nå på «{words[0]}», og "
        f"det som gjenstår nå, er {step[0]}. Du får e-post når testtilgangen er gitt; send dette skjemaet da.",
        f'Production can be requested once {name} has test access. The registration is now at "{words[1]}", and '
        f"what remains now is {step[1]}. You will get an email when test access is given; send this form then.",
    )


async def request_production(
    services: Services, request: ProductionRequest, channel: Channel, masked: int = 0, *, proof: AddressProof = NO_PROOF
) -> Case:
    """A registered technical or business contact asks to connect to production. Knowing a contact's address is
    not enough: the request goes on when that contact opens the signed link we email them.

    Whoever the address is, the answer is the same (202, "if the address may ask, a link is on its way"), so that
    the form tells no one which addresses are a company's contacts or how far its onboarding has come: a contact
    of a company that cannot ask yet learns why by email; an address that is no contact gets nothing. A browser
    that proved the address before (or Bits' staff) is told on the page, in words, where the company stands and
    what to do next: its owner may know."""
    try:
        stored = await _production_case(services, request)
    except SubmissionRefused as refused:
        if proof.proves(request.email):
            raise
        if refused.why is Refusal.CONFLICT and refused.reference:
            await _tell_not_yet(services, request, refused.reference, channel)
        else:
            log.info("production request for %s: not from a technical or business contact", request.organisation_number)
        raise _production_pending(request, services.settings.shared_mailbox) from None
    payload = request.model_dump(mode="json")
    expires = services.clock.now() + timedelta(days=2)
    token = sign(
        services.settings.effective_signing_key, PRODUCTION_PURPOSE, {"r": stored.case.reference, "q": payload}, expires
    )
    key = hashlib.sha256(token.encode()).hexdigest()[:16]
    mail = tell(
        services,
        stored.case,
        request.email,
        request.language,
        f"confirm-production-{key}",
        "confirm_production",
        confirm_link=services.link(f"onboarding/production/confirm?k={token}"),
    )
    event = CaseEvent(
        at=services.clock.now(),
        actor=request.email,
        channel=channel,
        kind="production_confirmation_sent",
        public=False,
        summary=f"Production request from {request.email}: waiting for the confirmation link",
    )
    try:
        # With the submission's markers: sent again, it mails no second link and gets the same answer.
        markers = [*proof.markers, f"production-{key}"]
        await services.store.append(stored.case.reference, event, [mail], markers=markers)
    except AlreadyProcessed as done:
        if proof.key_reused(done):
            raise  # the client's Idempotency-Key went with another request: the web layer refuses it
    raise _production_pending(request, services.settings.shared_mailbox)


def _production_pending(request: ProductionRequest, mailbox: str) -> SubmissionPending:
    """The one answer to every valid production request (no reference: that too would tell who is a contact); it
    still says what comes next either way, so that no one waits for an email that will not come."""
    return SubmissionPending(
        f"Er {request.email} registrert som teknisk kontakt eller fagkontakt for virksomheten, har vi sendt en "
        "e-post dit: en lenke som sender bestillingen til Bits når du åpner og bekrefter den, eller, hvis "
        "virksomheten ikke kan bestille produksjon ennå, hvor innmeldingen står og hva som gjenstår. Kommer det "
        f"ingen e-post i løpet av noen minutter, skriv til Bits på {mailbox} med organisasjonsnummeret "
        f"{request.organisation_number} i emnet.",
        f"If {request.email} is registered as a technical or business contact of the company, we have sent an email "
        "there: a link that sends the request to Bits once you open and confirm it, or, if the company cannot ask "
        "for production yet, where its registration stands and what remains. If no email comes within a few "
        f"minutes, write to Bits at {mailbox} with the organisation number {request.organisation_number} in the "
        "subject.",
    )


async def _tell_not_yet(services: Services, request: ProductionRequest, reference: str, channel: Channel) -> None:
    """A contact asked before the company has test access: they learn by email where the onboarding is (once per
    step: asking again at the same step sends nothing more)."""
    stored = await services.store.load(reference)
    if stored is None:
        return
    case = stored.case
    key = hashlib.sha256(f"{case.status}|{case.updated_at.isoformat()}|{request.email.casefold()}".encode()).hexdigest()
    mail = tell(services, case, request.email, request.language, f"production-not-yet-{key[:16]}", "production_not_yet")
    event = CaseEvent(
        at=services.clock.now(),
        actor=request.email,
        channel=channel,
        kind="production_not_yet",
        public=False,
        summary=f"Production request from {request.email} at {case.status}: told that it cannot be asked for yet",
    )
    with suppress(AlreadyProcessed):
        await services.store.append(case.reference, event, [mail], markers=[f"production-not-yet-{key[:16]}"])


async def order_production(services: Services, token: str) -> tuple[str, Case | None]:
    """The contact's confirmation: "ordered", "already" or "invalid", and the case."""
    payload = verify(services.settings.verification_keys, PRODUCTION_PURPOSE, token, services.clock.now())
    if payload is None:
        return "invalid", None
    request = ProductionRequest.model_validate(payload["q"])
    try:
        stored = await _production_case(services, request)
    except SubmissionRefused:
        loaded = await services.store.load(str(payload["r"]))
        return (
            "already" if loaded and loaded.case.status != "test_access" else "invalid"
        ), loaded.case if loaded else None
    registry = await services.registry()
    now = services.clock.now()
    details = {"production": request.model_dump(mode="json", exclude={"name", "language"})}
    changed = stored.case.model_copy(
        update={"status": "production_requested", "updated_at": now, "details": {**stored.case.details, **details}}
    )
    event = CaseEvent(
        at=now,
        actor=request.email,
        channel=Channel.FORM,
        kind="production_requested",
        public=True,
        summary="The company asked to connect to production",
        data=details["production"],
    )
    bits = [c.email for c in registry.bits_contacts("support")]
    asks, tokens = ask_by_reply(
        services,
        registry,
        changed,
        bits,
        BITS,
        "onboarding_to_bits",
        "production",
        single_use=False,
        days=services.settings.long_token_days,
        stage="production",
        text={},
    )
    receipt = tell(services, changed, request.email, request.language, "production-requested", "production_requested")
    try:
        await services.store.transition(stored, changed, event, [receipt, *asks], tokens=tokens)
    except ConcurrentUpdate:
        return "already", stored.case
    await sync_registry(services, changed)
    return "ordered", changed


PRODUCTION_FORM = WebForm(
    template="production",
    route="onboarding/production",
    model=ProductionRequest,
    submit=request_production,
    from_browser=production_from_browser,
)


# -- reminders -------------------------------------------------------------------------------------------------------


def add_working_days(start: datetime, days: int) -> datetime:
    moment = start.astimezone(OSLO)
    while days > 0:
        moment += timedelta(days=1)
        if is_working_day(moment.date()):
            days -= 1
    return moment


def waiting_on(registry: Registry, case: Case) -> list[str]:
    """Who the onboarding waits for now."""
    step = next_step(case)
    if step in ("bits_accepts", "bits_approves_production", "contact_confirms"):  # Bits may accept in their place
        return [c.email for c in registry.bits_contacts("support")]
    if step == "agreement_signed":
        return [c["email"] for c in _contacts(case, "signatory")]
    if step == "test_access":
        granted = set(case.details.get("access_granted", []))
        return [
            c.email
            for key in TEST_SOURCES
            if key in registry.sources and key not in granted
            for c in registry.sources[key].contacts
            if c.has_role("onboarding")
        ]
    if step == "nav_opens_production":
        nav = registry.sources.get("NAV")
        return [c.email for c in nav.contacts if c.has_role("onboarding")] if nav else []
    return []  # test access: the company chooses when to ask for production


async def remind_onboarding(services: Services) -> int:
    """A step that has waited longer than SSU_ONBOARDING_REMINDER_DAYS working days reminds whoever it waits for;
    after twice as long, Bits. Each reminder once per case and step. Also mends a registry entry that does not
    follow its onboarding (a registry write that failed after a step was stored)."""
    registry = await services.registry()
    now = services.clock.now()
    days = services.settings.onboarding_reminder_days
    queued = 0
    stored_registry = await services.registry_store.load_registry()
    for case in await services.store.cases(Process.ONBOARDING):
        organisation = stored_registry.organisation(case.organisation_number)
        if belongs_in_registry(case) and (organisation is None or organisation.onboarding != case.reference):
            await apply_registration(services, case)  # vouched for, but the entry was not written: mended here
            await sync_registry(services, case)
        elif organisation is not None and _follows(case, organisation) is not None:
            await sync_registry(services, case)  # a step whose registry write failed: mended here
        if case.status not in OPEN:
            continue
        people = waiting_on(registry, case)
        if not people:
            continue  # waiting for no one: the company chooses when to ask for production
        stage_key = f"{case.status}-{case.updated_at.isoformat()}"
        for stage, after, to in (
            ("reminder", days, people),
            ("escalation", 2 * days, [c.email for c in registry.bits_contacts("support")]),
        ):
            if not to or now < add_working_days(case.updated_at, after):
                continue
            mails = [
                tell(services, case, person, registry.language_of(person), f"{stage}-{stage_key}", stage)
                for person in to
            ]
            event = CaseEvent(
                at=now,
                actor="deadlines",
                channel=Channel.TIMER,
                kind=f"onboarding_{stage}",
                public=False,
                summary=f"{stage.capitalize()}: waiting for {next_step(case)} since {case.updated_at.isoformat()}",
            )
            try:
                await services.store.append(
                    case.reference, event, mails, markers=[f"{stage}-{case.reference}-{stage_key}"]
                )
                queued += len(mails)
            except AlreadyProcessed:
                continue
    return queued
