"""Bits' workspace: thin triggers for the case view, its attachments and its actions (imported on first call)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("bits_case")
@bp.route(route="bits/cases/{reference}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_case(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): one case in words - what was submitted, its timeline, mails, attachments,
    linked cases and the decisions people are asked for."""
    from ..catalogue import CATALOGUE
    from ..composition import get_services
    from ..web.staff import require_staff
    from .actions import panel
    from .case_view import case_page

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await case_page(
        req,
        services,
        lambda case, tokens, language: panel(services, req, case, tokens, CATALOGUE.decisions, staff, language),
    )


@bp.function_name("bits_case_action")
@bp.route(route="bits/cases/{reference}/actions", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_case_action(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member with the decision's role): a decision from the case view's form, taken as the
    email reply takes it (the same handler, states and ETag), then back to the case view."""
    from ..catalogue import CATALOGUE
    from ..composition import get_services
    from ..web.staff import require_staff
    from .actions import take_action

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await take_action(req, services, CATALOGUE.decisions, staff)


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


@bp.function_name("bits_case_export")
@bp.route(route="bits/cases/{reference}/export", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_case_export(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): one case as a JSON download - the case, its events, its mails' metadata and
    its attachments' names, as stored (after retention, the erased skeleton)."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .case_export import case_export

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await case_export(req, services, staff)
