"""The public status page and its feeds: current incidents, upcoming maintenance and recently closed alerts, as HTML
(nb/en), Atom, and an iCalendar file with one event per planned maintenance (updated on revision, cancelled on
cancellation) that people can subscribe to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.etree import ElementTree

from ..core.model import Case, Organisation, Process
from ..core.services import Services
from ..core.signing import sign, verify

RECENT = timedelta(days=14)
ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class Status:
    incidents: list[Case]
    maintenance: list[Case]
    changes: list[Case]
    recently_closed: list[Case]


def _at(case: Case, field: str) -> datetime | None:
    value = case.details.get(field)
    return datetime.fromisoformat(value) if value else None


FEED_PURPOSE = "status-feed"


def feed_token(services: Services, organisation_number: str) -> str:
    """The signed key of one company's own feeds (no expiry: a calendar subscription lives for years; a new
    signing key revokes them all)."""
    return sign(services.settings.effective_signing_key, FEED_PURPOSE, {"o": organisation_number})


def feed_links(services: Services, organisation_number: str) -> dict[str, str]:
    query = f"org={organisation_number}&k={feed_token(services, organisation_number)}"
    return {
        "atom": services.link(f"status/feed.atom?{query}"),
        "calendar": services.link(f"status/maintenance.ics?{query}"),
    }


def feed_organisation(services: Services, organisation_number: str, token: str) -> bool:
    payload = verify(services.settings.verification_keys, FEED_PURPOSE, token, services.clock.now())
    return payload is not None and payload.get("o") == organisation_number


def concerns(alert: Case, organisation: Organisation) -> bool:
    """An alert for this company alone, or one that touches an environment it is connected to and a service it uses."""
    target = alert.details.get("organisation_number")
    if target:
        return bool(target == organisation.organisation_number)
    return bool(
        set(alert.details.get("environments", [])) & set(organisation.environments)
        and set(alert.details.get("services", [])) & set(organisation.services)
    )


async def current_status(services: Services, organisation: Organisation | None = None) -> Status:
    """The public status, or with `organisation` what concerns that company (including alerts for it alone)."""
    now = services.clock.now()
    alerts = await services.store.cases(Process.NOTIFICATION)
    if organisation is None:
        public = [a for a in alerts if not a.details.get("organisation_number")]  # one company's alert is not public
    else:
        public = [a for a in alerts if concerns(a, organisation)]
    open_ = [a for a in public if a.status == "published"]
    by_start = sorted(open_, key=lambda a: _at(a, "starts_at") or a.created_at)
    return Status(
        incidents=[a for a in by_start if a.kind == "incident"],
        maintenance=[a for a in by_start if a.kind == "maintenance" and (_at(a, "ends_at") or now) >= now],
        changes=[a for a in by_start if a.kind == "change"],
        recently_closed=sorted(
            (a for a in public if a.status == "closed" and now - a.updated_at <= RECENT),
            key=lambda a: a.updated_at,
            reverse=True,
        ),
    )


def atom_feed(services: Services, alerts: list[Case], updated: datetime) -> bytes:
    """An Atom 1.0 feed of the public alerts, newest change first."""
    ElementTree.register_namespace("", ATOM)
    feed = ElementTree.Element(f"{{{ATOM}}}feed")
    ElementTree.SubElement(feed, f"{{{ATOM}}}title").text = "Syke- og uføreopplysninger fra NAV – driftsstatus"
    ElementTree.SubElement(feed, f"{{{ATOM}}}id").text = services.link("status/feed.atom")
    ElementTree.SubElement(feed, f"{{{ATOM}}}updated").text = updated.isoformat()
    ElementTree.SubElement(feed, f"{{{ATOM}}}link", href=services.link("status"))
    author = ElementTree.SubElement(feed, f"{{{ATOM}}}author")
    ElementTree.SubElement(author, f"{{{ATOM}}}name").text = "Bits"
    for alert in sorted(alerts, key=lambda a: a.updated_at, reverse=True):
        entry = ElementTree.SubElement(feed, f"{{{ATOM}}}entry")
        ElementTree.SubElement(entry, f"{{{ATOM}}}id").text = f"urn:ssu:{alert.reference}"
        ElementTree.SubElement(entry, f"{{{ATOM}}}title").text = alert.title
        ElementTree.SubElement(entry, f"{{{ATOM}}}updated").text = alert.updated_at.isoformat()
        ElementTree.SubElement(entry, f"{{{ATOM}}}link", href=services.link(f"status#{alert.reference}"))
        summary = (
            f"{alert.kind} · {', '.join(alert.details.get('environments', []))} · "
            f"{', '.join(alert.details.get('components', []))} · {alert.status}"
        )
        ElementTree.SubElement(entry, f"{{{ATOM}}}summary").text = summary
    text = ElementTree.tostring(feed, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + text).encode()


def maintenance_calendar(services: Services, alerts: list[Case]) -> bytes:
    """One VEVENT per planned maintenance: the revision is its SEQUENCE, a cancellation its STATUS."""
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//Bits//SSU driftsstatus//NO")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "SSU vedlikehold")
    for alert in alerts:
        starts, ends = _at(alert, "starts_at"), _at(alert, "ends_at")
        if alert.kind != "maintenance" or starts is None:
            continue
        event = Event()
        event.add("uid", f"{alert.reference}@{services.settings.mail_domain}")
        event.add("summary", alert.title)
        event.add("dtstart", starts)
        event.add("dtend", ends or starts + timedelta(hours=1))
        event.add("dtstamp", alert.updated_at)
        event.add("sequence", int(alert.details.get("revision", 1)))
        event.add(
            "description",
            f"{', '.join(alert.details.get('environments', []))}: {', '.join(alert.details.get('components', []))}",
        )
        event.add("status", "CANCELLED" if alert.details.get("outcome") == "cancelled" else "CONFIRMED")
        event.add("url", services.link(f"status#{alert.reference}"))
        calendar.add_component(event)
    return bytes(calendar.to_ical())
