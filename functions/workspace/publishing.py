"""Bits' workspace: the alert drafts waiting for Bits (with the mail the companies would get), the notices out now,
and the published terms versions.

Publishing or discarding a draft is the draft's declared decision (alerts/drafts.py, PUBLISER/FORKAST by reply),
taken through `actions.take_action` as every workspace action is: the same handler, states, ETag and one-time
action id. The preview runs that very handler without storing anything (a handler only computes the change; the
store write and the fan-out are the caller's), so what it shows is what publishing would send. Terms are published
through their own flow with its preview (/api/terms, admin only); this page lists the versions and links there.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import azure.functions as func

from ..alerts.drafts import DRAFT, DRAFT_DECISION, PUBLISH
from ..alerts.status import feed_links
from ..alerts.workflow import recipients
from ..core.commands import Reply
from ..core.glossary import field_label, long_time, pick
from ..core.model import Case, CaseEvent, Process
from ..core.registry import Registry
from ..core.services import Services
from ..core.store import StorageUnavailable, StoredCase
from ..terms.workflow import connected
from ..web.forms import form_cookie, form_token, page_nonce
from ..web.http import html_response, requested_language
from ..web.staff import StaffMember
from .actions import DONE, role_for
from .case_view import QUEUE_PATH, Field, case_path, field_of, value_text

log = logging.getLogger(__name__)

PUBLISHING_PATH = f"{QUEUE_PATH}/publishing"
TERMS_FORM_PATH = "/api/terms"
# What a draft's proposal holds, in the order Bits reads it.
_PROPOSAL = ("kind", "environments", "components", "severity", "starts_at", "ends_at", "action_required", "link")


def draft_action_path(reference: str) -> str:
    return f"{PUBLISHING_PATH}/drafts/{quote(reference, safe='')}"


def back_to_publishing(reference: str) -> str:
    """Where a draft's form goes back to after the action (Post/Redirect/Get): this page, whichever draft."""
    return PUBLISHING_PATH


@dataclass
class Preview:
    """The notice one company's contact would get if the draft were published as it stands (nb), and who gets it."""

    subject: str
    text: str
    shown_as: str  # the company whose contact's mail this is
    companies: list[str]
    recipient_count: int


@dataclass
class DraftRow:
    reference: str
    href: str
    action: str
    title: str
    source: str
    origin: str
    made: str
    fields: list[Field]
    preview: Preview | None
    errors: list[tuple[str, str]]  # what keeps it from being published as it stands: field in words, message
    refused_before: int  # PUBLISER tried before and refused, by reply or from here
    allowed: bool
    csrf_token: str = ""


@dataclass
class NoticeRow:
    reference: str
    href: str
    status_href: str
    title: str
    fields: list[Field]


@dataclass
class TermsRow:
    reference: str
    href: str
    acceptances_href: str
    version: str
    title: str
    effective: str
    published: str
    published_by: str
    accepted: int
    connected: int


@dataclass
class PublishingView:
    drafts: list[DraftRow] = field(default_factory=list)
    notices: list[NoticeRow] = field(default_factory=list)
    terms: list[TermsRow] = field(default_factory=list)
    may_publish_terms: bool = False
    notice: str | None = None


# -- drafts ---------------------------------------------------------------------------------------------------------


def _company_of(registry: Registry) -> dict[str, tuple[str, str]]:
    """Each company contact's address: (organisation number, legal name)."""
    return {
        c.email.casefold(): (o.organisation_number, o.legal_name)
        for o in registry.organisations.values()
        for c in o.contacts
    }


async def preview_draft(
    services: Services, registry: Registry, stored: StoredCase, member: StaffMember
) -> tuple[Preview | None, dict[str, str]]:
    """What PUBLISER (no corrections) would do now: the mail a company would get, or the errors that refuse it.
    The draft's own handler computes it; nothing of its change is stored, queued or sent."""
    reply = Reply(PUBLISH, "", member.email, member.name, f"<preview.{secrets.token_hex(8)}@workspace>")
    change = await DRAFT_DECISION.handle(services, stored, reply, registry)
    if change.case.status != "published":
        return None, dict(change.event.data.get("errors") or {})
    case, alert = change.case, change.case.details
    people = recipients(registry, alert)
    company_of = _company_of(registry)
    companies = sorted({company_of[p.email.casefold()][1] for p in people if p.email.casefold() in company_of})
    sample = next((p for p in people if p.email.casefold() in company_of and p.language == "nb"), None)
    sample = sample or next((p for p in people if p.email.casefold() in company_of), None)
    number, name = company_of[sample.email.casefold()] if sample else ("", "")
    # The context fan_out gives a company contact reading nb (alerts/workflow.py).
    letter = services.renderer.letter(
        "alert_notice",
        "nb",
        case.reference,
        case=case,
        alert=alert,
        description=str(change.event.data.get("description", "")),
        source=registry.sources[alert["source"]].name,
        feeds=feed_links(services, number) if number else None,
    )
    return Preview(letter.subject, letter.text, name, companies, len(people)), {}


def _origin(case: Case, language: str) -> str:
    linked = case.details.get("linked_from")
    if linked:
        return pick(
            (f"Laget av Bits fra feilmeldingen {linked}", f"Made by Bits from the error report {linked}"), language
        )
    return pick((f"Sendt på e-post av {case.submitter_name}", f"Emailed by {case.submitter_name}"), language) + (
        f" <{case.submitter_email}>"
    )


async def _draft_row(
    services: Services,
    registry: Registry,
    stored: StoredCase,
    member: StaffMember,
    nonce: str,
    language: str,
) -> DraftRow:
    case = stored.case
    preview, errors = await preview_draft(services, registry, stored, member)
    events = await services.store.events(case.reference)
    proposal = case.details.get("proposal") or {}
    source = registry.sources.get(str(case.details.get("source", "")))
    allowed = member.may(role_for(DRAFT))
    return DraftRow(
        reference=case.reference,
        href=case_path(case.reference),
        action=draft_action_path(case.reference),
        title=case.title,
        source=source.name if source else str(case.details.get("source", "")),
        origin=_origin(case, language),
        made=long_time(case.created_at, language),
        fields=[field_of(k, proposal[k], language) for k in _PROPOSAL if proposal.get(k) not in (None, "", [])],
        preview=preview,
        errors=[(field_label(k, language), v) for k, v in errors.items()],
        refused_before=sum(e.kind == "publish_refused" for e in events),
        allowed=allowed,
        csrf_token=form_token(services, nonce) if allowed else "",
    )


# -- notices and terms ----------------------------------------------------------------------------------------------


def _notice_row(case: Case, registry: Registry, language: str) -> NoticeRow:
    details = case.details
    source = registry.sources.get(str(details.get("source", "")))
    shown: list[Field] = [field_of("kind", case.kind, language)]
    if source:
        shown.append(Field(pick(("Fra", "From"), language), source.name))
    shown += [field_of(k, details[k], language) for k in _PROPOSAL[1:] if details.get(k) not in (None, "", [])]
    return NoticeRow(
        reference=case.reference,
        href=case_path(case.reference),
        status_href=f"/api/status{'?lang=en' if language == 'en' else ''}#{case.reference}",
        title=case.title,
        fields=shown,
    )


def _accepted(events: list[CaseEvent]) -> int:
    """How many companies accepted the version (each once, by link or reply), whatever they accepted since."""
    return len({e.data.get("organisation_number") for e in events if e.kind == "terms_accepted"})


def _terms_row(case: Case, events: list[CaseEvent], companies: int, language: str) -> TermsRow:
    details = case.details
    by: dict[str, Any] = details.get("published_by") or {"name": case.submitter_name, "email": case.submitter_email}
    return TermsRow(
        reference=case.reference,
        href=case_path(case.reference),
        acceptances_href=f"/api/terms/{quote(case.reference, safe='')}",
        version=str(details.get("version", "")),
        title=case.title,
        effective=value_text("effective_date", details.get("effective_date"), language),
        published=long_time(case.created_at, language),
        published_by=f"{by.get('name') or by.get('email')} <{by.get('email')}>",
        accepted=_accepted(events),
        connected=companies,
    )


# -- HTTP -----------------------------------------------------------------------------------------------------------


def _render(services: Services, name: str, status: int, headers: dict[str, str], **context: Any) -> func.HttpResponse:
    body = services.renderer.env.get_template(f"workspace/{name}.html").render(queue=QUEUE_PATH, **context)
    return html_response(body, status, {"Cache-Control": "no-store", **headers})


async def publishing_page(req: func.HttpRequest, services: Services, member: StaffMember) -> func.HttpResponse:
    """GET /api/bits/publishing: drafts with their previews and forms, the notices out now, the terms versions."""
    language = requested_language(req)
    nonce = page_nonce(req)
    try:
        registry = await services.registry()
        notices = await services.store.cases(Process.NOTIFICATION)
        drafts = [c for c in notices if c.status == "new" and c.details.get("draft")]
        loaded = await asyncio.gather(*(services.store.load(c.reference) for c in drafts))
        rows = await asyncio.gather(
            *(_draft_row(services, registry, s, member, nonce, language) for s in loaded if s is not None)
        )
        versions = [c for c in await services.store.cases(Process.CHANGE_REQUEST, "published") if c.kind == "terms"]
        version_events = await asyncio.gather(*(services.store.events(c.reference) for c in versions))
    except StorageUnavailable:
        return html_response(services.renderer.page("unavailable", language=language), 503)
    companies = len(connected(registry))
    done = DONE.get(req.params.get("done", ""))
    view = PublishingView(
        drafts=sorted(rows, key=lambda r: r.reference),
        notices=[
            _notice_row(c, registry, language)
            for c in sorted(notices, key=lambda c: c.created_at, reverse=True)
            if c.status == "published"
        ],
        terms=[
            _terms_row(c, e, companies, language)
            for c, e in sorted(zip(versions, version_events, strict=True), key=lambda p: p[0].created_at, reverse=True)
        ],
        may_publish_terms=member.may("admin"),
        notice=pick(done, language) if done else None,
    )
    cookie = {"Set-Cookie": form_cookie(services, nonce)} if any(r.csrf_token for r in view.drafts) else {}
    return _render(services, "publishing", 200, cookie, language=language, view=view, path=PUBLISHING_PATH)


_NO_TERMS_ROLE = (
    "Å publisere en ny versjon av vilkårene krever rollen administrator, og den har du ikke. Ingenting er endret. "
    "Du kan se versjonene og hvem som har akseptert dem på siden Varsler og vilkår.",
    "Publishing a new version of the terms needs the role admin, which you do not hold. Nothing was changed. You can "
    "see the versions and who has accepted them on the page Notices and terms.",
)


def terms_publishing(req: func.HttpRequest, services: Services, member: StaffMember) -> func.HttpResponse:
    """GET /api/bits/publishing/terms: an admin goes on to the terms' own publish-with-preview form; anyone else is
    told in words that it needs the admin role."""
    language = requested_language(req)
    if member.may("admin"):
        target = f"{TERMS_FORM_PATH}{'?lang=en' if language == 'en' else ''}"
        return func.HttpResponse(status_code=303, headers={"Location": target, "Cache-Control": "no-store"})
    log.info("workspace: staff member %s asked to publish terms without the admin role", member.object_id)
    return _render(
        services,
        "action_refused",
        403,
        {},
        language=language,
        message=pick(_NO_TERMS_ROLE, language),
        kind="role",
        case=None,
        back=PUBLISHING_PATH,
    )
