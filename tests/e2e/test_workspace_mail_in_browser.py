"""Bits' mail health page in headless Chromium: axe-core finds no violations (nb and en), it fits a phone (375 px),
and an admin lifts a suppression and sends the failed mail again with the page's buttons."""

from __future__ import annotations

import re

from playwright.sync_api import Browser

from functions.devhost.azurite import PROJECT_ROOT
from tests.conftest import DevHostProcess
from tests.e2e.helpers import dispatch
from tests.e2e.test_workspace_mail import ADMIN, PAGE, failed_confirmation, resent_events, sent_files

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"


def test_the_mail_page_passes_axe_fits_a_phone_and_its_buttons_work(devhost: DevHostProcess, browser: Browser) -> None:
    reference, address, _ = failed_confirmation(devhost)
    context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script; the page's CSP forbids that
    page = context.new_page()
    page.goto(f"{devhost.url}/.auth/login/aad?as={ADMIN}&post_login_redirect_uri={PAGE}")
    assert page.get_by_role("heading", name="E-post som ikke kom fram").is_visible()
    for lang in ("", "?lang=en"):
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{devhost.url}{PAGE}{lang}")
        page.add_script_tag(path=str(AXE))
        found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
        assert found == [], [(v["id"], v["help"], [n["html"] for n in v["nodes"]]) for v in found]
        page.set_viewport_size({"width": 375, "height": 800})
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, f"{PAGE}{lang} is {width} px wide at 375 px"

    page.goto(f"{devhost.url}{PAGE}")
    page.get_by_role("button", name=f"Opphev sperringen av {address}").click()
    assert page.get_by_role("status").inner_text().startswith("Sperringen er opphevet")
    page.get_by_role("button", name=f"Send på nytt til {address}").click()
    assert "lagt i kø på nytt" in page.get_by_role("status").inner_text()
    assert re.search(rf"{re.escape(PAGE)}\?done=resent$", page.url)
    context.close()
    dispatch(devhost)
    assert len(sent_files(devhost, reference, address)) == 1 and len(resent_events(devhost, reference)) == 1
