"""HTTP triggers of process D: the question form and API."""

from __future__ import annotations

import azure.functions as func

from ..core.forms import WebForm, handle_form
from .models import Question
from .workflow import ask_question

bp = func.Blueprint()

QUESTION_FORM = WebForm(template="question", model=Question, submit=ask_question)


@bp.function_name("questions")
@bp.route(route="questions", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def questions(req: func.HttpRequest) -> func.HttpResponse:
    """GET the question form; POST a question as a form or as JSON."""
    return await handle_form(req, QUESTION_FORM)
