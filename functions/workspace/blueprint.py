"""Bits' workspace: thin triggers for the work queue (and the case view). Handlers are imported on first call."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("bits_queue")
@bp.route(route="bits", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_queue(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): the work queue of every open case, filtered and searched by the query
    (bookmarkable), as a page or, with `format=csv`, as a CSV download of the same list."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .queue import queue_response

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await queue_response(req, services)
