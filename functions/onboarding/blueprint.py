"""HTTP triggers of process A: registration and the request to connect to production. Handlers load on first call."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("onboarding_registration")
@bp.route(route="onboarding/registration", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def onboarding_registration(req: func.HttpRequest) -> func.HttpResponse:
    """GET the registration form (contacts as rows); POST it as a form or as JSON."""
    from ..composition import get_services
    from ..web.forms import handle_form
    from .workflow import REGISTRATION_FORM

    return await handle_form(req, REGISTRATION_FORM, get_services())


@bp.function_name("onboarding_production")
@bp.route(route="onboarding/production", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def onboarding_production(req: func.HttpRequest) -> func.HttpResponse:
    """GET the form to ask for production; POST it as a form or as JSON (from a registered contact)."""
    from ..composition import get_services
    from ..web.forms import handle_form
    from .workflow import PRODUCTION_FORM

    return await handle_form(req, PRODUCTION_FORM, get_services())


@bp.function_name("onboarding_production_confirm")
@bp.route(route="onboarding/production/confirm", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def onboarding_production_confirm(req: func.HttpRequest) -> func.HttpResponse:
    """The contact's signed link: GET shows the production request and a button, POST sends it to Bits."""
    from ..composition import get_services
    from ..core.signing import verify
    from ..core.store import StorageUnavailable
    from ..web.http import html_response, requested_language
    from .workflow import PRODUCTION_PURPOSE, order_production

    services = get_services()
    language = requested_language(req)
    token = req.params.get("k", "")
    payload = verify(services.settings.verification_keys, PRODUCTION_PURPOSE, token, services.clock.now())
    request = payload["q"] if payload else None
    outcome, case, status = (None if payload else "invalid"), None, 200
    try:
        if req.method == "POST" and payload:
            outcome, case = await order_production(services, token)
    except StorageUnavailable:
        outcome, status = "unavailable", 503
    if outcome == "invalid":
        status = 400
    page = services.renderer.page(
        "production_confirm",
        language=language,
        token=token,
        outcome=outcome,
        case=case,
        request=request if req.method == "GET" and outcome is None else None,
    )
    return html_response(page, status, {"Cache-Control": "no-store"})


@bp.function_name("registry_organisation")
@bp.route(route="registry/organisations/{number}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def registry_organisation(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): one company as the registry holds it now: status, environments, contacts,
    terms accepted."""
    from ..composition import get_services
    from ..core.store import StorageUnavailable
    from ..web.http import json_response
    from ..web.staff import require_staff

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    try:
        found = await services.registry_store.get_organisation(req.route_params.get("number", ""))
    except StorageUnavailable:
        return json_response({"error": "unavailable"}, 503)
    if found is None:
        return json_response({"error": "not_found"}, 404)
    return json_response(found.model_dump(mode="json"))


@bp.function_name("registry_contacts")
@bp.route(route="registry/contacts", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def registry_contacts(req: func.HttpRequest) -> func.HttpResponse:
    """A company changes its contacts (form or JSON); an existing contact confirms it through a signed link."""
    from ..composition import get_services
    from ..web.forms import handle_form
    from .contacts import CONTACTS_FORM

    return await handle_form(req, CONTACTS_FORM, get_services())


@bp.function_name("registry_contacts_confirm")
@bp.route(route="registry/contacts/confirm", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def registry_contacts_confirm(req: func.HttpRequest) -> func.HttpResponse:
    """The existing contact's signed link: GET shows the change and a button, POST applies it."""
    from ..composition import get_services
    from .contacts import confirm_page

    return await confirm_page(req, get_services())
