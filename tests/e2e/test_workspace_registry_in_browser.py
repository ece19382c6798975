"""Bits' registry in headless Chromium: signed in, axe-core finds no violations on the list and on a company's page
with an admin's forms (nb and en), nothing is wider than a phone (375 px), and an admin adds a contact as a person
would - the form filled in from a held message's sender, sent, the change on the page with the admin's name."""

from __future__ import annotations

import uuid

from playwright.sync_api import Browser

from functions.devhost.azurite import PROJECT_ROOT
from tests.conftest import DevHostProcess
from tests.e2e.test_workspace_registry import ADMIN, SUPPORT, company, people, stored

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"


def test_the_registry_pages_pass_axe_fit_a_phone_and_take_an_edit(devhost: DevHostProcess, browser: Browser) -> None:
    tag = uuid.uuid4().hex[:6]
    org = company(devhost, people(tag))
    number = org.organisation_number
    context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script; the page's CSP forbids that
    page = context.new_page()
    for who in (SUPPORT, ADMIN):
        page.goto(f"{devhost.url}/.auth/login/aad?as={who}&post_login_redirect_uri=/api/bits/registry")
        assert page.get_by_role("heading", name="Virksomheter og kontakter").is_visible()
        for path in ("/api/bits/registry", f"/api/bits/registry/{number}"):
            for lang in ("", "?lang=en"):
                page.set_viewport_size({"width": 1280, "height": 900})
                page.goto(f"{devhost.url}{path}{lang}")
                page.add_script_tag(path=str(AXE))
                found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
                assert found == [], (
                    who,
                    path,
                    lang,
                    [(v["id"], v["help"], [n["html"] for n in v["nodes"]]) for v in found],
                )
                page.set_viewport_size({"width": 375, "height": 800})
                width = page.evaluate("() => document.documentElement.scrollWidth")
                assert width <= 375, f"{path}{lang} is {width} px wide at 375 px for {who}"
    # The admin marks a held message's sender as a known contact: the form comes filled in; roles are ticked.
    page.set_viewport_size({"width": 1280, "height": 900})
    new = f"ny.{tag}@prove.example"
    page.goto(f"{devhost.url}/api/bits/registry/{number}?add_email={new}&add_name=Nora%20Ny")
    assert page.get_by_label("E-post", exact=True).input_value() == new
    assert page.get_by_label("Navn", exact=True).input_value() == "Nora Ny"
    form = page.locator("#add-contact")
    form.get_by_label("Teknisk kontakt").check()
    form.get_by_role("button", name="Legg til").click()
    assert page.locator("#done").inner_text().startswith("Kontaktpersonen er lagt til.")
    assert page.get_by_text(f"Lagt til: Nora Ny <{new}> som Teknisk kontakt").is_visible()
    assert page.get_by_text("Bits administrator <admin@bits.example>").first.is_visible()
    assert stored(devhost, number).contact(new) is not None
    context.close()
