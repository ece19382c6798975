"""HTTP triggers shared by every process: the submitter's case page, email confirmation, and Bits' read API."""

from __future__ import annotations

import azure.functions as func

from ..core.cases import CaseIntake, confirm_submitter
from ..core.http import html_response, json_response, requested_language
from ..core.model import Process
from ..core.services import get_services
from ..core.signing import verify
from ..core.store import StorageUnavailable
from ..questions.workflow import QUESTIONS
from .views import case_json, case_page_html, confirm_page_html, list_cases

bp = func.Blueprint()

INTAKES: dict[Process, CaseIntake] = {intake.process: intake for intake in (QUESTIONS,)}


@bp.function_name("case_page")
@bp.route(route="case-page/{reference}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def case_page(req: func.HttpRequest) -> func.HttpResponse:
    """The submitter's view of their case, behind the signed link from their emails."""
    services = get_services()
    reference = req.route_params.get("reference", "")
    payload = verify(
        services.settings.effective_signing_key, "case-page", req.params.get("k", ""), services.clock.now()
    )
    if payload is None or payload.get("r") != reference:
        return html_response(services.renderer.page("not_found", language=requested_language(req)), 404)
    return await case_page_html(services, reference, requested_language(req), receipt=req.params.get("receipt") == "1")


@bp.function_name("confirm_submitter")
@bp.route(route="confirm", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def confirm(req: func.HttpRequest) -> func.HttpResponse:
    """GET shows a button (link scanners only GET), POST confirms the submitter's address and lets the case go on."""
    services = get_services()
    language = requested_language(req)
    token = req.params.get("t", "")
    if req.method == "GET":
        return confirm_page_html(services, token, language, outcome=None)
    try:
        result = await confirm_submitter(services, token, INTAKES)
    except StorageUnavailable:
        return confirm_page_html(services, token, language, outcome="unavailable", status=503)
    return confirm_page_html(services, token, language, outcome=result.outcome, case=result.case)


@bp.function_name("cases_get")
@bp.route(route="cases/{reference}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def cases_get(req: func.HttpRequest) -> func.HttpResponse:
    """Bits: one case with its events and mails, as JSON."""
    try:
        body = await case_json(get_services(), req.route_params.get("reference", ""))
    except StorageUnavailable:
        return json_response({"error": "unavailable"}, 503)
    return json_response(body) if body else json_response({"error": "not_found"}, 404)


@bp.function_name("cases_list")
@bp.route(route="cases", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def cases_list(req: func.HttpRequest) -> func.HttpResponse:
    """Bits: cases filtered by ?process=A..E and ?status=, as JSON."""
    try:
        return await list_cases(get_services(), req.params.get("process"), req.params.get("status"))
    except StorageUnavailable:
        return json_response({"error": "unavailable"}, 503)
