"""Bits' work queue in headless Chromium, on a desk (1280 px) and a phone (375 px): axe-core finds no violation in nb
or en, the page never scrolls sideways (on a phone each case is a block of its own), and the filter form works
without JavaScript, leaving a URL that can be bookmarked."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page

from functions.devhost.azurite import PROJECT_ROOT
from tests.conftest import DevHostProcess
from tests.e2e.helpers import sign_in
from tests.e2e.test_workspace_queue import seeded

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"desk": 1280, "phone": 375}


def violations(page: Page) -> list[tuple[str, str, list[str]]]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [(v["id"], v["help"], [n["html"][:200] for n in v["nodes"]]) for v in found]


def scrolls_sideways(page: Page) -> bool:
    return bool(page.evaluate("() => document.documentElement.scrollWidth > document.documentElement.clientWidth"))


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_the_queue_passes_axe_and_fits_the_screen(devhost: DevHostProcess, browser: Browser, width: int) -> None:
    cases = seeded(devhost)
    # axe-core is injected as a script, which the page's CSP forbids.
    context = browser.new_context(
        bypass_csp=True, viewport={"width": width, "height": 800}, extra_http_headers=sign_in(devhost)
    )
    page = context.new_page()
    for language, heading, overdue in (("nb", "Åpne saker", "Forfalt"), ("en", "Open cases", "Overdue")):
        # The whole queue, and the marked cases alone (the breach, the overdue case, the formula title among them).
        for query in (f"lang={language}", f"lang={language}&q={cases.marker}"):
            page.goto(f"{devhost.url}/api/bits?{query}")
            assert page.get_by_role("heading", name=heading).is_visible()
            assert violations(page) == [], (width, query)
            assert not scrolls_sideways(page), (width, query, "the page scrolls sideways")
        breach = page.locator(f'tr[data-reference="{cases.breach}"]')
        assert page.locator("tbody tr").first.get_attribute("data-reference") == cases.breach
        assert breach.get_by_role("link", name=cases.breach).get_attribute("href", timeout=2000) == (
            f"/api/bits/cases/{cases.breach}" + ("?lang=en" if language == "en" else "")
        )
        assert overdue in page.locator(f'tr[data-reference="{cases.overdue}"]').inner_text()
    cell = page.locator(f'tr[data-reference="{cases.question}"] td').first
    display = cell.evaluate("td => getComputedStyle(td).display")
    assert display == ("block" if width < 600 else "table-cell"), "on a phone each case is a block of its own"
    if width < 600:
        assert cell.bounding_box() is not None
        box = page.locator(f'tr[data-reference="{cases.question}"]').bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    context.close()


def test_the_filter_form_works_without_javascript_and_leaves_a_bookmark(
    devhost: DevHostProcess, browser: Browser
) -> None:
    cases = seeded(devhost)
    context = browser.new_context(java_script_enabled=False, extra_http_headers=sign_in(devhost))
    page = context.new_page()
    page.goto(f"{devhost.url}/api/bits")
    page.get_by_role("searchbox").fill(cases.marker)
    page.get_by_label("Prosess").select_option("D")
    page.get_by_label("Hvem sin tur").select_option(label="Forsikringsselskapet")
    page.get_by_role("button", name="Vis").click()
    page.wait_for_url("**/api/bits?**")
    asked = parse_qs(urlsplit(page.url).query)
    assert asked["q"] == [cases.marker] and asked["process"] == ["D"] and asked["move"] == ["insurer"]
    assert [r.get_attribute("data-reference") for r in page.locator("tbody tr").all()] == [cases.stranger]
    # The bookmark opens the same view, in the same words.
    bookmarked = page.url
    page.goto(f"{devhost.url}/api/bits")
    page.goto(bookmarked)
    assert page.get_by_label("Prosess").input_value() == "D"
    assert [r.get_attribute("data-reference") for r in page.locator("tbody tr").all()] == [cases.stranger]
    page.get_by_role("link", name="Nullstill").click()
    assert page.get_by_role("searchbox").input_value() == ""
    context.close()
