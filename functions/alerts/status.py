"""The public status page and its feeds: a headline, the state of every component in each environment, incidents with
their updates, planned maintenance and the last 90 days, as HTML (nb/en), Atom with the full text, and an iCalendar
file with one event per planned maintenance (updated on revision, cancelled on cancellation) to subscribe to."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import get_args
from xml.etree import ElementTree

from ..core.glossary import EVENTS, field_label, long_date, long_time, pick, word
from ..core.model import Case, CaseEvent, Organisation, Process
from ..core.rendering import OSLO
from ..core.services import Services
from ..core.signing import sign, verify
from .models import Component

RECENT = timedelta(days=14)  # what the feeds keep of closed alerts
HISTORY = timedelta(days=90)  # what the page shows of them
ATOM = "http://www.w3.org/2005/Atom"
COMPONENTS: tuple[str, ...] = get_args(Component)
ENVIRONMENTS = ("production", "test")
# A component's states, best first: a cell shows the worst of what touches it now.
STATES = ("operational", "maintenance", "degraded", "partial", "major")
STATE_OF_SEVERITY = {"low": "degraded", "medium": "degraded", "high": "partial", "critical": "major"}
CLOSINGS = ("resolved", "completed", "cancelled")


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


async def _alerts(services: Services, organisation: Organisation | None) -> list[Case]:
    alerts = await services.store.cases(Process.NOTIFICATION)
    if organisation is None:
        return [a for a in alerts if not a.details.get("organisation_number")]  # one company's alert is not public
    return [a for a in alerts if concerns(a, organisation)]


def _sort_status(public: list[Case], now: datetime, recent: timedelta) -> Status:
    open_ = [a for a in public if a.status == "published"]
    by_start = sorted(open_, key=lambda a: _at(a, "starts_at") or a.created_at)
    return Status(
        incidents=[a for a in by_start if a.kind == "incident"],
        maintenance=[a for a in by_start if a.kind == "maintenance" and (_at(a, "ends_at") or now) >= now],
        changes=[a for a in by_start if a.kind == "change"],
        recently_closed=sorted(
            (a for a in public if a.status == "closed" and now - a.updated_at <= recent),
            key=lambda a: a.updated_at,
            reverse=True,
        ),
    )


async def current_status(services: Services, organisation: Organisation | None = None) -> Status:
    """The public status, or with `organisation` what concerns that company (including alerts for it alone)."""
    return _sort_status(await _alerts(services, organisation), services.clock.now(), RECENT)


# -- the alerts in words -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A text as the source gave it, with its language when that is not the page's (for `lang` on the page)."""

    text: str
    lang: str | None = None


@dataclass(frozen=True)
class Update:
    at: str
    label: str
    text: Text
    changed: str = ""  # which fields a revision changed, in words


@dataclass(frozen=True)
class Notice:
    """One alert as people read it: nothing in it is a code."""

    reference: str
    kind: str
    title: Text
    facts: list[str]
    text: Text
    updates: list[Update]
    link: str | None = None
    action: Text = Text("")  # what the companies must do: the source's text, Norwegian only


def _words(kind: str, code: str, language: str) -> str:
    return word(kind, code, language) or code


def _listed(items: list[str], language: str) -> str:
    """a, b og c (nb) / a, b and c (en)."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {'and' if language == 'en' else 'og'} {items[-1]}"


def _in_sentence(name: str) -> str:
    """A name as it reads after other words: "the disability API", not "The disability API"."""
    return "the " + name[4:] if name.startswith("The ") else name


def _environments(codes: list[str], language: str) -> str:
    ordered = [e for e in ENVIRONMENTS if e in codes] + [e for e in codes if e not in ENVIRONMENTS]
    return _listed([_words("environment", e, language).lower() for e in ordered], language)


def _in_language(nb: str, en: str | None, language: str) -> Text:
    """The English text on the English page when the source gave one; else the Norwegian, marked as such."""
    if language == "en":
        return Text(en) if en else Text(nb, "nb")
    return Text(nb)


def _when(case: Case, language: str) -> str:
    starts, ends = _at(case, "starts_at"), _at(case, "ends_at")
    if starts is None:
        return ""
    if ends is None:
        return f"{pick(('Startet', 'Started'), language)} {long_time(starts, language)}"
    return (
        f"{pick(('Fra', 'From'), language)} {long_time(starts, language)} "
        f"{pick(('til', 'to'), language)} {long_time(ends, language)}"
    )


def _updates(case: Case, events: list[CaseEvent], language: str) -> list[Update]:
    """The alert's story as its source told it: published, each revision, the closing; newest first."""
    updates: list[Update] = []
    for event in events:
        if not event.public or event.kind not in ("published", "revised", *CLOSINGS):
            continue
        data = event.data
        at = long_time(event.at, language)
        if event.kind in CLOSINGS:
            updates.append(Update(at, _words("outcome", event.kind, language), Text(str(data.get("text") or ""))))
            continue
        nb = str(data.get("description") or "")
        en = data.get("description_en")
        if (
            event.kind == "published"
            and not en
            and not any("description_en" in e.data.get("changes", []) for e in events)
        ):
            en = case.details.get("description_en")  # a published draft keeps its English text in the details only
        label = pick(EVENTS[event.kind], language)
        changed = [field_label(name, language).lower() for name in data.get("changes", []) if name != "description_en"]
        words = f"{pick(('Endret', 'Changed'), language)}: {_listed(changed, language)}." if changed else ""
        if nb:
            text = _in_language(nb, str(en) if en else None, language)
        else:  # a revision of the English text alone
            text = Text(str(en or ""), None if language == "en" or not en else "en")
        updates.append(Update(at, label, text, words))
    return list(reversed(updates))


def _description(events: list[CaseEvent]) -> str:
    for event in reversed(events):
        if event.kind in ("published", "revised") and event.data.get("description"):
            return str(event.data["description"])
    return ""


def notice(case: Case, events: list[CaseEvent], language: str) -> Notice:
    """An alert in the page's language: its title and text in English when the source gave them, facts in words."""
    details = case.details
    facts = [
        _words("kind", case.kind, language),
        f"{field_label('severity', language)}: {_words('severity', str(details.get('severity')), language)}",
        f"{pick(('Gjelder', 'Affects'), language)} "
        f"{_listed([_in_sentence(_words('component', c, language)) for c in details.get('components', [])], language)} "
        f"{pick(('i', 'in'), language)} {_environments(details.get('environments', []), language)}",
    ]
    when = _when(case, language)
    if when:
        facts.append(when)
    if case.status == "closed":
        outcome = _words("outcome", str(details.get("outcome")), language)
        facts.append(f"{outcome} {long_time(case.updated_at, language)}")
    action = Text("")
    if details.get("action_required"):
        action = _in_language(str(details["action_required"]), None, language)
        if details.get("action_deadline"):
            deadline = long_time(datetime.fromisoformat(details["action_deadline"]), language)
            facts.append(f"{field_label('action_deadline', language)}: {deadline}")
    return Notice(
        reference=case.reference,
        kind=case.kind,
        title=_in_language(case.title, details.get("title_en"), language),
        facts=facts,
        text=_in_language(_description(events), details.get("description_en"), language),
        updates=_updates(case, events, language),
        link=details.get("link"),
        action=action,
    )


async def notices(services: Services, cases: list[Case], language: str) -> list[Notice]:
    """The alerts in words, each with its updates (one read of its events each, all at once)."""
    stories = await asyncio.gather(*(services.store.events(c.reference) for c in cases))
    return [notice(case, events, language) for case, events in zip(cases, stories, strict=True)]


# -- the page ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    state: str  # the state's code: only for the page's colour, never shown
    words: str


@dataclass(frozen=True)
class Row:
    component: str
    cells: list[Cell]


@dataclass(frozen=True)
class StatusPage:
    language: str
    all_well: bool
    headline: str
    problems: list[str]
    environments: list[str]
    rows: list[Row]
    now: list[Notice]
    planned: list[Notice]
    changes: list[Notice]
    history: list[tuple[str, list[Notice]]] = field(default_factory=list)
    updated: str = ""


def _ongoing(case: Case, now: datetime) -> bool:
    starts, ends = _at(case, "starts_at"), _at(case, "ends_at")
    return starts is not None and starts <= now and (ends is None or now < ends)


def component_states(problems: list[Case]) -> dict[tuple[str, str], str]:
    """The worst state of each (component, environment) that a current incident or maintenance touches."""
    worst: dict[tuple[str, str], str] = {}
    for case in problems:
        state = "maintenance" if case.kind == "maintenance" else STATE_OF_SEVERITY.get(case.details.get("severity", ""))
        for component in case.details.get("components", []):
            for environment in case.details.get("environments", []):
                key = (component, environment)
                if state and STATES.index(state) > STATES.index(worst.get(key, "operational")):
                    worst[key] = state
    return worst


def _problem(component: str, states: dict[str, str], language: str) -> str:
    """Samtykke i Altinn: nede i produksjon, forstyrrelser i test."""
    parts = []
    for state in reversed(STATES):
        environments = [e for e, s in states.items() if s == state]
        if environments:
            parts.append(
                f"{_words('component_state', state, language).lower()} {pick(('i', 'in'), language)} "
                f"{_environments(environments, language)}"
            )
    return f"{_words('component', component, language)}: {', '.join(parts)}"


async def status_page(services: Services, language: str) -> StatusPage:
    """Everything the public status page shows, in words in `language`."""
    now = services.clock.now()
    public = await _alerts(services, None)
    status = _sort_status(public, now, HISTORY)
    problems = [a for a in status.incidents] + [a for a in status.maintenance if _ongoing(a, now)]
    planned = [a for a in status.maintenance if not _ongoing(a, now)]
    states = component_states(problems)
    rows = [
        Row(
            _words("component", component, language),
            [
                Cell(s, _words("component_state", s, language))
                for s in (states.get((component, e), "operational") for e in ENVIRONMENTS)
            ],
        )
        for component in COMPONENTS
    ]
    sentences = [
        _problem(c, {e: s for (c2, e), s in states.items() if c2 == c}, language)
        for c in COMPONENTS
        if any(c2 == c for c2, _ in states)
    ]
    if not sentences:
        headline = pick(("Alle tjenester virker", "All services are working"), language)
    elif len(sentences) == 1:
        headline = sentences[0]
    else:
        headline = pick(
            (f"Problemer med {len(sentences)} tjenester", f"Problems with {len(sentences)} services"), language
        )
    worded = await notices(services, problems + planned + status.changes + status.recently_closed, language)
    by_reference = {n.reference: n for n in worded}
    history: dict[str, list[Notice]] = {}
    for case in status.recently_closed:
        local = case.updated_at.astimezone(OSLO)
        month = long_date(local.date(), language).split(" ", 1)[1]  # "november 2026" / "November 2026"
        history.setdefault(month, []).append(by_reference[case.reference])
    return StatusPage(
        language=language,
        all_well=not sentences,
        headline=headline,
        problems=sentences if len(sentences) > 1 else [],
        environments=[_words("environment", e, language) for e in ENVIRONMENTS],
        rows=rows,
        now=[by_reference[a.reference] for a in problems],
        planned=[by_reference[a.reference] for a in planned],
        changes=[by_reference[a.reference] for a in status.changes],
        history=list(history.items()),
        updated=long_time(now, language),
    )


# -- the feeds -----------------------------------------------------------------------------------------------------


def full_text(item: Notice, language: str) -> str:
    """An alert as plain text, for a feed reader or a calendar: its facts, its text, what to do, its updates."""
    lines = [" · ".join(item.facts), "", item.text.text]
    if item.action.text:
        lines += ["", f"{field_label('action_required', language)}: {item.action.text}"]
    if item.link:
        lines += ["", item.link]
    if item.updates:
        lines += ["", pick(("Oppdateringer:", "Updates:"), language)]
        for update in item.updates:
            said = " ".join(part for part in (update.text.text, update.changed) if part)
            lines.append(f"{update.at} – {update.label}" + (f": {said}" if said else ""))
    return "\n".join(lines).strip()


def atom_feed(
    services: Services, alerts: list[Case], worded: list[Notice], updated: datetime, language: str = "nb"
) -> bytes:
    """An Atom 1.0 feed of the alerts, newest change first, each with its full text in words."""
    ElementTree.register_namespace("", ATOM)
    feed = ElementTree.Element(f"{{{ATOM}}}feed", {"xml:lang": "en" if language == "en" else "nb"})
    title = pick(
        ("Syke- og uføreopplysninger fra NAV – driftsstatus", "Sickness and disability data from NAV – service status"),
        language,
    )
    ElementTree.SubElement(feed, f"{{{ATOM}}}title").text = title
    ElementTree.SubElement(feed, f"{{{ATOM}}}id").text = services.link("status/feed.atom")
    ElementTree.SubElement(feed, f"{{{ATOM}}}updated").text = updated.isoformat()
    page = services.link("status?lang=en" if language == "en" else "status")
    ElementTree.SubElement(feed, f"{{{ATOM}}}link", href=page)
    author = ElementTree.SubElement(feed, f"{{{ATOM}}}author")
    ElementTree.SubElement(author, f"{{{ATOM}}}name").text = "Bits"
    by_reference = {n.reference: n for n in worded}
    for alert in sorted(alerts, key=lambda a: a.updated_at, reverse=True):
        item = by_reference[alert.reference]
        entry = ElementTree.SubElement(feed, f"{{{ATOM}}}entry")
        ElementTree.SubElement(entry, f"{{{ATOM}}}id").text = f"urn:ssu:{alert.reference}"
        ElementTree.SubElement(entry, f"{{{ATOM}}}title").text = item.title.text
        ElementTree.SubElement(entry, f"{{{ATOM}}}updated").text = alert.updated_at.isoformat()
        ElementTree.SubElement(entry, f"{{{ATOM}}}published").text = alert.created_at.isoformat()
        ElementTree.SubElement(entry, f"{{{ATOM}}}link", href=f"{page}#{alert.reference}")
        ElementTree.SubElement(entry, f"{{{ATOM}}}summary").text = " · ".join(item.facts)
        ElementTree.SubElement(entry, f"{{{ATOM}}}content", type="text").text = full_text(item, language)
    text = ElementTree.tostring(feed, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + text).encode()


def maintenance_calendar(services: Services, alerts: list[Case], worded: list[Notice], language: str = "nb") -> bytes:
    """One VEVENT per planned maintenance: the revision is its SEQUENCE, a cancellation its STATUS.

    Times are written in UTC (`…Z`, RFC 5545 form 2): every calendar reads them the same and shows them in its
    user's zone, and there is no VTIMEZONE whose daylight-saving rules we would have to keep right. (A source's
    time arrives with a fixed offset such as +01:00; written as it is, it became an undefined TZID and floating
    times in people's calendars.)"""
    from icalendar import Calendar, Event

    by_reference = {n.reference: n for n in worded}
    calendar = Calendar()
    calendar.add("prodid", "-//Bits//SSU driftsstatus//NO")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", pick(("SSU vedlikehold", "SSU maintenance"), language))
    for alert in alerts:
        starts, ends = _at(alert, "starts_at"), _at(alert, "ends_at")
        if alert.kind != "maintenance" or starts is None:
            continue
        item = by_reference[alert.reference]
        event = Event()
        event.add("uid", f"{alert.reference}@{services.settings.mail_domain}")
        event.add("summary", item.title.text)
        event.add("dtstart", starts.astimezone(UTC))
        event.add("dtend", (ends or starts + timedelta(hours=1)).astimezone(UTC))
        event.add("dtstamp", alert.updated_at.astimezone(UTC))
        event.add("sequence", int(alert.details.get("revision", 1)))
        event.add("description", full_text(item, language))
        event.add("status", "CANCELLED" if alert.details.get("outcome") == "cancelled" else "CONFIRMED")
        page = "status?lang=en" if language == "en" else "status"
        event.add("url", services.link(f"{page}#{alert.reference}"))
        calendar.add_component(event)
    return bytes(calendar.to_ical())


def feed_alerts(status: Status) -> list[Case]:
    return status.incidents + status.maintenance + status.changes + status.recently_closed
