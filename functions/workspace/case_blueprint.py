"""Bits' workspace: thin triggers for the case view and its attachments. Handlers are imported on first call."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("bits_case")
@bp.route(route="bits/cases/{reference}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_case(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): one case in words - what was submitted, its timeline, mails, attachments,
    linked cases and the decisions people are asked for."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .case_view import case_page

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await case_page(req, services)


@bp.function_name("bits_case_attachment")
@bp.route(route="bits/cases/{reference}/attachments/{sha256}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_case_attachment(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): a kept attachment of the case, as a download."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .case_view import attachment

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await attachment(req, services)
