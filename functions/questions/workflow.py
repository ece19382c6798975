"""Process D, questions and guidance: how a question becomes a case."""

from __future__ import annotations

from ..core.cases import CaseIntake, Submission, open_case
from ..core.forms import WebForm
from ..core.model import Case, Channel, Process
from ..core.services import Services
from .models import Question

QUESTIONS = CaseIntake(
    name="question-form",
    process=Process.QUESTION,
    acknowledgement_template="question_received",
    bits_template="question_to_bits",
    bits_role="support",
)


async def ask_question(services: Services, question: Question, channel: Channel, masked: int = 0) -> Case:
    """Open a question case: the asker gets a receipt with the reference, Bits gets the question."""
    return await open_case(
        services,
        QUESTIONS,
        Submission(
            kind="question",
            organisation_number=question.organisation_number,
            name=question.name,
            email=question.email,
            title=question.subject,
            language=question.language,
            environment=question.environment,
            details={"service": question.service, "category": question.category},
            text={"question": question.question},
            identity_numbers_removed=masked,
        ),
        channel,
    )


QUESTION_FORM = WebForm(template="question", model=Question, submit=ask_question)
