"""The public status page in headless Chromium, on a dev host of its own (the shared one holds every other test's
alerts): the headline and the grid for a seeded incident and maintenance, in words (nb and en), axe-core finds no
violations, and at 375 px (a phone) nothing is wider than the screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from functions.devhost.azurite import PROJECT_ROOT, Azurite
from tests.conftest import DevHostProcess, load_demo_registry, start_devhost

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Codes and ISO times that must never be read on the page; on the Norwegian page no English code either (in English,
# "production" and "critical" are words).
CODES = re.compile(r"altinn-consent|ufore-api|aap-api|nav-api-portal|\d{4}-\d\d-\d\dT\d\d")
NB_CODES = re.compile(CODES.pattern + r"|\bproduction\b|\bincident\b|\bhigh\b|\bcritical\b|\bmedium\b")


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHostProcess]:
    started = start_devhost(
        tmp_path_factory.mktemp("status-page"), {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string}
    )
    load_demo_registry(started.env)
    yield started
    started.stop()


def post(host: DevHostProcess, key: str, body: dict[str, Any]) -> str:
    answer = httpx.post(f"{host.url}/api/alerts", json=body, headers={"X-Api-Key": key})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def seed(host: DevHostProcess) -> tuple[str, str]:
    """An incident in consent (revised to critical with a new text), and maintenance of the disability API ahead."""
    now = datetime.now(UTC)
    incident = post(
        host,
        "altinn-key",
        {
            "source_alert_id": "ALTINN-STATUS-1",
            "kind": "incident",
            "environments": ["production", "test"],
            "components": ["altinn-consent"],
            "severity": "high",
            "title": "Samtykke i Altinn svarer ikke",
            "title_en": "Consent in Altinn does not answer",
            "description": "Forespørsler om samtykke feiler.",
            "description_en": "Consent requests fail.",
            "starts_at": (now - timedelta(hours=1)).isoformat(),
        },
    )
    revised = httpx.patch(
        f"{host.url}/api/alerts/{incident}",
        json={"severity": "critical", "description": "Vi har funnet feilen.", "description_en": "We found the cause."},
        headers={"X-Api-Key": "altinn-key"},
    )
    assert revised.status_code == 200, revised.text
    starts = (now + timedelta(days=2)).replace(microsecond=0)
    maintenance = post(
        host,
        "nav-key-one",
        {
            "source_alert_id": "NAV-STATUS-VEDL",
            "kind": "maintenance",
            "environments": ["production"],
            "components": ["ufore-api"],
            "severity": "medium",
            "title": "Vedlikehold av uføre-API-et",
            "title_en": "Maintenance of the disability API",
            "description": "API-et er utilgjengelig i vinduet.",
            "description_en": "The API is unavailable in the window.",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=4)).isoformat(),
        },
    )
    return incident, maintenance


def grid(page: Page) -> dict[str, list[str]]:
    rows = page.locator("#grid tbody tr")
    return {
        rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())
    }


def check_axe_and_phone(page: Page, url: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(url)
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    assert found == [], [(v["id"], v["help"], [n["html"] for n in v["nodes"]]) for v in found]
    page.set_viewport_size({"width": 375, "height": 800})
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375, f"{url} is {width} px wide at 375 px"


def test_the_status_page_shows_the_headline_and_grid_in_words(host: DevHostProcess, browser: Browser) -> None:
    context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script; the page's CSP forbids that
    page = context.new_page()
    # The page may be cached for a minute (Cache-Control): before the seeding, it is read under another address.
    page.goto(f"{host.url}/api/status?lang=nb")
    assert page.locator("#headline").inner_text() == "Alle tjenester virker"
    assert {w for row in grid(page).values() for w in row} == {"Virker"}
    check_axe_and_phone(page, f"{host.url}/api/status?lang=nb")

    incident, maintenance = seed(host)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{host.url}/api/status")
    assert page.get_by_role("heading", name="Samtykke i Altinn: nede i produksjon og test").is_visible()
    assert page.get_by_role("columnheader", name="Produksjon").is_visible()
    shown = grid(page)
    assert shown["Samtykke i Altinn"] == ["Nede", "Nede"]
    assert shown["Uføre-API-et"] == ["Virker", "Virker"], "maintenance two days ahead is no state of now"
    assert shown["Maskinporten"] == ["Virker", "Virker"]
    article = page.locator(f"[id='{incident}']")
    assert article.get_by_role("heading", name="Samtykke i Altinn svarer ikke").is_visible()
    assert (
        "Driftshendelse · Alvorlighet: Kritisk · Gjelder Samtykke i Altinn i produksjon og test" in article.inner_text()
    )
    updates = article.locator("ol.updates li").all_inner_texts()
    assert [u.split(" – ")[0] for u in updates] == ["Varselet ble oppdatert", "Publisert"], "newest first"
    assert "Vi har funnet feilen." in updates[0] and "Endret: alvorlighet." in updates[0]
    assert "Forespørsler om samtykke feiler." in updates[1]
    planned = page.locator(f"[id='{maintenance}']")
    assert planned.get_by_role("heading", name="Vedlikehold av uføre-API-et").is_visible()
    assert re.search(r"Fra \d{1,2}\. \w+ \d{4} kl\. \d\d\.\d\d til ", planned.inner_text())
    body = page.locator("main").inner_text()
    assert not NB_CODES.search(body), NB_CODES.search(body)
    check_axe_and_phone(page, f"{host.url}/api/status")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{host.url}/api/status?lang=en")
    assert page.get_by_role("heading", name="Consent in Altinn: major outage in production and test").is_visible()
    assert grid(page)["Consent in Altinn"] == ["Major outage", "Major outage"]
    assert grid(page)["The disability API"] == ["Working", "Working"]
    assert page.get_by_role("heading", name="Consent in Altinn does not answer").is_visible()
    assert page.get_by_role("heading", name="Maintenance of the disability API").is_visible()
    body = page.locator("main").inner_text()
    assert "Samtykke i Altinn svarer ikke" not in body and "Vedlikehold av uføre-API-et" not in body
    assert "We found the cause." in body and not CODES.search(body), CODES.search(body)
    check_axe_and_phone(page, f"{host.url}/api/status?lang=en")
    context.close()
