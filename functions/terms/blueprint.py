"""HTTP triggers of the terms (process E). Handlers are imported on first call (light cold start)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("terms_publish")
@bp.route(route="terms", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def terms_publish(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in admin): GET the form to publish a terms version; POST previews it, then publishes it (form
    or JSON; `?preview=1` or `"preview": true` previews only)."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .views import publish_page

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "admin"), func.HttpResponse):
        return staff
    return await publish_page(req, services, staff)


@bp.function_name("terms_acceptances")
@bp.route(route="terms/{reference}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def terms_acceptances(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): which connected company has accepted the version, by whom and when (JSON)."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .views import acceptances

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await acceptances(req, services)


@bp.function_name("terms_accept")
@bp.route(route="terms-accept", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def terms_accept(req: func.HttpRequest) -> func.HttpResponse:
    """A company's signed link: GET shows the version and a button, POST accepts it."""
    from ..composition import get_services
    from .views import accept_page

    return await accept_page(req, get_services())


@bp.function_name("terms_document")
@bp.route(route="terms-document/{sha256}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def terms_document(req: func.HttpRequest) -> func.HttpResponse:
    """The PDF of a published terms version that Bits emailed; nothing else is served from here."""
    from ..composition import get_services
    from ..web.http import json_response
    from .by_email import terms_document as document

    found = await document(get_services(), req.route_params.get("sha256", ""))
    if found is None:
        return json_response({"error": "not_found"}, 404)
    return func.HttpResponse(
        found,
        mimetype="application/pdf",
        headers={"Content-Disposition": "inline; filename=vilkar.pdf", "X-Content-Type-Options": "nosniff"},
    )
