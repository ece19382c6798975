"""The alert API for NAV, Altinn and Digdir: authenticated per source, JSON in and out, precise errors, never 5xx
for bad input."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from ..core import telemetry
from ..core.mail import MailRecord
from ..core.model import Case, Process
from ..core.services import Services
from ..core.store import ConcurrentUpdate, StorageUnavailable, StoredCase
from ..web.forms import BodyRejected, field_errors, read_body
from ..web.http import intake_outcome, json_response
from .models import AlertClosing, AlertIn, AlertUpdate
from .workflow import close_alert, publish_alert, revise_alert, source_of_key

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


async def alerts(req: func.HttpRequest, services: Services) -> func.HttpResponse:
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


M = TypeVar("M", bound=BaseModel)


def _read(req: func.HttpRequest, model: type[M]) -> M | func.HttpResponse:
    """The body as `model`, or the 4xx response that says what is wrong with it (read as every JSON body is)."""
    try:
        data, _ = read_body(req, "en", MAX_BODY, browser=False)
    except BodyRejected as rejected:
        return rejected.response
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return json_response({"error": "validation", "errors": field_errors(exc, "en")}, 422)


async def _create(services: Services, source: str, req: func.HttpRequest) -> func.HttpResponse:
    """One `intake alert` span, counted by outcome (a notice sent again is `replayed`: it changes nothing)."""
    with telemetry.operation("intake alert", one_case=True, channel="api") as intake:
        alert = _read(req, AlertIn)
        if isinstance(alert, func.HttpResponse):
            outcome = intake_outcome(alert.status_code)
        else:
            case, created = await publish_alert(services, source, alert)
            link = services.link(f"alerts/{case.reference}")
            outcome = intake_outcome(201, replayed=not created)
            alert = json_response(_view(case), 201 if created else 200, {"Location": link})
        intake.note(outcome=outcome)
        telemetry.count("ssu.intake.outcome", channel="api", outcome=outcome)
        return alert


async def _own_alert(req: func.HttpRequest, services: Services) -> tuple[Services, StoredCase] | func.HttpResponse:
    source = source_of_key(services.settings, _presented_key(req))
    if source is None:
        return _unauthorized()
    stored = await services.store.load(req.route_params.get("reference", ""))
    if stored is None or stored.case.process != Process.NOTIFICATION:
        return json_response({"error": "not_found"}, 404)
    if stored.case.details.get("source") != source:
        return json_response({"error": "forbidden", "message": "This alert belongs to another source."}, 403)
    return services, stored


async def revise(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """PATCH: a new revision, sent to those who got the alert."""
    try:
        found = await _own_alert(req, services)
        if isinstance(found, func.HttpResponse):
            return found
        services, stored = found
        if stored.case.status == "closed":
            return json_response({"error": "closed", "message": "The alert is closed."}, 409)
        update = _read(req, AlertUpdate)
        if isinstance(update, func.HttpResponse):
            return update
        changes = update.model_dump(mode="json", exclude_unset=True)
        if not changes:
            return json_response({"error": "validation", "message": "Give at least one field to change."}, 422)
        merged = {**stored.case.details, **changes}
        ends, starts = merged.get("ends_at"), merged.get("starts_at")
        if ends and starts and datetime.fromisoformat(ends) <= datetime.fromisoformat(starts):
            return json_response(
                {"error": "validation", "errors": {"ends_at": "ends_at must be after starts_at."}}, 422
            )
        try:
            case = await revise_alert(services, stored, changes)
        except ConcurrentUpdate:
            return json_response({"error": "conflict", "message": "The alert changed meanwhile; send it again."}, 409)
    except StorageUnavailable:
        return json_response({"error": "unavailable"}, 503)
    return json_response(_view(case))


async def resolve(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """POST …/resolve: resolved, completed or cancelled, with a closing text to those who got the alert."""
    try:
        found = await _own_alert(req, services)
        if isinstance(found, func.HttpResponse):
            return found
        services, stored = found
        closing = _read(req, AlertClosing)
        if isinstance(closing, func.HttpResponse):
            return closing
        try:  # closing twice is closing once (and finishes a closing whose fan-out was cut short)
            case = await close_alert(services, stored, closing.outcome, closing.text)
        except ConcurrentUpdate:
            return json_response({"error": "conflict", "message": "The alert changed meanwhile; send it again."}, 409)
    except StorageUnavailable:
        return json_response({"error": "unavailable"}, 503)
    return json_response(_view(case))


async def alert(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    try:
        found = await _own_alert(req, services)
        if isinstance(found, func.HttpResponse):
            return found
        services, stored = found
        ledger = await services.store.mails(stored.case.reference)
        events = await services.store.events(stored.case.reference)
    except StorageUnavailable:
        return json_response({"error": "unavailable"}, 503)
    # A delivery report names the recipient and, mostly, the Message-ID of the mail that bounced; without the id it
    # counts against every alert mail to that recipient.
    bounced = {
        (recipient, e.data.get("message_id") or "*")
        for e in events
        if e.kind == "mail_bounced" and e.data.get("permanent")
        for recipient in e.data.get("recipients", [])
    }

    def state(m: MailRecord) -> str:
        to = m.mail.to.casefold()
        return "bounced" if {(to, m.mail.message_id), (to, "*")} & bounced else m.status

    return json_response(
        {
            **_view(stored.case),
            "ledger": [
                {"recipient": m.mail.to, "mail": m.mail.purpose.removeprefix("alert-"), "state": state(m)}
                for m in ledger
                if m.mail.purpose.startswith("alert-")
            ],
        }
    )
