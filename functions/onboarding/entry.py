"""The company's registry entry as a registration writes it: nothing before the registration is vouched for - by Bits
(GODKJENT) or, for a company the registry knows, by one of its existing contacts through a signed link.

An anonymous form must not be able to replace a company's entry (its contacts get the alerts, decide contact
changes and count as verified senders), nor claim a number that is not registered yet. So a registration for a
company the registry knows waits (`awaiting_contact_confirmation`) until an existing contact confirms it or Bits
approves it; one for a company it does not know is entered when Bits approves it.

The existing contacts' mailboxes are not a target either: while one registration for a company waits for them (its
links valid), another is refused with that one's reference and mails nobody; and each contact asked counts against
the per-recipient rate limit - over it, the case is stored and Bits' notice names who was not asked.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import azure.functions as func

from ..core.forms import Refusal, SubmissionRefused
from ..core.mail import OutgoingMail
from ..core.model import Case, CaseEvent, Channel, Contact, Organisation, Process
from ..core.rate_limits import WINDOW, RateLimit, recipient_key
from ..core.services import Services
from ..core.signing import sign
from ..core.store import ConcurrentUpdate, StorageUnavailable
from ..web.http import html_response

log = logging.getLogger(__name__)

AWAITING_CONTACT = "awaiting_contact_confirmation"
CONFIRM_PURPOSE = "registration-confirm"  # the signed link's purpose: it opens nothing else
CONFIRM_DAYS = 7
OPEN_STEPS = {"registered", "accepted", "agreement_signed", "test_access", "production_requested"}
# Statuses in which Bits has accepted the registration: the company belongs in the registry as this case says.
VOUCHED = {"accepted", "agreement_signed", "test_access", "production_requested", "in_production"}

# What the registry holds for a company at each step of its onboarding: its status and the environments it is
# connected to (alerts go by these).
REGISTRY_STATE: dict[str, tuple[str, list[str]]] = {
    "registered": ("registered", []),
    "accepted": ("accepted", []),
    "agreement_signed": ("agreement_signed", []),
    "test_access": ("test_access", ["test"]),
    "production_requested": ("production_requested", ["test"]),
    "in_production": ("in_production", ["test", "production"]),
    "rejected": ("rejected", []),
    "withdrawn": ("withdrawn", []),
    "offboarded": ("offboarded", []),
}


def merged(contacts: list[dict[str, Any]]) -> list[Contact]:
    """One registry contact per address, with every role it was given."""
    by_email: dict[str, Contact] = {}
    for c in contacts:
        known = by_email.get(c["email"].casefold())
        if known is None:
            by_email[c["email"].casefold()] = Contact(
                name=c["name"], email=c["email"], roles=[c["role"]], language=c.get("language", "nb"), phone=c["phone"]
            )
        elif c["role"] not in known.roles:
            known.roles.append(c["role"])
    return list(by_email.values())


def confirmers(organisation: Organisation) -> list[Contact]:
    """Who confirms a change to the company's entry: its signatories, else its business contacts, else anyone the
    registry lists for it."""
    return (
        [c for c in organisation.contacts if c.has_role("signatory")]
        or [c for c in organisation.contacts if c.has_role("business")]
        or list(organisation.contacts)
    )


def held_by_another(organisation: Organisation | None, case: Case) -> str | None:
    """Why the entry may not become this registration's: connected already, or another onboarding is open."""
    if organisation is None or organisation.onboarding == case.reference:
        return None
    if organisation.environments:
        return f"connected to {', '.join(organisation.environments)}"
    if organisation.onboarding and organisation.status in OPEN_STEPS:
        return f"onboarding {organisation.onboarding} is open"
    return None


def belongs_in_registry(case: Case) -> bool:
    """Whether the registration has been vouched for, so that the company's entry should be this case's."""
    return case.status in VOUCHED or (case.status == "registered" and bool(case.details.get("confirmed_by")))


def _entry(case: Case, previous: Organisation | None) -> Organisation:
    status, environments = REGISTRY_STATE.get(case.status, ("registered", []))
    return Organisation(
        organisation_number=case.organisation_number,
        legal_name=str(case.details["legal_name"]),
        status=status,
        environments=environments,
        services=list(case.details.get("services", [])) if environments else [],
        contacts=merged(case.details.get("contacts", [])),
        terms_accepted=previous.terms_accepted if previous else None,
        onboarding=case.reference,
        onboarding_rounds=previous.onboarding_rounds if previous else 0,
    )


async def apply_registration(services: Services, case: Case) -> bool:
    """Make the company's entry this registration's (contacts included), once it is vouched for. Nothing is
    written while another onboarding holds the entry; written once (a second call finds it done). Returns whether
    the entry is this case's now."""

    def change(organisation: Organisation) -> Organisation:
        if organisation.onboarding == case.reference or held_by_another(organisation, case):
            return organisation
        return _entry(case, organisation)

    updated = await services.registry_store.update_organisation(case.organisation_number, change)
    if updated is None:
        # Unknown until now. Two approvals of two registrations for one number at the same moment would both land
        # here; Bits approves one company once, so the last write winning is accepted (see docs).
        await services.registry_store.put_organisation(_entry(case, None))
    services.registry_cache.invalidate()
    current = await services.registry_store.get_organisation(case.organisation_number)
    entered = current is not None and current.onboarding == case.reference
    if not entered:
        log.warning("registry: %s was not entered: %s", case.reference, held_by_another(current, case))
    return entered


async def waiting_registration(services: Services, organisation_number: str) -> Case | None:
    """The registration for the company that waits for its existing contacts and whose links still work, if any."""
    now = services.clock.now()
    return next(
        (
            case
            for case in await services.store.cases(Process.ONBOARDING, AWAITING_CONTACT)
            if case.organisation_number == organisation_number and case.created_at + timedelta(days=CONFIRM_DAYS) > now
        ),
        None,
    )


async def confirmers_to_ask(services: Services, organisation: Organisation) -> tuple[list[Contact], list[Contact]]:
    """Before a registration for a company the registry knows is stored: who of its confirmers is mailed the link,
    and who is not because they had their confirmation requests this hour (each counts against the per-recipient
    limit, as any address we write to unasked). Refused - nothing stored, nobody mailed - while another
    registration for the company waits for them: one pending confirmation per company at a time."""
    number = organisation.organisation_number
    waiting = await waiting_registration(services, number)
    if waiting is not None:
        raise SubmissionRefused(
            Refusal.CONFLICT,
            f"Det finnes allerede en innmelding for {number} som venter på bekreftelse fra virksomhetens registrerte "
            f"kontaktpersoner: {waiting.reference}. Ingen ny e-post er sendt. Kontakt Bits hvis den ikke er deres.",
            f"A registration for {number} is already waiting for the company's registered contacts to confirm it: "
            f"{waiting.reference}. No new email was sent. Contact Bits if it is not yours.",
            reference=waiting.reference,
        )
    asked: list[Contact] = []
    withheld: list[Contact] = []
    for person in confirmers(organisation):
        limit = RateLimit(recipient_key(person.email), services.settings.rate_limit_per_recipient)
        over = await services.rate_limits.hit([limit], WINDOW, services.clock.now()) is not None
        (withheld if over else asked).append(person)
    if withheld:
        log.warning("registration: %d confirmation links for %s withheld (rate limit)", len(withheld), number)
    return asked, withheld


def confirmation_mails(
    services: Services, organisation: Organisation, case: Case, people: list[Contact] | None = None
) -> list[OutgoingMail]:
    """The signed link to each of the company's existing contacts who may confirm (or to `people` of them).
    Neutral: the registry's name of the company and the reference, nothing the registrant typed (that is on the
    page behind the link)."""
    expires = services.clock.now() + timedelta(days=CONFIRM_DAYS)
    mails = []
    for person in confirmers(organisation) if people is None else people:
        token = sign(
            services.settings.effective_signing_key,
            CONFIRM_PURPOSE,
            {"r": case.reference, "e": person.email.casefold()},
            expires,
        )
        mails.append(
            services.compose(
                reference=case.reference,
                purpose="confirm-registration",
                to=person.email,
                template="registration_confirm",
                language=person.language,
                legal_name=organisation.legal_name,
                organisation_number=organisation.organisation_number,
                confirm_link=services.link(f"registry/contacts/confirm?k={token}"),
                days=CONFIRM_DAYS,
            )
        )
    return mails


async def registration_page(
    req: func.HttpRequest, services: Services, token: str, payload: dict[str, Any], language: str
) -> func.HttpResponse:
    """An existing contact's link: GET shows the registration and a button (a link preview changes nothing); POST
    confirms it, and the registration is entered in the registry. Only a person who is still among the company's
    confirmers can; a replayed link finds the registration confirmed and changes nothing more."""
    try:
        stored = await services.store.load(str(payload.get("r", "")))
        if stored is None or stored.case.kind != "registration":
            return _page(services, language, token, "invalid", None, 400)
        if stored.case.status != AWAITING_CONTACT:
            return _page(services, language, token, "already", stored.case)  # decided: nothing more to change
        organisation = await services.registry_store.get_organisation(stored.case.organisation_number)
        person = str(payload.get("e", ""))
        if organisation is None or person not in {c.email.casefold() for c in confirmers(organisation)}:
            return _page(services, language, token, "invalid", None, 400)
        if held_by_another(organisation, stored.case):
            return _page(services, language, token, "conflict", stored.case, 409)
        if req.method == "GET":
            return _page(services, language, token, None, stored.case, organisation=organisation)
        now = services.clock.now()
        details = {**stored.case.details, "confirmed_by": person, "confirmed_at": now.isoformat()}
        changed = stored.case.model_copy(update={"status": "registered", "updated_at": now, "details": details})
        event = CaseEvent(
            at=now,
            actor=person,
            channel=Channel.FORM,
            kind="registration_confirmed",
            public=True,
            summary=f"{person}, an existing contact of the company, confirmed the registration",
        )
        try:
            await services.store.transition(stored, changed, event)
        except ConcurrentUpdate:
            return _page(services, language, token, "already", stored.case)
        await apply_registration(services, changed)  # if this fails, the onboarding timer mends it
    except StorageUnavailable:
        return _page(services, language, token, "unavailable", None, 503)
    return _page(services, language, token, "confirmed", changed)


def _page(
    services: Services,
    language: str,
    token: str,
    outcome: str | None,
    case: Case | None,
    status: int = 200,
    organisation: Organisation | None = None,
) -> func.HttpResponse:
    body = services.renderer.page(
        "registration_confirm",
        language=language,
        token=token,
        outcome=outcome,
        case=case,
        organisation=organisation,
    )
    return html_response(body, status, {"Cache-Control": "no-store"})
