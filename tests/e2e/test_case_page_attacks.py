"""Attacks on the submitter's case page and its box (issue #17's review): files that are no files (empty, macros),
names that are markup or headers, identity numbers written with a no-break space, many files at once - whatever is
refused leaves nothing on the case; the receipt link, held by whoever sent the form, never shows what the address's
owner writes later; the language switch stays on the page and the key never leaves it; the receipt repeats masked,
escaped text."""

from __future__ import annotations

import html
import io
import re
import uuid
import zipfile
from email.message import EmailMessage

import httpx

from tests.conftest import DevHostProcess
from tests.e2e.helpers import QUESTION, confirm_address, mails_to, plain, reference_of, submit_form
from tests.e2e.test_case_page_in_browser import PDF, asked, box, email_reply, messages, messages_to_support
from tests.unit.test_privacy import FNR


def markup_of(mail: EmailMessage) -> str:
    part = mail.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def test_a_zero_byte_file_alone_is_no_message(devhost: DevHostProcess) -> None:
    reference, _, link = asked(devhost, f"Tom fil {uuid.uuid4().hex[:6]}")
    with httpx.Client() as client:
        token = box(client, link)
        empty = {"attachment": ("tom.pdf", b"", "application/pdf")}
        refused = client.post(link, data={"csrf_token": token, "message": ""}, files=empty)
        assert refused.status_code == 422, refused.status_code
        assert "«tom.pdf» er tom" in refused.text and "attachment-error" in refused.text
        # With a text beside it, the empty file is still refused: it is not kept as if it were a file.
        beside = client.post(link, data={"csrf_token": token, "message": "Se vedlegget"}, files=empty)
        assert beside.status_code == 422 and "Se vedlegget" in beside.text
    assert messages(devhost, reference) == []
    assert messages_to_support(devhost, reference) == []


def test_a_file_name_with_markup_line_breaks_and_a_path_is_kept_as_a_name(devhost: DevHostProcess) -> None:
    reference, _, link = asked(devhost, f"Filnavn {uuid.uuid4().hex[:6]}")
    name = '../../x"><script>alert(1)</script>\r\nBcc: a@evil.example.pdf'
    with httpx.Client() as client:
        token = box(client, link)
        sent = client.post(
            link, data={"csrf_token": token, "message": "Se fil"}, files={"attachment": (name, PDF, "application/pdf")}
        )
        assert sent.status_code == 303, sent.text
        page = client.get(link)
        assert "<script>alert(1)" not in page.text
    [added] = messages(devhost, reference)
    [kept] = added["data"]["attachments"]
    assert "\r" not in kept["filename"] and "\n" not in kept["filename"]
    for mail in messages_to_support(devhost, reference):
        assert "<script>alert(1)" not in markup_of(mail)


def test_an_identity_number_with_a_no_break_space_is_masked(devhost: DevHostProcess) -> None:
    reference, _, link = asked(devhost, f"Fnr {uuid.uuid4().hex[:6]}")
    spaced = f"{FNR[:6]}\u00a0{FNR[6:]}"
    with httpx.Client() as client:
        token = box(client, link)
        sent = client.post(
            link,
            data={"csrf_token": token, "message": f"Gjelder {spaced} og {FNR}"},
            files={"attachment": (f"vedtak_{FNR}.pdf", PDF, "application/pdf")},
        )
        assert sent.status_code == 303, sent.text
        page = client.get(link)
        assert FNR not in page.text and spaced not in page.text and FNR[6:] not in page.text
    [added] = messages(devhost, reference)
    assert FNR[6:] not in str(added), added
    for mail in messages_to_support(devhost, reference):
        assert FNR[6:] not in mail.as_string()


def test_six_files_are_refused_and_nothing_is_added(devhost: DevHostProcess) -> None:
    reference, _, link = asked(devhost, f"Mange {uuid.uuid4().hex[:6]}")
    with httpx.Client() as client:
        token = box(client, link)
        files = [("attachment", (f"f{i}.pdf", PDF, "application/pdf")) for i in range(6)]
        refused = client.post(link, data={"csrf_token": token, "message": "Mange"}, files=files)
        assert refused.status_code == 422
    assert messages(devhost, reference) == []


def test_a_macro_office_file_renamed_docx_is_refused_and_nothing_is_added(devhost: DevHostProcess) -> None:
    reference, _, link = asked(devhost, f"Makro {uuid.uuid4().hex[:6]}")
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
        z.writestr("word/vbaProject.bin", b"\xd0\xcf\x11\xe0" + b"\x00" * 64)
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    with httpx.Client() as client:
        token = box(client, link)
        files = {"attachment": ("budsjett.docx", package.getvalue(), docx)}
        refused = client.post(link, data={"csrf_token": token, "message": "Budsjett"}, files=files)
        assert refused.status_code == 422 and "«budsjett.docx» kan ikke legges ved" in refused.text
    assert messages(devhost, reference) == []


def test_the_language_switch_keeps_the_key_on_this_page_and_sends_no_referrer(devhost: DevHostProcess) -> None:
    _, _, link = asked(devhost, f"Språkbryter {uuid.uuid4().hex[:6]}")
    key = link.split("?k=", 1)[1]
    with httpx.Client() as client:
        page = client.get(f"{link}&lang=nb&next=javascript:alert(1)&x=%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
        assert page.status_code == 200
        assert page.headers["referrer-policy"] == "no-referrer", "the key in the address never goes elsewhere"
        assert "<script>alert(1)" not in page.text
        found = re.search(r'<a href="([^"]*)" lang="en" hreflang="en">English</a>', page.text)
        assert found, "the switch to English"
        href = html.unescape(found.group(1))
        assert href.startswith("?"), "the same page: a query alone, never another host or scheme"
        assert f"k={key}" in href and href.endswith("lang=en") and href.count("lang=") == 1
        english = client.get(link.split("?", 1)[0] + href)
        assert english.status_code == 200 and '<html lang="en">' in english.text


def test_the_receipt_link_never_shows_what_the_owner_of_the_address_wrote_later(devhost: DevHostProcess) -> None:
    """Whoever sent the form holds the receipt link, whatever address they typed. Once the address's owner has
    confirmed it and writes on the case, what they write is theirs and Bits': not for the receipt link's holder."""
    owner = str(QUESTION["email"])
    secret = f"Hemmelig svar {uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=devhost.url) as client:
        answer = submit_form(devhost, "questions", {**QUESTION, "subject": "Skrevet inn av en annen"}, browser=client)
        reference, receipt = reference_of(answer), answer.headers["location"]
        confirm_address(devhost, reference, owner)
        [acknowledgement] = mails_to(devhost, reference, owner, "Vi har mottatt")
        email_reply(devhost, acknowledgement, secret, PDF)
        assert [m["data"]["message"] for m in messages(devhost, reference)] == [secret]
        page = client.get(receipt)
        assert page.status_code == 200
        assert secret not in page.text, "the owner's message is not shown behind the receipt link"
        assert "feil.pdf" not in page.text, "nor the names of their files"


def test_the_receipt_repeats_only_masked_text_escaped(devhost: DevHostProcess) -> None:
    spaced = f"{FNR[:6]}\u00a0{FNR[6:]}"
    body = {
        **QUESTION,
        "subject": f"Gjelder <b>{FNR}</b> {uuid.uuid4().hex[:6]}",
        "question": f"Personen {spaced} får <script>alert(1)</script> i svaret.\nHva betyr det?",
    }
    reference = reference_of(submit_form(devhost, "questions", body, remember=str(QUESTION["email"])))
    [receipt] = mails_to(devhost, reference, str(QUESTION["email"]), "Vi har mottatt")
    whole = receipt.as_string()
    assert FNR not in whole and FNR[6:] not in whole
    text, markup = plain(receipt), markup_of(receipt)
    assert "<script>alert(1)</script>" in text, "the text part repeats what was written"
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    for internal in ("intake", "routing", "token", "deadline"):
        assert internal not in text.casefold()
