"""Bits' export of one case as JSON: the case, its events, its mails' metadata and its attachments' names.

A download for Bits (a request for access, a hand-over, a copy before retention erases it): what the store holds, so
that after erasure it shows the erased skeleton. Decision tokens are listed without their values (credentials) and
taken out of the mails' subjects, as the case view does; the submitter's own link token is left out too. Exporting
writes nothing to the case: an export is no activity on it and never moves its retention date.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func

from ..core.services import Services
from ..core.store import StorageUnavailable
from ..core.tokens import without_token
from ..web.http import html_response, requested_language
from ..web.staff import StaffMember
from .case_view import read_case

log = logging.getLogger(__name__)

_CREDENTIALS = frozenset({"submitter_token"})


async def case_export(req: func.HttpRequest, services: Services, staff: StaffMember) -> func.HttpResponse:
    """GET /api/bits/cases/{reference}/export (the trigger has checked the sign-in)."""
    reference = req.route_params.get("reference", "")
    language = requested_language(req)
    try:
        record = await read_case(services, reference, language)
    except StorageUnavailable:
        return html_response(services.renderer.page("unavailable", language=language), 503)
    if isinstance(record, func.HttpResponse):
        return record
    stored, events, mails, tokens = record
    issued = {t.token for t in tokens}
    case = stored.case.model_dump(mode="json")
    case["details"] = {k: v for k, v in case["details"].items() if k not in _CREDENTIALS}
    document: dict[str, Any] = {
        "exported_at": services.clock.now().isoformat(),
        "case": case,
        "events": [e.model_dump(mode="json") for e in events],
        "mails": [
            {
                "purpose": m.mail.purpose,
                "to": m.mail.to,
                "subject": without_token(m.mail.subject, issued),
                "status": m.status,
                "attempts": m.attempts,
                "queued_at": m.mail.created_at.isoformat(),
                "due_at": m.due_at.isoformat() if m.due_at else None,
                "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                "last_error": m.last_error,
            }
            for m in mails
        ],
        "attachments": [
            {
                "at": e.at.isoformat(),
                "filename": a.get("filename"),
                "content_type": a.get("content_type"),
                "size": a.get("size"),
                "stored": bool(a.get("stored")),
            }
            for e in events
            for a in e.data.get("attachments") or []
            if isinstance(a, dict)
        ],
        "decision_tokens": [
            {
                "person": t.person,
                "decision": t.decision,
                "about": t.about,
                "expires_at": t.expires_at.isoformat(),
                "used_at": t.used_at.isoformat() if t.used_at else None,
                "used_by": t.used_by,
                "used_command": t.used_command,
            }
            for t in tokens
        ],
    }
    log.info("workspace: staff member %s exported %s", staff.object_id, reference)
    text = json.dumps(document, ensure_ascii=False, indent=2)
    # A decision-by-reply mail's purpose ends in its token (core/commands.py ask_by_reply), and an event may quote
    # the purpose: every value of the case's tokens goes, wherever it stands (a multi-use token decides after use).
    for value in sorted(issued, key=len, reverse=True):
        text = text.replace(value, "[token]")
    return func.HttpResponse(
        text,
        status_code=200,
        mimetype="application/json",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{reference}.json"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
