"""Process B, notices: an alert from NAV, Altinn or Digdir becomes a case of its own and goes to every company whose
connected environments and services it touches, one email per recipient, with Bits in copy.

The mails of an alert are its ledger: one per (alert, revision, recipient), each pending, sent or failed, and
bounces recorded against it. A fan-out is written in chunks (a transaction holds at most 100 operations), each
with a marker, so that the same alert posted again resumes an interrupted fan-out and never sends twice.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from ..core.mail import OutgoingMail
from ..core.model import Case, CaseEvent, Channel, Contact, Process
from ..core.registry import Registry
from ..core.services import Services
from ..core.settings import Settings
from ..core.store import AlreadyProcessed
from .models import AlertIn

CHUNK = 45  # two operations per mail and the chunk's event: within the 100 a transaction allows


def source_of_key(settings: Settings, presented: str | None) -> str | None:
    """Which source a key belongs to (NAV, ALTINN or DIGDIR), comparing SHA-256 hashes in constant time."""
    if not presented or len(presented) > 512:
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


async def publish_alert(services: Services, source_key: str, alert: AlertIn) -> tuple[Case, bool]:
    """Store the alert and fan it out. Posting the same source_alert_id again returns the stored alert (and finishes
    a fan-out that was interrupted). Returns the alert's case and whether it was new."""
    registry = await services.registry()
    source = registry.sources[source_key]
    now = services.clock.now()
    details: dict[str, Any] = {
        **alert.model_dump(mode="json", exclude={"title", "description"}),
        "source": source_key,
        "services": alert.services(),
        "revision": 1,
    }
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
        data={"description": alert.description, "description_en": alert.description_en},
    )
    identity = hashlib.sha256(f"{source_key}\n{alert.source_alert_id}".encode()).hexdigest()[:32]
    try:
        stored = await services.store.create_case(case, event, lambda c: [], markers=[f"alert-{identity}"])
        created = True
    except AlreadyProcessed as done:
        loaded = await services.store.load(done.reference)
        assert loaded is not None
        stored, created = loaded.case, False
    await fan_out(services, registry, stored, alert.description, alert.description_en)
    return stored, created


async def fan_out(
    services: Services, registry: Registry, case: Case, description: str, description_en: str | None
) -> int:
    """Queue the alert's revision to every recipient and Bits, chunk by chunk; returns mails queued now."""
    revision = int(case.details.get("revision", 1))
    people = recipients(registry, case.details) + registry.bits_contacts("support")
    mails: list[OutgoingMail] = [
        services.compose(
            reference=case.reference,
            purpose=f"alert-r{revision}",
            to=person.email,
            template="alert_notice",
            language=person.language,
            case=case,
            alert=case.details,
            description=description_en if person.language == "en" and description_en else description,
            source=registry.sources[case.details["source"]].name,
        )
        for person in people
    ]
    queued = 0
    for i in range(0, len(mails), CHUNK):
        chunk = mails[i : i + CHUNK]
        event = CaseEvent(
            at=services.clock.now(),
            actor="fan-out",
            channel=Channel.API,
            kind="fanned_out",
            public=False,
            summary=f"Revision {revision}: {len(chunk)} recipients queued",
            data={"revision": revision, "recipients": [m.to for m in chunk]},
        )
        try:
            await services.store.append(
                case.reference, event, chunk, markers=[f"fanout-{case.reference}-r{revision}-{i // CHUNK}"]
            )
            queued += len(chunk)
        except AlreadyProcessed:
            continue  # this chunk went out before
    return queued
