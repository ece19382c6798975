"""Small helpers for HTTP responses and the user's language, and the one reader of JSON bodies (`parse_json`)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import azure.functions as func

from ..core.page_address import note_page_query

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


# A web intake's outcome, by the answer it gave: the words the `ssu.intake.outcome` counter is split by.
_OUTCOMES = {200: "shown", 201: "opened", 202: "pending", 303: "opened", 400: "rejected", 401: "unauthorised"}
_OUTCOMES |= {403: "expired", 409: "conflict", 413: "too_large", 415: "unsupported", 422: "invalid"}
_OUTCOMES |= {429: "rate_limited", 503: "unavailable"}


def intake_outcome(status: int, replayed: bool = False) -> str:
    """What a form or API intake did, by its answer's status: `opened`, `invalid`, `rate_limited`, ..."""
    if replayed:
        return "replayed"
    return _OUTCOMES.get(status, "failed" if status >= 500 else f"status_{status}")


def requested_language(req: func.HttpRequest, fallback: str = "nb") -> str:
    """en when the query says lang=en (or the body's language field said so), else nb. Every page asks this
    first, so it notes the request's query here for the page's language switch (templates/base/page.html)."""
    note_page_query(req.params)
    value = (req.params.get("lang") or fallback).lower()
    return "en" if value == "en" else "nb"


def wants_json(req: func.HttpRequest) -> bool:
    content_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
    accept = req.headers.get("accept", "")
    return content_type == "application/json" or ("application/json" in accept and "text/html" not in accept)


MAX_JSON_DEPTH = 8  # the deepest body (a registration's contacts) is 3; deeper is an attack on the parser
_INT_LIMIT = 2**63  # what Table Storage holds (Int64); no body of ours needs more
# Refused in every string of a body, keys too: control characters but tab and line breaks (NUL among them),
# unpaired surrogates (no UTF-8 can carry them: they would break every write and page later), and the bidirectional
# embeddings, overrides and isolates that make a title read otherwise than it is ("Trojan Source"). The marks (LRM,
# RLM, ALM) stay: they reorder nothing beyond themselves, and right-to-left names need them.
UNSAFE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


class BadBody(Exception):
    """A body we do not read: `kind` says why (bad_json, too_deep, bad_number, unsafe_text); `fields` are the paths
    of the strings with unsafe characters (`contacts.0.name`, "body" for a key)."""

    def __init__(self, kind: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(kind)
        self.kind, self.fields = kind, fields


class _BadNumber(ValueError):
    """A number in a body that no field of ours can hold (beyond 64 bits, infinite, NaN)."""


def _int(text: str) -> int:
    if len(text) > 20 or not -_INT_LIMIT <= int(text) < _INT_LIMIT:  # the length first: int() of 100 000 digits
        raise _BadNumber(text[:20])
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999999 is infinity
        raise _BadNumber(text[:20])
    return value


def _constant(text: str) -> float:
    raise _BadNumber(text)  # NaN, Infinity, -Infinity: not JSON, though Python would read them


def parse_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON body as Python values, or BadBody: not UTF-8 JSON, nested deeper than `max_depth`, a number no field
    can hold (beyond Int64, infinite, NaN), or a string with unsafe characters (`UNSAFE_TEXT`). Every JSON endpoint
    reads its body here, so that none answers such a body with a 500."""
    try:
        data = json.loads(body, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except _BadNumber:
        raise BadBody("bad_number") from None
    except RecursionError:  # nested deeper than Python's parser goes (a 2 KB body of 1000 brackets)
        raise BadBody("too_deep") from None
    except (ValueError, UnicodeDecodeError):
        raise BadBody("bad_json") from None
    deepest, unsafe = 0, []
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:  # iteratively: the walk must not be the recursion it guards against
        item, level, path = stack.pop()
        if isinstance(item, str):
            if UNSAFE_TEXT.search(item):
                unsafe.append(path or "body")
        elif isinstance(item, dict | list):
            deepest = max(deepest, level + 1)
            if deepest > max_depth:
                raise BadBody("too_deep")
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str) and UNSAFE_TEXT.search(key):
                    unsafe.append(path or "body")
                    continue
                stack.append((child, level + 1, f"{path}.{key}" if path else str(key)))
    if unsafe:
        raise BadBody("unsafe_text", tuple(sorted(set(unsafe))))
    return data


def unsafe_fields(data: dict[str, Any]) -> tuple[str, ...]:
    """The fields of a browser form's data (flat: a name and a text or a list of texts) with unsafe characters."""
    found = {
        name if not UNSAFE_TEXT.search(name) else "body"
        for name, value in data.items()
        if UNSAFE_TEXT.search(name)
        or any(UNSAFE_TEXT.search(v) for v in (value if isinstance(value, list) else [value]))
    }
    return tuple(sorted(found))
