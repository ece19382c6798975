"""Bits' case view over HTTP: staff only; a case in words (no codes), its timeline with internal notes marked, its
mails with their state, its attachments downloaded through the app (only those the case lists), linked cases, and
the decisions people are asked for - never the tokens themselves."""

from __future__ import annotations

import email
import hashlib
import re
import uuid
from email.policy import default
from html.parser import HTMLParser
from typing import Any

import httpx

from tests.conftest import DevHostProcess
from tests.e2e.helpers import (
    MAIL,
    QUESTION,
    REPORT,
    as_contact,
    case_json,
    dispatch,
    drop,
    mails_to,
    poll,
    reply,
    sign_in,
)

SUPPORT = "support@bits.example"


class _Text(HTMLParser):
    """A page's visible text (what a person reads), without its markup, styles and attribute values."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def text_of(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def case_page(host: DevHostProcess, reference: str, lang: str = "nb", who: str = SUPPORT) -> httpx.Response:
    params = {"lang": "en"} if lang == "en" else {}
    return httpx.get(f"{host.url}/api/bits/cases/{reference}", params=params, headers=sign_in(host, who))


def items(html: str, list_id: str) -> list[str]:
    """The <li> elements (markup included) of the list with that id."""
    found = re.search(rf'<(?:ul|ol)[^>]*id="{list_id}"[^>]*>(.*?)</(?:ul|ol)>', html, re.S)
    assert found, f"no list #{list_id}"
    return re.findall(r"<li\b.*?</li>", found.group(1), re.S)


def email_case(host: DevHostProcess, attachment: bytes, filename: str) -> tuple[str, dict[str, Any]]:
    """An error report by email with one attachment: its reference and the attachment as the case lists it."""
    message = email.message_from_bytes((MAIL / "gmail_en_error.eml").read_bytes(), policy=default)
    subject = f"Error 500 from the API in test {uuid.uuid4().hex[:8]}"
    del message["Message-ID"], message["Subject"]
    message["Message-ID"] = f"<{uuid.uuid4().hex}@mail.gmail.com>"
    message["Subject"] = subject
    message.add_attachment(attachment, maintype="application", subtype="pdf", filename=filename)
    inbox = host.mail_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f"{uuid.uuid4().hex[:8]}.eml").write_bytes(message.as_bytes())
    poll(host)
    listed = httpx.get(f"{host.url}/api/cases", params={"process": "C"}, headers=sign_in(host)).json()["cases"]
    [case] = [c for c in listed if c["title"] == subject]
    [first, *_] = case_json(host, case["reference"])["events"]
    [kept] = first["data"]["attachments"]
    return case["reference"], kept


def test_the_case_view_and_its_attachments_need_a_signed_in_staff_member(devhost: DevHostProcess) -> None:
    reference = as_contact(devhost, "incidents", {**REPORT, "title": "Uten innlogging"})
    page = f"{devhost.url}/api/bits/cases/{reference}"
    assert httpx.get(page).status_code == 401
    assert httpx.get(f"{page}/attachments/{'0' * 64}").status_code == 401
    browser = httpx.get(page, headers={"Accept": "text/html"})
    assert browser.status_code == 302
    assert browser.headers["location"].startswith("/.auth/login/aad?post_login_redirect_uri=/api/bits/cases/")
    # A principal header the dev host did not write (a client's claim) is nobody.
    forged = httpx.get(page, headers={"X-MS-CLIENT-PRINCIPAL": "eyJjbGFpbXMiOiBbXX0="})
    assert forged.status_code == 401


def test_a_form_case_shows_every_field_in_words_and_no_codes(devhost: DevHostProcess) -> None:
    title = f"500 fra API-et {uuid.uuid4().hex[:6]}"
    reference = as_contact(devhost, "incidents", {**REPORT, "title": title})
    answer = case_page(devhost, reference)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    text = text_of(answer.text)
    # Mail subjects are quoted as they were sent (some email templates still put codes in them): the rest of the
    # page is checked for codes.
    words_only = text_of(re.sub(r'<ul class="plain" id="mails".*?</ul>', "", answer.text, flags=re.S))
    for words in (
        reference,
        title,
        "Feilmelding",  # the process and the kind
        "Miljø Produksjon",
        "Komponent Uføre-API-et",
        "Alvorlighet Høy",
        "Inntraff 28. november 2026 kl. 09.40",  # 2026-11-28T09:40+01:00 in Oslo time
        "Berørte kunder 12",
        "Korrelasjons-ID 7f3c2a10-5b7e-4c1e-9d2e-1a2b3c4d5e6f",
        "Beskrivelse Siden 09:40 svarer alle kall med 500.",
        "Kom inn via Skjema for feilmelding",
        "Virksomhet Demo Forsikring ASA",
        "Innsenders adresse bekreftet Ja",
        "Status Ny",
    ):
        assert words in text, words
    for code in ("production", "ufore-api", "high", "error_report", "error-report-form", "True", "_"):
        assert code not in words_only, code
    assert '<a href="/api/bits">' in answer.text, "a link back to the work queue"

    english_page = case_page(devhost, reference, "en").text
    english = text_of(re.sub(r'<ul class="plain" id="mails".*?</ul>', "", english_page, flags=re.S))
    for words in ("Environment Production", "Component The disability API", "Severity High", "28 November 2026, 09:40"):
        assert words in english, words
    assert "ufore-api" not in english and "production" not in english


def test_the_timeline_marks_internal_notes_and_names_who_wrote_them(devhost: DevHostProcess) -> None:
    reference = as_contact(devhost, "incidents", {**REPORT, "title": "Med intern merknad"})
    [notice] = mails_to(devhost, reference, SUPPORT)
    # A reply without a command on an error report is an internal note: never shown to the reporter.
    reply(devhost, notice, "Sjekker loggene i kveld.\n<script>alert(1)</script>\nLinje tre.")
    html = case_page(devhost, reference).text
    entries = items(html, "timeline")
    [received] = [e for e in entries if "Saken ble mottatt" in e]
    assert 'data-public="true"' in received and "Offentlig" in received
    [note] = [e for e in entries if "Internt notat" in e]
    assert 'data-public="false"' in note and "Internt – bare Bits" in note
    assert "Bits brukerstøtte &lt;support@bits.example&gt;" in note, "the display name beside the address"
    assert "Kommando: <strong>ingen – internt notat</strong>" in note, "the decision's reply: the command as read"
    # The text is shown as text, escaped, with its line breaks.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in note and "<script>" not in html
    assert "Sjekker loggene i kveld.\n" in note


def test_every_mail_is_listed_with_its_state_recipient_and_purpose(devhost: DevHostProcess) -> None:
    reference = as_contact(devhost, "incidents", {**REPORT, "title": "E-post i saken"})
    queued = items(case_page(devhost, reference).text, "mails")
    assert queued and all('data-state="pending"' in m and "I kø" in m for m in queued)
    dispatch(devhost)
    mails = items(case_page(devhost, reference).text, "mails")
    [receipt] = [m for m in mails if "Kvittering til innsender" in m]
    assert 'data-state="sent"' in receipt and "Sendt" in receipt and REPORT["email"] in receipt
    assert f"[{reference}]" in receipt, "the subject"
    [to_bits] = [m for m in mails if SUPPORT in m]
    assert "Melding til Bits om ny sak" in to_bits and 'data-state="sent"' in to_bits
    # A delivery report naming the receipt: the mail reads as bounced.
    [ack] = mails_to(devhost, reference, REPORT["email"])
    drop(devhost, "bounce.eml.tmpl", REF=reference, MSGID=str(ack["Message-ID"]), RCPT=REPORT["email"])
    poll(devhost)
    mails = items(case_page(devhost, reference).text, "mails")
    [bounced] = [m for m in mails if "Kvittering til innsender" in m]
    assert 'data-state="bounced"' in bounced and "Kom i retur" in bounced
    lifted = httpx.delete(
        f"{devhost.url}/api/mail/suppressions/{REPORT['email']}", headers=sign_in(devhost, "admin@bits.example")
    )
    assert lifted.status_code == 200, "the bounce counted against the demo address is forgotten again"


def test_an_attachment_downloads_for_staff_and_only_by_a_hash_the_case_lists(devhost: DevHostProcess) -> None:
    content = b"%PDF-1.4 " + uuid.uuid4().bytes
    reference, kept = email_case(devhost, content, "logg æøå.pdf")
    assert kept["sha256"] == hashlib.sha256(content).hexdigest() and kept["stored"] is True
    [row] = items(case_page(devhost, reference).text, "attachments")
    link = f"/api/bits/cases/{reference}/attachments/{kept['sha256']}"
    assert f'href="{link}"' in row and "logg æøå.pdf" in row and "Lagret" in row

    answer = httpx.get(f"{devhost.url}{link}", headers=sign_in(devhost))
    assert answer.status_code == 200 and answer.content == content
    assert answer.headers["content-type"].startswith("application/pdf")
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''logg%20%C3%A6%C3%B8%C3%A5.pdf" in answer.headers["content-disposition"]
    assert answer.headers["x-content-type-options"] == "nosniff"

    # Another case's attachment is in the same Blob Storage: its hash opens nothing through this case.
    other_content = b"%PDF-1.4 other " + uuid.uuid4().bytes
    other, other_kept = email_case(devhost, other_content, "annen.pdf")
    through_this = httpx.get(
        f"{devhost.url}/api/bits/cases/{reference}/attachments/{other_kept['sha256']}", headers=sign_in(devhost)
    )
    assert through_this.status_code == 404 and other_content not in through_this.content
    assert "Fant ikke vedlegget" in through_this.text
    for wrong in ("0" * 64, "../" + kept["sha256"], kept["sha256"][:63], kept["sha256"].upper() + "0"):
        assert (
            httpx.get(
                f"{devhost.url}/api/bits/cases/{reference}/attachments/{wrong}", headers=sign_in(devhost)
            ).status_code
            == 404
        )
    # The right hash on a case that does not exist: 404 too.
    assert (
        httpx.get(
            f"{devhost.url}/api/bits/cases/SSU-C-2026-9999/attachments/{kept['sha256']}", headers=sign_in(devhost)
        ).status_code
        == 404
    )
    assert other != reference


def test_the_decisions_asked_for_are_listed_without_the_tokens(devhost: DevHostProcess) -> None:
    reference = as_contact(devhost, "incidents", {**REPORT, "title": "Hvem kan beslutte"})
    [notice] = mails_to(devhost, reference, SUPPORT)
    token = re.search(r"#(\S+)$", str(notice["Subject"]))
    assert token, notice["Subject"]
    html = case_page(devhost, reference).text
    rows = items(html, "tokens")
    [support] = [r for r in rows if SUPPORT in r]
    assert "Bits brukerstøtte" in support and "behandle feilmeldingen" in support
    assert re.search(r"til \d{1,2}\. \w+ \d{4} kl\. \d\d\.\d\d", support), support
    assert token.group(1) not in html, "a token is a credential: never on the page"


def test_a_reclassified_question_links_both_cases(devhost: DevHostProcess) -> None:
    question = as_contact(devhost, "questions", {**QUESTION, "subject": f"Egentlig en feil {uuid.uuid4().hex[:6]}"})
    [notice] = mails_to(devhost, question, SUPPORT)
    reply(devhost, notice, "FEIL\nDette er en feil i API-et.")
    events = case_json(devhost, question)["events"]
    [continued] = [e for e in events if e["kind"] == "continued"]
    error_report = continued["data"]["continued_in"]
    linked = items(case_page(devhost, error_report).text, "linked")
    assert any(f'href="/api/bits/cases/{question}"' in li and "Kom fra sak" in li for li in linked), linked
    back = items(case_page(devhost, question).text, "linked")
    assert any(f'href="/api/bits/cases/{error_report}"' in li and "Fortsetter i" in li for li in back), back


def test_an_unknown_reference_is_a_page_in_words(devhost: DevHostProcess) -> None:
    for reference in ("SSU-C-2026-9999", "not-a-reference", "SSU-HELD-0123456789abcdef"):
        answer = case_page(devhost, reference)
        assert answer.status_code == 404
        assert "Fant ikke saken" in answer.text and '<a href="/api/bits">' in answer.text
    assert "Case not found" in case_page(devhost, "SSU-C-2026-9999", "en").text
