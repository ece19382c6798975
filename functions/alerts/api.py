"""The alert API for NAV, Altinn and Digdir: authenticated per source, JSON in and out, precise errors, never 5xx
for bad input."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
from pydantic import ValidationError

from ..core.forms import field_errors
from ..core.http import json_response
from ..core.model import Case, Process
from ..core.services import Services, get_services
from ..core.store import StorageUnavailable
from .models import AlertIn
from .workflow import publish_alert, source_of_key

MAX_BODY = 256 * 1024


def _presented_key(req: func.HttpRequest) -> str | None:
    key = req.headers.get("x-api-key")
    if key:
        return str(key)
    auth = req.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def _unauthorized() -> func.HttpResponse:
    return json_response(
        {"error": "unauthorized", "message": "Give your source's API key in X-Api-Key (or Authorization: Bearer)."},
        401,
        {"WWW-Authenticate": 'Bearer realm="ssu-alerts"'},
    )


def _view(case: Case) -> dict[str, Any]:
    return {"id": case.reference, "status": case.status, "title": case.title, **case.details}


async def alerts(req: func.HttpRequest) -> func.HttpResponse:
    services = get_services()
    source = source_of_key(services.settings, _presented_key(req))
    if source is None:
        return _unauthorized()
    try:
        if req.method == "GET":
            cases = await services.store.cases(Process.NOTIFICATION)
            return json_response({"alerts": [_view(c) for c in cases if c.details.get("source") == source]})
        return await _create(services, source, req)
    except StorageUnavailable:
        return json_response({"error": "unavailable", "message": "Storage is unavailable; try again."}, 503)


async def _create(services: Services, source: str, req: func.HttpRequest) -> func.HttpResponse:
    body = req.get_body() or b""
    if len(body) > MAX_BODY:
        return json_response({"error": "too_large", "message": f"The body is over {MAX_BODY // 1024} KiB."}, 413)
    if req.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return json_response({"error": "unsupported_type", "message": "Send application/json."}, 415)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return json_response({"error": "bad_json", "message": "The body is not valid JSON."}, 400)
    if not isinstance(data, dict):
        return json_response({"error": "bad_json", "message": "The body must be a JSON object."}, 400)
    try:
        alert = AlertIn.model_validate(data)
    except ValidationError as exc:
        return json_response({"error": "validation", "errors": field_errors(exc, "en")}, 422)
    case, created = await publish_alert(services, source, alert)
    return json_response(_view(case), 201 if created else 200, {"Location": services.link(f"alerts/{case.reference}")})


async def alert(req: func.HttpRequest) -> func.HttpResponse:
    services = get_services()
    source = source_of_key(services.settings, _presented_key(req))
    if source is None:
        return _unauthorized()
    reference = req.route_params.get("reference", "")
    try:
        stored = await services.store.load(reference)
        if stored is None or stored.case.process != Process.NOTIFICATION:
            return json_response({"error": "not_found"}, 404)
        if stored.case.details.get("source") != source:
            return json_response({"error": "forbidden", "message": "This alert belongs to another source."}, 403)
        ledger = await services.store.mails(reference)
    except StorageUnavailable:
        return json_response({"error": "unavailable"}, 503)
    return json_response(
        {
            **_view(stored.case),
            "ledger": [
                {"recipient": m.mail.to, "revision": m.mail.purpose.removeprefix("alert-r"), "state": m.status}
                for m in ledger
                if m.mail.purpose.startswith("alert-r")
            ],
        }
    )
