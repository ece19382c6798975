"""HTTP triggers shared by every process: the submitter's case page, email confirmation, and Bits' read API.

Triggers import their handlers on first call, so that indexing the app (a cold start) stays light.
"""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("case_page")
@bp.route(route="case-page/{reference}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def case_page(req: func.HttpRequest) -> func.HttpResponse:
    """The submitter's view of their case, behind the signed link from their emails; POST adds a message or files
    from the page's box, as a reply by email would."""
    from ..composition import get_services
    from . import views

    return await views.case_page(req, get_services())


@bp.function_name("confirm_submitter")
@bp.route(route="confirm", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def confirm(req: func.HttpRequest) -> func.HttpResponse:
    """GET shows a button (link scanners only GET); POST confirms the submitter's address and lets the case go on."""
    from ..composition import get_services
    from . import views

    return await views.confirm(req, get_services())


@bp.function_name("cases_get")
@bp.route(route="cases/{reference}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def cases_get(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): one case with its events and mails, as JSON."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from . import views

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await views.case_json(req, services)


@bp.function_name("cases_list")
@bp.route(route="cases", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def cases_list(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): cases filtered by ?process=A..E and ?status=, as JSON."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from . import views

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await views.list_cases(req, services)
