"""HTTP triggers of process C: the error report form and API. Handlers are imported on first call."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("incidents")
@bp.route(route="incidents", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def incidents(req: func.HttpRequest) -> func.HttpResponse:
    """GET the error report form; POST an error report as a form or as JSON."""
    from ..composition import get_services
    from ..web.forms import handle_form
    from .workflow import ERROR_REPORT_FORM

    return await handle_form(req, ERROR_REPORT_FORM, get_services())


@bp.function_name("security_breaches")
@bp.route(route="incidents/security", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def security_breaches(req: func.HttpRequest) -> func.HttpResponse:
    """GET the security breach form; POST a breach as a form or as JSON. Never held back."""
    from ..composition import get_services
    from ..web.forms import handle_form
    from .security import SECURITY_BREACH_FORM

    return await handle_form(req, SECURITY_BREACH_FORM, get_services())
