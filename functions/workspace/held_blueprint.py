"""Bits' workspace: thin triggers for the held messages and the actions on them (imported on first call)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("bits_held")
@bp.route(route="bits/held", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_held(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): the messages held for Bits with the reason, open ones or (`show=handled`)
    those handled, with what was done."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .held import held_page

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await held_page(req, services)


@bp.function_name("bits_held_action")
@bp.route(route="bits/held/{key}/actions", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_held_action(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in support member): attach a held message to a case, open it as a new case, discard it, or
    mark its sender as a known contact (then on to the registry's add-contact form); recorded on the message."""
    from ..catalogue import CATALOGUE
    from ..composition import get_services
    from ..web.staff import require_staff
    from .held import take_held_action

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await take_held_action(req, services, CATALOGUE, staff)
