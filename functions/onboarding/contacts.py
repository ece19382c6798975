"""Registry maintenance: a company changes its contacts, and the change takes effect only when an existing contact
(the signatory, else a business contact) confirms it through a signed link - so that no one can redirect a
company's notices by filling in a form. The request is a case of process A (kind `contact_update`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import azure.functions as func

from ..core.cases import NO_PROOF, AddressProof
from ..core.forms import Refusal, SubmissionRefused, WebForm
from ..core.model import Case, CaseEvent, Channel, Process
from ..core.retention import is_erased
from ..core.services import Services
from ..core.signing import sign, verify
from ..core.store import ConcurrentUpdate, StorageUnavailable
from ..web.http import html_response, requested_language
from .entry import CONFIRM_DAYS, CONFIRM_PURPOSE, confirmers, merged, registration_page
from .models import ContactUpdate, contact_rows

PURPOSE = "contact-update"


async def request_update(
    services: Services, update: ContactUpdate, channel: Channel, masked: int = 0, *, proof: AddressProof = NO_PROOF
) -> Case:
    organisation = await services.registry_store.get_organisation(update.organisation_number)
    if organisation is None:
        raise SubmissionRefused(
            Refusal.UNKNOWN,
            "Virksomheten er ikke registrert. Meld den inn først.",
            "The company is not registered. Register it first.",
            errors={"organisation_number": "Ukjent virksomhet." if update.language == "nb" else "Unknown company."},
        )
    now = services.clock.now()
    contacts = [c.model_dump() for c in update.contacts]
    case = Case(
        process=Process.ONBOARDING,
        kind="contact_update",
        status="awaiting_confirmation",
        organisation_number=organisation.organisation_number,
        submitter_name=update.name,
        submitter_email=update.email,
        submitter_verified=organisation.contact(update.email) is not None,
        title=f"Nye kontaktpersoner: {organisation.legal_name}",
        language=update.language,
        created_at=now,
        updated_at=now,
        details={"contacts": contacts, "legal_name": organisation.legal_name},
    )
    event = CaseEvent(
        at=now,
        actor=update.email,
        channel=channel,
        kind="received",
        public=True,
        summary=f"{update.email} asked to change the contacts; waiting for an existing contact to confirm",
    )

    def mails(numbered: Case) -> list[Any]:
        # Neutral, like a registration's confirmation: the existing contacts have not asked for anything, so the
        # mail carries the registry's name of the company and the link, nothing the requester typed (that is on
        # the page behind the link).
        token = sign(
            services.settings.effective_signing_key,
            PURPOSE,
            {"r": numbered.reference},
            now + timedelta(days=CONFIRM_DAYS),
        )
        link = services.link(f"registry/contacts/confirm?k={token}")
        return [
            services.compose(
                reference=numbered.reference,
                purpose="confirm-contacts",
                to=person.email,
                template="contact_update_confirm",
                language=person.language,
                legal_name=organisation.legal_name,
                organisation_number=organisation.organisation_number,
                confirm_link=link,
                days=CONFIRM_DAYS,
            )
            for person in confirmers(organisation)
        ]

    return await services.store.create_case(case, event, mails, markers=proof.markers)


CONTACTS_FORM = WebForm(
    template="contacts",
    route="registry/contacts",
    model=ContactUpdate,
    submit=request_update,
    from_browser=contact_rows,
)


async def confirm_page(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """GET shows the new contacts and a button (a link preview changes nothing); POST applies them. The same page
    serves an existing contact's confirmation of a new registration for their company (see entry.py)."""
    language = requested_language(req)
    token = req.params.get("k", "")
    registration = verify(services.settings.verification_keys, CONFIRM_PURPOSE, token, services.clock.now())
    if registration is not None:
        return await registration_page(req, services, token, registration, language)
    payload = verify(services.settings.verification_keys, PURPOSE, token, services.clock.now())
    try:
        stored = await services.store.load(str(payload["r"])) if payload else None
        # An erased request (the sweep may run before its link expires) holds "[slettet]" for every contact.
        if stored is None or stored.case.kind != "contact_update" or is_erased(stored.case):
            return _page(services, language, token, "invalid", None, 400)
        if stored.case.status != "awaiting_confirmation":
            return _page(services, language, token, "already", stored.case)
        if req.method == "GET":
            return _page(services, language, token, None, stored.case)
        case = stored.case
        now = services.clock.now()
        changed = case.model_copy(update={"status": "closed", "updated_at": now})
        event = CaseEvent(
            at=now, actor="link", channel=Channel.FORM, kind="contacts_confirmed", public=True, summary="Confirmed"
        )
        try:
            await services.store.transition(stored, changed, event)
        except ConcurrentUpdate:
            return _page(services, language, token, "already", case)
        contacts = merged(case.details["contacts"])
        await services.registry_store.update_organisation(
            case.organisation_number, lambda o: o.model_copy(update={"contacts": contacts})
        )
        services.registry_cache.invalidate()
    except StorageUnavailable:
        return _page(services, language, token, "unavailable", None, 503)
    return _page(services, language, token, "confirmed", changed)


def _page(
    services: Services, language: str, token: str, outcome: str | None, case: Case | None, status: int = 200
) -> func.HttpResponse:
    body = services.renderer.page("contacts_confirm", language=language, token=token, outcome=outcome, case=case)
    return html_response(body, status, {"Cache-Control": "no-store"})
