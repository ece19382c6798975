"""The terms' HTTP side: a signed-in admin previews and publishes a version (form or JSON), a company accepts through
its signed link, and Bits reads the acceptance table.

Publishing from the browser is two steps: "Forhåndsvis" shows every company and person the version would go to and
the mail they would get, storing nothing; "Publiser" on that page sends the same values back with a signed,
short-lived token over their digest (and over the list of recipients), so what is published is what was previewed.
JSON clients ask for the same preview with `?preview=1` or `"preview": true`, or publish at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import azure.functions as func

from ..core.cases import NO_PROOF, AddressProof
from ..core.forms import Refusal, SubmissionRefused, WebForm
from ..core.model import Case, Channel
from ..core.privacy import mask_fields
from ..core.rendering import OSLO
from ..core.services import Services
from ..core.signing import sign, verify
from ..core.store import StorageUnavailable
from ..web.forms import (
    CSRF_FIELD,
    HONEYPOT_FIELD,
    REFUSAL_STATUS,
    BodyRejected,
    _csrf_ok,
    _render,
    general,
    message,
    read_body,
)
from ..web.http import html_response, json_response, requested_language
from ..web.staff import StaffMember
from .models import TermsVersion, validate_terms
from .workflow import (
    Publisher,
    TermsPreview,
    accept,
    acceptance_table,
    preview_terms,
    publication_digests,
    publish_terms,
    read_accept_link,
)

PREVIEW_PURPOSE = "terms-preview"
PREVIEW_FIELD = "preview_token"
PREVIEW_MINUTES = 30


async def _needs_a_signed_in_admin(
    services: Services, terms: Any, channel: Channel, masked: int = 0, *, proof: AddressProof = NO_PROOF
) -> Case:
    # The generic form handler knows no publisher: the terms are published through `publish_page` only.
    raise SubmissionRefused(Refusal.NOT_ALLOWED, "Logg inn som administrator.", "Sign in as an admin.")


TERMS_FORM = WebForm(template="terms", route="terms", model=TermsVersion, submit=_needs_a_signed_in_admin)


@dataclass(frozen=True)
class _Post:
    """A POST to /api/terms, read and protected: the fields, who sent them (browser or JSON) and what they ask."""

    data: dict[str, Any]
    is_browser: bool
    language: str
    csrf_token: str
    wants_preview: bool
    edit: bool
    preview_token: Any


async def publish_page(req: func.HttpRequest, services: Services, admin: StaffMember) -> func.HttpResponse:
    """GET: the form. POST: preview (the browser's first step, `?preview=1`, `"preview": true`), or publish."""
    language = requested_language(req)
    if req.method == "GET":
        return _render(services, TERMS_FORM, language, {}, {}, None, 200)
    post = _read_post(req, services, language)
    if isinstance(post, func.HttpResponse):
        return post
    data, language = post.data, post.language
    if post.edit:
        return _render(services, TERMS_FORM, language, data, {}, None, 200)
    masked = mask_fields(data)
    terms, errors = validate_terms(data, services.clock.now().astimezone(OSLO).date(), language)
    try:
        if terms is None:
            return _answer(services, post, 422, "validation", general("invalid", language), errors)
        if post.wants_preview:
            preview = await preview_terms(services, terms)
            if not post.is_browser:
                return json_response(_preview_json(preview, admin))
            return _preview_page(services, preview, admin, post.csrf_token, None, 200)
        if post.is_browser and not await _previewed(services, post.preview_token, terms, admin):
            stale = _STALE[1] if language == "en" else _STALE[0]
            return _preview_page(services, await preview_terms(services, terms), admin, post.csrf_token, stale, 409)
        publisher = Publisher(admin.email, admin.name, language, object_id=admin.object_id)
        channel = Channel.FORM if post.is_browser else Channel.API
        case = await publish_terms(services, terms, channel, publisher, masked)
    except SubmissionRefused as refused:
        text = refused.en if language == "en" else refused.nb
        return _answer(services, post, REFUSAL_STATUS[refused.why], "refused", text, refused.errors, refused.reference)
    except StorageUnavailable:
        # A version is published once, however often it is sent: sending it again is safe.
        return _answer(services, post, 503, "unavailable", general("unconfirmed", language), {})
    case_link = services.case_page_link(case.reference, receipt=True)
    if post.is_browser:
        # Post/Redirect/Get, as every form: reloading the receipt page never publishes twice.
        return func.HttpResponse(status_code=303, headers={"Location": f"{case_link}&receipt=1&lang={language}"})
    body = {
        "reference": case.reference,
        "status": case.status,
        "case_url": case_link,
        "acceptances_url": services.link(f"terms/{case.reference}"),
        "identity_numbers_removed": masked,
    }
    return json_response(body, 201, {"Location": case_link})


def _read_post(req: func.HttpRequest, services: Services, language: str) -> _Post | func.HttpResponse:
    """The body with the protections every form has (size, type, honeypot, CSRF), or the answer to give."""
    try:
        data, is_browser = read_body(req, language, TERMS_FORM.max_body_bytes or services.settings.max_body_bytes)
    except BodyRejected as rejected:
        if rejected.data is not None and rejected.fields is not None:
            return _render(
                services, TERMS_FORM, language, rejected.data, rejected.fields, general("invalid", language), 422
            )
        return rejected.response
    language = "en" if data.get("language") == "en" else ("nb" if data.get("language") == "nb" else language)
    csrf_token = str(data.pop(CSRF_FIELD, ""))
    if is_browser:
        if data.pop(HONEYPOT_FIELD, ""):
            return _render(services, TERMS_FORM, language, data, {}, general("rejected", language), 400)
        if not _csrf_ok(req, services, csrf_token):
            return _render(services, TERMS_FORM, language, data, {}, general("expired", language), 403)
        action = data.pop("action", "preview")  # the preview page's two buttons: publish or edit
        token = data.pop(PREVIEW_FIELD, None)
        return _Post(data, True, language, csrf_token, action not in ("publish", "edit"), action == "edit", token)
    flag = data.pop("preview", False)
    query = req.params.get("preview")
    # Never a publication of a preview asked for in the wrong words: `?preview=yes` is refused, not published.
    if not isinstance(flag, bool) or query not in (None, "1", "true", "0", "false"):
        errors = {"preview": message("bool_type", language)}
        return json_response({"error": "validation", "message": general("invalid", language), "errors": errors}, 422)
    return _Post(data, False, language, "", flag or query in ("1", "true"), False, None)


def _answer(
    services: Services,
    post: _Post,
    status: int,
    error: str,
    text: str,
    errors: dict[str, str],
    reference: str | None = None,
) -> func.HttpResponse:
    """A refusal: JSON for an API client, the form with the errors by the fields for a browser."""
    if post.is_browser:
        return _render(services, TERMS_FORM, post.language, post.data, errors, text, status)
    body: dict[str, Any] = {"error": error, "message": text, "errors": errors}
    if reference:
        body["reference"] = reference
    return json_response(body, status, {"Retry-After": "30"} if status == 503 else None)


_STALE = (
    "Forhåndsvisningen er utløpt, eller innholdet eller mottakerne er endret siden. Se over på nytt og publiser.",
    "The preview has expired, or the content or the recipients have changed since. Check again and publish.",
)


def _preview_token(services: Services, preview: TermsPreview, admin: StaffMember) -> str:
    expires = services.clock.now() + timedelta(minutes=PREVIEW_MINUTES)
    payload = {"c": preview.content_sha256, "r": preview.recipients_sha256, "by": admin.email}
    return sign(services.settings.effective_signing_key, PREVIEW_PURPOSE, payload, expires)


async def _previewed(services: Services, token: Any, terms: TermsVersion, admin: StaffMember) -> bool:
    """This admin previewed exactly this content, going to exactly these people, a short while ago."""
    if not isinstance(token, str):
        return False
    payload = verify(services.settings.verification_keys, PREVIEW_PURPOSE, token, services.clock.now())
    content, people = await publication_digests(services, terms)
    return payload == {"c": content, "r": people, "by": admin.email}


def _preview_json(preview: TermsPreview, admin: StaffMember) -> dict[str, Any]:
    return {
        "preview": True,
        "published_by": {"email": admin.email, "name": admin.name},
        "terms": preview.terms.model_dump(mode="json"),
        "companies": [
            {
                "organisation_number": r.organisation.organisation_number,
                "legal_name": r.organisation.legal_name,
                "recipients": [
                    {"name": c.name, "email": c.email, "roles": list(c.roles), "language": c.language} for c in r.people
                ],
            }
            for r in preview.companies
        ],
        "company_count": len(preview.companies),
        "recipient_count": preview.recipient_count,
        "mails": [
            {
                "language": sample.language,
                "company": sample.company,
                "person": sample.person,
                "subject": sample.letter.subject,
                "text": sample.letter.text,
                "html": sample.letter.html,
            }
            for sample in preview.samples
        ],
    }


def _preview_page(
    services: Services, preview: TermsPreview, admin: StaffMember, csrf_token: str, notice: str | None, status: int
) -> func.HttpResponse:
    terms = preview.terms
    body = services.renderer.page(
        "terms_preview",
        language=terms.language,
        preview=preview,
        admin=admin,
        values={k: v for k, v in terms.model_dump(mode="json").items() if k != "language"},
        notice=notice,
        csrf_field=CSRF_FIELD,
        csrf_token=csrf_token,
        honeypot_field=HONEYPOT_FIELD,
        preview_field=PREVIEW_FIELD,
        preview_token=_preview_token(services, preview, admin),
        minutes=PREVIEW_MINUTES,
    )
    return html_response(body, status, {"Cache-Control": "no-store"})


async def acceptances(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    try:
        stored = await services.store.load(req.route_params.get("reference", ""))
        case = stored.case if stored else None
        if case is None or case.kind != "terms" or "version" not in case.details:  # a refused VILKÅR has none
            return json_response({"error": "not_found"}, 404)
        rows = await acceptance_table(services, case)
    except StorageUnavailable:
        return json_response({"error": "unavailable"}, 503)
    return json_response(
        {
            "reference": case.reference,
            "version": case.details["version"],
            "effective_date": case.details["effective_date"],
            "accepted": sum(r["accepted"] for r in rows),
            "companies": rows,
        }
    )


async def accept_page(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """GET shows the version and a button (a link preview must not accept anything); POST accepts."""
    language = requested_language(req)
    token = req.params.get("k", "")
    payload = read_accept_link(services, token)
    if payload is None:
        return _page(services, language, token, "invalid", status=400)
    try:
        stored = await services.store.load(str(payload["r"]))
        registry = await services.registry()
        organisation = registry.organisation(str(payload["o"]))
        if stored is None or organisation is None:
            return _page(services, language, token, "invalid", status=400)
        if req.method == "GET":
            return _page(services, language, token, None, case=stored.case, organisation=organisation)
        outcome = await accept(services, stored.case, organisation.organisation_number, str(payload["p"]), "link")
    except StorageUnavailable:
        return _page(services, language, token, "unavailable", status=503)
    return _page(services, language, token, outcome, case=stored.case, organisation=organisation)


def _page(
    services: Services, language: str, token: str, outcome: str | None, status: int = 200, **context: Any
) -> func.HttpResponse:
    body = services.renderer.page(
        "terms_accept",
        language=language,
        token=token,
        outcome=outcome,
        **{"case": None, "organisation": None, **context},
    )
    return html_response(body, status, {"Cache-Control": "no-store"})
