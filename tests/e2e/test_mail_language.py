"""Mail through the dev host follows its reader: an English submitter's links open English pages (the signed case
link still opens, and a forged one still does not), every HTML part has the subject as its <title>, and the decision
token is in the subject only of mails that ask their recipient to decide."""

from __future__ import annotations

import html
import re
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import httpx

from functions.incidents.security import SECURITY_BREACH_FORM
from tests.conftest import DevHostProcess
from tests.e2e.helpers import QUESTION, as_contact, confirm_address, dispatch, mails_to, outbox_mails, plain

TOKEN_IN_SUBJECT = re.compile(r"#[a-z0-9]{8,}$")


def html_title(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    found = re.search(r"<title>(.*?)</title>", part.get_content(), re.S)
    assert found, "the HTML part has a <title>"
    return html.unescape(found.group(1))


def our_links(host: DevHostProcess, text: str) -> list[str]:
    return re.findall(rf"{re.escape(host.url)}/api/[^\s\"'<>]*[^\s\"'<>.,;:!?)]", text)


def english_question(host: DevHostProcess) -> tuple[str, EmailMessage]:
    answer = httpx.post(f"{host.url}/api/questions", json={**QUESTION, "language": "en"})
    assert answer.status_code == 201, answer.text
    reference = answer.json()["reference"]
    confirm_address(host, reference, QUESTION["email"], "confirm your email address")
    [ack] = mails_to(host, reference, QUESTION["email"], "received")
    return reference, ack


def test_an_english_acknowledgement_links_the_english_case_page(devhost: DevHostProcess) -> None:
    reference, ack = english_question(devhost)
    text = plain(ack)
    links = our_links(devhost, text)
    assert links and all(parse_qs(urlsplit(link).query).get("lang") == ["en"] for link in links), links
    [case_link] = [link for link in links if "/api/case-page/" in link]
    page = httpx.get(case_link)
    assert page.status_code == 200, page.text
    assert '<html lang="en">' in page.text and reference in page.text
    # The page's switch keeps the signed key: the Norwegian page opens from it.
    switch = re.search(r'<a href="(\?[^"]+)" lang="nb"', page.text)
    assert switch, "the case page has a switch to Norwegian"
    norwegian = httpx.get(f"{case_link.split('?')[0]}{html.unescape(switch.group(1))}")
    assert norwegian.status_code == 200 and '<html lang="nb">' in norwegian.text
    # The language is outside the signature, and nothing else is: a forged key or another case's path stays shut.
    key = parse_qs(urlsplit(case_link).query)["k"][0]
    forged = case_link.replace(f"k={key}", f"k={key[:-2]}{'AA' if key[-2:] != 'AA' else 'BB'}")
    assert httpx.get(forged).status_code == 404
    other = case_link.replace(reference, reference[:-4] + ("9999" if reference[-4:] != "9999" else "9998"))
    assert httpx.get(other).status_code == 404
    assert httpx.get(case_link.split("?")[0] + "?lang=en").status_code == 404, "a language opens nothing alone"


def test_every_mail_has_its_subject_as_html_title(devhost: DevHostProcess) -> None:
    reference, _ = english_question(devhost)
    mails = outbox_mails(devhost, reference)
    assert len(mails) >= 3, "the confirmation request, the receipt and Bits' notice"
    for mail in mails:
        assert html_title(mail) == str(mail["Subject"]).split(" #")[0], mail["Subject"]


def test_the_token_is_in_the_subject_only_where_a_decision_is_asked(devhost: DevHostProcess) -> None:
    breach = dict(SECURITY_BREACH_FORM.example or {})
    reference = as_contact(devhost, "incidents/security", breach)
    dispatch(devhost)
    [receipt] = mails_to(devhost, reference, breach["email"])
    # The receipt allows a later MELDT by reply: its token is in the Reply-To, and not in the subject.
    assert not TOKEN_IN_SUBJECT.search(str(receipt["Subject"])), receipt["Subject"]
    assert "#" not in str(receipt["Subject"])
    token = re.fullmatch(r"ssu\+([a-z0-9]+)@bits\.example", str(receipt["Reply-To"]))
    assert token, receipt["Reply-To"]
    # Bits' alert asks Bits to acknowledge (MOTTATT): its token is in the subject too, as in the Reply-To.
    [alert] = mails_to(devhost, reference, "sikkerhet@bits.example")
    in_subject = TOKEN_IN_SUBJECT.search(str(alert["Subject"]))
    assert in_subject and str(alert["Reply-To"]) == f"ssu+{in_subject.group(0)[1:]}@bits.example"
    assert html_title(alert) == str(alert["Subject"]).removesuffix(f" {in_subject.group(0)}")
