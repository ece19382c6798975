"""Bits' held messages in headless Chromium: signed in, the list (open and handled) passes axe-core in nb and en, fits
a phone at 375 px, and an action taken from its form is recorded and leaves the list."""

from __future__ import annotations

import re

from playwright.sync_api import Browser

from functions.devhost.azurite import PROJECT_ROOT
from tests.conftest import DevHostProcess
from tests.e2e.test_workspace_held import HELD, SUPPORT, broken_message

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"


def test_the_held_list_passes_axe_fits_a_phone_and_takes_an_action(devhost: DevHostProcess, browser: Browser) -> None:
    _, subject = broken_message(devhost, "Hei,\nen lang adresse: https://logg.example/" + "a" * 120)
    discarded, _ = broken_message(devhost, "Til forkasting")

    context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script; the page's CSP forbids that
    page = context.new_page()
    page.goto(f"{devhost.url}/.auth/login/aad?as={SUPPORT}&post_login_redirect_uri={HELD}")
    assert page.get_by_role("heading", name="Holdte meldinger", level=1).is_visible()
    assert page.get_by_role("heading", name=subject).is_visible()
    # Discard one from its form, as a person would: back on the list, it is gone and among the handled.
    item = page.locator(f"#held-{discarded}")
    item.get_by_label(re.compile("^Forkast")).fill("Testmelding")
    item.get_by_role("button", name="Forkast meldingen").click()
    assert page.get_by_role("status").inner_text() == "Meldingen er forkastet."
    assert page.locator(f"#held-{discarded}").count() == 0
    for query in ("", "?lang=en", "?show=handled", "?show=handled&lang=en"):
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{devhost.url}{HELD}{query}")
        page.add_script_tag(path=str(AXE))
        found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
        assert found == [], [(v["id"], v["help"], [n["html"] for n in v["nodes"]]) for v in found]
        page.set_viewport_size({"width": 375, "height": 800})
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, f"{HELD}{query} is {width} px wide at 375 px"
    assert "Testmelding" in page.locator(f"#held-{discarded}").inner_text()
    assert page.get_by_role("link", name="Show handled").get_attribute("aria-current") == "page"
    context.close()
