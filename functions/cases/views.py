"""What the case endpoints show: JSON for Bits, HTML pages for submitters."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from ..core.http import html_response, json_response
from ..core.model import Process
from ..core.services import Services
from ..core.store import StorageUnavailable


async def case_json(services: Services, reference: str) -> dict[str, Any] | None:
    stored = await services.store.load(reference)
    if stored is None:
        return None
    events = await services.store.events(reference)
    mails = await services.store.mails(reference)
    return {
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


async def list_cases(services: Services, process: str | None, status: str | None) -> func.HttpResponse:
    chosen: Process | None = None
    if process:
        try:
            chosen = Process(process.upper())
        except ValueError:
            return json_response({"error": "validation", "message": "process must be one of A, B, C, D, E"}, 400)
    if status is not None and (len(status) > 40 or not status.replace("_", "").isalnum()):
        return json_response({"error": "validation", "message": "status must be a status name"}, 400)
    cases = await services.store.cases(chosen, status or None)
    return json_response({"cases": [c.model_dump(mode="json") for c in cases]})


async def case_page_html(services: Services, reference: str, language: str, *, receipt: bool) -> func.HttpResponse:
    try:
        stored = await services.store.load(reference)
        events = await services.store.events(reference) if stored else []
    except StorageUnavailable:
        return html_response(services.renderer.page("unavailable", language=language), 503)
    if stored is None:
        return html_response(services.renderer.page("not_found", language=language), 404)
    public = [e for e in events if e.public]
    body = services.renderer.page("case", language=language, case=stored.case, events=public, receipt=receipt)
    return html_response(body, headers={"Cache-Control": "no-store"})


def confirm_page_html(
    services: Services, token: str, language: str, *, outcome: str | None, case: Any = None, status: int | None = None
) -> func.HttpResponse:
    body = services.renderer.page("confirm", language=language, token=token, outcome=outcome, case=case)
    code = status or (400 if outcome == "invalid" else 200)
    return html_response(body, code, {"Cache-Control": "no-store"})
