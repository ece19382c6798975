"""What the case endpoints do and show: JSON for Bits, HTML pages for submitters."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from ..catalogue import CATALOGUE
from ..core.cases import confirm_submitter, confirmation_link_is_valid
from ..core.model import Process
from ..core.services import Services
from ..core.signing import verify
from ..core.store import StorageUnavailable
from ..web.forms import remember_address_cookie
from ..web.http import html_response, json_response, requested_language
from . import case_page as case_page_view


async def case_page(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """GET shows the case behind its signed link; POST adds the submitter's message from the page's box."""
    language = requested_language(req)
    reference = req.route_params.get("reference", "")
    payload = verify(services.settings.verification_keys, "case-page", req.params.get("k", ""), services.clock.now())
    if payload is None or payload.get("r") != reference:
        return html_response(services.renderer.page("not_found", language=language), 404)
    try:
        stored = await services.store.load(reference)
        if stored is None:
            return html_response(services.renderer.page("not_found", language=language), 404)
        # The mailed link reached the submitter's mailbox; the receipt link only the browser that sent the form.
        by_mail = payload.get("p") != "receipt"
        if req.method == "POST":
            return await case_page_view.add(req, services, stored.case, language, by_mail=by_mail)
        events = await services.store.events(reference)
        return await case_page_view.show(req, services, stored.case, events, language, by_mail=by_mail)
    except StorageUnavailable:
        return html_response(services.renderer.page("unavailable", language=language), 503)


async def confirm(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    language = requested_language(req)
    token = req.params.get("t", "")
    if req.method == "GET":
        valid = confirmation_link_is_valid(services, token)
        return _confirm_page(services, token, language, outcome=None if valid else "invalid")
    try:
        result = await confirm_submitter(services, token, CATALOGUE.intakes)
    except StorageUnavailable:
        return _confirm_page(services, token, language, outcome="unavailable", status=503)
    response = _confirm_page(services, token, language, outcome=result.outcome, case=result.case)
    if result.case is not None and result.outcome in ("confirmed", "already"):
        # The link proved the address: this browser remembers it, so that the person's next form (a registered
        # contact's) goes on at once instead of asking again.
        response.headers["Set-Cookie"] = remember_address_cookie(services, result.case.submitter_email)
    return response


def _confirm_page(
    services: Services, token: str, language: str, *, outcome: str | None, case: Any = None, status: int | None = None
) -> func.HttpResponse:
    body = services.renderer.page("confirm", language=language, token=token, outcome=outcome, case=case)
    code = status or (400 if outcome == "invalid" else 200)
    return html_response(body, code, {"Cache-Control": "no-store"})


async def case_json(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    reference = req.route_params.get("reference", "")
    try:
        stored = await services.store.load(reference)
        if stored is None:
            return json_response({"error": "not_found"}, 404)
        events = await services.store.events(reference)
        mails = await services.store.mails(reference)
    except StorageUnavailable:
        return json_response({"error": "unavailable"}, 503)
    return json_response(
        {
            "case": stored.case.model_dump(mode="json"),
            "events": [e.model_dump(mode="json") for e in events],
            "mails": [
                {
                    "purpose": m.mail.purpose,
                    "to": m.mail.to,
                    "subject": m.mail.subject,
                    "message_id": m.mail.message_id,
                    "status": m.status,
                    "attempts": m.attempts,
                    "last_error": m.last_error,
                    "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                }
                for m in mails
            ],
        }
    )


async def list_cases(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    process, status = req.params.get("process"), req.params.get("status")
    chosen: Process | None = None
    if process:
        try:
            chosen = Process(process.upper())
        except ValueError:
            return json_response({"error": "validation", "message": "process must be one of A, B, C, D, E"}, 400)
    if status is not None and (len(status) > 40 or not status.replace("_", "").isalnum()):
        return json_response({"error": "validation", "message": "status must be a status name"}, 400)
    try:
        cases = await services.store.cases(chosen, status or None)
    except StorageUnavailable:
        return json_response({"error": "unavailable"}, 503)
    return json_response({"cases": [c.model_dump(mode="json") for c in cases]})
