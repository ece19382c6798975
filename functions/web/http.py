"""Small helpers for HTTP responses and the user's language."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(data, ensure_ascii=False, default=str),
        status_code=status,
        mimetype="application/json",
        headers={"X-Content-Type-Options": "nosniff", **(headers or {})},
    )


def html_response(body: str, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        body, status_code=status, mimetype="text/html", charset="utf-8", headers={**SECURITY_HEADERS, **(headers or {})}
    )


def requested_language(req: func.HttpRequest, fallback: str = "nb") -> str:
    """en when the query says lang=en (or the body's language field said so), else nb."""
    value = (req.params.get("lang") or fallback).lower()
    return "en" if value == "en" else "nb"


def wants_json(req: func.HttpRequest) -> bool:
    content_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
    accept = req.headers.get("accept", "")
    return content_type == "application/json" or ("application/json" in accept and "text/html" not in accept)
