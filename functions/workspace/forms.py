"""What every form of Bits' workspace shares: reading a posted form (a browser's, with its CSRF token and one-time
action id) and the refusals of that step, in words. Each page adds the refusals of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import azure.functions as func

from ..core.glossary import Words
from ..core.services import Services
from ..web.forms import CSRF_FIELD, BodyRejected, form_submission, read_body

# The refusals of reading the form, by kind: the HTTP status and the words (nb, en).
FORM_STATUS: dict[str, int] = {"expired": 403, "form_only": 415, "unsafe": 422, "unavailable": 503}
FORM_WORDS: dict[str, Words] = {
    "expired": (
        "Skjemaet er utløpt eller ble ikke sendt fra denne siden. Åpne siden på nytt og prøv igjen. "
        "Ingenting er endret.",
        "The form has expired or was not sent from this page. Open the page again and try again. Nothing was changed.",
    ),
    "form_only": (
        "Dette gjøres fra skjemaene på siden (application/x-www-form-urlencoded). Ingenting er endret.",
        "This is done from the forms on the page (application/x-www-form-urlencoded). Nothing was changed.",
    ),
    "unsafe": (
        "Teksten inneholder kontrolltegn eller usynlige tegn som endrer skriveretningen. Fjern dem og send på nytt. "
        "Ingenting er endret.",
        "The text contains control characters or invisible characters that change the writing direction. Remove "
        "them and send again. Nothing was changed.",
    ),
    "unavailable": (
        "Lagringen svarte ikke. Prøv igjen om litt: skjemaet blir ikke utført to ganger.",
        "Storage did not answer. Try again shortly: the form will not be applied twice.",
    ),
}


@dataclass(frozen=True)
class Posted:
    """A form a signed-in browser sent from one of our pages: its fields (without the CSRF token) and its one-time
    action id, the marker that makes a form sent twice apply once."""

    data: dict[str, Any]
    action_id: str


def read_posted(req: func.HttpRequest, services: Services, language: str) -> Posted | str | func.HttpResponse:
    """The posted form; or the kind of refusal to answer with (a key of FORM_WORDS); or, for a body not read at all
    (too large, too deep, not UTF-8), the plain answer `read_body` gives."""
    try:
        data, is_browser = read_body(req, language, services.settings.max_body_bytes)
    except BodyRejected as rejected:
        # Text with characters we refuse is told on a page; a body we do not read at all gets the plain answer.
        return "unsafe" if rejected.fields else rejected.response
    if not is_browser:
        return "form_only"
    action_id = form_submission(req, services, data.pop(CSRF_FIELD, ""))
    return Posted(data, action_id) if action_id is not None else "expired"
