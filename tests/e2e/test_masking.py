"""Fødselsnummer leak nowhere, through the dev host: an alert posted with them, a mail whose attachment and display
name carry them (split every way people and mail clients split them), a registration whose contacts' names do; an
identifier, a link or a count that holds one is refused by its field. The numbers are valid (MOD11) but no real
person's."""

from __future__ import annotations

import email
import json
import random
import re
import uuid
from email.message import EmailMessage
from email.policy import default
from email.utils import formataddr
from typing import Any

import httpx

from functions.core.privacy import MASK
from functions.incidents.security import SECURITY_BREACH_FORM
from functions.incidents.workflow import ERROR_REPORT_FORM
from tests.conftest import DevHostProcess
from tests.e2e.helpers import (
    MAINTENANCE,
    case_json,
    cases_by_message,
    dispatch,
    new_organisation_number,
    organisation,
    outbox_mails,
    plain,
    poll,
    post,
    reply,
    sign_in,
)
from tests.identity_numbers import identity_number, random_identity_number

BITS = "support@bits.example"
KEY = {"X-Api-Key": "nav-key-one"}
# What may sit between a number's digits in what we check: whitespace of any width (\s covers the no-break ones),
# invisible format characters, dots, dashes, minus signs, slashes, underscores. Removed before looking, so that a
# number written in groups is found too.
_BETWEEN_DIGITS = re.compile(
    r"[\s\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff._/\-\u2010-\u2015\u2212\uff0d]"
)


def assert_no_trace(text: str, numbers: list[str], where: str) -> None:
    squeezed = _BETWEEN_DIGITS.sub("", text)
    for number in numbers:
        assert number not in squeezed, f"{where} carries {number}"


def as_text(body: Any) -> str:
    """A JSON body as text, with every character as itself (not `\\u00a0`), so that nothing escapes the check."""
    return json.dumps(body, ensure_ascii=False)


def mail_text(mail: EmailMessage) -> str:
    """Every header, decoded, and every part's decoded content: what a reader (or a mail client) sees."""
    parts = [f"{name}: {value}" for name, value in mail.items()]
    parts += [str(part.get_content()) for part in mail.walk() if not part.is_multipart()]
    return "\n".join(parts)


def every_mail(host: DevHostProcess) -> list[str]:
    """The text of every mail the dev host has sent, whichever case it belongs to."""
    dispatch(host)
    files = sorted((host.mail_dir / "outbox").glob("*.eml"))
    assert files, "the dev host has sent mail"
    return [mail_text(email.message_from_bytes(p.read_bytes(), policy=default)) for p in files]


def written_apart(number: str) -> list[str]:
    """The ways the finding saw numbers get past the old guard."""
    n = number
    return [
        f"{n[:6]}\u00a0{n[6:]}",
        f"{n[:6]} {n[6:9]} {n[9:]}",
        f"{n[:2]} {n[2:4]} {n[4:6]} {n[6:]}",
        f"{n[:6]}.{n[6:]}",
        f"{n[:2]}.{n[2:4]}.{n[4:6]} {n[6:]}",
        f"{n[:6]}/{n[6:]}",
        f"{n[:6]}\u202f{n[6:]}",
        f"{n[:6]}\u2009{n[6:]}",
    ]


def test_an_alert_with_fodselsnummer_leaks_to_no_page_feed_api_or_mail(devhost: DevHostProcess) -> None:
    person = random_identity_number()
    d_number = identity_number(random.randint(41, 68), random.randint(1, 12), random.randint(0, 99))
    synthetic = identity_number(random.randint(1, 28), random.randint(81, 92), random.randint(0, 99))  # Tenor
    numbers = [person, d_number, synthetic]
    title = f"Feil i uføregrad for kunde {person[:6]}\u00a0{person[6:]}"
    alert = {
        **MAINTENANCE,
        "source_alert_id": f"NAV-FNR-{uuid.uuid4().hex[:8]}",
        "kind": "incident",
        "severity": "high",  # business contacts too: more mails that could carry it
        "ends_at": None,
        "title": title,
        "description": f"Kunden {person} og d-nummer {d_number[:6]} {d_number[6:9]} {d_number[9:]} fikk feil svar.",
        "title_en": f"Wrong disability grade for {person[:2]}.{person[2:4]}.{person[4:6]} {person[6:]}",
        "description_en": f"Test person {synthetic[:6]}/{synthetic[6:]} got a wrong answer.",
        "action_required": f"Sjekk saken til {synthetic}.",
    }
    created = post(devhost, alert)
    assert created.status_code == 201, created.text
    assert created.json()["identity_numbers_removed"] == 6
    assert created.json()["title"] == f"Feil i uføregrad for kunde {MASK}"
    reference = created.json()["id"]
    assert_no_trace(as_text(created.json()), numbers, "the POST's answer")

    url = f"{devhost.url}/api/alerts/{reference}"
    later = identity_number(random.randint(1, 28), random.randint(41, 52), random.randint(0, 99))  # NAV's synthetic
    numbers.append(later)
    revised = httpx.patch(url, json={"description": f"Gjelder også {later[:6]} {later[6:]}."}, headers=KEY)
    assert revised.status_code == 200, revised.text
    closing = random_identity_number()
    numbers.append(closing)
    resolved = httpx.post(
        f"{url}/resolve", json={"outcome": "resolved", "text": f"Rettet for {closing[:6]}.{closing[6:]}."}, headers=KEY
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["identity_numbers_removed"] == 8, "six at first, one in the revision, one at the close"

    dispatch(devhost)
    mails = outbox_mails(devhost, reference)
    assert len(mails) >= 3 * 5, "the first revision, the second and the closing, to at least five people"
    assert any(MASK in mail_text(m) for m in mails)
    for mail in mails:
        assert_no_trace(mail_text(mail), numbers, f"the mail to {mail['To']} ({mail['Subject']})")
    for text in every_mail(devhost):
        assert_no_trace(text, numbers, "a mail in the outbox")

    status = httpx.get(f"{devhost.url}/api/status")
    assert status.status_code == 200 and reference in status.text, "the alert is on the status page (recently closed)"
    assert_no_trace(status.text, numbers, "the status page")
    assert_no_trace(httpx.get(f"{devhost.url}/api/status", params={"lang": "en"}).text, numbers, "the status page (en)")
    feed = httpx.get(f"{devhost.url}/api/status/feed.atom")
    assert feed.status_code == 200 and MASK in feed.text
    assert_no_trace(feed.text, numbers, "the Atom feed")
    got = httpx.get(url, headers=KEY)
    assert got.status_code == 200 and got.json()["title"] == f"Feil i uføregrad for kunde {MASK}"
    assert_no_trace(as_text(got.json()), numbers, "GET of the alert")
    assert_no_trace(as_text(httpx.get(f"{devhost.url}/api/alerts", headers=KEY).json()), numbers, "the alert list")
    assert_no_trace(as_text(case_json(devhost, reference)), numbers, "the stored case and its events")


def mail_with_attachments(sender: str, name: str, subject: str, body: str, files: dict[str, str]) -> EmailMessage:
    message = EmailMessage(policy=default)
    message["From"] = formataddr((name, sender))  # a name with a no-break space becomes an encoded word
    message["To"] = "ssu@bits.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@demo-forsikring.example>"
    message["Date"] = "Sun, 29 Nov 2026 15:00:00 +0100"
    message.set_content(body)
    for filename, content_type in files.items():
        maintype, subtype = content_type.split("/")
        message.add_attachment(b"%PDF-1.4 vedtak\n", maintype=maintype, subtype=subtype, filename=filename)
    return message


def drop_message(host: DevHostProcess, message: EmailMessage) -> None:
    inbox = host.mail_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    # Unfolded headers: folding is not what these tests are about.
    raw = message.as_bytes(policy=default.clone(max_line_length=None))
    (inbox / f"masking-{uuid.uuid4().hex[:8]}.eml").write_bytes(raw)
    poll(host)


def test_attachment_names_and_display_names_are_masked_in_the_case_and_bits_mail(devhost: DevHostProcess) -> None:
    in_name, in_file, in_long_file = (random_identity_number() for _ in range(3))
    numbers = [in_name, in_file, in_long_file]
    sender = "teknisk@demo-forsikring.example"
    first = mail_with_attachments(
        sender,
        f"Tore Teknisk {in_name[:6]}\u00a0{in_name[6:]}",
        "Spørsmål om uføregrad i svaret",
        "Hei, se vedlagte vedtak. Hvorfor får kunden uføregrad 0?",
        {
            f"vedtak_{in_file}.pdf": "application/pdf",
            # Not ASCII, so sent RFC 2231-encoded; a type we do not keep, but its name is still listed.
            f"Vedtak for {in_long_file[:6]} {in_long_file[6:]} – kopi.docx": "application/msword",
        },
    )
    drop_message(devhost, first)
    body = cases_by_message(devhost)[str(first["Message-ID"])]
    reference = body["case"]["reference"]
    assert body["case"]["submitter_name"] == f"Tore Teknisk {MASK}"
    names = [a["filename"] for a in body["events"][0]["data"]["attachments"]]
    assert names == [f"vedtak_{MASK}.pdf", f"Vedtak for {MASK} – kopi.docx"], "the names are masked, the rest kept"
    assert_no_trace(as_text(body), numbers, "the stored case")

    dispatch(devhost)
    [to_bits] = [m for m in outbox_mails(devhost, reference) if str(m["To"]) == BITS]
    assert f"vedtak_{MASK}.pdf" in mail_text(to_bits) and f"Tore Teknisk {MASK}" in mail_text(to_bits)
    assert_no_trace(mail_text(to_bits), numbers, "Bits' mail about the new case")

    # A follow-up on the case: the same name in the display name, a new attachment; Bits gets it relayed.
    again, attached = random_identity_number(), random_identity_number()
    numbers += [again, attached]
    [ack] = [m for m in outbox_mails(devhost, reference) if str(m["To"]) == sender]
    follow_up = mail_with_attachments(
        sender,
        f"Tore {again[:2]}.{again[2:4]}.{again[4:6]} {again[6:]}",
        f"SV: {ack['Subject']}",
        "Her er et vedtak til.",
        {f"{attached[:6]}-{attached[6:]}.pdf": "application/pdf"},
    )
    follow_up["In-Reply-To"] = str(ack["Message-ID"])
    drop_message(devhost, follow_up)
    events = case_json(devhost, reference)["events"]
    [message] = [e for e in events if e["kind"] == "message"]
    assert [a["filename"] for a in message["data"]["attachments"]] == [f"{MASK}.pdf"]
    dispatch(devhost)
    relayed = [
        m
        for m in outbox_mails(devhost, reference)
        if str(m["To"]) == BITS and "Ny melding i saken" in str(m["Subject"])
    ]
    assert len(relayed) == 1 and f"{MASK}.pdf" in mail_text(relayed[0]) and f"Tore {MASK}" in mail_text(relayed[0])
    for mail in outbox_mails(devhost, reference):
        assert_no_trace(mail_text(mail), numbers, f"the mail to {mail['To']} ({mail['Subject']})")
    assert_no_trace(as_text(case_json(devhost, reference)), numbers, "the stored case after the follow-up")


def test_an_emailed_draft_alert_and_bits_corrections_are_masked(devhost: DevHostProcess) -> None:
    in_name, in_subject, in_correction = (random_identity_number() for _ in range(3))
    numbers = [in_name, in_subject, in_correction]
    marker = uuid.uuid4().hex[:6]
    notice = EmailMessage(policy=default)
    notice["From"] = formataddr((f"NAV drift {in_name}", "drift@nav.example"))
    notice["To"] = "ssu@bits.example"
    notice["Subject"] = f"Feil i uføre-API i produksjon {marker} for {in_subject[:6]} {in_subject[6:]}"
    notice["Message-ID"] = f"<{uuid.uuid4().hex}@nav.example>"
    notice.set_content("Uføre-API-et svarer med feil grad for noen kunder.")
    drop_message(devhost, notice)
    drafts = httpx.get(f"{devhost.url}/api/cases", params={"process": "B"}, headers=sign_in(devhost)).json()["cases"]
    [draft] = [c for c in drafts if marker in c["title"]]
    reference = draft["reference"]
    assert draft["title"].endswith(f"for {MASK}") and draft["submitter_name"] == f"NAV drift {MASK}"
    dispatch(devhost)
    [to_bits] = [m for m in outbox_mails(devhost, reference) if str(m["To"]) == BITS]
    reply(devhost, to_bits, f"PUBLISER\ntittel: Feil grad for kunde {in_correction} {marker}")
    assert case_json(devhost, reference)["case"]["status"] == "published"
    assert case_json(devhost, reference)["case"]["title"] == f"Feil grad for kunde {MASK} {marker}"
    dispatch(devhost)
    assert len(outbox_mails(devhost, reference)) > 2, "the published alert went out"
    for mail in outbox_mails(devhost, reference):
        assert_no_trace(mail_text(mail), numbers, f"the mail to {mail['To']} ({mail['Subject']})")
    assert_no_trace(as_text(case_json(devhost, reference)), numbers, "the stored draft and its events")
    status = httpx.get(f"{devhost.url}/api/status").text
    assert marker in status
    assert_no_trace(status, numbers, "the status page")


def test_a_registration_with_fodselsnummer_in_its_contacts_names_stores_and_sends_none(
    devhost: DevHostProcess,
) -> None:
    number = new_organisation_number()
    domain = f"maskert{number}.example"
    people = [random_identity_number() for _ in range(4)]
    forms = [*written_apart(people[0])[:3], people[3]]
    roles = ("business", "technical", "security", "signatory")
    registration = {
        "organisation_number": number,
        "legal_name": "Maskert Forsikring ASA",
        "contacts": [
            {"role": role, "name": f"Person {written}", "email": f"{role}@{domain}", "phone": "+47 22 00 00 0" + str(i)}
            for i, (role, written) in enumerate(zip(roles, forms, strict=True))
        ],
        "services": ["ufore"],
        "finans_norge_member": True,
        "desired_go_live": "2027-03-01",
        "comments": f"Kontakt {people[1]} og {people[2][:6]}\u00a0{people[2][6:]} om testdata.",
    }
    response = httpx.post(f"{devhost.url}/api/onboarding/registration", json=registration)
    assert response.status_code == 201, response.text
    assert response.json()["identity_numbers_removed"] == 6
    reference = response.json()["reference"]
    dispatch(devhost)
    [notice] = [m for m in outbox_mails(devhost, reference) if str(m["To"]) == "support@bits.example"]
    reply(devhost, notice, "GODKJENT")  # the registry gets the company when Bits accepts it
    entry = organisation(devhost, number)
    assert sorted(c["name"] for c in entry["contacts"]) == [f"Person {MASK}"] * 4
    assert {c["phone"] for c in entry["contacts"]} == {f"+47 22 00 00 0{i}" for i in range(4)}, "phones stay"
    assert_no_trace(as_text(entry), people, "the registry entry")
    assert_no_trace(as_text(case_json(devhost, reference)), people, "the stored case")
    dispatch(devhost)
    mails = outbox_mails(devhost, reference)
    assert mails and any(f"Person {MASK}" in plain(m) for m in mails)
    for mail in mails:
        assert_no_trace(mail_text(mail), people, f"the mail to {mail['To']} ({mail['Subject']})")


def test_a_mail_with_numbers_split_every_way_leaks_none_to_the_case_or_any_mail(devhost: DevHostProcess) -> None:
    n = [random_identity_number() for _ in range(8)]
    body = (
        f"Hei, kundene {n[0][:6]}  {n[0][6:]} og\t{n[1][:6]}\t{n[1][6:]} og {n[2][:6]} - {n[2][6:]} får 500.\n"
        + "Vi har sett det for personen med fødselsnummer"
        + f" {n[3][:6]} \n{n[3][6:]} i går\n"  # a mail client's soft break (format=flowed)
        + f"og for {n[4][:6]}\u200e{n[4][6:]}, kopiert fra et regneark.\n"
    )
    message = mail_with_attachments(
        "teknisk@demo-forsikring.example",
        f"Tore {n[5][:6]}_{n[5][6:]}",
        "Feil i uføre-API " + "x" * 177 + f" {n[6]}",  # cut to 200 where it becomes the title: masked first
        body,
        {f"fnr_{n[7][:6]}_{n[7][6:]}.pdf": "application/pdf"},
    )
    message.get_body(("plain",)).set_param("format", "flowed")  # type: ignore[union-attr]
    drop_message(devhost, message)
    found = cases_by_message(devhost)[str(message["Message-ID"])]
    reference = found["case"]["reference"]
    stored = case_json(devhost, reference)
    assert stored["case"]["title"] == ("Feil i uføre-API " + "x" * 177 + f" {MASK}")[:200]
    assert stored["events"][0]["data"]["message"].count(MASK) == 5
    assert stored["case"]["submitter_name"] == f"Tore {MASK}"
    assert [a["filename"] for a in stored["events"][0]["data"]["attachments"]] == [f"fnr_{MASK}.pdf"]
    assert_no_trace(as_text(stored), n, "the stored case")
    dispatch(devhost)
    mails = outbox_mails(devhost, reference)
    assert any(str(m["To"]) == BITS for m in mails)
    for mail in mails:
        assert_no_trace(mail_text(mail), n, f"the mail to {mail['To']} ({mail['Subject']})")


_REFUSED_NB = "Feltet ser ut til å inneholde et fødselsnummer. Fjern det og send på nytt."
_REFUSED_EN = "The field seems to contain a national identity number. Remove it and send again."


def test_an_identifier_a_link_or_a_count_that_holds_one_is_refused_by_its_field(devhost: DevHostProcess) -> None:
    person = random_identity_number()
    countable = identity_number(random.randint(10, 28), random.randint(1, 12), random.randint(0, 99))  # no 0 first
    marker = uuid.uuid4().hex[:8]
    assert ERROR_REPORT_FORM.example and SECURITY_BREACH_FORM.example
    report = {**ERROR_REPORT_FORM.example, "title": f"Maskert {marker}"}
    for field, value in {
        "endpoint": f"/api/v1/person/{person}/uforegrad",
        "correlation_id": f"4bf92f3a{person}e4736",
    }.items():
        answer = httpx.post(f"{devhost.url}/api/{ERROR_REPORT_FORM.route}", json={**report, field: value})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"] == {field: _REFUSED_NB}, "said why, not that the field has bad characters"
    # A JSON number: as text it would have been masked; as a count it is refused, and nobody hears of the breach.
    breach = {**SECURITY_BREACH_FORM.example, "persons_affected": int(countable), "language": "en"}
    answer = httpx.post(f"{devhost.url}/api/{SECURITY_BREACH_FORM.route}", json=breach)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == {"persons_affected": _REFUSED_EN}
    # The alert API: a masked source_alert_id would no longer make a repeated POST harmless, a masked link is broken.
    for field, value in {"source_alert_id": person, "link": f"https://status.nav.example/sak?fnr={person}"}.items():
        answer = post(devhost, {**MAINTENANCE, "source_alert_id": f"NAV-{marker}", field: value})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"] == {field: _REFUSED_EN}
    # Nothing was stored, nothing sent.
    for process in "BC":
        cases = httpx.get(f"{devhost.url}/api/cases", params={"process": process}, headers=sign_in(devhost))
        assert marker not in cases.text
    dispatch(devhost)
    outbox = devhost.mail_dir / "outbox"
    for path in outbox.glob("*.eml") if outbox.exists() else []:
        assert_no_trace(
            mail_text(email.message_from_bytes(path.read_bytes(), policy=default)), [person, countable], path.name
        )
    # The same values without the number pass.
    fine = post(devhost, {**MAINTENANCE, "source_alert_id": f"NAV-{marker}", "link": "https://status.nav.example/sak"})
    assert fine.status_code == 201, fine.text
