"""Process D, questions and guidance: how a question becomes a case."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from ..changes.workflow import EMAILED_CHANGE_REQUESTS
from ..core.cases import (
    NO_PROOF,
    AddressProof,
    CaseIntake,
    Submission,
    open_case,
    submitted,
    submitter_proven,
    tell_submitter,
)
from ..core.commands import ANSWER, Change, Command, Decision, Reply
from ..core.forms import WebForm
from ..core.mail import OutgoingMail
from ..core.model import Case, CaseEvent, Channel, Process
from ..core.privacy import mask_identity_numbers, without_sender
from ..core.registry import Registry
from ..core.services import Services
from ..core.store import AlreadyProcessed, StoredCase
from ..incidents.workflow import EMAILED_ERROR_REPORTS
from ..intake.quotes import split_reply
from .models import Question

QUESTIONS = CaseIntake(
    name="question-form",
    bits_decision="question.bits",
    process=Process.QUESTION,
    acknowledgement_template="question_received",
    bits_template="question_to_bits",
    bits_role="support",
)
# A question by email: the same decision for Bits; the receipt is the general one.
EMAILED_QUESTIONS = CaseIntake(
    "email-D", Process.QUESTION, "case_received", "case_to_bits", bits_decision="question.bits", email_route="D"
)


async def ask_question(
    services: Services, question: Question, channel: Channel, masked: int = 0, *, proof: AddressProof = NO_PROOF
) -> Case:
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
            email_proven=proof.proves(question.email),
            mail_submitter=proof.may_mail,
            filed_by=proof.filed_by,
        ),
        channel,
        markers=proof.markers,
    )


QUESTION_FORM = WebForm(
    template="question",
    route="questions",
    model=Question,
    submit=ask_question,
    intake=QUESTIONS,
    example={
        "organisation_number": "310000019",
        "name": "Frida Fagerli",
        "email": "fag@demo-forsikring.example",
        "subject": "Hvordan tolke uføregrad mot IFU?",
        "question": "Vi ser uføregrad 50 og IFU i samme svar. Hvilken skal vi bruke?",
        "service": "ufore",
        "environment": "production",
        "category": "data_interpretation",
    },
)


# -- Bits answers by replying to the question's notice ---------------------------------------------------------------

RESOLVE = Command("resolve", ("LØST", "RESOLVED"))
FAQ = Command("faq", ("FAQ",))
ASK_SOURCE = Command("forward", ("VIDERESEND", "FORWARD"), ordinary_words=True)
TO_ERROR = Command("to_error_report", ("FEIL", "ERROR"), ordinary_words=True)
TO_CHANGE = Command("to_change_request", ("ENDRING", "CHANGE"), ordinary_words=True)
SOURCES = {"NAV": "NAV", "ALTINN": "ALTINN", "DIGDIR": "DIGDIR", "MASKINPORTEN": "DIGDIR"}


async def bits_answers(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
    """A reply from Bits on a question.

    SVAR/ANSWER (+ text) is relayed to the asker as the answer (plain text is an internal note, intake/commands.py
    `apply_decision`, as in every process); LØST/RESOLVED (+ text) closes it; FAQ (+ text) answers and marks
    the answer as of general interest; VIDERESEND NAV|ALTINN|DIGDIR asks that source (its reply comes back to Bits
    to relay); FEIL/ERROR and ENDRING/CHANGE make the question an error report or a change request, linked to it.
    """
    case = stored.case
    now = services.clock.now()
    text, _ = mask_identity_numbers(reply.text)
    key = hashlib.sha256(reply.message_id.encode()).hexdigest()[:16]

    def event(kind: str, summary: str, public: bool, **data: object) -> CaseEvent:
        return CaseEvent(
            at=now,
            actor=reply.sender,
            channel=Channel.EMAIL,
            kind=kind,
            public=public,
            summary=summary,
            data={**data, "message_id": reply.message_id},
        )

    if reply.command == ASK_SOURCE:
        return await _ask_source(services, case, text, key, registry, event)
    if reply.command in (TO_ERROR, TO_CHANGE):
        return await _reclassify(services, case, reply, text, key, event)
    resolved = reply.command == RESOLVE
    faq = reply.command == FAQ
    details = {**case.details, "faq": True} if faq else case.details
    changed = case.model_copy(
        update={"status": "closed" if resolved else "answered", "updated_at": now, "details": details}
    )
    if faq and not text:
        return Change(changed.model_copy(update={"status": case.status}), event("marked_faq", "Marked as FAQ", False))
    summary = "Bits closed the question" if resolved else "Bits answered the question"
    mail = _to_asker(
        services,
        changed,
        purpose="resolved" if resolved else f"answer-{key}",
        template="question_resolved" if resolved else "question_answer",
        answer=text,
    )
    return Change(changed, event("resolved" if resolved else "answered", summary, True, text=text, faq=faq), [mail])


def _to_asker(services: Services, case: Case, *, purpose: str, template: str, **context: Any) -> OutgoingMail:
    return tell_submitter(services, case, purpose=purpose, template=template, **context)


async def _ask_source(
    services: Services, case: Case, text: str, key: str, registry: Registry, event: Callable[..., CaseEvent]
) -> Change:
    words = text.split(maxsplit=1)
    source = registry.sources.get(SOURCES.get(words[0].upper().strip(".,:"), "")) if words else None
    if source is None:
        return Change(case, event("note", "VIDERESEND without a known source (NAV, ALTINN or DIGDIR)", False))
    data = await submitted(services, case)
    # A form's question, or an email's new text only: the signature and quoted history carry the asker's details.
    question = str(data.get("question") or split_reply(str(data.get("message", "")))[0])
    question = without_sender(question, case.submitter_name, case.submitter_email)
    mails = [
        services.compose(
            reference=case.reference,
            purpose=f"ask-{source.key}-{key}",
            to=contact.email,
            template="question_to_source",
            language=contact.language,
            case=case,
            source=source.name,
            comment=words[1] if len(words) > 1 else "",
            question=question,
        )
        for contact in source.contacts
        if contact.has_role("operations")
    ]
    changed = case.model_copy(update={"updated_at": services.clock.now()})
    return Change(changed, event("asked_source", f"Bits asked {source.name}", False, source=source.key), mails)


async def _reclassify(
    services: Services, case: Case, reply: Reply, text: str, key: str, event: Callable[..., CaseEvent]
) -> Change:
    process = Process.ERROR_REPORT if reply.command == TO_ERROR else Process.CHANGE_REQUEST
    # The email intakes open C and E cases with a plain receipt.
    intake = EMAILED_ERROR_REPORTS if process == Process.ERROR_REPORT else EMAILED_CHANGE_REQUESTS
    original = await submitted(services, case)
    submission = Submission(
        kind="error_report" if process == Process.ERROR_REPORT else "change_request",
        organisation_number=case.organisation_number,
        name=case.submitter_name,
        email=case.submitter_email,
        title=case.title,
        language=case.language,
        environment=case.environment,
        details={"linked_from": case.reference, "source": "reclassified"},
        text={"message": original.get("question") or original.get("message", ""), "note_from_bits": text},
        email_proven=submitter_proven(case),  # the asker's address is as proven as it was on the question
    )

    async def open_linked_case() -> None:
        # Only once the question is closed (so a colleague's decision at the same moment leaves no orphan), and
        # with a marker, so that doing it again finds the case the first attempt opened.
        try:
            new = await open_case(services, intake, submission, Channel.EMAIL, [f"reclass-{key}"])
            new_reference = new.reference
        except AlreadyProcessed as done:
            new_reference = done.reference
        continued = event("continued", f"Continued as {new_reference}", True, continued_in=new_reference)
        with suppress(AlreadyProcessed):
            await services.store.append(case.reference, continued, markers=[f"continued-{key}"])

    changed = case.model_copy(update={"status": "closed", "updated_at": services.clock.now()})
    summary = f"Continued as a new {process.name.lower().replace('_', ' ')}"
    return Change(changed, event("reclassified", summary, True, continued_as=process.value), after=open_linked_case)


QUESTION_DECISION = Decision(
    name="question.bits",
    commands=(ANSWER, RESOLVE, FAQ, ASK_SOURCE, TO_ERROR, TO_CHANGE),
    states=frozenset({"new", "answered"}),
    handle=bits_answers,
    bits_decides=True,
)
