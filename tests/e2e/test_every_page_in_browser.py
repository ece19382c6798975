"""Every page a person outside Bits can reach, in headless Chromium, nb and en: the start page, every form (empty and
sent with errors), the receipt a form leads to, the confirmation page of an emailed link, the case page, the status
page and the page for a link that does not work. axe-core finds no violation on any of them, and none is wider than
a phone's 375 px."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import Browser

from tests.conftest import DevHostProcess
from tests.e2e.helpers import QUESTION, dispatch, mails_to, plain, submit_form
from tests.e2e.test_workspace_queue_in_browser import violations

FORMS = (
    "questions",
    "incidents",
    "incidents/security",
    "change-requests",
    "onboarding/registration",
    "onboarding/production",
    "registry/contacts",
)


def test_every_public_page_passes_axe_and_fits_a_phone_in_both_languages(
    devhost: DevHostProcess, browser: Browser
) -> None:
    # A question from an address not yet proven: its receipt page, then the confirmation page of the emailed link,
    # then (confirmed) the case page the acknowledgement links to.
    asker = f"ny.{uuid.uuid4().hex[:6]}@demo-forsikring.example"
    sent = submit_form(devhost, "questions", {**QUESTION, "email": asker})
    assert sent.status_code == 303
    receipt = re.sub(r"^https?://[^/]+", "", sent.headers["location"])
    reference = re.search(r"(SSU-D-\d{4}-\d{4,})", receipt)
    assert reference, receipt
    dispatch(devhost)
    [request] = mails_to(devhost, reference.group(1), asker)
    confirm = re.search(r"https?://\S+(/api/confirm\?t=[\w.\-~%]+)", plain(request))
    assert confirm, plain(request)
    assert httpx.post(f"{devhost.url}{confirm.group(1)}").status_code == 200
    dispatch(devhost)
    acknowledgement = next(m for m in mails_to(devhost, reference.group(1), asker) if "mottatt" in str(m["Subject"]))
    case_page = re.search(r"https?://\S+(/api/case-page/\S+?)(?:\s|$)", plain(acknowledgement))
    assert case_page, plain(acknowledgement)

    pages = [
        "/api/start",
        "/api/status",
        *(f"/api/{form}" for form in FORMS),
        receipt,
        confirm.group(1),
        case_page.group(1),
        f"/api/case-page/{reference.group(1)}?k=not-a-key",  # a link that does not work
    ]
    problems: list[object] = []
    context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script; the CSP forbids that
    page = context.new_page()
    for path in pages:
        for lang in ("nb", "en"):
            bare = re.sub(r"[?&]lang=\w+", "", path)
            url = f"{devhost.url}{bare}{'&' if '?' in bare else '?'}lang={lang}"
            page.set_viewport_size({"width": 1280, "height": 900})
            page.goto(url)
            if path.removeprefix("/api/") in FORMS:
                # Sent empty, as a person who presses the button first: the page with its errors is checked too.
                with page.expect_navigation():
                    page.locator("form[method=post] button[type=submit]").last.evaluate(
                        "b => { b.form.noValidate = true; b.click(); }"
                    )
            found = violations(page)
            if found:
                problems.append((path, lang, found))
            page.set_viewport_size({"width": 375, "height": 800})
            width = page.evaluate("() => document.documentElement.scrollWidth")
            if width > 375:
                problems.append((path, lang, f"{width} px wide at 375 px"))
    context.close()
    assert problems == [], "\n".join(map(str, problems))
