"""The submitter's case page as a person uses it, in headless Chromium: opened from the acknowledgement's link, it
shows what was sent in words and when Bits answers at the latest; a message with a PDF sent through its box lands on
the case as the same reply by email does (Bits' support gets the very same mail); axe-core finds nothing, nb and en.
Over HTTP: the same form sent twice adds once, a post without its CSRF token or with another case's (or a forged)
key adds nothing, an executable is refused in words and an oversized body is refused."""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage
from typing import Any

import httpx
from playwright.sync_api import Browser

from functions.devhost.azurite import PROJECT_ROOT
from tests.conftest import DevHostProcess
from tests.e2e.helpers import QUESTION, as_contact, case_json, mails_to, plain, poll, reference_of, submit_form
from tests.e2e.test_forged_senders import eop_pass

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
ASKER, NAME = str(QUESTION["email"]), str(QUESTION["name"])
SUPPORT = "support@bits.example"
# A small but real PDF: the page and the mail keep its name and size, Blob Storage its bytes.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
MESSAGE = "Her er skjermbildet av feilen som PDF.\nDen kom igjen i dag kl. 09.12."


def asked(host: DevHostProcess, title: str) -> tuple[str, EmailMessage, str]:
    """A registered contact's question (from a browser that proved the address): its reference, the
    acknowledgement, and the case page's link in it."""
    reference = as_contact(host, "questions", {**QUESTION, "subject": title})
    [receipt] = mails_to(host, reference, ASKER, "Vi har mottatt")
    link = re.search(rf"(https?://\S+/api/case-page/{re.escape(reference)}\?k=[\w.\-~%]+)", plain(receipt))
    assert link, plain(receipt)
    return reference, receipt, link.group(1)


def messages_to_support(host: DevHostProcess, reference: str) -> list[EmailMessage]:
    return [m for m in mails_to(host, reference, SUPPORT) if "Ny melding i saken" in str(m["Subject"])]


def email_reply(host: DevHostProcess, receipt: EmailMessage, text: str, pdf: bytes) -> None:
    """The submitter's reply to their acknowledgement, from their own (DMARC-aligned) mailbox, with the PDF."""
    message = EmailMessage()
    message["From"] = f"{NAME} <{ASKER}>"
    message["To"] = str(receipt["Reply-To"] or "ssu@bits.example")
    message["Subject"] = f"SV: {receipt['Subject']}"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@demo-forsikring.example>"
    message["In-Reply-To"] = str(receipt["Message-ID"])
    message["References"] = str(receipt["Message-ID"])
    message["Authentication-Results"] = eop_pass("demo-forsikring.example")
    message.set_content(text)
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="feil.pdf")
    inbox = host.mail_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f"reply-{uuid.uuid4().hex[:8]}.eml").write_bytes(message.as_bytes())
    poll(host)


def axe_violations(browser: Browser, url: str) -> list[Any]:
    context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script; the page's CSP forbids that
    try:
        page = context.new_page()
        page.goto(url)
        page.add_script_tag(path=str(AXE))
        found: list[Any] = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        )
        return found
    finally:
        context.close()


def test_a_message_with_a_pdf_from_the_case_page_lands_as_an_email_reply_would(
    devhost: DevHostProcess, browser: Browser
) -> None:
    title = f"Tvilling med vedlegg {uuid.uuid4().hex[:6]}"  # twin cases: their mails differ only by reference
    by_web, _, link = asked(devhost, title)
    by_email, email_receipt, _ = asked(devhost, title)
    page = browser.new_page()
    try:
        page.goto(link)
        # What was sent, in words (not `data_interpretation`, `ufore`), and when Bits answers at the latest.
        submitted = page.locator("#submitted").inner_text()
        assert "Tolking av data" in submitted and "Uføretrygd" in submitted and "Produksjon" in submitted
        assert str(QUESTION["question"]) in submitted and "data_interpretation" not in submitted
        answer = page.locator("#first-answer").inner_text()
        assert re.search(r"Senest \d{1,2}\. \w+ \d{4} kl\. \d{2}\.\d{2}", answer), answer
        assert "åpningstid" in answer
        assert "Bits" in page.locator("#next-step").inner_text()
        # The box: a message and a small PDF.
        page.get_by_label("Melding").fill(MESSAGE)
        page.locator("#attachment").set_input_files(
            files=[{"name": "feil.pdf", "mimeType": "application/pdf", "buffer": PDF}]
        )
        page.get_by_role("button", name="Send til Bits").click()
        page.wait_for_selector("[role=status]")
        assert "lagt til i saken" in page.locator("[role=status]").inner_text()
        history = page.locator("#history").inner_text()
        assert (
            "Ny melding i saken fra deg" in history
            and "Den kom igjen i dag kl. 09.12." in history
            and "feil.pdf" in history
        )
        page.reload()  # Post/Redirect/Get: reloading sends nothing again
    finally:
        page.close()
    # On the case exactly as the email reply on the twin: the same event, with the channel "web".
    email_reply(devhost, email_receipt, MESSAGE, PDF)
    [on_web] = [e for e in case_json(devhost, by_web)["events"] if e["kind"] == "message"]
    [on_email] = [e for e in case_json(devhost, by_email)["events"] if e["kind"] == "message"]
    assert on_web["channel"] == "web" and on_email["channel"] == "email"
    assert on_web["actor"] == on_email["actor"] == ASKER and on_web["public"] and on_email["public"]
    assert on_web["data"]["message"] == on_email["data"]["message"] == MESSAGE
    assert on_web["data"]["attachments"] == on_email["data"]["attachments"]
    assert on_web["data"]["attachments"][0]["stored"] and on_web["data"]["sender_proven"]
    # Bits' support got the very mail the email reply gives, but for the reference.
    [web_mail] = messages_to_support(devhost, by_web)
    [email_mail] = messages_to_support(devhost, by_email)
    assert plain(web_mail).replace(by_web, "REF") == plain(email_mail).replace(by_email, "REF")
    assert str(web_mail["Subject"]).replace(by_web, "REF") == str(email_mail["Subject"]).replace(by_email, "REF")
    assert f"{NAME} <{ASKER}> har skrevet i sak" in plain(web_mail) and "feil.pdf" in plain(web_mail)


def test_the_case_page_passes_axe_in_both_languages_with_errors_too(devhost: DevHostProcess, browser: Browser) -> None:
    reference, _, link = asked(devhost, f"Tilgjengelig side {uuid.uuid4().hex[:6]}")
    for language, button, words in (("nb", "Send til Bits", "Det du sendte"), ("en", "Send to Bits", "What you sent")):
        url = f"{link}&lang={language}" if language == "en" else link
        assert axe_violations(browser, url) == [], language
        context = browser.new_context(bypass_csp=True)
        try:
            page = context.new_page()
            page.goto(url)
            assert words in page.locator("main").inner_text()
            if language == "en":
                answer = page.locator("#first-answer").inner_text()
                assert re.search(r"By \d{1,2} [A-Z][a-z]+ \d{4}, \d{2}:\d{2}", answer), answer
                assert "Reading the data" in page.locator("#submitted").inner_text()
            page.get_by_role("button", name=button).click()  # nothing written: told at the field
            page.wait_for_selector("#error-summary")
            assert page.evaluate("() => document.activeElement.id") == "error-summary"
            page.add_script_tag(path=str(AXE))
            found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
            assert found == [], (language, found)
        finally:
            context.close()
    assert [e for e in case_json(devhost, reference)["events"] if e["kind"] == "message"] == []


# -- over HTTP, as an attacker (or a double click) would ------------------------------------------------------------


def box(client: httpx.Client, link: str) -> str:
    """The case page's CSRF token (its cookie stays in `client`)."""
    page = client.get(link)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "the box carries a CSRF token"
    return found.group(1)


def messages(host: DevHostProcess, reference: str) -> list[dict[str, Any]]:
    return [e for e in case_json(host, reference)["events"] if e["kind"].startswith("message")]


def test_the_same_box_sent_twice_adds_once(devhost: DevHostProcess) -> None:
    reference, _, link = asked(devhost, f"Dobbeltklikk {uuid.uuid4().hex[:6]}")
    with httpx.Client() as client:
        token = box(client, link)
        fields = {"csrf_token": token, "message": "Bare én gang, takk."}
        first = client.post(link, data=fields)
        second = client.post(link, data=fields)
        assert first.status_code == second.status_code == 303
        assert "sent=1" in first.headers["location"]
    assert len(messages(devhost, reference)) == 1
    assert len(messages_to_support(devhost, reference)) == 1


def test_a_post_without_the_csrf_token_adds_nothing(devhost: DevHostProcess) -> None:
    reference, _, link = asked(devhost, f"Uten token {uuid.uuid4().hex[:6]}")
    with httpx.Client() as client:
        box(client, link)  # the cookie, but no token: a post from another site's page
        refused = client.post(link, data={"message": "Fra en annen side"})
        assert refused.status_code == 403
        assert "Skjemaet er utløpt" in refused.text
    with httpx.Client() as victim, httpx.Client() as other:  # a token from another browser's page, not its cookie
        stolen = box(victim, link)
        refused = other.post(link, data={"csrf_token": stolen, "message": "Med stjålet token"})
        assert refused.status_code == 403
    assert messages(devhost, reference) == []


def test_a_forged_key_or_another_cases_key_is_not_found(devhost: DevHostProcess) -> None:
    mine, _, my_link = asked(devhost, f"Min sak {uuid.uuid4().hex[:6]}")
    theirs, _, _ = asked(devhost, f"Deres sak {uuid.uuid4().hex[:6]}")
    key = my_link.split("?k=", 1)[1]
    with httpx.Client() as client:
        token = box(client, my_link)
        # My key on their case: the key names the case it was signed for.
        other = my_link.replace(f"/case-page/{mine}", f"/case-page/{theirs}")
        assert client.get(other).status_code == 404
        assert client.post(other, data={"csrf_token": token, "message": "Inn i en annen sak"}).status_code == 404
        # A key with its signature changed.
        forged = my_link.replace(key, key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB"))
        assert client.post(forged, data={"csrf_token": token, "message": "Forfalsket"}).status_code == 404
    assert messages(devhost, mine) == [] and messages(devhost, theirs) == []


def test_an_executable_attachment_is_refused_in_words_and_nothing_is_added(devhost: DevHostProcess) -> None:
    reference, _, link = asked(devhost, f"Programfil {uuid.uuid4().hex[:6]}")
    with httpx.Client() as client:
        token = box(client, link)
        files = {"attachment": ("rapport.pdf", b"MZ\x90\x00" + b"\x00" * 200, "application/pdf")}
        refused = client.post(link, data={"csrf_token": token, "message": "Se vedlegget"}, files=files)
        assert refused.status_code == 422
        assert "«rapport.pdf» kan ikke legges ved" in refused.text
        assert 'aria-invalid="true"' in refused.text and "attachment-error" in refused.text
        assert "Se vedlegget" in refused.text, "the message is kept for the next try"
        # The same page, corrected (the PDF instead), is still that one submission: added once.
        token = re.search(r'name="csrf_token" value="([^"]+)"', refused.text).group(1)  # type: ignore[union-attr]
        good = {"attachment": ("rapport.pdf", PDF, "application/pdf")}
        assert client.post(link, data={"csrf_token": token, "message": "Se vedlegget"}, files=good).status_code == 303
    [added] = messages(devhost, reference)
    assert [a["content_type"] for a in added["data"]["attachments"]] == ["application/pdf"]


def test_an_oversized_body_is_refused_and_nothing_is_added(devhost: DevHostProcess) -> None:
    reference, _, link = asked(devhost, f"For stor {uuid.uuid4().hex[:6]}")
    with httpx.Client(timeout=60) as client:
        token = box(client, link)
        # Over what the box takes at all (five files at the limit and the text): refused before it is read.
        huge = {"attachment": ("stor.pdf", b"%PDF-1.4\n" + b"0" * (60 * 1024 * 1024), "application/pdf")}
        refused = client.post(link, data={"csrf_token": token, "message": "Stor fil"}, files=huge)
        assert refused.status_code == 413 and "for stort til at vi kan ta imot det" in refused.text
        # One file over the limit per file: told in words at the field.
        big = {"attachment": ("stor.pdf", b"%PDF-1.4\n" + b"0" * (11 * 1024 * 1024), "application/pdf")}
        told = client.post(link, data={"csrf_token": token, "message": "Stor fil"}, files=big)
        assert told.status_code == 422 and "«stor.pdf» er for stor" in told.text and "høyst 10 MB" in told.text
    assert messages(devhost, reference) == []


def test_a_receipt_link_of_an_unproven_address_cannot_write_as_its_owner(devhost: DevHostProcess) -> None:
    """Whoever typed an address into a form gets the receipt page's link at once; until the address is confirmed
    by its owner, the box is closed and a post to it adds nothing (as an unproven email is never theirs)."""
    with httpx.Client(base_url=devhost.url) as client:
        answer = submit_form(
            devhost, "questions", {**QUESTION, "subject": "Skrevet inn av hvem som helst"}, browser=client
        )
        reference = reference_of(answer)
        page = client.get(answer.headers["location"])
        assert 'id="write-closed"' in page.text and 'name="csrf_token"' not in page.text
        token = box(client, f"{devhost.url}/api/questions")  # a valid token and cookie of this browser
        refused = client.post(answer.headers["location"], data={"csrf_token": token, "message": "Jeg er Frida"})
        assert refused.status_code == 403 and "Bekreft e-postadressen din" in refused.text
    assert messages(devhost, reference) == []


def test_text_with_a_direction_override_is_refused_at_the_field(devhost: DevHostProcess) -> None:
    reference, _, link = asked(devhost, f"Skjult tekst {uuid.uuid4().hex[:6]}")
    with httpx.Client() as client:
        token = box(client, link)
        refused = client.post(link, data={"csrf_token": token, "message": "Faktura \u202efdp.exe"})
        assert refused.status_code == 422 and "usynlige tegn" in refused.text and "message-error" in refused.text
        # A JSON body is no browser form: refused, nothing added.
        assert client.post(link, json={"csrf_token": token, "message": "Hei"}).status_code == 415
    assert messages(devhost, reference) == []
