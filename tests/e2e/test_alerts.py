"""Process B through the dev host: the authenticated alert API, fan-out to the right people, idempotency, ledger."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import DevHostProcess
from tests.e2e.helpers import MAINTENANCE, dispatch, drop, outbox_mails, poll, post, sign_in


def test_maintenance_goes_to_every_production_technical_contact_once(devhost: DevHostProcess) -> None:
    response = post(devhost, MAINTENANCE)
    assert response.status_code == 201, response.text
    alert_id = response.json()["id"]
    assert alert_id.startswith("SSU-B-")
    dispatch(devhost)
    recipients = sorted(str(m["To"]) for m in outbox_mails(devhost, alert_id))
    # Production and uføre: Demo Forsikring and Fjordtrygd; Nordlys has only AAP, the others only test.
    assert recipients == ["api@fjordtrygd.example", "support@bits.example", "teknisk@demo-forsikring.example"]
    mail = next(m for m in outbox_mails(devhost, alert_id) if str(m["To"]) == "teknisk@demo-forsikring.example")
    assert "Planlagt vedlikehold" in str(mail["Subject"]) and mail["Cc"] is None and mail["Bcc"] is None

    again = post(devhost, MAINTENANCE, key="nav-key-two")  # the second key works too (rotation)
    assert again.status_code == 200 and again.json()["id"] == alert_id
    dispatch(devhost)
    assert len(outbox_mails(devhost, alert_id)) == 3, "posting it again sends nothing new"

    ledger = httpx.get(f"{devhost.url}/api/alerts/{alert_id}", headers={"X-Api-Key": "nav-key-one"}).json()["ledger"]
    assert sorted((row["recipient"], row["state"]) for row in ledger) == [
        ("api@fjordtrygd.example", "sent"),
        ("support@bits.example", "sent"),
        ("teknisk@demo-forsikring.example", "sent"),
    ]

    # A permanent bounce of one recipient's mail shows in the ledger: Bits sees who was not reached.
    bounced = next(m for m in outbox_mails(devhost, alert_id) if str(m["To"]) == "api@fjordtrygd.example")
    drop(
        devhost,
        "bounce.eml.tmpl",
        as_name=f"{alert_id}-bounce.eml",
        REF=alert_id,
        MSGID=str(bounced["Message-ID"]),
        RCPT="api@fjordtrygd.example",
    )
    poll(devhost)
    ledger = httpx.get(f"{devhost.url}/api/alerts/{alert_id}", headers={"X-Api-Key": "nav-key-one"}).json()["ledger"]
    assert {row["recipient"]: row["state"] for row in ledger}["api@fjordtrygd.example"] == "bounced"
    assert sorted(row["state"] for row in ledger) == ["bounced", "sent", "sent"]
    assert httpx.delete(
        f"{devhost.url}/api/mail/suppressions/api@fjordtrygd.example", headers=sign_in(devhost, "admin@bits.example")
    ).json() == {"lifted": True}


def test_serious_incidents_reach_business_contacts_and_can_target_one_company(devhost: DevHostProcess) -> None:
    incident = {
        **MAINTENANCE,
        "source_alert_id": "NAV-INC-9",
        "kind": "incident",
        "severity": "critical",
        "components": ["aap-api"],
        "ends_at": None,
        "organisation_number": "310000043",
    }
    response = post(devhost, incident)
    assert response.status_code == 201, response.text
    dispatch(devhost)
    recipients = sorted(str(m["To"]) for m in outbox_mails(devhost, response.json()["id"]))
    assert recipients == [
        "drift@nordlys-forsikring.example",
        "ingrid@nordlys-forsikring.example",
        "support@bits.example",
    ]


def test_keys_and_sources(devhost: DevHostProcess) -> None:
    assert post(devhost, MAINTENANCE, key=None).status_code == 401
    assert post(devhost, MAINTENANCE, key="guess").status_code == 401
    alert_id = post(devhost, {**MAINTENANCE, "source_alert_id": "NAV-KEYS"}).json()["id"]
    other = httpx.get(f"{devhost.url}/api/alerts/{alert_id}", headers={"X-Api-Key": "altinn-key"})
    assert other.status_code == 403
    mine = httpx.get(f"{devhost.url}/api/alerts", headers={"Authorization": "Bearer altinn-key"}).json()["alerts"]
    assert alert_id not in {a["id"] for a in mine}


def test_bad_bodies_get_precise_4xx_and_change_nothing(devhost: DevHostProcess) -> None:
    before = httpx.get(f"{devhost.url}/api/alerts", headers={"X-Api-Key": "nav-key-one"}).json()["alerts"]
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"components": ["sykepenger-api"]}, "components.0", "Choose one of the options"),
        ({"ends_at": "2026-12-03T21:00:00+01:00"}, "ends_at", "after starts_at"),
        ({"ends_at": None}, "ends_at", "needs ends_at"),
        ({"colour": "red"}, "colour", "Unknown field"),
        ({"title": "x" * 201}, "title", "at most 200"),
        ({"environments": ["production", "production"]}, "environments", "given twice"),
        ({"starts_at": "2026-12-03T22:00:00"}, "starts_at", "time zone"),
    ]
    for change, field, message in cases:
        response = post(devhost, {**MAINTENANCE, "source_alert_id": "NAV-BAD", **change})
        assert response.status_code == 422, response.text
        assert message in response.json()["errors"][field], response.json()
    headers = {"X-Api-Key": "nav-key-one", "content-type": "application/json"}
    assert httpx.post(f"{devhost.url}/api/alerts", content=b"{", headers=headers).status_code == 400
    assert httpx.post(f"{devhost.url}/api/alerts", content=b"[]", headers=headers).status_code == 400
    assert (
        httpx.post(
            f"{devhost.url}/api/alerts", content=b"<a/>", headers={**headers, "content-type": "text/xml"}
        ).status_code
        == 415
    )
    assert httpx.post(f"{devhost.url}/api/alerts", content=b"x" * 300_000, headers=headers).status_code == 413
    after = httpx.get(f"{devhost.url}/api/alerts", headers={"X-Api-Key": "nav-key-one"}).json()["alerts"]
    assert len(after) == len(before)


def test_updates_and_the_closing_go_to_exactly_those_who_got_the_alert(devhost: DevHostProcess) -> None:
    alert_id = post(devhost, {**MAINTENANCE, "source_alert_id": "NAV-REV"}).json()["id"]
    dispatch(devhost)
    first = sorted(str(m["To"]) for m in outbox_mails(devhost, alert_id))
    url = f"{devhost.url}/api/alerts/{alert_id}"
    key = {"X-Api-Key": "nav-key-one"}
    revised = httpx.patch(
        url, json={"ends_at": "2026-12-04T04:00:00+01:00", "description": "Forlenget til 04:00."}, headers=key
    )
    assert revised.status_code == 200 and revised.json()["revision"] == 2
    assert httpx.patch(url, json={"ends_at": "2026-12-03T21:00:00+01:00"}, headers=key).status_code == 422
    assert httpx.patch(url, json={"kind": "incident"}, headers=key).status_code == 422
    assert httpx.patch(url, json={"title": "x"}, headers={"X-Api-Key": "altinn-key"}).status_code == 403
    closed = httpx.post(f"{url}/resolve", json={"outcome": "completed", "text": "Ferdig 03:40."}, headers=key)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    again = httpx.post(f"{url}/resolve", json={"outcome": "completed", "text": "Ferdig 03:40."}, headers=key)
    assert again.status_code == 200
    dispatch(devhost)
    by_purpose: dict[str, list[str]] = {}
    for mail in outbox_mails(devhost, alert_id):
        subject = str(mail["Subject"])
        kind = "closed" if "Fullført" in subject else ("update" if "Forlenget" in mail.as_string() else "first")
        by_purpose.setdefault(kind, []).append(str(mail["To"]))
    assert sorted(by_purpose["update"]) == first and sorted(by_purpose["closed"]) == first
    ledger = httpx.get(url, headers=key).json()["ledger"]
    assert sorted({row["mail"] for row in ledger}) == ["closed", "r1", "r2"]


def test_status_page_and_feeds(devhost: DevHostProcess) -> None:
    import feedparser
    from icalendar import Calendar

    alert_id = post(devhost, {**MAINTENANCE, "source_alert_id": "NAV-STATUS", "title": "Vedlikehold <AAP>"}).json()[
        "id"
    ]
    page = httpx.get(f"{devhost.url}/api/status")
    assert page.status_code == 200 and "Vedlikehold &lt;AAP&gt;" in page.text and f'id="{alert_id}"' in page.text
    feed = feedparser.parse(httpx.get(f"{devhost.url}/api/status/feed.atom").content)
    assert not feed.bozo and alert_id in {e.id.rsplit(":", 1)[-1] for e in feed.entries}
    calendar = Calendar.from_ical(httpx.get(f"{devhost.url}/api/status/maintenance.ics").content)
    [event] = [e for e in calendar.walk("VEVENT") if str(e["uid"]).startswith(alert_id)]
    assert str(event["summary"]) == "Vedlikehold <AAP>" and int(event["sequence"]) == 1
    url = f"{devhost.url}/api/alerts/{alert_id}"
    httpx.patch(url, json={"ends_at": "2026-12-04T05:00:00+01:00"}, headers={"X-Api-Key": "nav-key-one"})
    httpx.post(f"{url}/resolve", json={"outcome": "cancelled", "text": "Utsatt."}, headers={"X-Api-Key": "nav-key-one"})
    calendar = Calendar.from_ical(httpx.get(f"{devhost.url}/api/status/maintenance.ics").content)
    [event] = [e for e in calendar.walk("VEVENT") if str(e["uid"]).startswith(alert_id)]
    assert int(event["sequence"]) == 2 and str(event["status"]) == "CANCELLED"


def test_each_company_has_its_own_signed_feeds(devhost: DevHostProcess) -> None:
    import feedparser
    from icalendar import Calendar

    key = {"X-Api-Key": "nav-key-one"}
    public = post(devhost, {**MAINTENANCE, "source_alert_id": "NAV-FEED-1", "title": "Vedlikehold for alle"})
    only_nordlys = {
        **MAINTENANCE,
        "source_alert_id": "NAV-FEED-2",
        "title": "Vedlikehold bare for Nordlys",
        "components": ["aap-api"],
        "organisation_number": "310000043",
    }
    targeted = httpx.post(f"{devhost.url}/api/alerts", json=only_nordlys, headers=key)
    assert public.status_code == 201 and targeted.status_code == 201
    dispatch(devhost)
    [mail] = [
        m for m in outbox_mails(devhost, public.json()["id"]) if str(m["To"]) == "teknisk@demo-forsikring.example"
    ]
    body = mail.get_body(("plain",))
    assert body is not None
    links = re.findall(
        r"https?://\S+/api/status/(?:feed\.atom|maintenance\.ics)\?org=310000019&k=\S+", body.get_content()
    )
    calendar_link = next(link for link in links if "maintenance.ics" in link)
    atom_link = next(link for link in links if "feed.atom" in link)

    calendar = Calendar.from_ical(httpx.get(calendar_link).content)
    summaries = {str(e["summary"]) for e in calendar.walk("VEVENT")}
    assert "Vedlikehold for alle" in summaries and "Vedlikehold bare for Nordlys" not in summaries
    feed = feedparser.parse(httpx.get(atom_link).content)
    assert not feed.bozo and "Vedlikehold for alle" in {e.title for e in feed.entries}

    # Nordlys's own feed has its alert; the public one does not; a key for one company opens no other's feed.
    [to_nordlys] = [m for m in outbox_mails(devhost, targeted.json()["id"]) if "nordlys" in str(m["To"])]
    nordlys_body = to_nordlys.get_body(("plain",))
    assert nordlys_body is not None
    nordlys_link = re.findall(r"https?://\S+/api/status/feed\.atom\?org=310000043&k=\S+", nordlys_body.get_content())[0]
    nordlys = feedparser.parse(httpx.get(nordlys_link).content)
    assert "Vedlikehold bare for Nordlys" in {e.title for e in nordlys.entries}
    assert httpx.get(atom_link.replace("org=310000019", "org=310000043")).status_code == 403
    public_feed = feedparser.parse(httpx.get(f"{devhost.url}/api/status/feed.atom").content)
    assert "Vedlikehold bare for Nordlys" not in {e.title for e in public_feed.entries}
    assert httpx.get(calendar_link[: calendar_link.index("&k=")] + "&k=forged").status_code == 403
