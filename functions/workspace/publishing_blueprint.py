"""Bits' workspace: thin triggers for the alert drafts and terms page and its actions (imported on first call)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("bits_publishing")
@bp.route(route="bits/publishing", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_publishing(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): the alert drafts waiting for Bits with what the companies would get, the
    notices out now, and the published terms versions with their acceptances."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .publishing import publishing_page

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await publishing_page(req, services, staff)


@bp.function_name("bits_publishing_draft")
@bp.route(route="bits/publishing/drafts/{reference}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_publishing_draft(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): publish or discard an alert draft, as the PUBLISER/FORKAST reply does (the
    case view's action, for the draft decision only), then back to the page."""
    from ..alerts.drafts import DRAFT, DRAFT_DECISION
    from ..composition import get_services
    from ..web.staff import require_staff
    from .actions import take_action
    from .publishing import back_to_publishing

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await take_action(req, services, {DRAFT: DRAFT_DECISION}, staff, back_to_publishing)


@bp.function_name("bits_publishing_terms")
@bp.route(route="bits/publishing/terms", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_publishing_terms(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): on to the terms' publish-with-preview form for an admin; a page in words
    saying it needs the admin role for anyone else."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .publishing import terms_publishing

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return terms_publishing(req, services, staff)
