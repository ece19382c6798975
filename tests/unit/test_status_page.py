"""The status page's content and its feeds, over the in-memory fakes: the headline and the grid from what is open now,
alerts in words and in the page's language with their updates, Atom entries with the full text, and iCalendar times
that every calendar resolves."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest

from functions.alerts.models import AlertIn
from functions.alerts.status import (
    ATOM,
    atom_feed,
    current_status,
    feed_alerts,
    maintenance_calendar,
    notices,
    status_page,
)
from functions.alerts.workflow import close_alert, publish_alert, revise_alert
from functions.core.services import Services
from tests.fakes import clock_of, fake_services
from tests.ical_zones import event_times

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)  # the fake clock's start
# What must never reach a person: the codes of components, environments, kinds, severities and outcomes, ISO times.
CODES = re.compile(
    r"altinn-consent|ufore-api|aap-api|nav-api-portal|maskinporten-|\bproduction\b|\bincident\b|\bmaintenance\b"
    r"|\bhigh\b|\bcritical\b|\bmedium\b|\bresolved\b|\bpublished\b|\d{4}-\d\d-\d\dT\d\d"
)


def alert(**fields: Any) -> AlertIn:
    body: dict[str, Any] = {
        "source_alert_id": "ALTINN-INC-1",
        "kind": "incident",
        "environments": ["production", "test"],
        "components": ["altinn-consent"],
        "severity": "high",
        "title": "Samtykke i Altinn svarer ikke",
        "title_en": "Consent in Altinn does not answer",
        "description": "Forespørsler om samtykke feiler.",
        "description_en": "Consent requests fail.",
        "starts_at": (NOW - timedelta(hours=1)).isoformat(),
        "ends_at": None,
    }
    return AlertIn.model_validate({**body, **fields})


def maintenance(**fields: Any) -> AlertIn:
    return alert(
        **{
            "source_alert_id": "NAV-VEDL-1",
            "kind": "maintenance",
            "environments": ["production"],
            "components": ["ufore-api"],
            "severity": "medium",
            "title": "Vedlikehold av uføre-API-et",
            "title_en": "Maintenance of the disability API",
            "description": "API-et er utilgjengelig i vinduet.",
            "description_en": "The API is unavailable in the window.",
            # A source's time with a fixed offset, as the alert API receives it: 3 December, 22.00 in Oslo.
            "starts_at": "2026-12-03T22:00:00+01:00",
            "ends_at": "2026-12-04T02:00:00+01:00",
            **fields,
        }
    )


async def revise(services: Services, reference: str, **changes: Any) -> None:
    stored = await services.store.load(reference)
    assert stored is not None
    await revise_alert(services, stored, changes)


async def close(services: Services, reference: str, outcome: str, text: str) -> None:
    stored = await services.store.load(reference)
    assert stored is not None
    await close_alert(services, stored, outcome, text)


def cells(page: Any) -> dict[str, list[str]]:
    return {row.component: [cell.words for cell in row.cells] for row in page.rows}


async def test_with_nothing_open_the_headline_says_all_services_work() -> None:
    services = fake_services()
    nb, en = await status_page(services, "nb"), await status_page(services, "en")
    assert nb.all_well and nb.headline == "Alle tjenester virker" and en.headline == "All services are working"
    assert {w for row in cells(nb).values() for w in row} == {"Virker"}
    assert {w for row in cells(en).values() for w in row} == {"Working"}
    assert nb.environments == ["Produksjon", "Test"]
    assert len(nb.rows) == 5, "every component, each in both environments"


async def test_an_incident_and_an_ongoing_maintenance_show_in_the_headline_and_the_grid() -> None:
    services = fake_services()
    incident, _ = await publish_alert(services, "ALTINN", alert())
    await publish_alert(services, "NAV", maintenance())  # 3 December: ahead, not now
    page = await status_page(services, "nb")
    assert page.headline == "Samtykke i Altinn: delvis nede i produksjon og test"
    assert cells(page)["Samtykke i Altinn"] == ["Delvis nede", "Delvis nede"]
    assert cells(page)["Uføre-API-et"] == ["Virker", "Virker"], "planned maintenance is not a state of now"
    assert [n.reference for n in page.now] == [incident.reference]
    assert [n.title.text for n in page.planned] == ["Vedlikehold av uføre-API-et"]

    # A critical revision, and a maintenance under way in test: the worst state wins, the headline counts both.
    await revise(services, incident.reference, severity="critical", description="Vi har funnet feilen.")
    ongoing = maintenance(
        source_alert_id="NAV-VEDL-2",
        environments=["test"],
        components=["nav-api-portal"],
        starts_at=(NOW - timedelta(minutes=10)).isoformat(),
        ends_at=(NOW + timedelta(hours=2)).isoformat(),
    )
    await publish_alert(services, "NAV", ongoing)
    page = await status_page(services, "nb")
    assert page.headline == "Problemer med 2 tjenester"
    assert page.problems == ["Samtykke i Altinn: nede i produksjon og test", "NAVs API-portal: vedlikehold i test"]
    assert cells(page)["NAVs API-portal"] == ["Virker", "Vedlikehold"]
    en = await status_page(services, "en")
    assert en.problems == [
        "Consent in Altinn: major outage in production and test",
        "NAV's API portal: maintenance in test",
    ]


async def test_an_incident_reads_in_words_with_its_updates_newest_first_in_the_pages_language() -> None:
    services = fake_services()
    incident, _ = await publish_alert(services, "ALTINN", alert())
    clock_of(services).advance(minutes=30)
    await revise(
        services, incident.reference, description="Vi har funnet feilen.", description_en="We found the cause."
    )
    clock_of(services).advance(minutes=30)
    await revise(services, incident.reference, severity="critical")
    [nb] = (await status_page(services, "nb")).now
    assert nb.title.text == "Samtykke i Altinn svarer ikke" and nb.title.lang is None
    assert nb.facts[:3] == ["Driftshendelse", "Alvorlighet: Kritisk", "Gjelder Samtykke i Altinn i produksjon og test"]
    assert nb.facts[3] == "Startet 29. november 2026 kl. 10.00"  # 09.00 UTC is 10.00 in Oslo
    assert nb.text.text == "Vi har funnet feilen."
    assert [(u.label, u.at, u.text.text, u.changed) for u in nb.updates] == [
        ("Varselet ble oppdatert", "29. november 2026 kl. 12.00", "", "Endret: alvorlighet."),
        ("Varselet ble oppdatert", "29. november 2026 kl. 11.30", "Vi har funnet feilen.", ""),
        ("Publisert", "29. november 2026 kl. 11.00", "Forespørsler om samtykke feiler.", ""),
    ]
    [en] = (await status_page(services, "en")).now
    assert en.title.text == "Consent in Altinn does not answer", "the English page shows the English title"
    assert en.facts[:4] == [
        "Incident",
        "Severity: Critical",
        "Affects Consent in Altinn in production and test",
        "Started 29 November 2026, 10:00",
    ]
    assert en.text.text == "We found the cause." and en.text.lang is None
    assert [u.text.text for u in en.updates] == ["", "We found the cause.", "Consent requests fail."]


async def test_an_alert_without_english_text_is_marked_as_norwegian_on_the_english_page() -> None:
    services = fake_services()
    await publish_alert(services, "ALTINN", alert(title_en=None, description_en=None))
    [en] = (await status_page(services, "en")).now
    assert (en.title.text, en.title.lang) == ("Samtykke i Altinn svarer ikke", "nb")
    assert (en.text.text, en.text.lang) == ("Forespørsler om samtykke feiler.", "nb")


async def test_the_history_keeps_90_days_of_closed_alerts_by_month() -> None:
    services = fake_services()
    old, _ = await publish_alert(services, "ALTINN", alert(source_alert_id="OLD"))
    await close(services, old.reference, "resolved", "Løst for lenge siden.")
    clock_of(services).advance(days=60)
    recent, _ = await publish_alert(services, "ALTINN", alert(source_alert_id="RECENT"))
    await close(services, recent.reference, "resolved", "Feilen er rettet.")
    page = await status_page(services, "nb")
    assert [(month, [n.reference for n in items]) for month, items in page.history] == [
        ("januar 2027", [recent.reference]),
        ("november 2026", [old.reference]),
    ]
    assert page.all_well and page.now == []
    [item] = page.history[0][1]
    assert item.facts[-1] == "Løst 28. januar 2027 kl. 11.00"
    assert (item.updates[0].label, item.updates[0].text.text) == ("Løst", "Feilen er rettet.")
    clock_of(services).advance(days=31)
    assert [month for month, _ in (await status_page(services, "nb")).history] == ["januar 2027"], "91 days: gone"


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_atom_entries_carry_the_full_text_in_words(language: str) -> None:
    services = fake_services()
    incident, _ = await publish_alert(services, "ALTINN", alert(action_required="Prøv igjen om en time."))
    await revise(
        services, incident.reference, description="Vi har funnet feilen.", description_en="We found the cause."
    )
    alerts = feed_alerts(await current_status(services))
    body = atom_feed(services, alerts, await notices(services, alerts, language), services.clock.now(), language)
    [entry] = ElementTree.fromstring(body).findall(f"{{{ATOM}}}entry")
    title = entry.findtext(f"{{{ATOM}}}title")
    content = entry.find(f"{{{ATOM}}}content")
    assert content is not None and content.get("type") == "text" and content.text
    if language == "en":
        assert title == "Consent in Altinn does not answer"
        for words in (
            "Incident · Severity: High · Affects Consent in Altinn in production and test",
            "We found the cause.",
            "Consent requests fail.",
            "Updates:",
            "The notice was revised",
            "Action required: Prøv igjen",
        ):
            assert words in content.text, words
    else:
        assert title == "Samtykke i Altinn svarer ikke"
        for words in (
            "Driftshendelse · Alvorlighet: Høy · Gjelder Samtykke i Altinn i produksjon og test",
            "Startet 29. november 2026 kl. 10.00",
            "Vi har funnet feilen.",
            "Forespørsler om samtykke feiler.",
            "Oppdateringer:",
            "Varselet ble oppdatert",
            "Tiltak som kreves: Prøv igjen om en time.",
        ):
            assert words in content.text, words
        assert not CODES.search(content.text + (entry.findtext(f"{{{ATOM}}}summary") or "")), content.text


async def test_the_calendar_writes_every_time_in_utc_and_a_strict_reader_resolves_them() -> None:
    from icalendar import Calendar

    services = fake_services()
    planned, _ = await publish_alert(services, "NAV", maintenance())
    summer, _ = await publish_alert(
        services,
        "NAV",
        maintenance(
            source_alert_id="NAV-SOMMER", starts_at="2027-06-10T22:00:00+02:00", ends_at="2027-06-11T01:00:00+02:00"
        ),
    )
    alerts = feed_alerts(await current_status(services))
    ics = maintenance_calendar(services, alerts, await notices(services, alerts, "nb"))
    assert b"TZID" not in ics
    times = event_times(ics)
    assert times[f"{planned.reference}@{services.settings.mail_domain}"] == {
        "DTSTART": datetime(2026, 12, 3, 21, 0, tzinfo=UTC),
        "DTEND": datetime(2026, 12, 4, 1, 0, tzinfo=UTC),
        "DTSTAMP": NOW,
    }
    assert times[f"{summer.reference}@{services.settings.mail_domain}"]["DTSTART"] == datetime(
        2027, 6, 10, 20, 0, tzinfo=UTC
    )
    # The icalendar package reads the same instants (what a calendar does with them).
    [event, _] = Calendar.from_ical(ics).walk("VEVENT")
    assert event.decoded("dtstart") == datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
    description = str(event["description"])
    assert "Gjelder Uføre-API-et i produksjon" in description and not CODES.search(description)

    en = maintenance_calendar(services, alerts, await notices(services, alerts, "en"), "en")
    assert "Maintenance of the disability API" in {str(e["summary"]) for e in Calendar.from_ical(en).walk("VEVENT")}


FOLDED_OLD_FEED = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Bits//SSU driftsstatus//NO\r\nBEGIN:VEVENT\r\n"
    "UID:SSU-B-2026-0001@ssu.example\r\nDTSTAMP:20261129T100000Z\r\n"
    'DTSTART;TZID="UTC+01:00":20261203T220000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n'
)


def test_the_strict_reader_refuses_the_undefined_zone_the_feed_used_to_write() -> None:
    with pytest.raises(AssertionError, match=r'TZID="UTC\+01:00", which no VTIMEZONE'):
        event_times(FOLDED_OLD_FEED.encode())
    floating = FOLDED_OLD_FEED.replace('DTSTART;TZID="UTC+01:00":', "DTSTART:")
    with pytest.raises(AssertionError, match="floating time"):
        event_times(floating.encode())
    with pytest.raises(AssertionError, match="bare LF"):
        event_times(FOLDED_OLD_FEED.replace("\r\nEND:VEVENT", "\nEND:VEVENT").encode())


def test_the_strict_reader_resolves_a_zone_its_vtimezone_defines() -> None:
    defined = FOLDED_OLD_FEED.replace(
        "BEGIN:VEVENT", "BEGIN:VTIMEZONE\r\nTZID:Europe/Oslo\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT"
    ).replace('TZID="UTC+01:00"', "TZID=Europe/Oslo")
    [times] = event_times(defined.encode()).values()
    assert times["DTSTART"].astimezone(UTC) == datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
