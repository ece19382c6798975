"""Draft alerts: a notice that NAV, Altinn or Digdir send by email, or that Bits makes from an error report, is
published only when Bits says so.

The draft is a process B case in status `new`. Bits gets it with what we read from it - kind, environments,
components, severity, times - and replies `PUBLISER` (`PUBLISH`) to publish it as shown, with `field: value` lines
under the command to correct a field, or `FORKAST` (`DISCARD`). Publishing validates the alert exactly as the API
does; a draft that would not pass (a maintenance without an end) stays a draft and Bits is told what is missing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from ..core.cases import CaseIntake, Submission, open_case, submitted
from ..core.commands import Change, Command, Decision, Reply
from ..core.inbound import InboundMessage, Outcome, Route
from ..core.model import Case, CaseEvent, Channel, Process
from ..core.privacy import mask_identity_numbers
from ..core.registry import Registry
from ..core.services import Services
from ..core.store import AlreadyProcessed, StoredCase
from ..intake.content import language_of, masked_subject, masked_text, sender_name
from ..intake.quotes import split_reply
from ..web.forms import field_errors
from .models import SERVICES_OF, AlertIn
from .workflow import alert_details, fan_out, mask_alert

log = logging.getLogger(__name__)

DRAFT = "alert.draft"
PUBLISH = Command("publish", ("PUBLISER", "PUBLISH"))
DISCARD = Command("discard", ("FORKAST", "DISCARD"), refusal=True)

# A notice by email: the sender gets a receipt, Bits the draft. A draft Bits makes from a report: no receipt.
EMAILED_DRAFTS = CaseIntake(
    "email-B-draft",
    Process.NOTIFICATION,
    "alert_draft_received",
    "alert_draft_to_bits",
    bits_decision=DRAFT,
    hold_unverified=False,  # the sender is a registered contact of the source: the intake checked
)
REPORT_DRAFTS = CaseIntake(
    "report-B-draft", Process.NOTIFICATION, None, "alert_draft_to_bits", bits_decision=DRAFT, hold_unverified=False
)
# A notice emailed by someone who is no contact of a source: a plain case for Bits, not a draft.
EMAILED_NOTICES = CaseIntake("email-B", Process.NOTIFICATION, "case_received", "case_to_bits", email_route="B")

# What each source's alerts concern when the text names no component.
SOURCE_COMPONENTS = {
    "NAV": ["ufore-api", "aap-api"],
    "ALTINN": ["altinn-consent"],
    "DIGDIR": ["maskinporten"],
}
# The source that answers for a component: where Bits' VARSEL on an error report sends the draft.
COMPONENT_SOURCE = {
    "ufore-api": "NAV",
    "aap-api": "NAV",
    "nav-api-portal": "NAV",
    "altinn-consent": "ALTINN",
    "maskinporten": "DIGDIR",
}
_COMPONENT_WORDS = {
    "ufore-api": r"uføre|ufore",
    "aap-api": r"\baap\b|arbeidsavklaring",
    "altinn-consent": r"altinn|samtykke|consent",
    "maskinporten": r"maskinporten",
    "nav-api-portal": r"api-portal|api portal|utviklerportal",
}
_WORDS = {  # Norwegian values Bits may write, as the API's values
    "kind": {"hendelse": "incident", "vedlikehold": "maintenance", "endring": "change"},
    "severity": {"lav": "low", "middels": "medium", "høy": "high", "kritisk": "critical"},
    "environments": {"produksjon": "production", "prod": "production"},
}
# The names Bits may use on a `field: value` line under PUBLISER, nb and en.
_FIELDS = {
    **dict.fromkeys(("type", "kind"), "kind"),
    **dict.fromkeys(("miljø", "miljo", "environment", "environments"), "environments"),
    **dict.fromkeys(("komponent", "komponenter", "component", "components"), "components"),
    **dict.fromkeys(("alvorlighet", "severity"), "severity"),
    **dict.fromkeys(("start", "starter", "starts"), "starts_at"),
    **dict.fromkeys(("slutt", "ends", "end"), "ends_at"),
    **dict.fromkeys(("tittel", "title"), "title"),
    **dict.fromkeys(("tiltak", "action"), "action_required"),
    **dict.fromkeys(("frist", "deadline"), "action_deadline"),
    **dict.fromkeys(("lenke", "link"), "link"),
}
_LINE = re.compile(r"^\s*([A-Za-zÆØÅæøå_ ]{2,20}?)\s*[:=]\s*(.+?)\s*$")
OSLO = ZoneInfo("Europe/Oslo")


def propose(source_key: str, subject: str, text: str, received_at: datetime) -> dict[str, Any]:
    """What an emailed notice most likely is, from its words; Bits sees it and corrects it before publishing."""
    words = f"{subject}\n{text}".casefold()
    kind = "maintenance" if re.search(r"vedlikehold|maintenance|nedetid|downtime", words) else "incident"
    if kind == "incident" and re.search(r"\bendring|\bchange|\bnyhet|ny versjon|new version", words):
        kind = "change"
    environments = [
        name
        for name, pattern in (("test", r"\btest"), ("production", r"produksjon|production|\bprod\b"))
        if re.search(pattern, words)
    ] or ["test", "production"]
    components = [c for c, pattern in _COMPONENT_WORDS.items() if re.search(pattern, words)]
    severity = "medium"
    for pattern, level in ((r"kritisk|critical", "critical"), (r"\bhøy\b|\bhigh\b|alvorlig|severe", "high")):
        if re.search(pattern, words):
            severity = level
            break
    return {
        "kind": kind,
        "environments": environments,
        "components": components or SOURCE_COMPONENTS[source_key],
        "severity": severity,
        "starts_at": received_at.isoformat(),
    }


def corrections(text: str) -> dict[str, Any]:
    """The `field: value` lines under Bits' PUBLISER, as alert fields (values in nb or en)."""
    found: dict[str, Any] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        field = _FIELDS.get(match.group(1).strip().casefold()) if match else None
        if match is None or field is None:
            continue
        value = match.group(2)
        if field in ("environments", "components"):
            items = [v for v in re.split(r"[,\s]+", value.casefold()) if v and v not in ("og", "and", "begge", "both")]
            if value.casefold().strip() in ("begge", "both"):
                items = ["test", "production"]
            found[field] = [_WORDS["environments"].get(v, v) for v in items] if field == "environments" else items
        elif field in ("kind", "severity"):
            found[field] = _WORDS[field].get(value.casefold(), value.casefold())
        elif field in ("starts_at", "ends_at", "action_deadline"):
            found[field] = _time(value)
        else:
            found[field] = value
    return found


def _time(value: str) -> str:
    """A date and time as people write it (`3.12.2026 22:00`, `2026-12-03 22:00`), Norwegian time unless given."""
    cleaned = value.strip().replace("kl.", "").replace("kl", "")
    for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d.%m.%Y %H:%M", "%d.%m.%y %H:%M"):
        try:
            return datetime.strptime(" ".join(cleaned.split()), pattern).replace(tzinfo=OSLO).isoformat()
        except ValueError:
            continue
    return value  # left as written: validation says what is wrong with it


async def draft_from_source_mail(services: Services, message: InboundMessage, route: Route) -> Outcome | None:
    """The inbound handler: new mail from a registered NAV, Altinn or Digdir contact is a notice (an incident,
    maintenance or a change) unless it was sent to another process's address - a draft alert that Bits publishes
    (or discards) by replying. Anything else is not ours."""
    source = (await services.registry()).source_of_contact(message.from_address)
    notice = route.process is Process.NOTIFICATION or (route.by != "address" and route.kind != "security_breach")
    if source is None or not notice or not message.sender.proven:
        return None  # an unproven claim to be a source's contact is an ordinary new case, whose sender must confirm
    subject, in_subject = masked_subject(message)
    new_text = split_reply(message.new_text or message.text)[0].strip() or message.text  # no signature block
    description, in_text = masked_text(new_text)
    case = await open_draft(
        services,
        EMAILED_DRAFTS,
        source_key=source.key,
        name=sender_name(message),
        email=message.from_address,
        title=subject or "(uten emne)",
        description=description,
        proposal=propose(source.key, subject, new_text, services.clock.now()),
        language=language_of(message),
        markers=[message.key],
        details={"routed_by": route.by},
        identity_numbers_removed=in_subject + in_text,
    )
    log.info("intake: %s opened draft alert %s from %s", message.key, case.reference, source.key)
    return Outcome("new_case", "draft_alert", case.reference)


async def open_draft(
    services: Services,
    intake: CaseIntake,
    *,
    source_key: str,
    name: str,
    email: str,
    title: str,
    description: str,
    proposal: dict[str, Any],
    language: str,
    markers: list[str],
    details: dict[str, Any] | None = None,
    identity_numbers_removed: int = 0,
) -> Case:
    # Masked here too, whoever made the draft (a report's title and text are masked already: masking again is a no-op).
    title, in_title = mask_identity_numbers(title)
    description, in_description = mask_identity_numbers(description)
    registry = await services.registry()
    source = registry.sources[source_key]
    submission = Submission(
        kind=proposal["kind"],
        organisation_number=source.organisation_number,
        name=name,
        email=email,
        title=title,
        language=language,
        environment="both" if len(proposal["environments"]) == 2 else proposal["environments"][0],
        details={**(details or {}), "source": source_key, "proposal": proposal, "draft": True},
        text={"description": description},
        identity_numbers_removed=identity_numbers_removed + in_title + in_description,
        email_proven=True,  # a source's contact whose sender identity is proven, or Bits' own people by reply
    )
    return await open_case(services, intake, submission, Channel.EMAIL, markers)


async def draft_description(services: Services, case: Case) -> str:
    data = await submitted(services, case)
    return str(data.get("description") or split_reply(str(data.get("message", "")))[0]).strip()


async def decide_draft(services: Services, stored: StoredCase, reply: Reply, registry: Registry) -> Change:
    case = stored.case
    now = services.clock.now()
    touched = case.model_copy(update={"updated_at": now})
    text = mask_identity_numbers(reply.text)[0]  # Bits' corrections become the alert's fields and its events

    def event(kind: str, summary: str, public: bool, **data: object) -> CaseEvent:
        return CaseEvent(
            at=now, actor=reply.sender, channel=Channel.EMAIL, kind=kind, public=public, summary=summary, data=data
        )

    if reply.command == DISCARD:
        changed = touched.model_copy(update={"status": "discarded"})
        return Change(changed, event("discarded", "Bits discarded the draft alert", False, text=text))
    description = await draft_description(services, case)
    if len(description) > 5000:  # what the alert API accepts; the draft's email can be longer
        description = description[:4990].rstrip() + " […]"
    proposal = {**case.details["proposal"], **corrections(text)}
    fields = {"source_alert_id": case.reference, "title": case.title, "description": description or case.title}
    try:
        alert = AlertIn.model_validate({**fields, **proposal})
    except ValidationError as exc:
        language = registry.language_of(reply.sender)
        errors = field_errors(exc, language)
        key = hashlib.sha256(reply.message_id.encode()).hexdigest()[:12]
        mail = services.compose(
            reference=case.reference,
            purpose=f"draft-refused-{key}",
            to=reply.sender,
            template="alert_draft_refused",
            language=language,
            in_reply_to=reply.message_id,
            case=case,
            errors=errors,
            proposal=proposal,
        )
        summary = "PUBLISER refused: " + "; ".join(f"{k}: {v}" for k, v in errors.items())
        return Change(touched, event("publish_refused", summary, False, errors=errors), [mail])
    alert, removed = mask_alert(alert)
    source_key = str(case.details["source"])
    details = {
        **case.details,
        **alert_details(alert, source_key),
        "proposal": proposal,
        "identity_numbers_removed": int(case.details.get("identity_numbers_removed", 0)) + removed,
    }
    changed = touched.model_copy(
        update={
            "status": "published",
            "kind": alert.kind,
            "title": alert.title,
            "environment": "both" if len(alert.environments) == 2 else alert.environments[0],
            "details": details,
        }
    )

    async def send() -> None:
        await fan_out(services, await services.registry(), changed, alert.description, alert.description_en)

    published = event("published", f"Bits published the {alert.kind} alert", True, description=alert.description)
    return Change(changed, published, after=send)


DRAFT_DECISION = Decision(
    name=DRAFT, commands=(PUBLISH, DISCARD), states=frozenset({"new"}), handle=decide_draft, bits_decides=True
)


async def draft_from_report(services: Services, report: Case, by: str, description: str) -> str:
    """Bits' VARSEL on an error report: a draft alert for the component's source, linked to the report. One report
    has one open draft: a second VARSEL (or the same reply processed again) returns it, unless it was discarded."""
    component = str(report.details.get("component", ""))
    source_key = COMPONENT_SOURCE.get(component, "NAV")
    proposal = {
        "kind": "incident",
        "environments": [report.environment] if report.environment in ("test", "production") else ["production"],
        "components": [component] if component in SERVICES_OF else SOURCE_COMPONENTS[source_key],
        "severity": report.details.get("severity", "medium"),
        "starts_at": report.details.get("occurred_at") or report.created_at.isoformat(),
    }
    marker = f"draft-of-{report.reference}"
    for _ in range(10):
        try:
            draft = await open_draft(
                services,
                REPORT_DRAFTS,
                source_key=source_key,
                name="Bits",
                email=by,
                title=report.title,
                description=description,
                proposal=proposal,
                language="nb",
                markers=[marker],
                details={"linked_from": report.reference},
            )
            return draft.reference
        except AlreadyProcessed as done:
            found = await services.store.load(done.reference)
            if found is None or found.case.status != "discarded":
                return done.reference
            marker = f"draft-of-{report.reference}-after-{done.reference}"  # the last one was discarded: a new one
    raise AlreadyProcessed(report.reference)
