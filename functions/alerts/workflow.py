"""Process B, notices: an alert from NAV, Altinn or Digdir becomes a case of its own and goes to every company whose
connected environments and services it touches, one email per recipient, with Bits in copy.

The mails of an alert are its ledger: one per (alert, revision, recipient), each pending, sent or failed, and
bounces recorded against it. A fan-out is written in chunks (a transaction holds at most 100 operations); the
same alert posted again resumes an interrupted fan-out by recipient, whatever changed in the registry meanwhile,
and never sends twice (see `queue_in_chunks`).

Only the fan-out of the case as it stands is ever resumed: a revision or a closing first finishes the fan-out
before it, so that everyone has the old state queued before the new one, and a resume on a case that has moved on
queues the current revision (or the closing), never a stale one (see `resume_fan_out`).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from ..core.cases import fanned_out, queue_in_chunks
from ..core.mail import OutgoingMail
from ..core.model import Case, CaseEvent, Channel, Contact, Process
from ..core.privacy import mask_fields, mask_identity_numbers
from ..core.registry import Registry
from ..core.services import Services
from ..core.settings import Settings
from ..core.store import AlreadyProcessed, StoredCase
from .models import AlertIn
from .status import feed_links


def source_of_key(settings: Settings, presented: str | None) -> str | None:
    """Which source a key belongs to (NAV, ALTINN or DIGDIR), comparing SHA-256 hashes in constant time. A key
    that is empty, over-long or not printable ASCII is nobody's (a key we issue never is), never an error."""
    if not presented or len(presented) > 512 or not presented.isascii() or not presented.isprintable():
        return None
    digest = hashlib.sha256(presented.encode()).hexdigest()
    found = None
    for source, hashes in settings.alert_keys.items():
        for expected in hashes:
            if hmac.compare_digest(digest, expected.lower()):
                found = source
    return found


def _roles(alert: dict[str, Any]) -> set[str]:
    """Technical contacts always; business contacts for changes and serious incidents; security when asked."""
    roles = {"technical"}
    if alert["kind"] == "change" or (alert["kind"] == "incident" and alert["severity"] in ("high", "critical")):
        roles.add("business")
    if alert.get("notify_security"):
        roles.add("security")
    return roles


def recipients(registry: Registry, details: dict[str, Any]) -> list[Contact]:
    """Everyone who must hear about the alert, once each, in a stable order."""
    chosen: dict[str, Contact] = {}
    for environment in details["environments"]:
        for service in details["services"]:
            for found in registry.who_must_hear(environment, service, _roles(details)):
                if details.get("organisation_number") and found.organisation_number != details["organisation_number"]:
                    continue
                chosen.setdefault(found.contact.email.casefold(), found.contact)
    return list(chosen.values())


# The fields of an alert that are its source's free text: what the privacy guard masks. (An identifier or a link
# that holds an identity number is refused by validation instead: masked, it would be broken; see models.py.)
ALERT_TEXT = ("title", "description", "title_en", "description_en", "action_required")


def mask_alert_text(fields: dict[str, Any]) -> int:
    """Mask identity numbers in an alert's free-text fields, in place; returns how many were masked."""
    text = {name: value for name, value in fields.items() if name in ALERT_TEXT}
    removed = mask_fields(text)
    fields.update(text)
    return removed


def mask_alert(alert: AlertIn) -> tuple[AlertIn, int]:
    """The alert with identity numbers masked in its free text (before anything is stored or sent), and how many."""
    text = {name: getattr(alert, name) for name in ALERT_TEXT if getattr(alert, name) is not None}
    removed = mask_alert_text(text)
    return (alert.model_copy(update=text) if removed else alert), removed


def alert_details(alert: AlertIn, source_key: str) -> dict[str, Any]:
    """What an alert's case keeps in its details: the fields as sent, its source, the services it touches."""
    return {
        **alert.model_dump(mode="json", exclude={"title", "description"}),
        "source": source_key,
        "services": alert.services(),
        "revision": 1,
    }


async def publish_alert(services: Services, source_key: str, alert: AlertIn) -> tuple[Case, bool]:
    """Store the alert and fan it out. Posting the same source_alert_id again returns the stored alert (and finishes
    a fan-out that was interrupted). Returns the alert's case and whether it was new."""
    alert, removed = mask_alert(alert)
    registry = await services.registry()
    source = registry.sources[source_key]
    now = services.clock.now()
    details = {**alert_details(alert, source_key), "identity_numbers_removed": removed}
    case = Case(
        process=Process.NOTIFICATION,
        kind=alert.kind,
        status="published",
        organisation_number=source.organisation_number,
        submitter_name=source.name,
        submitter_email=source.contacts[0].email if source.contacts else f"{source_key.lower()}@invalid",
        submitter_verified=True,
        environment="both" if len(alert.environments) == 2 else alert.environments[0],
        title=alert.title,
        created_at=now,
        updated_at=now,
        details=details,
    )
    event = CaseEvent(
        at=now,
        actor=source_key,
        channel=Channel.API,
        kind="published",
        public=True,
        summary=f"{source.name} published a {alert.kind}",
        data={
            "description": alert.description,
            "description_en": alert.description_en,
            "identity_numbers_removed": removed,
        },
    )
    identity = hashlib.sha256(f"{source_key}\n{alert.source_alert_id}".encode()).hexdigest()[:32]
    try:
        stored = await services.store.create_case(case, event, lambda c: [], markers=[f"alert-{identity}"])
    except AlreadyProcessed as done:
        loaded = await services.store.load(done.reference)
        assert loaded is not None
        # A retry of the first POST: finish the fan-out of the alert as it stands now (revised or closed meanwhile,
        # that is the current revision or the closing, never revision 1 again).
        await resume_fan_out(services, registry, loaded.case)
        return loaded.case, False
    await fan_out(services, registry, stored, alert.description, alert.description_en)
    return stored, True


async def fan_out(
    services: Services,
    registry: Registry,
    case: Case,
    description: str,
    description_en: str | None,
    *,
    purpose: str | None = None,
    template: str = "alert_notice",
    people: list[Contact] | None = None,
) -> int:
    """Queue the alert (or its update or closing) to every recipient and Bits, chunk by chunk; returns mails queued.

    The first revision goes to everyone it concerns; updates and the closing go to exactly those who got it. Run
    again (the alert posted again, the timer), it queues only those who have not got this purpose yet, as the
    registry is now.
    """
    revision = int(case.details.get("revision", 1))
    purpose = purpose or f"alert-r{revision}"
    if people is None:
        people = recipients(registry, case.details) + registry.bits_contacts("support")
    company_of = {
        c.email.casefold(): o.organisation_number for o in registry.organisations.values() for c in o.contacts
    }
    mails: list[OutgoingMail] = [
        services.compose(
            reference=case.reference,
            purpose=purpose,
            to=person.email,
            template=template,
            language=person.language,
            case=case,
            alert=case.details,
            description=description_en if person.language == "en" and description_en else description,
            source=registry.sources[case.details["source"]].name,
            feeds=feed_links(services, company_of[person.email.casefold()])
            if person.email.casefold() in company_of
            else None,
        )
        for person in people
    ]
    marker = f"fanout-{case.reference}-{purpose}"
    return await queue_in_chunks(services, case.reference, mails, marker, f"{purpose} (revision {revision})")


async def first_recipients(services: Services, registry: Registry, case: Case) -> list[Contact]:
    """Those who got the first revision, in their languages: updates and the closing go to them and no one else.
    While the first fan-out is unfinished (only on a case stored before revisions finished it first), also everyone
    it would reach now, so that nobody the alert concerns misses the current state."""
    known = {c.email.casefold(): c for o in registry.organisations.values() for c in o.contacts}
    known.update({c.email.casefold(): c for c in (registry.bits.contacts if registry.bits else [])})
    sent_to = [m.mail.to for m in await services.store.mails(case.reference) if m.mail.purpose == "alert-r1"]
    people = [known.get(address.casefold(), Contact(email=address, roles=[])) for address in sent_to]
    if not await fanned_out(services, case.reference, f"fanout-{case.reference}-alert-r1"):
        people += recipients(registry, case.details) + registry.bits_contacts("support")
    return people


async def resume_fan_out(services: Services, registry: Registry, case: Case) -> int:
    """Finish the fan-out of the case as it stands: the closing if it is closed, else its current revision (the
    first to everyone it concerns now, a later one to those who got the first). Queues only who is missing it;
    returns mails queued. An earlier revision's fan-out is never resumed: it would be stale."""
    purpose = "alert-closed" if case.status == "closed" else f"alert-r{int(case.details.get('revision', 1))}"
    if await fanned_out(services, case.reference, f"fanout-{case.reference}-{purpose}"):
        return 0  # the usual case (the timer asks of every open alert): nothing to compose
    if case.status == "closed":
        text = await _closing_text(services, case)
        people = await first_recipients(services, registry, case)
        return await fan_out(
            services, registry, case, text, None, purpose="alert-closed", template="alert_closed", people=people
        )
    description, description_en = await _description(services, case), case.details.get("description_en")
    if int(case.details.get("revision", 1)) == 1:
        return await fan_out(services, registry, case, description, description_en)
    people = await first_recipients(services, registry, case)
    return await fan_out(services, registry, case, description, description_en, people=people)


async def revise_alert(services: Services, stored: StoredCase, changes: dict[str, Any]) -> Case:
    """A new revision (new times or text): stored under the case's ETag, then sent to those who got the alert."""
    changes = dict(changes)
    removed = mask_alert_text(changes)
    registry = await services.registry()
    case = stored.case
    revision = int(case.details.get("revision", 1)) + 1
    title = changes.pop("title", case.title)
    description = changes.pop("description", None)
    details = {
        **case.details,
        **changes,
        "revision": revision,
        "identity_numbers_removed": int(case.details.get("identity_numbers_removed", 0)) + removed,
    }
    changed = case.model_copy(update={"title": title, "details": details, "updated_at": services.clock.now()})
    event = CaseEvent(
        at=services.clock.now(),
        actor=str(case.details["source"]),
        channel=Channel.API,
        kind="revised",
        public=True,
        summary=f"Revision {revision}",
        data={
            "changes": sorted(changes),
            "description": description,
            "description_en": changes.get("description_en"),  # the status page shows each update in English too
            "identity_numbers_removed": removed,
        },
    )
    previous = await _description(services, case)
    # Finish the revision before it first (a fan-out still running or interrupted): everyone it was meant for has
    # it queued before this one, and nothing resumes it after. Appending mails leaves the case's ETag as it is.
    await resume_fan_out(services, registry, case)
    await services.store.transition(stored, changed, event)
    people = await first_recipients(services, registry, case)
    # A new text without an English one reaches English readers as it was given, as the status page shows it: never
    # the English text of an earlier revision under the new one's subject.
    english = changes.get("description_en") if description else details.get("description_en")
    await fan_out(services, registry, changed, description or previous, english, people=people)
    return changed


async def close_alert(services: Services, stored: StoredCase, outcome: str, text: str) -> Case:
    """Resolved, completed or cancelled: the closing goes to exactly those who got the alert. Closing a closed alert
    again changes nothing, and finishes its closing's fan-out if that was cut short."""
    registry = await services.registry()
    case = stored.case
    if case.status == "closed":
        await resume_fan_out(services, registry, case)
        return case
    text, removed = mask_identity_numbers(text)
    details = {
        **case.details,
        "outcome": outcome,
        "identity_numbers_removed": int(case.details.get("identity_numbers_removed", 0)) + removed,
    }
    changed = case.model_copy(update={"status": "closed", "details": details, "updated_at": services.clock.now()})
    event = CaseEvent(
        at=services.clock.now(),
        actor=str(case.details["source"]),
        channel=Channel.API,
        kind=outcome,
        public=True,
        summary=f"Alert {outcome}",
        data={"text": text, "identity_numbers_removed": removed},
    )
    await resume_fan_out(services, registry, case)  # as for a revision: the state before it is queued first
    await services.store.transition(stored, changed, event)
    people = await first_recipients(services, registry, case)
    await fan_out(
        services, registry, changed, text, None, purpose="alert-closed", template="alert_closed", people=people
    )
    return changed


async def _closing_text(services: Services, case: Case) -> str:
    for event in reversed(await services.store.events(case.reference)):
        if event.kind == case.details.get("outcome") and "text" in event.data:
            return str(event.data["text"])
    return ""


async def _description(services: Services, case: Case) -> str:
    for event in reversed(await services.store.events(case.reference)):
        if event.kind in ("published", "revised") and event.data.get("description"):
            return str(event.data["description"])
    return ""


async def remind_alerts(services: Services) -> int:
    """Before planned maintenance starts, and before an action deadline, remind those who got the alert: once per
    alert, revision and reminder (a revision with new times gets its own). Returns mails queued."""
    registry = await services.registry()
    now = services.clock.now()
    lead = timedelta(hours=services.settings.alert_reminder_hours)
    queued = 0
    for case in await services.store.cases(Process.NOTIFICATION, "published"):
        # A fan-out that stopped half-way (a crash, or storage trouble after a draft was published or a revision
        # was stored): the current revision's, to those still missing it.
        queued += await resume_fan_out(services, registry, case)
        details = case.details
        revision = int(details.get("revision", 1))
        due: list[tuple[str, datetime]] = []
        if case.kind == "maintenance":
            due.append((f"alert-reminder-r{revision}", datetime.fromisoformat(details["starts_at"])))
        if details.get("action_deadline"):
            due.append((f"alert-deadline-r{revision}", datetime.fromisoformat(details["action_deadline"])))
        for purpose, at in due:
            if not at - lead <= now < at:
                continue
            people = await first_recipients(services, registry, case)
            queued += await fan_out(
                services,
                registry,
                case,
                await _description(services, case),
                details.get("description_en"),
                purpose=purpose,
                template="alert_reminder",
                people=people,
            )
    return queued
