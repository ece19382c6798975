"""Process E, change requests: register → handle (Bits) → assess (the expert committee) → decide (the reference
group, through Bits' approvers) → NAV plans and implements. Every step is a reply to one of our emails.

- Handle: Bits replies to the new request with KOMPLETT (on to the committee), SPØRSMÅL + question (relayed to the
  submitter), DUPLIKAT SSU-E-… (closed, linked), or AVSLÅTT + reason. Text alone is an internal note.
- Assess: each committee member (SSU_COMMITTEE_MEMBERS) has a token of their own and replies ANBEFALER, ANBEFALER
  IKKE or NØYTRAL with a comment. When all have answered, or the assessment deadline passes (the timer), the
  request goes to decision with a summary of the recommendations. With no committee configured it goes at once.
- Decide: each approver has a single-use token; GODKJENT, AVSLÅTT or UTSATT (+ a date to bring it back, else
  SSU_CHANGE_DEFER_DAYS) + reason. The first valid decision wins: it changes the status under the case's ETag, and
  every later reply finds the case decided. Approved: the submitter is told, every connected company gets a
  notice, NAV gets the request with a token of its own and replies PLANLAGT <date/version> and IMPLEMENTERT.
- A deferred request comes back to the approvers on its date (the timer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ..core.cases import (
    NO_PROOF,
    AddressProof,
    CaseIntake,
    Submission,
    fanned_out,
    open_case,
    queue_in_chunks,
    submitted,
    tell_submitter,
)
from ..core.commands import ANSWER, Change, Command, Decision, Reply, Step, ask_by_reply
from ..core.forms import WebForm
from ..core.mail import OutgoingMail, mail_id
from ..core.model import Case, CaseEvent, Channel, DecisionToken, Process
from ..core.registry import Registry
from ..core.rendering import OSLO
from ..core.services import Services
from ..core.store import ConcurrentUpdate, StoredCase
from ..intake.dates import find_date
from .models import ChangeRequest

HANDLE = "change.handle"
ASSESS = "change.assess"
DECIDE = "change.decide"
FOLLOW_UP = "change.nav"

CHANGE_REQUESTS = CaseIntake(
    name="change-request-form",
    process=Process.CHANGE_REQUEST,
    acknowledgement_template="change_request_received",
    bits_template="change_request_to_bits",
    bits_decision=HANDLE,
    long_tokens=True,
)
EMAILED_CHANGE_REQUESTS = CaseIntake(
    "email-E", Process.CHANGE_REQUEST, "case_received", "change_request_to_bits", bits_decision=HANDLE, email_route="E"
)

COMPLETE = Command("complete", ("KOMPLETT", "COMPLETE"))
ASK = Command("ask", ("SPØRSMÅL", "ASK"), ordinary_words=True)
DUPLICATE = Command("duplicate", ("DUPLIKAT", "DUPLICATE"))
REJECT = Command("reject", ("AVSLÅTT", "REJECT", "REJECTED"), refusal=True)
RECOMMEND = Command("recommend", ("ANBEFALER", "RECOMMEND", "RECOMMENDED"))
NOT_RECOMMENDED = Command("not_recommended", ("ANBEFALER IKKE", "NOT RECOMMENDED"), refusal=True)
NEUTRAL = Command("neutral", ("NØYTRAL", "NEUTRAL"))
APPROVE = Command("approve", ("GODKJENT", "APPROVE", "APPROVED"))
DEFER = Command("defer", ("UTSATT", "DEFER", "DEFERRED"))
PLANNED = Command("planned", ("PLANLAGT", "PLANNED"))
IMPLEMENTED = Command("implemented", ("IMPLEMENTERT", "IMPLEMENTED"))

_REFERENCE = re.compile(r"\b[A-Z]{2,10}-E-\d{4}-\d{4,}\b")


async def submit_change_request(
    services: Services, request: ChangeRequest, channel: Channel, masked: int = 0, *, proof: AddressProof = NO_PROOF
) -> Case:
    """Open a change request: the submitter gets a receipt, Bits gets it to handle."""
    return await open_case(
        services,
        CHANGE_REQUESTS,
        Submission(
            kind="change_request",
            organisation_number=request.organisation_number,
            name=request.name,
            email=request.email,
            title=request.title,
            language=request.language,
            details={
                "service": request.service,
                "change_type": request.change_type,
                "urgency": request.urgency,
            },
            text={
                "description": request.description,
                "need_and_benefit": request.need_and_benefit,
                "products_affected": request.products_affected,
                "legal_impact": request.legal_impact,
            },
            identity_numbers_removed=masked,
            email_proven=proof.proves(request.email),
            mail_submitter=proof.may_mail,
            filed_by=proof.filed_by,
        ),
        channel,
        markers=proof.markers,
    )


CHANGE_REQUEST_FORM = WebForm(
    template="change_request",
    route="change-requests",
    model=ChangeRequest,
    submit=submit_change_request,
    intake=CHANGE_REQUESTS,
    example={
        "organisation_number": "310000019",
        "name": "Frida Fagerli",
        "email": "fag@demo-forsikring.example",
        "service": "ufore",
        "change_type": "data_element",
        "title": "Legg til uføretidspunkt i svaret",
        "description": "Vi trenger uføretidspunktet i svaret fra uføre-API-et.",
        "need_and_benefit": "Uføretidspunktet avgjør hvilken forsikring som gjelder.",
        "urgency": "normal",
        "products_affected": "Uføreforsikring",
    },
)


# -- shared pieces ---------------------------------------------------------------------------------------------------


def update_submitter(services: Services, case: Case, purpose: str, update: str, text: str = "") -> OutgoingMail:
    return tell_submitter(services, case, purpose=purpose, template="change_request_update", update=update, text=text)


async def request_text(services: Services, case: Case) -> dict[str, Any]:
    """What the submitter wrote: the form's fields, or the email's text."""
    data = await submitted(services, case)
    if not data.get("description"):
        data["description"] = data.get("message") or data.get("question") or ""
    return data


@dataclass(frozen=True)
class Member:
    """A committee member as the registry knows them: name, company, and the organisation numbers they speak for."""

    email: str
    name: str
    company: str
    organisations: frozenset[str]

    def conflicted(self, case: Case) -> bool:
        """Their own organisation submitted the request: a conflict of interest."""
        return case.organisation_number in self.organisations


def committee_member(registry: Registry, email: str) -> Member:
    """Who a committee address is: a company's, a data source's or Bits' registered contact (the first that knows
    them gives name and company); an address the registry does not know is shown as it is."""
    wanted = email.casefold()
    found: list[tuple[str, str, str]] = []  # (name, company, organisation number)
    for organisation in registry.organisations_of_contact(wanted):
        for contact in organisation.contacts:
            if contact.email.casefold() == wanted:
                found.append((contact.name, organisation.legal_name, organisation.organisation_number))
    for source in registry.sources.values():
        for contact in source.contacts:
            if contact.email.casefold() == wanted:
                found.append((contact.name, source.name, source.organisation_number))
    for contact in registry.bits.contacts if registry.bits else []:
        if contact.email.casefold() == wanted:
            found.append((contact.name, "Bits", registry.bits.organisation_number if registry.bits else ""))
    name = next((n for n, _, _ in found if n), "")
    company = next((c for _, c, _ in found if c), "")
    return Member(email, name, company, frozenset(number for _, _, number in found))


def committee_summary(
    registry: Registry, case: Case, committee: list[str]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The committee as the approvers see it - each member by name and company, their recommendation, and whether
    it is set aside for a conflict of interest - and the recommendations counted, without the conflicted ones."""
    recommendations = case.details.get("recommendations", {})
    members: list[dict[str, Any]] = []
    tally = dict.fromkeys(VERDICTS.values(), 0)
    for address in committee:
        member = committee_member(registry, address)
        given = recommendations.get(address) or recommendations.get(address.casefold()) or {}
        conflict = bool(given.get("conflict")) or member.conflicted(case)
        verdict = str(given.get("verdict", ""))
        members.append(
            {
                "email": address,
                "name": member.name or str(given.get("name") or ""),
                "company": member.company,
                "verdict": verdict,
                "comment": str(given.get("comment", "")),
                "conflict": conflict,
            }
        )
        if verdict in tally and not conflict:
            tally[verdict] += 1  # a conflicted member's word is recorded and shown, never counted
    return members, tally


async def to_decision(
    services: Services, registry: Registry, case: Case, why: str
) -> tuple[Case, list[OutgoingMail], list[DecisionToken]]:
    """The request goes to the approvers with the committee's recommendations; `why` says what brought it there."""
    changed = case.model_copy(update={"status": "awaiting_decision", "updated_at": services.clock.now()})
    approvers = [c.email for c in registry.bits_contacts("approver")]
    members, tally = committee_summary(registry, case, services.settings.committee_members)
    mails, tokens = ask_by_reply(
        services,
        registry,
        changed,
        approvers,
        DECIDE,
        "change_request_to_approvers",
        f"decide-{len(case.details.get('decision_rounds', [])) + 1}",
        members=members,
        tally=tally,
        why=why,
        text=await request_text(services, case),
    )
    rounds = [*case.details.get("decision_rounds", []), services.clock.now().isoformat()]
    changed = changed.model_copy(update={"details": {**changed.details, "decision_rounds": rounds}})
    return changed, mails, tokens


# -- handle (Bits) ---------------------------------------------------------------------------------------------------


async def handle(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
    step = Step(services, stored.case, reply)
    case = step.case
    if reply.command == ANSWER:
        return step.answer()
    if reply.command == ASK:
        changed = step.moved("waiting_for_submitter")
        mail = update_submitter(services, changed, f"question-{step.key}", "question", step.text)
        return Change(
            changed, step.event("question_to_reporter", "Bits asked the submitter", True, text=step.text), [mail]
        )
    if reply.command == DUPLICATE:
        found = _REFERENCE.search(step.text.upper())
        if found is None or found.group(0) == case.reference:
            return Change(case, step.event("note", "DUPLIKAT without the reference of the other request", False))
        changed = step.moved("closed", outcome="duplicate", duplicate_of=found.group(0))
        mail = update_submitter(services, changed, "duplicate", "duplicate", found.group(0))
        return Change(changed, step.event("duplicate", f"Duplicate of {found.group(0)}", True), [mail])
    if reply.command == REJECT:
        changed = step.moved("closed", outcome="rejected_by_bits", reason=step.text)
        mail = update_submitter(services, changed, "rejected-by-bits", "rejected_by_bits", step.text)
        return Change(changed, step.event("rejected", "Bits rejected the request", True, reason=step.text), [mail])
    # KOMPLETT: to the committee, or straight to decision when there is none.
    committee = services.settings.committee_members
    if not committee:
        changed, mails, tokens = await to_decision(services, registry, case, "no_committee")
        told = update_submitter(services, changed, "to-decision", "to_decision")
        return Change(changed, step.event("complete", "Complete; to decision", True), [told, *mails], tokens)
    told = update_submitter(services, case, "assessment", "assessment")
    due = step.now + timedelta(days=services.settings.change_assessment_days)
    changed = step.moved("in_assessment", assessment_due=due.isoformat(), recommendations={})
    mails, tokens = ask_by_reply(
        services,
        registry,
        changed,
        committee,
        ASSESS,
        "change_request_to_committee",
        "assess",
        due=due,
        text=await request_text(services, case),
    )
    event = step.event("complete", "Complete; sent to the expert committee", True, committee=len(committee))
    return Change(changed, event, [told, *mails], tokens)


# -- assess (committee) ----------------------------------------------------------------------------------------------

VERDICTS = {"recommend": "recommended", "not_recommended": "not_recommended", "neutral": "neutral"}


async def assess(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
    step = Step(services, stored.case, reply)
    if reply.command is None:
        return Change(step.case, step.event("note", "Comment from the committee without a recommendation", False))
    verdict = VERDICTS[reply.command.name]
    member = committee_member(registry, reply.sender)
    conflict = member.conflicted(step.case)
    given: dict[str, Any] = {"verdict": verdict, "comment": step.text, "at": step.now.isoformat()}
    given |= {"name": reply.sender_name or member.name, "company": member.company}
    if conflict:
        given["conflict"] = True  # recorded on the case, and kept out of what the approvers see counted
    recommendations = {**step.case.details.get("recommendations", {}), reply.sender: given}
    changed = step.moved("in_assessment", recommendations=recommendations)
    event = step.event(
        "recommendation", f"{reply.sender}: {verdict}", False, verdict=verdict, comment=step.text, conflict=conflict
    )
    flagged = _conflict_to_bits(services, registry, changed, member, given) if conflict else []
    committee = {m.casefold() for m in services.settings.committee_members}
    if committee <= set(recommendations):
        changed, mails, tokens = await to_decision(services, registry, changed, "all_recommended")
        return Change(changed, event, [*flagged, *mails], tokens)
    return Change(changed, event, flagged)


def _conflict_to_bits(
    services: Services, registry: Registry, case: Case, member: Member, given: dict[str, Any]
) -> list[OutgoingMail]:
    """Bits' support hears that a member recommended their own organisation's request, and that it is not counted."""
    return [
        services.compose(
            reference=case.reference,
            purpose=f"conflict-{mail_id('member', member.email)}",
            to=contact.email,
            template="change_request_conflict_to_bits",
            language=contact.language,
            case=case,
            member={"name": given.get("name") or member.email, "email": member.email, "company": member.company},
            verdict=given["verdict"],
            comment=given["comment"],
        )
        for contact in registry.bits_contacts("support")
    ]


# -- decide (approvers) ----------------------------------------------------------------------------------------------


def _date_in(text: str, today: date) -> date | None:
    """The date a deferral names ("UTSATT til 1. mars 2027", "DEFER until 2027-03-01"): the next such date."""
    return find_date(text, today, ahead=True)


async def decide(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
    step = Step(services, stored.case, reply)
    decision = {"by": reply.sender, "at": step.now.isoformat(), "reason": step.text}
    if reply.command == REJECT:
        changed = step.moved("closed", outcome="rejected", decision={**decision, "outcome": "rejected"})
        mail = update_submitter(services, changed, "decision-rejected", "rejected", step.text)
        return Change(changed, step.event("rejected", "The reference group rejected the request", True), [mail])
    if reply.command == DEFER:
        until = (
            _date_in(step.text, step.now.astimezone(OSLO).date())
            or (step.now + timedelta(days=services.settings.change_defer_days)).date()
        )
        changed = step.moved("deferred", defer_until=until.isoformat(), decision={**decision, "outcome": "deferred"})
        purpose = f"decision-deferred-{until.isoformat()}"
        mail = update_submitter(services, changed, purpose, "deferred", step.text)
        event = step.event("deferred", f"Deferred until {until.isoformat()}", True, until=until.isoformat())
        return Change(changed, event, [mail])
    changed = step.moved("approved", decision={**decision, "outcome": "approved"})
    told = update_submitter(services, changed, "decision-approved", "approved", step.text)
    nav = registry.sources.get("NAV")
    operations = [c.email for c in nav.contacts if c.has_role("operations")] if nav else []
    text = await request_text(services, stored.case)
    to_nav, tokens = ask_by_reply(
        services,
        registry,
        changed,
        operations,
        FOLLOW_UP,
        "change_request_to_nav",
        "to-nav",
        single_use=False,
        days=services.settings.long_token_days,  # NAV answers IMPLEMENTERT months later
        text=text,
        reason=step.text,
    )

    event = step.event("approved", "The reference group approved the request", True, reason=step.text)
    return Change(changed, event, [told, *to_nav], tokens, after=lambda: notify_companies(services, changed))


async def notify_companies(services: Services, case: Case) -> None:
    """An approved change, as a notice to every connected company's business contacts, in chunks; run again (the
    timer, after an interruption), it queues only those not told yet, as the registry is now."""
    registry = await services.registry()
    text = await request_text(services, case)
    reason = str(case.details.get("decision", {}).get("reason", ""))
    people = {
        c.email.casefold(): c
        for o in registry.organisations.values()
        if o.environments
        for c in o.contacts
        if c.has_role("business")
    }
    mails = [
        services.compose(
            reference=case.reference,
            purpose="change-notice",
            to=person.email,
            template="change_notice",
            language=person.language,
            case=case,
            text=text,
            reason=reason,
        )
        for person in people.values()
    ]
    await queue_in_chunks(services, case.reference, mails, f"change-notice-{case.reference}", "notice")


# -- NAV follows the approved change ---------------------------------------------------------------------------------


async def follow_up(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
    step = Step(services, stored.case, reply)
    if reply.command is None:
        event = step.event("message", "Message from NAV", False, message=step.text)
        return Change(step.case, event, step.to_bits(registry))
    if reply.command == PLANNED:
        changed = step.moved("planned", release=step.text)
        mail = update_submitter(services, changed, f"planned-{step.key}", "planned", step.text)
        return Change(changed, step.event("planned", f"NAV planned it: {step.text}", True, release=step.text), [mail])
    changed = step.moved("closed", outcome="implemented")
    mail = update_submitter(services, changed, "implemented", "implemented", step.text)
    return Change(changed, step.event("implemented", "NAV implemented the change", True, text=step.text), [mail])


HANDLE_DECISION = Decision(
    name=HANDLE,
    commands=(ANSWER, COMPLETE, ASK, DUPLICATE, REJECT),
    states=frozenset({"new", "waiting_for_submitter"}),
    handle=handle,
    bits_decides=True,
)
ASSESS_DECISION = Decision(
    name=ASSESS, commands=(RECOMMEND, NOT_RECOMMENDED, NEUTRAL), states=frozenset({"in_assessment"}), handle=assess
)
DECIDE_DECISION = Decision(
    name=DECIDE,
    commands=(APPROVE, REJECT, DEFER),
    states=frozenset({"awaiting_decision"}),
    handle=decide,
    bits_decides=True,
)
FOLLOW_UP_DECISION = Decision(
    name=FOLLOW_UP,
    commands=(PLANNED, IMPLEMENTED),
    states=frozenset({"approved", "planned"}),
    handle=follow_up,
    accepts_plain_text=True,
)


# -- the timer -------------------------------------------------------------------------------------------------------


async def check_change_requests(services: Services) -> int:
    """Requests whose assessment deadline passed go to decision; deferred requests come back on their date.
    Returns how many moved."""
    registry = await services.registry()
    now = services.clock.now()
    today = now.astimezone(OSLO).date()
    moved = 0
    for process_case in await services.store.cases(Process.CHANGE_REQUEST):
        details = process_case.details
        approved = details.get("decision", {}).get("outcome") == "approved"
        if approved and not await fanned_out(
            services, process_case.reference, f"change-notice-{process_case.reference}"
        ):
            await notify_companies(services, process_case)  # the notice that did not follow the decision
        if process_case.status == "in_assessment" and datetime.fromisoformat(details["assessment_due"]) <= now:
            why, kind, summary = "assessment_deadline", "assessment_closed", "The assessment deadline passed"
        elif process_case.status == "deferred" and date.fromisoformat(details["defer_until"]) <= today:
            why, kind, summary = "deferred_date", "brought_back", "The deferred request is back for decision"
        else:
            continue
        stored = await services.store.load(process_case.reference)
        if stored is None or stored.case.status != process_case.status:
            continue
        changed, mails, tokens = await to_decision(services, registry, stored.case, why)
        event = CaseEvent(at=now, actor="deadlines", channel=Channel.TIMER, kind=kind, public=True, summary=summary)
        try:
            await services.store.transition(stored, changed, event, mails, tokens=tokens)
            moved += 1
        except ConcurrentUpdate:
            continue  # a reply moved it meanwhile; the next run sees where it is
    return moved
