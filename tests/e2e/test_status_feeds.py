"""The status feeds through the dev host: Atom entries with the full text in words (nb, and en with the source's English
title), and iCalendar feeds, public and a company's own, whose every time a strict reader resolves to the instant
the source gave."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import feedparser
import httpx

from tests.conftest import DevHostProcess
from tests.e2e.helpers import MAINTENANCE, dispatch, outbox_mails, post
from tests.ical_zones import event_times

SOMMER = {
    **MAINTENANCE,
    "source_alert_id": "NAV-FEEDS-ZONES",
    "title": "Sommervedlikehold av uføre-API-et",
    "title_en": "Summer maintenance of the disability API",
    "description": "API-et er nede i fire timer.",
    "description_en": "The API is down for four hours.",
    "starts_at": "2027-06-10T22:00:00+02:00",  # summer time in Oslo: 20.00 UTC
    "ends_at": "2027-06-11T02:00:00+02:00",
}


def test_atom_entries_have_the_full_text_in_the_feeds_language(devhost: DevHostProcess) -> None:
    reference = post(devhost, SOMMER).json()["id"]
    [nb] = [
        e
        for e in feedparser.parse(httpx.get(f"{devhost.url}/api/status/feed.atom").content).entries
        if reference in e.id
    ]
    text = nb.content[0].value
    assert nb.title == "Sommervedlikehold av uføre-API-et" and nb.content[0].type == "text/plain"
    assert "Planlagt vedlikehold · Alvorlighet: Middels · Gjelder Uføre-API-et i produksjon" in text
    assert "Fra 10. juni 2027 kl. 22.00 til 11. juni 2027 kl. 02.00" in text and "API-et er nede i fire timer." in text
    assert not re.search(r"ufore-api|\bproduction\b|\bmedium\b|\bmaintenance\b|\d{4}-\d\d-\d\dT", text), text
    en_feed = feedparser.parse(httpx.get(f"{devhost.url}/api/status/feed.atom?lang=en").content)
    [en] = [e for e in en_feed.entries if reference in e.id]
    assert en.title == "Summer maintenance of the disability API"
    assert "From 10 June 2027, 22:00 to 11 June 2027, 02:00" in en.content[0].value
    assert "The API is down for four hours." in en.content[0].value


def test_every_calendar_time_resolves_public_and_in_a_companys_own_feed(devhost: DevHostProcess) -> None:
    reference = post(devhost, {**SOMMER, "source_alert_id": "NAV-FEEDS-ZONES-2"}).json()["id"]
    dispatch(devhost)
    [mail] = [m for m in outbox_mails(devhost, reference) if str(m["To"]) == "teknisk@demo-forsikring.example"]
    body = mail.get_body(("plain",))
    assert body is not None
    [own] = re.findall(r"https?://\S+/api/status/maintenance\.ics\?org=310000019&k=\S+", body.get_content())
    for url in (f"{devhost.url}/api/status/maintenance.ics", own, f"{devhost.url}/api/status/maintenance.ics?lang=en"):
        answer = httpx.get(url)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/calendar")
        times = event_times(answer.content)  # fails on a floating time or a TZID no VTIMEZONE defines
        [uid] = [uid for uid in times if uid.startswith(f"{reference}@")]
        assert times[uid]["DTSTART"] == datetime(2027, 6, 10, 20, 0, tzinfo=UTC), url
        assert times[uid]["DTEND"] == datetime(2027, 6, 11, 0, 0, tzinfo=UTC), url
