"""Bits' registry in the workspace: companies, data sources and Bits' staff in words, and admins' edits of a company.

An edit (add a contact, change a contact's roles, remove a contact, change environments and services) is one of the
forms on the company's page, each with a one-time action id in its CSRF token (web/forms.py) and the version of the
entry it was shown with (a hash of the stored entry): a form from before someone else's change is refused, a form
sent twice applies once. Like the other registry writes (terms, onboarding), the record is written first and the
registry after it: the audit entry (who, when, before → after), the one-time marker and - when the contact list
changes - one mail to each contact the company had before the change are one transaction in the cases table, under
the company's registry trail `SSU-REG-<organisation number>` (core/model.py); then the entry is replaced, guarded by
what it was. A run that stopped between the two is finished when the same form is sent again.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from ..core import glossary
from ..core.fields import EmailAddress, PersonName
from ..core.glossary import Words, long_time, pick
from ..core.model import (
    CaseEvent,
    Channel,
    ConnectedEnvironment,
    Contact,
    Organisation,
    Service,
    registry_reference,
)
from ..core.privacy import mask_fields
from ..core.registry import Registry
from ..core.services import Services
from ..core.store import AlreadyProcessed, ConcurrentUpdate, StorageUnavailable
from ..onboarding.models import ROLES, Phone, Role
from ..web.forms import (
    field_errors,
    form_cookie,
    form_token,
    page_nonce,
)
from ..web.http import html_response, requested_language
from ..web.staff import StaffMember
from .case_view import QUEUE_PATH, case_path
from .forms import FORM_STATUS, FORM_WORDS, read_posted

log = logging.getLogger(__name__)

REGISTRY_PATH = "/api/bits/registry"
TEMPLATE = "registry_contacts_changed"


def company_path(organisation_number: str) -> str:
    return f"{REGISTRY_PATH}/{quote(organisation_number, safe='')}"


def version_of(organisation: Organisation) -> str:
    """The entry's version as a form carries it: any change to the stored entry changes it."""
    return hashlib.sha256(organisation.model_dump_json().encode()).hexdigest()[:24]


# -- the edits ----------------------------------------------------------------------------------------------------


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise PydanticCustomError("repeated", "a value is given twice")
    return values


class NewContact(BaseModel):
    """A contact an admin adds: the rules of the contacts form (core/fields.py types), with every role it holds."""

    model_config = ConfigDict(extra="forbid")

    name: PersonName
    email: EmailAddress
    roles: Annotated[list[Role], Field(min_length=1, max_length=len(ROLES))]
    language: Literal["nb", "en"] = "nb"
    phone: Phone | None = None

    _roles = field_validator("roles")(_unique)


class RolesChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailAddress
    roles: Annotated[list[Role], Field(min_length=1, max_length=len(ROLES))]

    _roles = field_validator("roles")(_unique)


class Removal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailAddress


class ConnectionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    environments: Annotated[list[ConnectedEnvironment], Field(max_length=2)] = []
    services: Annotated[list[Service], Field(max_length=2)] = []

    _values = field_validator("environments", "services")(_unique)


class Refused(Exception):
    """An edit that is not made, by its kind (the words are in _REFUSED)."""

    def __init__(self, kind: str, **words: str) -> None:
        super().__init__(kind)
        self.kind, self.words = kind, words


class _Stale(Exception):
    """The entry changed between reading it and writing it."""


_ACTION_WORDS: dict[str, Words] = {
    "add_contact": ("Kontaktperson lagt til", "Contact added"),
    "change_roles": ("Roller endret", "Roles changed"),
    "remove_contact": ("Kontaktperson fjernet", "Contact removed"),
    "change_connection": ("Miljøer og tjenester endret", "Environments and services changed"),
}
_MODELS: dict[str, type[BaseModel]] = {
    "add_contact": NewContact,
    "change_roles": RolesChange,
    "remove_contact": Removal,
    "change_connection": ConnectionChange,
}
_FIELDS: dict[str, tuple[str, ...]] = {
    "add_contact": ("contacts",),
    "change_roles": ("contacts",),
    "remove_contact": ("contacts",),
    "change_connection": ("environments", "services"),
}
_LISTS = ("roles", "environments", "services")  # fields a browser sends once per ticked box


def parse_edit(action: str, data: dict[str, Any]) -> BaseModel:
    """The form's fields as the action's model (ValidationError when they break its rules)."""
    shaped = {k: v for k, v in data.items() if k not in ("action", "version")}
    for name in _LISTS:
        if name in shaped and not isinstance(shaped[name], list):
            shaped[name] = [shaped[name]]
    if action == "change_connection":
        shaped = {"environments": shaped.pop("environments", []), "services": shaped.pop("services", []), **shaped}
    return _MODELS[action].model_validate(shaped)


def edited(organisation: Organisation, edit: BaseModel) -> Organisation:
    """The entry as the edit makes it; Refused when it cannot be made as asked."""
    contacts = list(organisation.contacts)
    if isinstance(edit, NewContact):
        if organisation.contact(edit.email) is not None:
            raise Refused("already_contact", email=edit.email)
        added = Contact(
            name=edit.name, email=edit.email, roles=list(edit.roles), language=edit.language, phone=edit.phone
        )
        return _checked(organisation, organisation.model_copy(update={"contacts": [*contacts, added]}))
    if isinstance(edit, ConnectionChange):
        update = {"environments": _ordered(edit.environments, ("test", "production"))}
        update["services"] = _ordered(edit.services, ("ufore", "aap"))
        return organisation.model_copy(update=update)
    assert isinstance(edit, RolesChange | Removal)
    known = organisation.contact(edit.email)
    if known is None:
        raise Refused("no_such_contact", email=edit.email)
    if isinstance(edit, Removal):
        kept = [c for c in contacts if c is not known]
    else:
        roles = [r for r in ROLES if r in edit.roles]
        kept = [c.model_copy(update={"roles": roles}) if c is known else c for c in contacts]
    return _checked(organisation, organisation.model_copy(update={"contacts": kept}))


def _ordered(values: list[Any], order: tuple[str, ...]) -> list[Any]:
    return [v for v in order if v in values]


def _checked(before: Organisation, after: Organisation) -> Organisation:
    """A company keeps a contact for every role someone held before: the role's notices (security alerts to the
    security contact, terms to the signatory) would otherwise reach no one, and no one would be left to confirm the
    company's own changes (onboarding/entry.py `confirmers`). So the last contact is never removed: add the new one
    first, then remove the old one."""
    if not after.contacts:
        raise Refused("last_contact")
    held = {r for c in before.contacts for r in c.roles}
    left = {r for c in after.contacts for r in c.roles}
    missing = [r for r in ROLES if r in held and r not in left]
    if missing:
        raise Refused("role_uncovered", roles=",".join(missing))
    return after


def part_of(organisation: Organisation, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: organisation.model_dump(mode="json")[f] for f in fields}


# -- words ----------------------------------------------------------------------------------------------------------


def _roles_words(roles: list[str], language: str) -> str:
    if not roles:
        return pick(("ingen roller", "no roles"), language)
    return ", ".join(glossary.word("role", r, language) or r for r in roles)


def _values_words(kind: str, values: list[str], language: str) -> str:
    if not values:
        return pick(("Ingen", "None"), language)
    return ", ".join(glossary.word(kind, v, language) or v for v in values)


def _person(contact: dict[str, Any]) -> str:
    name = str(contact.get("name") or "")
    return f"{name} <{contact['email']}>" if name else str(contact["email"])


def changes_in_words(before: dict[str, Any], after: dict[str, Any], language: str) -> list[str]:
    """What an edit changed, one line each, before → after."""
    lines: list[str] = []
    if "contacts" in before:
        old = {str(c["email"]).casefold(): c for c in before["contacts"]}
        new = {str(c["email"]).casefold(): c for c in after["contacts"]}
        for key, c in new.items():
            if key not in old:
                line = pick(("Lagt til: {p} som {r}", "Added: {p} as {r}"), language)
                lines.append(line.format(p=_person(c), r=_roles_words(c["roles"], language)))
            elif old[key]["roles"] != c["roles"]:
                line = pick(("Roller for {p}: {a} → {b}", "Roles of {p}: {a} → {b}"), language)
                a, b = _roles_words(old[key]["roles"], language), _roles_words(c["roles"], language)
                lines.append(line.format(p=_person(c), a=a, b=b))
        for key, c in old.items():
            if key not in new:
                line = pick(("Fjernet: {p} ({r})", "Removed: {p} ({r})"), language)
                lines.append(line.format(p=_person(c), r=_roles_words(c["roles"], language)))
    for kind, words in (("environments", ("Miljøer", "Environments")), ("services", ("Tjenester", "Services"))):
        if kind in before and before[kind] != after[kind]:
            a, b = _values_words(kind, before[kind], language), _values_words(kind, after[kind], language)
            lines.append(f"{pick(words, language)}: {a} → {b}")
    return lines


# -- the pages ----------------------------------------------------------------------------------------------------


@dataclass
class Person:
    name: str
    email: str
    roles: str
    role_codes: list[str]
    language: str
    phone: str


@dataclass
class RoleGroup:
    role: str
    people: list[str]


@dataclass
class Company:
    number: str
    name: str
    href: str
    status: str
    environments: str
    services: str
    environment_codes: list[str]
    service_codes: list[str]
    terms: str
    onboarding: str | None
    by_role: list[RoleGroup]
    contacts: list[Person]


@dataclass
class Source:
    name: str
    number: str
    contacts: list[Person]


@dataclass
class HistoryEntry:
    at: datetime
    when: str
    who: str
    who_name: str
    what: str
    changes: list[str]
    told: list[str]
    applied: bool = True


@dataclass
class EditForms:
    """The admin's forms on the company's page: one CSRF token (one action id) each, the entry's version."""

    version: str
    tokens: dict[str, str] = field(default_factory=dict)
    cookie: str = ""


def _people(contacts: list[Contact], language: str) -> list[Person]:
    return [
        Person(
            name=c.name,
            email=c.email,
            roles=_roles_words(list(c.roles), language),
            role_codes=list(c.roles),
            language=glossary.word("language", c.language, language) or c.language,
            phone=c.phone or "",
        )
        for c in contacts
    ]


def _terms(organisation: Organisation, language: str) -> str:
    terms = organisation.terms_accepted
    if terms is None:
        return pick(("Ikke akseptert", "Not accepted"), language)
    channel = glossary.word("channel", terms.channel, language) or terms.channel
    line = pick(("Versjon {v}, akseptert {t} av {b} ({c})", "Version {v}, accepted {t} by {b} ({c})"), language)
    return line.format(v=terms.version, t=long_time(terms.accepted_at, language), b=terms.accepted_by, c=channel)


def company_of(organisation: Organisation, language: str) -> Company:
    by_role = [
        RoleGroup(
            glossary.word("role", role, language) or role,
            [c.name or c.email for c in organisation.contacts if c.has_role(role)],
        )
        for role in ROLES
    ]
    return Company(
        number=organisation.organisation_number,
        name=organisation.legal_name,
        href=company_path(organisation.organisation_number),
        status=glossary.status_words(organisation.status, language),
        environments=_values_words("environments", list(organisation.environments), language),
        services=_values_words("services", list(organisation.services), language),
        environment_codes=list(organisation.environments),
        service_codes=list(organisation.services),
        terms=_terms(organisation, language),
        onboarding=case_path(organisation.onboarding) if organisation.onboarding else None,
        by_role=by_role,
        contacts=_people(organisation.contacts, language),
    )


def _page(services: Services, name: str, status: int = 200, cookie: str = "", **context: Any) -> func.HttpResponse:
    body = services.renderer.env.get_template(f"workspace/{name}.html").render(
        queue=QUEUE_PATH, registry=REGISTRY_PATH, **context
    )
    headers = {"Cache-Control": "no-store", **({"Set-Cookie": cookie} if cookie else {})}
    return html_response(body, status, headers)


def _unavailable(services: Services, language: str) -> func.HttpResponse:
    return html_response(services.renderer.page("unavailable", language=language), 503, {"Cache-Control": "no-store"})


async def registry_page(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """GET /api/bits/registry: every company, data source and Bits' staff, in words (read fresh, not cached)."""
    language = requested_language(req)
    try:
        registry: Registry = await services.registry_store.load_registry()
    except StorageUnavailable:
        return _unavailable(services, language)
    companies = [company_of(o, language) for o in sorted(registry.organisations.values(), key=lambda o: o.legal_name)]
    sources = [Source(s.name, s.organisation_number, _people(s.contacts, language)) for s in registry.sources.values()]
    staff = _people(registry.bits.contacts, language) if registry.bits else []
    return _page(
        services,
        "registry",
        language=language,
        path=REGISTRY_PATH,
        companies=companies,
        sources=sources,
        staff=staff,
    )


def history_of(events: list[CaseEvent], language: str) -> list[HistoryEntry]:
    """The company's changes made by Bits, newest first: what (the action in words, or that it was not made), who,
    when, and each change before → after."""
    entries = []
    for e in events:
        if e.kind not in ("registry_changed", "registry_change_not_applied"):
            continue
        applied = e.kind == "registry_changed"
        action = _ACTION_WORDS.get(str(e.data.get("action")))
        what = pick(action, language) if applied and action else glossary.event_words(e.kind, language) or e.summary
        before, after = e.data.get("before") or {}, e.data.get("after") or {}
        entries.append(
            HistoryEntry(
                at=e.at,
                when=long_time(e.at, language),
                who=e.actor,
                who_name=str(e.data.get("by_name") or ""),
                what=what,
                changes=changes_in_words(before, after, language) if before and after else [],
                told=[str(t) for t in e.data.get("told") or []] if applied else [],
                applied=applied,
            )
        )
    return sorted(entries, key=lambda h: h.at, reverse=True)


# What the company's page says after an edit, by the `done` its redirect names (never text from the query itself).
DONE: dict[str, Words] = {
    "add_contact": ("Kontaktpersonen er lagt til.", "The contact is added."),
    "change_roles": ("Rollene er endret.", "The roles are changed."),
    "remove_contact": ("Kontaktpersonen er fjernet.", "The contact is removed."),
    "change_connection": ("Miljøer og tjenester er endret.", "Environments and services are changed."),
    "again": (
        "Dette skjemaet var allerede sendt, og endringen er gjort én gang. Ingenting ble gjort på nytt.",
        "This form was sent before, and the change is made once. Nothing was done again.",
    ),
}
_TOLD = (
    " Virksomhetens kontaktpersoner fra før endringen får hver sin e-post om den.",
    " The company's contacts from before the change each get an email about it.",
)


def _prefill(value: str, limit: int) -> str:
    """A value from the query for the add form, only when it could be one (one line, not too long)."""
    if len(value) > limit or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return ""
    return value.strip()


async def company_page(req: func.HttpRequest, services: Services, member: StaffMember) -> func.HttpResponse:
    """GET /api/bits/registry/{organisation_number}: one company, its history, and for admins the forms to edit it;
    `?add_email=&add_name=` fills in the form to add a contact (from a held message's sender)."""
    language = requested_language(req)
    number = req.route_params.get("organisation_number", "")
    values = {
        "email": _prefill(req.params.get("add_email", ""), 254),
        "name": _prefill(req.params.get("add_name", ""), 200),
    }
    done = DONE.get(req.params.get("done", ""))
    notice = pick(done, language) if done else None
    if notice and req.params.get("told") == "1":
        notice += pick(_TOLD, language)
    return await company_response(services, member, language, number, req=req, notice=notice, values=values)


async def company_response(
    services: Services,
    member: StaffMember,
    language: str,
    number: str,
    *,
    req: func.HttpRequest | None = None,
    status: int = 200,
    notice: str | None = None,
    refused: tuple[str, str] | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> func.HttpResponse:
    """The company's page as it is stored now, with a notice after an edit or a refusal (kind, words)."""
    lang_query = "?lang=en" if language == "en" else ""
    try:
        organisation = await services.registry_store.get_organisation(number) if number.isdigit() else None
        if organisation is None:
            return _page(
                services,
                "registry_company",
                404,
                language=language,
                company=None,
                missing=True,
                number=number[:20],
                lang_query=lang_query,
                refused=refused,
                path=REGISTRY_PATH,
            )
        events = await services.store.events(registry_reference(services.settings.reference_prefix, number))
    except StorageUnavailable:
        return _unavailable(services, language)
    forms: EditForms | None = None
    if member.may("admin"):
        nonce = page_nonce(req) if req is not None else secrets.token_urlsafe(16)
        forms = EditForms(version_of(organisation), cookie=form_cookie(services, nonce))
        keys = [
            "add",
            "connection",
            *(f"{kind}-{i}" for i in range(len(organisation.contacts)) for kind in ("roles", "remove")),
        ]
        forms.tokens = {key: form_token(services, nonce) for key in keys}
    return _page(
        services,
        "registry_company",
        status,
        forms.cookie if forms else "",
        language=language,
        company=company_of(organisation, language),
        missing=False,
        history=history_of(events, language),
        forms=forms,
        roles=[(r, glossary.word("role", r, language) or r) for r in ROLES],
        environments=[(e, glossary.word("environment", e, language) or e) for e in ("test", "production")],
        service_choices=[(s, glossary.word("service", s, language) or s) for s in ("ufore", "aap")],
        notice=notice,
        refused=refused,
        values=values or {},
        errors=errors or {},
        path=company_path(number),
        lang_query=lang_query,
        action=f"{company_path(number)}/changes{lang_query}",
    )


# -- POST /api/bits/registry/{organisation_number}/changes ----------------------------------------------------------

_REFUSED: dict[str, Words] = {
    **FORM_WORDS,
    "not_found": (
        "Registeret kjenner ingen virksomhet med dette organisasjonsnummeret. Ingenting er endret.",
        "The registry knows no company with this organisation number. Nothing was changed.",
    ),
    "role": (
        "Bare administratorer kan endre registeret, og den rollen har du ikke. Ingenting er endret.",
        "Only admins may change the registry, and you do not hold that role. Nothing was changed.",
    ),
    "bad_action": (
        "Velg en av endringene på siden. Ingenting er endret.",
        "Choose one of the changes on the page. Nothing was changed.",
    ),
    "invalid": (
        "Noen felter må rettes. Se meldingene ved feltene. Ingenting er endret.",
        "Some fields need correcting. See the messages by the fields. Nothing was changed.",
    ),
    "stale": (
        "Virksomheten er endret siden du åpnet siden, så skjemaet gjelder ikke lenger. Ingenting er endret. Se "
        "virksomheten slik den er nå, og gjør endringen på nytt om den fortsatt trengs.",
        "The company was changed after you opened the page, so the form no longer applies. Nothing was changed. See "
        "the company as it is now, and make the change again if it is still needed.",
    ),
    "already_contact": (
        "{email} er allerede kontaktperson for virksomheten. Endre rollene i stedet. Ingenting er endret.",
        "{email} is already a contact of the company. Change their roles instead. Nothing was changed.",
    ),
    "no_such_contact": (
        "{email} er ikke kontaktperson for virksomheten. Ingenting er endret.",
        "{email} is not a contact of the company. Nothing was changed.",
    ),
    "last_contact": (
        "Virksomheten må ha minst én kontaktperson. Legg til den nye først, og fjern deretter den gamle. Ingenting er "
        "endret.",
        "The company must keep at least one contact. Add the new one first, then remove the old one. Nothing was "
        "changed.",
    ),
    "role_uncovered": (
        "Da ville ingen ha rollen {roles}, og varsler for den rollen ville ikke nå noen. Gi rollen til en annen "
        "kontaktperson først. Ingenting er endret.",
        "Then no one would hold the role {roles}, and notices for it would reach no one. Give the role to another "
        "contact first. Nothing was changed.",
    ),
    "unchanged": (
        "Skjemaet endrer ingenting: virksomheten er allerede slik. Ingenting er endret.",
        "The form changes nothing: the company is like that already. Nothing was changed.",
    ),
}
_STATUS = {
    **FORM_STATUS,
    "not_found": 404,
    "role": 403,
    "bad_action": 400,
    "invalid": 400,
    "stale": 409,
    "already_contact": 409,
    "no_such_contact": 409,
    "last_contact": 409,
    "role_uncovered": 409,
    "unchanged": 409,
}


def _refusal(kind: str, language: str, **words: str) -> tuple[str, str]:
    return kind, pick(_REFUSED[kind], language).format(**words)


async def _refused(
    req: func.HttpRequest,
    services: Services,
    member: StaffMember,
    language: str,
    number: str,
    kind: str,
    **context: Any,
) -> func.HttpResponse:
    words = {k: v for k, v in context.items() if isinstance(v, str)}
    extra = {k: v for k, v in context.items() if not isinstance(v, str)}
    if kind == "unavailable":
        return _page(
            services,
            "registry_company",
            503,
            language=language,
            company=None,
            missing=False,
            number=number[:20],
            lang_query="?lang=en" if language == "en" else "",
            refused=_refusal(kind, language),
            path=f"{company_path(number)}",
        )
    return await company_response(
        services,
        member,
        language,
        number,
        req=req,
        status=_STATUS[kind],
        refused=_refusal(kind, language, **words),
        **extra,
    )


def _back(number: str, done: str, language: str, told: bool) -> func.HttpResponse:
    """Post/Redirect/Get: back to the company's page, which says in words what was done."""
    query = f"?done={done}" + ("&told=1" if told else "") + ("&lang=en" if language == "en" else "")
    return func.HttpResponse(
        status_code=303, headers={"Location": f"{company_path(number)}{query}", "Cache-Control": "no-store"}
    )


def _mails(
    services: Services,
    reference: str,
    before: Organisation,
    after_part: dict[str, Any],
    member: StaffMember,
    purpose: str,
) -> list[Any]:
    """One mail to each contact the company had before the change, in their language: who changed what, when."""
    before_part = part_of(before, ("contacts",))
    mails: list[Any] = []
    seen: set[str] = set()
    for person in before.contacts:
        if person.email.casefold() in seen:
            continue  # one mail each, even for an address listed twice
        seen.add(person.email.casefold())
        language = person.language
        mails.append(
            services.compose(
                reference=reference,
                purpose=purpose,
                to=person.email,
                template=TEMPLATE,
                language=language,
                legal_name=before.legal_name,
                organisation_number=before.organisation_number,
                by_name=member.name,
                by_email=member.email,
                when=long_time(services.clock.now(), language),
                changes=changes_in_words(before_part, after_part, language),
                shared_mailbox=services.settings.shared_mailbox,
            )
        )
    return mails


async def _apply(services: Services, number: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Replace the changed fields of the entry, only if they are still as the edit found them (or already as it
    leaves them: a run that stopped after the record, finished now)."""
    fields = tuple(after)

    def change(current: Organisation) -> Organisation:
        now = part_of(current, fields)
        if now == after:
            return current
        if now != before:
            raise _Stale(number)
        return Organisation.model_validate({**current.model_dump(mode="json"), **after})

    await services.registry_store.update_organisation(number, change)
    # This instance reads the registry fresh on its next request; other instances within registry_cache_seconds.
    services.registry_cache.invalidate()


async def change_company(req: func.HttpRequest, services: Services, member: StaffMember) -> func.HttpResponse:
    """An edit from the company page's form, by the signed-in `member` (the trigger has checked the sign-in)."""
    language = requested_language(req)
    number = req.route_params.get("organisation_number", "")[:20]
    posted = read_posted(req, services, language)
    if isinstance(posted, func.HttpResponse):
        return posted
    if isinstance(posted, str):
        log.info("workspace: a registry edit of %s refused: %s", number, posted)
        return await _refused(req, services, member, language, number, posted)
    data, action_id = posted.data, posted.action_id
    if not member.may("admin"):
        log.warning("workspace: staff member %s is no admin and may not edit %s", member.object_id, number)
        return await _refused(req, services, member, language, number, "role")
    # Identity numbers in what is typed (a name, say) are never stored or mailed (core/privacy.py); the form's own
    # fields (the entry's version, a hash) are no text.
    typed = {k: v for k, v in data.items() if k not in ("action", "version")}
    mask_fields(typed)
    data.update(typed)
    action = str(data.get("action", ""))
    if action not in _MODELS:
        return await _refused(req, services, member, language, number, "bad_action")
    try:
        edit = parse_edit(action, data)
    except ValidationError as exc:
        errors = field_errors(exc, language)
        errors = {k.split(".")[0]: v for k, v in reversed(list(errors.items()))}
        shown = {k: v for k, v in data.items() if k in ("name", "email", "roles", "language", "phone")}
        values = shown if action == "add_contact" else {}
        return await _refused(req, services, member, language, number, "invalid", values=values, errors=errors)
    marker = "registry-" + hashlib.sha256(action_id.encode()).hexdigest()[:40]
    reference = registry_reference(services.settings.reference_prefix, number)
    try:
        organisation = await services.registry_store.get_organisation(number) if number.isdigit() else None
        if organisation is None:
            return await _refused(req, services, member, language, number, "not_found")
        if data.get("version") != version_of(organisation):
            # Sent before (a double click, a lost answer): its record names its marker; finish it if need be.
            mine = [e for e in await services.store.events(reference) if e.data.get("marker") == marker]
            recorded = next((e for e in mine if e.kind == "registry_changed"), None)
            if recorded is None or any(e.kind == "registry_change_not_applied" for e in mine):
                return await _refused(req, services, member, language, number, "stale")
            with suppress(_Stale):  # changed since by someone else: theirs stands
                await _apply(services, number, recorded.data["before"], recorded.data["after"])
            return _back(number, "again", language, False)
        try:
            after = edited(organisation, edit)
        except Refused as refusal:
            words = dict(refusal.words)
            if "roles" in words:
                words["roles"] = _roles_words(words["roles"].split(","), language)
            return await _refused(req, services, member, language, number, refusal.kind, **words)
        fields = _FIELDS[action]
        before_part, after_part = part_of(organisation, fields), part_of(after, fields)
        if before_part == after_part:
            return await _refused(req, services, member, language, number, "unchanged")
        told = "contacts" in fields
        purpose = f"registry-contacts-{marker[9:25]}"
        mails = _mails(services, reference, organisation, after_part, member, purpose) if told else []
        event = CaseEvent(
            at=services.clock.now(),
            actor=member.email,
            channel=Channel.WEB,
            kind="registry_changed",
            public=False,
            summary=f"{member.email} changed {number}: {action}",
            data={
                "organisation_number": number,
                "action": action,
                "by_name": member.name,
                "by_id": member.object_id,
                "before": before_part,
                "after": after_part,
                "told": [m.to for m in mails],
                "marker": marker,
            },
        )
        again = False
        try:
            await services.store.append(reference, event, mails, markers=[marker])
        except AlreadyProcessed:
            # Recorded by an earlier send that stopped before the registry: finished below - only when that record
            # is this very edit of this company. The one-time id taken by another edit or another company (a token
            # kept and sent with other fields) records nothing here, so it changes nothing.
            mine = [e for e in await services.store.events(reference) if e.data.get("marker") == marker]
            if not any(
                e.kind == "registry_changed"
                and e.data.get("before") == before_part
                and e.data.get("after") == after_part
                for e in mine
            ):
                log.warning(
                    "workspace: staff member %s sent a used registry form for another edit of %s",
                    member.object_id,
                    number,
                )
                return await _refused(req, services, member, language, number, "expired")
            again = True
        try:
            await _apply(services, number, before_part, after_part)
        except _Stale:
            lost = event.model_copy(
                update={
                    "at": services.clock.now(),
                    "kind": "registry_change_not_applied",
                    "summary": f"{action} on {number} not applied",
                }
            )
            await services.store.append(reference, lost)
            return await _refused(req, services, member, language, number, "stale")
    except (StorageUnavailable, ConcurrentUpdate) as exc:
        log.error("workspace: registry edit of %s not confirmed: %s", number, exc)
        return await _refused(req, services, member, language, number, "unavailable")
    log.info("workspace: staff member %s made %s on %s", member.object_id, action, number)
    return _back(number, "again" if again else action, language, told and not again)
