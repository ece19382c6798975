"""Bits' page of alert drafts and terms in headless Chromium: signed in, axe-core finds no violations (nb and en), at
375 px (a phone) nothing is wider than the screen, and a draft is published with the page's button."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Browser

from functions.devhost.azurite import PROJECT_ROOT
from tests.conftest import DevHostProcess
from tests.e2e.test_alert_drafts import nav_emails
from tests.e2e.test_workspace_actions import events, status
from tests.e2e.test_workspace_publishing import MAINTENANCE, OUTAGE, PAGE, SUPPORT

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"


def test_the_publishing_page_passes_axe_fits_a_phone_and_publishes_a_draft(
    devhost: DevHostProcess, browser: Browser
) -> None:
    tag = uuid.uuid4().hex[:4]
    outage = nav_emails(devhost, f"Driftsavbrudd uføre-API i nettleseren {tag}", OUTAGE)
    nav_emails(devhost, f"Planlagt vedlikehold uføre-API i nettleseren {tag}", MAINTENANCE)  # one with errors shown

    context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script; the page's CSP forbids that
    page = context.new_page()
    page.goto(f"{devhost.url}/.auth/login/aad?as={SUPPORT}&post_login_redirect_uri={PAGE}")
    assert page.get_by_role("heading", name="Varsler og vilkår", level=1).is_visible()
    for lang in ("", "?lang=en"):
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{devhost.url}{PAGE}{lang}")
        page.add_script_tag(path=str(AXE))
        found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
        assert found == [], [(v["id"], v["help"], [n["html"] for n in v["nodes"]]) for v in found]
        page.set_viewport_size({"width": 375, "height": 800})
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, f"{PAGE}{lang} is {width} px wide at 375 px"

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{devhost.url}{PAGE}")
    draft = page.locator(f'li[data-draft="{outage}"]')
    assert draft.locator(".subject").inner_text().startswith(f"[{outage}] Driftshendelse (")
    draft.get_by_role("button", name="Publiser").click()
    page.wait_for_url(re.compile(r"done=decided"))
    assert page.get_by_role("status").inner_text() == "Beslutningen er registrert i saken."
    assert page.locator(f'li[data-notice="{outage}"]').get_by_role("link", name=outage, exact=True).is_visible()
    context.close()
    assert status(devhost, outage) == "published"
    [published] = events(devhost, outage, "published")
    assert published["data"]["by_name"] == "Bits brukerstøtte" and published["channel"] == "web"
