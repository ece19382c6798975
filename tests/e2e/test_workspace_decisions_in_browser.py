"""The workspace's promise in headless Chromium, as the issue states it: a support person and an approver sign in at
/.auth/login/aad, find a change request by search and by filter, open it and decide from the browser; each decision
is recorded with their name; the submitter gets exactly the mails the email replies give a twin case; a support
person cannot take the approver's decision. axe-core checks the queue and the case view with their action forms."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Browser, Page

from functions.changes.workflow import CHANGE_REQUEST_FORM
from tests.conftest import DevHostProcess
from tests.e2e.helpers import as_contact, case_json, mails_to, plain, reply
from tests.e2e.test_workspace_queue_in_browser import violations

SUPPORT, APPROVER = "support@bits.example", "godkjenner1@bits.example"
SUBMITTER = str((CHANGE_REQUEST_FORM.example or {})["email"])
REASON = "Nyttig for alle selskapene, og NAV har feltet allerede."


def signed_in(browser: Browser, host: DevHostProcess, who: str, then: str) -> Page:
    """A browser of its own, signed in the way a person is: the login page, then back to where they were going."""
    page = browser.new_context(bypass_csp=True).new_page()  # axe-core is injected; the pages' CSP forbids that
    page.goto(f"{host.url}/.auth/login/aad?as={who}&post_login_redirect_uri={then}")
    return page


def clean(page: Page) -> None:
    for lang in ("", "lang=en"):
        url = re.sub(r"[?&]lang=en", "", page.url)
        page.goto(url + (("&" if "?" in url else "?") + lang if lang else ""))
        assert violations(page) == [], (page.url, violations(page))


def test_support_and_an_approver_decide_from_the_browser_as_email_replies_would(
    devhost: DevHostProcess, browser: Browser
) -> None:
    title = f"Uføretidspunkt i svaret {uuid.uuid4().hex[:6]}"
    body = {**dict(CHANGE_REQUEST_FORM.example or {}), "title": title}
    by_web, by_email = as_contact(devhost, "change-requests", body), as_contact(devhost, "change-requests", body)
    mails_to(devhost, by_web, SUPPORT)

    # Support finds it by search, opens it, and finds it complete.
    support = signed_in(browser, devhost, SUPPORT, "/api/bits")
    support.get_by_role("searchbox").fill(title)
    support.get_by_role("button", name="Vis").click()
    rows = support.locator("tbody tr")
    assert sorted(r.get_attribute("data-reference") or "" for r in rows.all()) == sorted([by_web, by_email])
    clean(support)
    support.goto(f"{devhost.url}/api/bits?q={title}")
    support.get_by_role("link", name=re.compile(re.escape(by_web))).first.click()
    assert support.get_by_role("heading", name=re.compile(by_web)).is_visible()
    clean(support)
    support.goto(f"{devhost.url}/api/bits/cases/{by_web}")
    support.locator('form[data-decision="change.handle"][data-form="decide"]').get_by_role(
        "button", name="KOMPLETT"
    ).click()
    assert support.locator("#action-done").is_visible()
    assert case_json(devhost, by_web)["case"]["status"] == "awaiting_decision"
    # The approver's decision is shown to support as needing the role, with no form to send.
    assert support.locator('[data-decision="change.decide"].action-locked').is_visible()
    assert support.locator('form[data-decision="change.decide"]').count() == 0
    support.context.close()

    # The approver finds it by filter (process and whose move), opens it and approves with a reason.
    approver = signed_in(browser, devhost, APPROVER, "/api/bits")
    approver.get_by_label("Prosess").select_option("E")
    approver.get_by_label("Hvem sin tur").select_option("approver")
    approver.get_by_role("button", name="Vis").click()
    approver.wait_for_url("**/api/bits?**")
    assert by_web in [r.get_attribute("data-reference") for r in approver.locator("tbody tr").all()]
    approver.get_by_role("link", name=re.compile(re.escape(by_web))).first.click()
    clean(approver)
    approver.goto(f"{devhost.url}/api/bits/cases/{by_web}")
    form = approver.locator('form[data-decision="change.decide"][data-form="decide"]')
    form.get_by_label(re.compile("Begrunnelse")).fill(REASON)
    form.get_by_role("button", name="GODKJENT").click()
    assert approver.locator("#action-done").is_visible()
    timeline = approver.locator("#timeline").inner_text()
    assert "Godkjenner 1" in timeline and "Bits brukerstøtte" in timeline
    approver.context.close()
    stored = case_json(devhost, by_web)
    assert stored["case"]["status"] == "approved"
    [approved] = [e for e in stored["events"] if e["kind"] == "approved"]
    assert (approved["actor"], approved["data"]["by_name"], approved["channel"]) == (APPROVER, "Godkjenner 1", "web")

    # The twin by email: the same two decisions as replies. The submitter's mails are the same, but for the reference.
    [notice] = mails_to(devhost, by_email, SUPPORT)
    reply(devhost, notice, "KOMPLETT")
    [ask] = mails_to(devhost, by_email, APPROVER)
    reply(devhost, ask, f"GODKJENT\n{REASON}", sender=f"Godkjenner 1 <{APPROVER}>")
    assert case_json(devhost, by_email)["case"]["status"] == "approved"

    def told(reference: str) -> list[tuple[str, str]]:
        mails = mails_to(devhost, reference, SUBMITTER)
        # The case page's signed link names the reference too: its signature differs, nothing else.
        same = [(str(m["Subject"]), re.sub(r"\?k=[\w.-]+", "?k=…", plain(m))) for m in mails]
        return sorted((subject.replace(reference, "REF"), text.replace(reference, "REF")) for subject, text in same)

    web, email = told(by_web), told(by_email)
    assert len(web) >= 2 and any(REASON in text for _, text in web)  # the receipt, then the approval with reason
    assert web == email
