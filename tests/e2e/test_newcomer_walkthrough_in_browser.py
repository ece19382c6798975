"""What an English-speaking newcomer meets, in headless Chromium and in the mail the dev host writes: an incident
with an English title, revised with a Norwegian text only, reaches an English contact under its English title, says
that it is an update, and carries the text the status page shows for that update (not the first revision's English
text); and every page leads back to the start page in the reader's language."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Browser

from tests.conftest import DevHostProcess
from tests.e2e.helpers import dispatch, mails_to, plain

ENGLISH_CONTACT = "teknisk@test-pensjon.example"  # Test Pensjon AS: test access, its contacts read English


def test_an_english_contact_reads_a_revised_incident_as_the_english_status_page_shows_it(
    devhost: DevHostProcess, browser: Browser
) -> None:
    tag = uuid.uuid4().hex[:6]
    key = {"X-Api-Key": "altinn-key"}
    published = httpx.post(
        f"{devhost.url}/api/alerts",
        json={
            "source_alert_id": f"ALTINN-NEWCOMER-{tag}",
            "kind": "incident",
            "environments": ["test"],
            "components": ["altinn-consent"],
            "severity": "high",
            "title": f"Samtykke svarer ikke {tag}",
            "title_en": f"Consent does not answer {tag}",
            "description": "Forespørsler om samtykke feiler.",
            "description_en": "Consent requests fail.",
            "starts_at": (datetime.now(UTC) - timedelta(minutes=30)).isoformat(),
        },
        headers=key,
    )
    assert published.status_code == 201, published.text
    alert = published.json()
    revised = httpx.patch(
        f"{devhost.url}/api/alerts/{alert['id']}", json={"description": "Feilen er funnet hos Altinn."}, headers=key
    )
    assert revised.status_code == 200, revised.text
    dispatch(devhost)
    reference = str(alert["id"])
    first, update = mails_to(devhost, reference, ENGLISH_CONTACT)
    assert str(first["Subject"]).endswith(f"Incident (test): Consent does not answer {tag}"), first["Subject"]
    assert str(update["Subject"]).endswith(f"Updated: Incident (test): Consent does not answer {tag}")
    text = plain(update)
    assert "updates its notice of an incident" in text
    assert "Feilen er funnet hos Altinn." in text and "Consent requests fail." not in text, text
    assert f"Samtykke svarer ikke {tag}" not in text

    page = browser.new_page()
    page.goto(f"{devhost.url}/api/status?lang=en")
    item = page.locator("article", has_text=f"Consent does not answer {tag}")
    assert item.count() == 1
    assert "Feilen er funnet hos Altinn." in item.inner_text(), "the page shows the same text for the update"
    # The header leads back to the start page, in English.
    page.get_by_role("link", name=re.compile("^Bits · Sickness and disability data from NAV$")).click()
    page.wait_for_url(re.compile(r"/api/start\?lang=en$"))
    assert page.get_by_role("heading", level=1).inner_text().startswith("Sickness and disability data from NAV")
    page.goto(f"{devhost.url}/api/case-page/{reference}?k=not-a-key&lang=en")
    page.get_by_role("link", name="the start page").click()
    page.wait_for_url(re.compile(r"/api/start\?lang=en$"))
    page.close()
