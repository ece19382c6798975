"""The start page and the language switch in headless Chromium: axe-core finds no violations (nb and en), the page
fits a phone and links every public form, the status page and the workspace sign-in; a form page's switch flips to
English and back, keeping the query."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.sync_api import Browser

from functions.catalogue import CATALOGUE
from functions.devhost.azurite import PROJECT_ROOT
from tests.conftest import DevHostProcess

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
STAFF_FORMS = {"terms"}  # Bits' admins publish terms there; the start page is for insurers' people


def test_the_start_page_passes_axe_fits_a_phone_and_links_everything(devhost: DevHostProcess, browser: Browser) -> None:
    context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script; the page's CSP forbids that
    page = context.new_page()
    public_forms = {form.route for _, form in CATALOGUE.forms if form.route not in STAFF_FORMS}
    for lang, heading, switch in (("", "kontakt Bits", "English"), ("?lang=en", "contact Bits", "Norsk")):
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{devhost.url}/api/start{lang}")
        assert heading in page.get_by_role("heading", level=1).inner_text()
        page.add_script_tag(path=str(AXE))
        found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
        assert found == [], [(v["id"], v["help"], [n["html"] for n in v["nodes"]]) for v in found]
        page.set_viewport_size({"width": 375, "height": 800})
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, f"/api/start{lang} is {width} px wide at 375 px"
        links = page.evaluate("() => [...document.querySelectorAll('main a')].map(a => a.href)")
        paths = {urlsplit(link).path for link in links}
        assert {f"/api/{route}" for route in public_forms} | {"/api/status", "/.auth/login/aad"} <= paths
        for link in links:  # every link opens, in the page's language
            if lang:
                assert parse_qs(urlsplit(link).query).get("lang") == ["en"] or "lang%3Den" in link, link
            answer = httpx.get(link, follow_redirects=False)
            assert answer.status_code == 200, (link, answer.status_code)
        assert page.get_by_role("link", name=switch).is_visible()
    context.close()


def test_every_public_form_is_on_the_start_page() -> None:
    """A new process's form shows up here or fails this: the start page is where a newcomer finds it."""
    page = (PROJECT_ROOT / "templates" / "forms" / "start.html").read_text(encoding="utf-8")
    for _, form in CATALOGUE.forms:
        if form.route not in STAFF_FORMS:
            assert f"entry('{form.route}'" in page, f"the start page does not link /api/{form.route}"


def test_the_language_switch_on_a_form_keeps_the_query(devhost: DevHostProcess, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{devhost.url}/api/incidents?from=start&environment=test")
    assert page.locator("html").get_attribute("lang") == "nb"
    page.get_by_role("link", name="English").click()
    page.wait_for_url("**lang=en**")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Report an error to Bits").is_visible()
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"from": ["start"], "environment": ["test"], "lang": ["en"]}
    page.get_by_role("link", name="Norsk").click()
    page.wait_for_url("**lang=nb**")
    assert page.locator("html").get_attribute("lang") == "nb"
    assert parse_qs(urlsplit(page.url).query) == {"from": ["start"], "environment": ["test"], "lang": ["nb"]}
    assert urlsplit(page.url).path == "/api/incidents"
    page.close()


def test_the_switch_reflects_no_markup_from_the_query(devhost: DevHostProcess) -> None:
    """An attacker's link with markup in the query: the switch carries it encoded, as a query, never as HTML."""
    attack = '"><script>alert(1)</script>'
    answer = httpx.get(f"{devhost.url}/api/questions", params={"x": attack, "lang": "javascript:alert(1)"})
    assert answer.status_code == 200
    assert "<script>alert(1)" not in answer.text and "javascript:" not in answer.text
    assert 'href="?x=%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E&amp;lang=en"' in answer.text
