"""The public status page in headless Chromium (Bits' old overview is now the work queue: see
test_workspace_queue_in_browser.py)."""

from __future__ import annotations

from playwright.sync_api import Browser

from tests.conftest import DevHostProcess


def test_status_page_renders_in_the_browser(devhost: DevHostProcess, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{devhost.url}/api/status?lang=en")
    assert page.get_by_role("heading", name="Service status").is_visible()
    assert page.get_by_role("heading", name="Planned maintenance").is_visible()
    page.close()
