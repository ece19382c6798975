"""The terms' HTTP side: Bits publishes a version (form/JSON behind the function key), a company accepts through
its signed link, and Bits reads the acceptance table."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from ..core.forms import WebForm
from ..core.services import Services
from ..core.store import StorageUnavailable
from ..web.http import html_response, json_response, requested_language
from .models import TermsVersion
from .workflow import accept, acceptance_table, publish_terms, read_accept_link

TERMS_FORM = WebForm(template="terms", route="terms", model=TermsVersion, submit=publish_terms)


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
