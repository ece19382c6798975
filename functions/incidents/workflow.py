"""Process C, error reports: a report becomes a case, and Bits triages it by replying to its notice.

Triage commands (first line of Bits' reply): VIDERESEND NAV|ALTINN|DIGDIR (FORWARD …) sends the report to that
data source without the reporter's personal details; SPØRSMÅL (ASK) relays a question to the reporter; LØST
(RESOLVED) closes the case and tells the reporter; VARSEL (ALERT) makes a draft alert (process B) from the report for
Bits to publish. Text without a command is an internal note. The reporter is
told of every public change, and the source's and the reporter's replies come back onto the case.
"""

from __future__ import annotations

import hashlib
from contextlib import suppress

from ..alerts.drafts import draft_from_report
from ..core.cases import (
    NO_PROOF,
    AddressProof,
    CaseIntake,
    Submission,
    open_case,
    organisation_name,
    submitted,
    tell_submitter,
)
from ..core.commands import ANSWER, Change, Command, Decision, Reply, Step
from ..core.forms import WebForm
from ..core.mail import OutgoingMail
from ..core.model import Case, CaseEvent, Channel, Process
from ..core.privacy import mask_identity_numbers, without_sender
from ..core.registry import Registry
from ..core.services import Services
from ..core.store import AlreadyProcessed, StoredCase
from ..intake.quotes import split_reply
from .models import ErrorReport

TRIAGE = "error_report.triage"

ERROR_REPORTS = CaseIntake(
    name="error-report-form",
    process=Process.ERROR_REPORT,
    acknowledgement_template="error_report_received",
    bits_template="error_report_to_bits",
    bits_decision=TRIAGE,
)
EMAILED_ERROR_REPORTS = CaseIntake(
    "email-C", Process.ERROR_REPORT, "case_received", "case_to_bits", bits_decision=TRIAGE, email_route="C"
)


async def report_error(
    services: Services, report: ErrorReport, channel: Channel, masked: int = 0, *, proof: AddressProof = NO_PROOF
) -> Case:
    """Open an error report: the reporter gets a receipt, Bits gets the report to triage."""
    return await open_case(
        services,
        ERROR_REPORTS,
        Submission(
            kind="error_report",
            organisation_number=report.organisation_number,
            name=report.name,
            email=report.email,
            title=report.title,
            language=report.language,
            environment=report.environment,
            details={
                "component": report.component,
                "severity": report.severity,
                "occurred_at": report.occurred_at.isoformat(),
                "http_status": report.http_status,
                "correlation_id": report.correlation_id,
                "endpoint": report.endpoint,
                "customers_affected": report.customers_affected,
            },
            text={"description": report.description},
            identity_numbers_removed=masked,
            email_proven=proof.proves(report.email),
            mail_submitter=proof.may_mail,
            filed_by=proof.filed_by,
        ),
        channel,
        markers=proof.markers,
    )


ERROR_REPORT_FORM = WebForm(
    template="incident",
    route="incidents",
    model=ErrorReport,
    submit=report_error,
    intake=ERROR_REPORTS,
    example={
        "organisation_number": "310000019",
        "name": "Tore Teknisk",
        "email": "teknisk@demo-forsikring.example",
        "environment": "production",
        "component": "ufore-api",
        "occurred_at": "2026-11-28T09:40:00+01:00",
        "http_status": 500,
        "correlation_id": "7f3c2a10-5b7e-4c1e-9d2e-1a2b3c4d5e6f",
        "endpoint": "/api/v1/uforegrad",
        "customers_affected": 12,
        "severity": "high",
        "title": "500 fra uføre-API i produksjon",
        "description": "Siden 09:40 svarer alle kall med 500.",
    },
)

FORWARD = Command("forward", ("VIDERESEND", "FORWARD"), ordinary_words=True)
ASK = Command("ask", ("SPØRSMÅL", "ASK"), ordinary_words=True)
RESOLVE = Command("resolve", ("LØST", "RESOLVED"))
ALERT = Command("alert", ("VARSEL", "ALERT"), ordinary_words=True)
SOURCES = {"NAV": "NAV", "ALTINN": "ALTINN", "DIGDIR": "DIGDIR", "MASKINPORTEN": "DIGDIR"}


async def triage(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
    case = stored.case
    now = services.clock.now()
    text, _ = mask_identity_numbers(reply.text)
    key = hashlib.sha256(reply.message_id.encode()).hexdigest()[:12]
    touched = case.model_copy(update={"updated_at": now})

    def event(kind: str, summary: str, public: bool, **data: object) -> CaseEvent:
        return CaseEvent(
            at=now, actor=reply.sender, channel=Channel.EMAIL, kind=kind, public=public, summary=summary, data=data
        )

    if reply.command == ANSWER:
        return Step(services, case, reply).answer()
    if reply.command == FORWARD:
        words = text.split(maxsplit=1)
        source = registry.sources.get(SOURCES.get(words[0].upper().strip(".,:"), "")) if words else None
        if source is None:
            return Change(touched, event("note", "VIDERESEND without a known source (NAV, ALTINN or DIGDIR)", False))
        comment = words[1] if len(words) > 1 else ""
        changed = touched.model_copy(update={"status": "forwarded"})
        mails = [
            services.compose(
                reference=case.reference,
                purpose=f"forward-{source.key}-{key}",
                to=contact.email,
                template="error_report_to_source",
                language=contact.language,
                case=changed,
                source=source.name,
                organisation_name=organisation_name(registry, case),
                comment=comment,
                description=await _description(services, case),
            )
            for contact in source.contacts
            if contact.has_role("operations")
        ]
        mails.append(_tell_reporter(services, changed, f"forwarded-{source.key}-{key}", "forwarded", source.name))
        return Change(changed, event("forwarded", f"Forwarded to {source.name}", True, source=source.key), mails)
    if reply.command == ALERT:
        description = await _description(services, case)

        async def make_draft() -> None:
            # After the event is stored; a marker makes a second run (the same reply again) find the same draft.
            draft = await draft_from_report(services, case, reply.sender, description)
            drafted = event("alert_drafted", f"Draft alert {draft} made for Bits to publish", False, draft=draft)
            with suppress(AlreadyProcessed):
                await services.store.append(case.reference, drafted, markers=[f"drafted-{key}"])

        return Change(touched, event("alert_requested", "Bits asked for a draft alert", False), after=make_draft)
    if reply.command == ASK:
        changed = touched.model_copy(update={"status": "waiting_for_reporter"})
        mails = [_tell_reporter(services, changed, f"question-{key}", "question", text)]
        return Change(changed, event("question_to_reporter", "Bits asked the reporter", True, text=text), mails)
    changed = touched.model_copy(update={"status": "closed"})
    mails = [_tell_reporter(services, changed, "resolved", "resolved", text)]
    return Change(changed, event("resolved", "Bits closed the report", True, text=text), mails)


async def _description(services: Services, case: Case) -> str:
    """What the reporter wrote, for a data source: a form's description, or an email's new text without its
    quoted history and signature (which carry the reporter's name and number)."""
    data = await submitted(services, case)
    text = str(data.get("description") or split_reply(str(data.get("message", "")))[0])
    return without_sender(text, case.submitter_name, case.submitter_email)


def _tell_reporter(services: Services, case: Case, purpose: str, update: str, text: str) -> OutgoingMail:
    return tell_submitter(services, case, purpose=purpose, template="error_report_update", update=update, text=text)


TRIAGE_DECISION = Decision(
    name=TRIAGE,
    commands=(ANSWER, FORWARD, ASK, RESOLVE, ALERT),
    states=frozenset({"new", "forwarded", "waiting_for_reporter"}),
    handle=triage,
    bits_decides=True,
)
