"""HTTP triggers of process E: the change request form and API. Handlers are imported on first call."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("change_requests")
@bp.route(route="change-requests", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def change_requests(req: func.HttpRequest) -> func.HttpResponse:
    """GET the change request form; POST a change request as a form or as JSON."""
    from ..composition import get_services
    from ..web.forms import handle_form
    from .workflow import CHANGE_REQUEST_FORM

    return await handle_form(req, CHANGE_REQUEST_FORM, get_services())
