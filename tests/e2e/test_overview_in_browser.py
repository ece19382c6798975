"""The case overview for Bits, in headless Chromium: an overdue case stands first."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from playwright.sync_api import Browser

from functions.composition import build_services
from functions.core.model import Channel
from functions.core.rendering import OSLO
from functions.core.settings import Settings
from functions.questions.workflow import ask_question
from tests.conftest import DevHostProcess, FakeClock
from tests.e2e.helpers import QUESTION, as_contact, sign_in
from tests.integration.test_decision_race import PROVEN, question


def old_question(host: DevHostProcess) -> str:
    """A question asked in October, written straight into the dev host's storage: long overdue today."""

    async def write() -> str:
        settings = Settings(
            storage_connection_string=host.env["SSU_STORAGE_CONNECTION_STRING"],
            table_prefix=host.env["SSU_TABLE_PREFIX"],
        )
        services = build_services(settings)
        clock = FakeClock()
        clock.at = datetime(2026, 10, 1, 9, 0, tzinfo=OSLO)
        services.clock = clock
        try:
            return (await ask_question(services, question("Gammelt spørsmål"), Channel.FORM, proof=PROVEN)).reference
        finally:
            await services.close()

    # Playwright's sync API runs an event loop in this thread: write from another one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, write()).result()


def test_overview_lists_the_overdue_case_first(devhost: DevHostProcess, browser: Browser) -> None:
    as_contact(devhost, "questions", {**QUESTION, "subject": "Nytt spørsmål"})
    overdue = old_question(devhost)
    page = browser.new_page(extra_http_headers=sign_in(devhost))
    page.goto(f"{devhost.url}/api/overview")
    assert page.get_by_role("heading", name="Åpne saker").is_visible()
    first = page.locator("tbody tr").first
    assert first.get_attribute("data-reference") == overdue
    assert first.get_attribute("data-overdue") == "true"
    assert "Forfalt" in first.inner_text()
    page.close()


def test_status_page_renders_in_the_browser(devhost: DevHostProcess, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{devhost.url}/api/status?lang=en")
    assert page.get_by_role("heading", name="Service status").is_visible()
    assert page.get_by_role("heading", name="Planned maintenance").is_visible()
    page.close()
