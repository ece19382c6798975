"""Process C, security breaches discovered by a data consumer: urgent notices at once, escalation until Bits
acknowledges, and a reminder of the 72-hour clock to the reporter until they confirm they have notified.

Who is told at once: Bits' security contacts always. NAV's security contacts at once when the reporter is a
registered contact whose address is proven; for anyone else (who could otherwise page NAV's people by filling in a
form), Bits' notice says the sender is unconfirmed and NAV is told, once, when Bits acknowledges (MOTTATT) - or,
when the address is a registered contact of the company (only its proof was missing), when the reporter follows
their confirmation link, whichever comes first. A stranger's confirmation proves only that they own their own
mailbox, which anyone can: it tells NAV nothing. A bogus report is dismissed by Bits (AVVIST): the case closes,
the escalation stops, NAV is not told and the reporter gets nothing more (their link no longer works).

The clocks count round the clock from `discovered_at` (not office hours): GDPR art. 33, Datatilsynet within 72
hours; DORA (where it applies), Finanstilsynet: initial report within 24 hours, intermediate 72 hours, final one
month.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from ..core import telemetry
from ..core.cases import (
    NO_PROOF,
    AddressProof,
    CaseIntake,
    Submission,
    open_case,
    organisation_name,
    submitted,
    submitter_proven,
)
from ..core.commands import ANSWER, Change, Command, Decision, Reply, Step
from ..core.forms import WebForm
from ..core.mail import OutgoingMail
from ..core.model import Case, CaseEvent, Channel, Process
from ..core.privacy import mask_identity_numbers
from ..core.registry import Registry
from ..core.services import Services
from ..core.store import AlreadyQueued, ConcurrentUpdate, StoredCase
from ..core.tokens import reply_address
from .models import SecurityBreach

log = logging.getLogger(__name__)

ACKNOWLEDGE = "security_breach.acknowledge"
REPORTED = "security_breach.reported"

SOURCE_ROLES = (("NAV", "security"),)


async def _reporter_confirmed(services: Services, case: Case) -> tuple[Case, list[OutgoingMail]]:
    """The unverified reporter followed their confirmation link: NAV is told now when the address is a registered
    contact of the company (unless Bits' MOTTATT did it); anyone else's confirmation leaves it to Bits' MOTTATT."""
    registry = await services.registry()
    if not registry.is_contact_of(case.submitter_email, case.organisation_number):
        return case, []
    case = case.model_copy(update={"details": {**case.details, "confirmed_contact": True}})
    if not _sources_waiting(case):
        return case, []
    return await tell_sources(services, registry, case, "confirmed")


SECURITY_BREACHES = CaseIntake(
    name="security-breach-form",
    process=Process.ERROR_REPORT,
    acknowledgement_template="security_breach_received",
    bits_template="security_breach_alert",
    bits_role="security",
    bits_decision=ACKNOWLEDGE,
    submitter_decision=REPORTED,
    hold_unverified=False,  # a breach is never held back from Bits; an unknown sender is marked unverified
    source_roles=SOURCE_ROLES,
    sources_wait_for_verification=True,
    confirmed_later=_reporter_confirmed,
)


def _emailed_clocks(details: dict[str, Any]) -> dict[str, Any]:
    """A breach by email that states when it was discovered gets the same deadlines as one from the form."""
    stated = details.get("discovered_at")
    return {**details, **clocks(datetime.fromisoformat(stated))} if stated else details


EMAILED_BREACHES = CaseIntake(
    "email-C-security",
    Process.ERROR_REPORT,
    "case_received",
    "case_to_bits",
    bits_role="security",
    bits_decision=ACKNOWLEDGE,
    hold_unverified=False,
    source_roles=SOURCE_ROLES,
    email_route="C-security",
    sources_wait_for_verification=True,
    confirmed_later=_reporter_confirmed,
    email_details=_emailed_clocks,
)


def _sources_waiting(case: Case) -> bool:
    """A breach from an unverified reporter that NAV has not been told of yet (and Bits has not dismissed)."""
    return (
        not case.submitter_verified
        and not case.details.get("sources_notified_at")
        and not case.details.get("dismissed_at")
    )


async def tell_sources(
    services: Services, registry: Registry, case: Case, because: str
) -> tuple[Case, list[OutgoingMail]]:
    """NAV's security contacts get the notice they were spared at first, and the case records when and why
    (`because`: the reporter "confirmed", or Bits "acknowledged"). The case's ETag makes the first of the two win;
    a notice queued before (the outbox's case, purpose and recipient) is never made again."""
    intake = EMAILED_BREACHES if case.details.get("intake") == EMAILED_BREACHES.name else SECURITY_BREACHES
    now = services.clock.now()
    text = {k: v for k, v in (await submitted(services, case)).items() if k != "verified"}
    purpose = f"notify-{intake.bits_role}"
    queued = {(r.mail.purpose, r.mail.to.casefold()) for r in await services.store.mails(case.reference)}
    told = case.model_copy(
        update={
            "updated_at": now,
            "details": {**case.details, "sources_notified_at": now.isoformat(), "sources_notified_because": because},
        }
    )
    mails = [
        services.compose(
            reference=case.reference,
            purpose=purpose,
            to=contact.email,
            template=intake.bits_template,
            language=contact.language,
            case=told,
            text=text,
            case_link=services.case_page_link(case.reference),
            organisation_name=organisation_name(registry, case),
            identity_numbers_removed=int(text.get("identity_numbers_removed", 0)),
            released=because,
            replies_decide=False,  # NAV is told; only Bits acknowledges by reply
        )
        for key, role in intake.source_roles
        if key in registry.sources
        for contact in registry.sources[key].contacts
        if contact.has_role(role) and (purpose, contact.email.casefold()) not in queued
    ]
    log.info("breach: %s released to the sources (%s), %d notices", case.reference, because, len(mails))
    return told, mails


def clocks(discovered_at: datetime) -> dict[str, str]:
    return {
        "gdpr_deadline": (discovered_at + timedelta(hours=72)).isoformat(),
        "dora_initial_deadline": (discovered_at + timedelta(hours=24)).isoformat(),
        "dora_intermediate_deadline": (discovered_at + timedelta(hours=72)).isoformat(),
        "dora_final_deadline": (discovered_at + timedelta(days=30)).isoformat(),
    }


async def report_breach(
    services: Services, breach: SecurityBreach, channel: Channel, masked: int = 0, *, proof: AddressProof = NO_PROOF
) -> Case:
    """Open a security breach case: Bits' security contacts hear at once, whoever sent it; NAV's at once when the
    reporter is a registered contact, else once confirmed or acknowledged (see the module's docstring)."""
    return await open_case(
        services,
        SECURITY_BREACHES,
        Submission(
            kind="security_breach",
            organisation_number=breach.organisation_number,
            name=breach.name,
            email=breach.email,
            title=f"Sikkerhetsbrudd: {breach.data_categories}"[:200],
            language=breach.language,
            details={
                "phone": breach.phone,
                "occurred_at": breach.occurred_at.isoformat(),
                "discovered_at": breach.discovered_at.isoformat(),
                "breach_type": breach.breach_type,
                "data_categories": breach.data_categories,
                "persons_affected": breach.persons_affected,
                "datatilsynet_notified_at": _iso(breach.datatilsynet_notified_at),
                "finanstilsynet_notified_at": _iso(breach.finanstilsynet_notified_at),
                **clocks(breach.discovered_at),
            },
            text={"description": breach.description, "containment": breach.containment},
            identity_numbers_removed=masked,
            email_proven=proof.proves(breach.email),
            mail_submitter=proof.may_mail,
            filed_by=proof.filed_by,
        ),
        channel,
        markers=proof.markers,
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


SECURITY_BREACH_FORM = WebForm(
    template="security_breach",
    route="incidents/security",
    model=SecurityBreach,
    submit=report_breach,
    intake=SECURITY_BREACHES,
    taken_over_rate_limit=True,  # a breach is never turned away; over a limit nothing is mailed to the reporter
    example={
        "organisation_number": "310000019",
        "name": "Siri Sikker",
        "email": "sikkerhet@demo-forsikring.example",
        "phone": "+47 22 33 44 55",
        "occurred_at": "2026-11-27T22:00:00+01:00",
        "discovered_at": "2026-11-28T10:55:00+01:00",
        "breach_type": ["confidentiality"],
        "data_categories": "Uføregrad og AAP-vedtak",
        "persons_affected": 40,
        "description": "Privat nøkkel for Maskinporten-klienten ble lagt i et offentlig repo.",
        "containment": "Nøkkelen er trukket tilbake og sertifikatet rotert.",
    },
)

MOTTATT = Command("acknowledge", ("MOTTATT", "ACKNOWLEDGED"))
# No other decision's word (AVSLÅTT, AVSLUTT, FORKAST, …) contains it or is contained in it.
AVVIST = Command("dismiss", ("AVVIST", "AVVIS", "DISMISSED", "DISMISS"), refusal=True)
MELDT = Command("reported", ("MELDT", "REPORTED"))


def _event(services: Services, reply: Reply, kind: str, summary: str, public: bool, **data: object) -> CaseEvent:
    now = services.clock.now()
    return CaseEvent(
        at=now, actor=reply.sender, channel=Channel.EMAIL, kind=kind, public=public, summary=summary, data=data
    )


async def acknowledge(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
    """Bits' MOTTATT stops the escalation, and tells NAV of an unverified reporter's breach if their confirmation
    has not; AVVIST closes a bogus report without telling NAV; SVAR writes to the reporter."""
    case = stored.case.model_copy(update={"updated_at": services.clock.now()})
    text, _ = mask_identity_numbers(reply.text)
    if reply.command == ANSWER:
        return Step(services, stored.case, reply).answer()
    if reply.command == AVVIST:
        return dismiss(services, case, reply, text)
    details = {**case.details, "acknowledged_at": services.clock.now().isoformat(), "acknowledged_by": reply.sender}
    changed = case.model_copy(update={"status": "acknowledged", "details": details})
    mails: list[OutgoingMail] = []
    if _sources_waiting(changed):
        changed, mails = await tell_sources(services, registry, changed, "acknowledged")
    told = sorted({key for key, _ in SOURCE_ROLES}) if mails else []
    summary = "Bits acknowledged the breach" + (f"; {', '.join(told)} told now" if told else "")
    event = _event(services, reply, "acknowledged", summary, True, text=text, sources_notified=told)
    return Change(changed, event, mails)


def dismiss(services: Services, case: Case, reply: Reply, text: str) -> Change:
    """Bits' AVVIST: the report is not genuine. The case closes (the escalation timer skips closed cases), nothing is
    mailed to anyone - not NAV, not the reporter - and the reporter's confirmation link stops working."""
    told = bool(case.details.get("sources_notified_at")) or case.submitter_verified
    details = {**case.details, "dismissed_at": services.clock.now().isoformat(), "dismissed_by": reply.sender}
    changed = case.model_copy(update={"status": "closed", "details": details})
    summary = "Bits dismissed the breach report as not genuine; " + ("NAV had been told" if told else "NAV not told")
    log.info("breach: %s dismissed by Bits", case.reference)
    return Change(changed, _event(services, reply, "dismissed", summary, False, text=text, nav_told_before=told))


async def confirm_reported(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
    """The reporter's MELDT: they have notified Datatilsynet; no more reminders."""
    now = services.clock.now()
    details = {**stored.case.details, "datatilsynet_notified_at": now.isoformat()}
    changed = stored.case.model_copy(update={"details": details, "updated_at": now})
    return Change(changed, _event(services, reply, "reported", "The reporter notified Datatilsynet", True))


ACKNOWLEDGE_DECISION = Decision(
    name=ACKNOWLEDGE,
    commands=(MOTTATT, AVVIST, ANSWER),
    states=frozenset({"new", "acknowledged"}),
    handle=acknowledge,
    bits_decides=True,
)
REPORTED_DECISION = Decision(
    name=REPORTED, commands=(MELDT,), states=frozenset({"new", "acknowledged"}), handle=confirm_reported
)


async def check_breach_deadlines(services: Services) -> int:
    """Escalate unacknowledged breaches level by level, and remind reporters before the 72-hour point. Every mail
    has a fixed purpose per case and level, so running this often never sends one twice. Returns mails queued."""
    registry = await services.registry()
    now = services.clock.now()
    queued = 0
    for case in await services.store.cases(Process.ERROR_REPORT):
        if case.kind != "security_breach" or case.status == "closed":
            continue
        try:
            queued += await _check_one_breach(services, registry, case, now)
        except Exception:  # one broken case must not stop the others' escalation
            log.exception("deadlines: %s could not be checked", case.reference)
    if queued:
        log.info("deadlines: %d escalation or reminder mails queued", queued)
    return queued


async def _check_one_breach(services: Services, registry: Registry, case: Case, now: datetime) -> int:
    settings = services.settings
    queued = 0
    mails = []
    # A breach from the form has its own alert template; one by email has only the message (case_to_bits).
    from_form = case.details.get("intake") == SECURITY_BREACHES.name
    if case.status == "new":
        waited = now - case.created_at
        for level, role in enumerate(settings.security_escalation_roles, start=1):
            if waited >= timedelta(minutes=settings.security_escalation_minutes * level):
                mails += [
                    services.compose(
                        reference=case.reference,
                        purpose=f"escalation-{level}",
                        to=contact.email,
                        template="security_breach_alert" if from_form else "case_to_bits",
                        language=contact.language,
                        case=case,
                        text=await _texts(services, case),
                        organisation_name=organisation_name(registry, case),
                        escalation=level,
                        replies_decide=False,
                        bits_notice=True,  # no token: a reply is an internal note, as its footer says
                        case_link=services.case_page_link(case.reference),
                        identity_numbers_removed=0,
                    )
                    for contact in registry.bits_contacts(role)
                ]
    # A breach reported by email that states no discovery time has none to count from: it escalates, but gets no
    # reminder.
    deadline = datetime.fromisoformat(str(case.details["gdpr_deadline"])) if "gdpr_deadline" in case.details else None
    # An unproven reporter's address gets only the neutral confirmation request: no reminder before it is confirmed.
    reminder_at = deadline - timedelta(hours=settings.security_reminder_hours) if deadline else None
    reminder_at = reminder_at if submitter_proven(case) else None
    token = case.details.get("submitter_token")
    if deadline and reminder_at and not case.details.get("datatilsynet_notified_at") and reminder_at <= now < deadline:
        mails.append(
            services.compose(
                reference=case.reference,
                purpose="gdpr-reminder",
                to=case.submitter_email,
                template="security_breach_reminder",
                language=case.language,
                reply_to=reply_address(services, token) if token else None,
                token=token,
                case=case,
            )
        )
    for mail in mails:
        event = CaseEvent(
            at=now,
            actor="deadlines",
            channel=Channel.TIMER,
            kind="escalated" if mail.purpose.startswith("escalation") else "reminded",
            public=False,
            summary=f"{mail.purpose} sent to {mail.to}",
        )
        try:
            await services.store.append(case.reference, event, [mail])
            queued += 1
        except (AlreadyQueued, ConcurrentUpdate):
            continue  # sent before: once per case and level
        if mail.purpose.startswith("escalation-"):  # one per contact told; the alert rule fires from level 2
            step = mail.purpose.removeprefix("escalation-")
            telemetry.count("ssu.escalations", process=case.process.value, case_kind=case.kind, level=step)
    return queued


async def _texts(services: Services, case: Case) -> dict[str, object]:
    return await submitted(services, case)
