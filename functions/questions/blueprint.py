"""HTTP triggers of process D: the question form and API. Handlers are imported on first call (light cold start)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("questions")
@bp.route(route="questions", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def questions(req: func.HttpRequest) -> func.HttpResponse:
    """GET the question form; POST a question as a form or as JSON."""
    from ..composition import get_services
    from ..web.forms import handle_form
    from .workflow import QUESTION_FORM

    return await handle_form(req, QUESTION_FORM, get_services())
