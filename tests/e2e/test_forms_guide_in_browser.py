"""Forms that guide, in headless Chromium: the error summary takes the focus and links to every field, errors are
tied to their fields and drawn in red, axe-core finds nothing with the errors shown, and a company that cannot ask
for production yet is told in words where it stands and what to do next."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from functions.devhost.azurite import PROJECT_ROOT
from tests.conftest import DevHostProcess
from tests.e2e.helpers import new_organisation_number, organisation, remembered, reply
from tests.e2e.test_onboarding import BITS, one, registration

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
RED = "rgb(179, 38, 30)"  # #b3261e, the error colour of base/page.html


def submit_empty_registration(browser: Browser, devhost: DevHostProcess, language: str) -> tuple[BrowserContext, Page]:
    context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script; the page's CSP forbids that
    page = context.new_page()
    page.goto(f"{devhost.url}/api/onboarding/registration?lang={language}")
    page.locator("button[type=submit]").click()
    page.wait_for_selector("#error-summary")
    return context, page


def focused_id(page: Page) -> str:
    return str(page.evaluate("() => document.activeElement && document.activeElement.id"))


def test_an_empty_registration_shows_a_focused_summary_linking_to_every_field(
    devhost: DevHostProcess, browser: Browser
) -> None:
    context, page = submit_empty_registration(browser, devhost, "nb")
    summary = page.locator("#error-summary")
    assert focused_id(page) == "error-summary", "the focus is moved to the summary when the page loads"
    assert "feil i skjemaet" in summary.locator("h2").inner_text()
    assert page.locator(".notice").count() == 0, "no generic notice besides the summary"
    links = summary.locator("a")
    count = links.count()
    assert count >= 15, summary.inner_text()  # organisation number, name, services, 12 contact fields, go-live
    # Every link leads to an element on the page that carries the same message.
    for index in range(count):
        target = str(links.nth(index).get_attribute("href")).removeprefix("#")
        assert page.locator(f"[id='{target}']").count() == 1, target
    assert "Fagkontakt – telefon: Fyll ut dette feltet." in summary.inner_text(), "rows say which contact"
    assert "Tjenester: Velg minst ett alternativ." in summary.inner_text()

    # Following a link moves the focus to its field (or to the group of boxes), as a keyboard user needs.
    for label, target in (
        ("Fagkontakt – telefon", "contacts.0.phone"),
        ("Tjenester", "services-group"),
        ("Organisasjonsnummer", "organisation_number"),
    ):
        summary.get_by_role("link", name=label).click()
        assert focused_id(page) == target, (label, focused_id(page))

    # The field with an error: red border (the text inputs' own rule no longer wins), tied to its message.
    field = page.locator("#organisation_number")
    border = field.evaluate("e => [getComputedStyle(e).borderTopColor, getComputedStyle(e).borderTopWidth]")
    assert border == [RED, "2px"], border
    assert field.get_attribute("aria-invalid") == "true"
    described = str(field.get_attribute("aria-describedby")).split()
    assert "organisation_number-error" in described
    assert "Fyll ut dette feltet." in page.locator("[id='organisation_number-error']").inner_text()
    date = page.locator("#desired_go_live")
    assert date.evaluate("e => getComputedStyle(e).borderTopColor") == RED, "a date field turns red too"
    # A group of boxes: the error belongs to the fieldset; each box is marked invalid.
    group = page.locator("#services-group")
    assert "services-error" in str(group.get_attribute("aria-describedby"))
    assert "Velg minst ett" in page.locator("#services-error").inner_text()
    assert page.locator("input[name=services]").first.get_attribute("aria-invalid") == "true"
    # Required fields say so in words, a contact's phone number too.
    assert "må fylles ut" in page.locator("label[for='contacts.0.phone']").inner_text()
    assert "(valgfritt)" in page.locator("label[for=supplier_name]").inner_text()
    context.close()


@pytest.mark.parametrize("language", ["nb", "en"])
def test_axe_finds_no_violations_with_the_errors_shown(
    devhost: DevHostProcess, browser: Browser, language: str
) -> None:
    context, page = submit_empty_registration(browser, devhost, language)
    if language == "en":
        assert "problems with the form" in page.locator("#error-summary h2").inner_text()
        assert "required" in page.locator("label[for=legal_name]").inner_text()
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    assert violations == [], [(v["id"], v["help"], [n["html"] for n in v["nodes"]]) for v in violations]
    context.close()


@pytest.mark.parametrize(
    "route",
    ["questions", "incidents", "incidents/security", "change-requests", "onboarding/production", "registry/contacts"],
)
def test_every_public_form_sent_empty_has_a_summary_and_no_violations(
    devhost: DevHostProcess, browser: Browser, route: str
) -> None:
    for language in ("nb", "en"):
        context = browser.new_context(bypass_csp=True)
        page = context.new_page()
        page.goto(f"{devhost.url}/api/{route}?lang={language}")
        page.locator("form[method=post] button[type=submit]").first.click()
        page.wait_for_selector("#error-summary")
        assert focused_id(page) == "error-summary"
        links = page.locator("#error-summary a")
        assert links.count() >= 3
        for index in range(links.count()):
            target = str(links.nth(index).get_attribute("href")).removeprefix("#")
            assert page.locator(f"[id='{target}']").count() == 1, (route, target)
        # Dropdowns left open are told to choose, not to fill in.
        for select in page.locator("select[aria-invalid=true]").all():
            message = page.locator(f"[id='{select.get_attribute('id')}-error']").inner_text()
            assert ("Velg" if language == "nb" else "Choose") in message, (route, message)
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
        assert violations == [], [(v["id"], v["help"], [n["html"] for n in v["nodes"]]) for v in violations]
        context.close()


def fill_production(page: Page, number: str, email: str, domains: str) -> None:
    page.get_by_label("Organisasjonsnummer").fill(number)
    page.get_by_label("Navn").fill("Tom Tekniker")
    page.get_by_label("E-post").fill(email)
    page.get_by_label("Integrasjonstestene bestått").fill("2026-11-20")
    page.get_by_label("Referanse til testrapporten").fill("NAV-TEST-2026-1")
    page.get_by_label("Redirect-domener i produksjon").fill(domains)
    page.get_by_label("Maskinporten-klient-ID for produksjon").fill("a1b2c3d4-prod")
    page.get_by_label("Samtykketeksten følger NAVs krav").check()


def test_an_http_redirect_domain_is_told_at_its_field(devhost: DevHostProcess, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{devhost.url}/api/onboarding/production")
    fill_production(page, "310000027", "teknisk@test-pensjon.example", "https://app.test-pensjon.no\nhttp://gammel.no")
    page.get_by_role("button", name="Send bestillingen").click()
    page.wait_for_selector("#error-summary")
    error = page.locator("#production_redirect_domains-error")
    assert "«http://gammel.no» begynner med http://" in error.inner_text()
    assert "må bruke https" in error.inner_text()
    field = page.locator("#production_redirect_domains")
    assert "production_redirect_domains-error" in str(field.get_attribute("aria-describedby"))
    assert field.evaluate("e => getComputedStyle(e).borderTopColor") == RED
    assert "Redirect-domener i produksjon: «http://gammel.no»" in page.locator("#error-summary").inner_text()
    assert "gammel.no" in field.input_value(), "the value is kept to be corrected"
    page.close()


def test_a_company_not_yet_eligible_for_production_is_told_where_it_stands(
    devhost: DevHostProcess, browser: Browser
) -> None:
    # A new company, accepted by Bits: its contacts are registered, but the agreement is not signed yet.
    number = new_organisation_number()
    body = registration(number)
    created = httpx.post(f"{devhost.url}/api/onboarding/registration", json=body)
    assert created.status_code == 201, created.text
    reference = created.json()["reference"]
    reply(devhost, one(devhost, reference, BITS, "Ny innmelding"), "GODKJENT")
    assert organisation(devhost, number)["status"] == "accepted"
    technical = str(body["contacts"][1]["email"])

    # The technical contact, in a browser that has proven the address before, asks for production.
    for language, expected in (
        (
            "nb",
            [
                "Påkobling til produksjon kan bestilles når Ny Forsikring ASA har testtilgang",
                "«godkjent – venter på signert avtale»",
                "det som gjenstår nå, er at signataren signerer tilknytningsavtalen",
            ],
        ),
        (
            "en",
            [
                "Production can be requested once Ny Forsikring ASA has test access",
                '"accepted – awaiting the signed agreement"',
                "what remains now is the signatory signing the connection agreement",
            ],
        ),
    ):
        context = browser.new_context()
        context.add_cookies([{"name": "ssu_address", "value": remembered(devhost, technical), "url": devhost.url}])
        page = context.new_page()
        page.goto(f"{devhost.url}/api/onboarding/production?lang={language}")
        page.locator("#organisation_number").fill(number)
        page.locator("#name").fill("Tom Tekniker")
        page.locator("#email").fill(technical)
        page.locator("#integration_tests_passed_on").fill("2026-11-20")
        page.locator("#test_report_reference").fill("NAV-TEST-2026-1")
        page.locator("#production_redirect_domains").fill(f"https://app.nyforsikring{number}.no")
        page.locator("#maskinporten_client_id").fill("a1b2c3d4-prod")
        page.locator("#consent_text_confirmed").check()
        page.locator("button[type=submit]").click()
        notice = page.locator(".notice")
        notice.wait_for()
        text = notice.inner_text()
        for words in expected:
            assert words in text, text
        assert "none" not in text and "agreement_signed" not in text, text
        context.close()
    assert organisation(devhost, number)["status"] == "accepted", "nothing changed"


def test_a_company_from_the_registry_with_test_access_is_told_how_to_ask(
    devhost: DevHostProcess, browser: Browser
) -> None:
    # The demo registry's company with test access has no registration here (it was connected before the forms).
    context = browser.new_context()
    address = "teknisk@test-pensjon.example"
    context.add_cookies([{"name": "ssu_address", "value": remembered(devhost, address), "url": devhost.url}])
    page = context.new_page()
    page.goto(f"{devhost.url}/api/onboarding/production")
    fill_production(page, "310000027", address, "https://app.test-pensjon.no")
    page.get_by_role("button", name="Send bestillingen").click()
    notice = page.locator(".notice")
    notice.wait_for()
    text = notice.inner_text()
    assert "«testtilgang»" in text and "none" not in text, text
    assert "Send bestillingen på e-post til Bits på ssu@bits.example" in text, text
    context.close()


def test_without_a_proven_address_the_answer_still_says_what_comes_next(
    devhost: DevHostProcess, browser: Browser
) -> None:
    page = browser.new_page()
    page.goto(f"{devhost.url}/api/onboarding/production?lang=en")
    page.locator("#organisation_number").fill("310000027")
    page.locator("#name").fill("Tom Tekniker")
    page.locator("#email").fill("teknisk@test-pensjon.example")
    page.locator("#integration_tests_passed_on").fill("2026-11-20")
    page.locator("#test_report_reference").fill("NAV-TEST-2026-1")
    page.locator("#production_redirect_domains").fill("https://app.test-pensjon.no")
    page.locator("#maskinporten_client_id").fill("a1b2c3d4-prod")
    page.locator("#consent_text_confirmed").check()
    page.locator("button[type=submit]").click()
    notice = page.locator(".notice")
    notice.wait_for()
    text = notice.inner_text()
    # The same answer for every address (it tells no one who is a contact), and it names the way forward.
    assert "where its registration stands and what remains" in text, text
    assert "write to Bits at ssu@bits.example with the organisation number 310000027" in text, text
    page.close()


def test_the_error_report_and_the_breach_form_link_each_other(devhost: DevHostProcess, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{devhost.url}/api/incidents")
    page.get_by_role("link", name="meld sikkerhetsbruddet her").click()
    page.wait_for_url(f"{devhost.url}/api/incidents/security?lang=nb")
    assert page.get_by_role("heading", name="Meld sikkerhetsbrudd").is_visible()
    page.get_by_role("link", name="Meld en feil i stedet").click()
    page.wait_for_url(f"{devhost.url}/api/incidents?lang=nb")
    assert page.get_by_role("heading", name="Meld en feil til Bits").is_visible()
    page.close()


def test_a_go_live_date_in_the_past_is_refused_at_its_field(devhost: DevHostProcess) -> None:
    body = {**registration(new_organisation_number()), "desired_go_live": "2020-01-01"}
    answer = httpx.post(f"{devhost.url}/api/onboarding/registration", json=body)
    assert answer.status_code == 422
    assert answer.json()["errors"] == {
        "desired_go_live": "Datoen har allerede vært. Velg i dag eller en dato fram i tid."
    }
