"""Bits' case view in headless Chromium: signed in, axe-core finds no violations (nb and en), and at 375 px (a phone)
nothing is wider than the screen."""

from __future__ import annotations

import re

from playwright.sync_api import Browser

from functions.devhost.azurite import PROJECT_ROOT
from tests.conftest import DevHostProcess
from tests.e2e.helpers import REPORT, as_contact, dispatch, mails_to, reply
from tests.e2e.test_workspace_case import SUPPORT, email_case

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"


def test_the_case_view_passes_axe_and_fits_a_phone(devhost: DevHostProcess, browser: Browser) -> None:
    reference = as_contact(devhost, "incidents", {**REPORT, "title": "Sett i nettleseren"})
    [notice] = mails_to(devhost, reference, SUPPORT)
    reply(devhost, notice, "En intern merknad med en lang adresse: " + "https://logg.example/" + "a" * 120)
    dispatch(devhost)
    with_attachment, _ = email_case(devhost, b"%PDF-1.4 nettleser", "skjermbilde-fra-testmiljoet-med-langt-navn.pdf")

    context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script; the page's CSP forbids that
    page = context.new_page()
    page.goto(f"{devhost.url}/.auth/login/aad?as={SUPPORT}&post_login_redirect_uri=/api/bits/cases/{reference}")
    assert page.get_by_role("heading", name=re.compile(reference)).is_visible()
    assert page.get_by_text("Internt – bare Bits").first.is_visible()
    for path in (f"/api/bits/cases/{reference}", f"/api/bits/cases/{with_attachment}"):
        for lang in ("", "?lang=en"):
            page.set_viewport_size({"width": 1280, "height": 900})
            page.goto(f"{devhost.url}{path}{lang}")
            page.add_script_tag(path=str(AXE))
            found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
            assert found == [], [(v["id"], v["help"], [n["html"] for n in v["nodes"]]) for v in found]
            page.set_viewport_size({"width": 375, "height": 800})
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 375, f"{path}{lang} is {width} px wide at 375 px"
    assert page.get_by_role("link", name="← The work queue").get_attribute("href") == "/api/bits?lang=en"
    context.close()
