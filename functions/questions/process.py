"""Process D, questions and professional guidance, at a glance."""

from __future__ import annotations

from ..core.model import Process
from ..core.processes import ProcessDeclaration
from .workflow import EMAILED_QUESTIONS, QUESTION_DECISION, QUESTION_FORM

PROCESS = ProcessDeclaration(
    process=Process.QUESTION,
    name="questions",
    summary="An insurer asks (form or email); Bits answers by replying, asks NAV/Altinn/Digdir, marks FAQ, closes, "
    "or continues the question as an error report or a change request.",
    forms=(QUESTION_FORM,),
    intakes=(EMAILED_QUESTIONS,),
    decisions=(QUESTION_DECISION,),
)
