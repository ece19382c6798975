"""Process D, questions and guidance: how a question becomes a case."""

from __future__ import annotations

import hashlib

from ..core.cases import CaseIntake, Submission, open_case
from ..core.forms import WebForm
from ..core.mail import mail_id
from ..core.model import Case, CaseEvent, Channel, Process
from ..core.privacy import mask_identity_numbers
from ..core.registry import Registry
from ..core.services import Services
from ..core.store import StoredCase
from ..intake.commands import Change, Command, Decision, Reply
from .models import Question

QUESTIONS = CaseIntake(
    name="question-form",
    bits_decision="question.bits",
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


# -- Bits answers by replying to the question's notice ---------------------------------------------------------------

RESOLVE = Command("resolve", ("LØST", "RESOLVED"))


async def bits_answers(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
    """A reply from Bits: plain text is relayed to the asker as the answer; LØST/RESOLVED closes the question."""
    case = stored.case
    now = services.clock.now()
    text, _ = mask_identity_numbers(reply.text)
    resolved = reply.command == RESOLVE
    changed = case.model_copy(update={"status": "closed" if resolved else "answered", "updated_at": now})
    event = CaseEvent(
        at=now,
        actor=reply.sender,
        channel=Channel.EMAIL,
        kind="resolved" if resolved else "answered",
        public=True,
        summary="Bits closed the question" if resolved else "Bits answered the question",
        data={"text": text, "message_id": reply.message_id},
    )
    answer_key = hashlib.sha256(reply.message_id.encode()).hexdigest()[:16]
    # Threaded under the asker's acknowledgement, whose Message-ID follows from its identity.
    acknowledgement = (
        f"<{case.reference}.{mail_id('acknowledgement', case.submitter_email)}@{services.settings.mail_domain}>"
    )
    mail = services.compose(
        reference=case.reference,
        purpose="resolved" if resolved else f"answer-{answer_key}",
        to=case.submitter_email,
        template="question_resolved" if resolved else "question_answer",
        language=case.language,
        in_reply_to=acknowledgement,
        case=changed,
        answer=text,
        case_link=services.case_page_link(case.reference),
    )
    return Change(changed, event, [mail])


QUESTION_DECISION = Decision(
    name="question.bits",
    commands=(RESOLVE,),
    states=frozenset({"new", "answered"}),
    handle=bits_answers,
    accepts_plain_text=True,
)
