"""Email intake through the dev host: .eml files in the local inbox, mailbox_poll, and what each one became."""

from __future__ import annotations

import email
import shutil
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DevHostProcess
from tests.e2e.helpers import MAIL, case_json, cases_by_message, dispatch, drop, outbox_mails, plain, poll, sign_in


def processed(host: DevHostProcess, name: str) -> bool:
    return (host.mail_dir / "processed" / name).exists()


def failed_reason(host: DevHostProcess, name: str) -> str | None:
    reason = host.mail_dir / "failed" / f"{name}.reason.txt"
    return reason.read_text(encoding="utf-8") if reason.exists() else None


def ack_of(host: DevHostProcess, reference: str, to: str) -> EmailMessage:
    dispatch(host)
    return next(m for m in outbox_mails(host, reference) if str(m["To"]) == to)


@pytest.fixture(scope="module")
def new_cases(devhost: DevHostProcess) -> dict[str, dict[str, Any]]:
    names = [
        "outlook_nb_question.eml",
        "gmail_en_error.eml",
        "security_breach_nb.eml",
        "change_request_plus.eml",
        "iso8859_qp_stranger.eml",
        "html_only.eml",
        "mislabelled_charset.eml",
        "fnr_question.eml",
        "mailing_list.eml",
        "broken.eml",
        "broken_mime_no_from.eml",
    ]
    for name in names:
        drop(devhost, name)
    poll(devhost)
    return cases_by_message(devhost)


def test_new_messages_become_cases_of_the_right_process(devhost: DevHostProcess, new_cases: dict[str, Any]) -> None:
    expected = {
        "<AM0PR07MB1234.eurprd07.prod.outlook.com@demo-forsikring.example>": ("D", "question", "new"),
        "<CAF=3Dk2xYt7q@mail.gmail.com>": ("C", "error_report", "new"),
        "<breach-20261129-1130@demo-forsikring.example>": ("C", "security_breach", "new"),
        "<wish-aap-field@demo-forsikring.example>": ("E", "change_request", "new"),
        "<latin1-question@ukjent-forsikring.example>": ("D", "question", "awaiting_confirmation"),
        "<html-only-1@fjordtrygd.example>": ("D", "question", "new"),
        "<cp1252-labelled-utf8@fjordtrygd.example>": ("D", "question", "new"),
        "<fnr-in-body@demo-forsikring.example>": ("C", "error_report", "new"),
    }
    got = {mid: (b["case"]["process"], b["case"]["kind"], b["case"]["status"]) for mid, b in new_cases.items()}
    assert got == expected
    for name in ("outlook_nb_question.eml", "gmail_en_error.eml", "mailing_list.eml"):
        assert processed(devhost, name)


def test_email_case_gets_the_same_acknowledgement_and_bits_hears(
    devhost: DevHostProcess, new_cases: dict[str, Any]
) -> None:
    case = new_cases["<CAF=3Dk2xYt7q@mail.gmail.com>"]["case"]
    assert case["organisation_number"] == "310000027" and case["language"] == "en"
    ack = ack_of(devhost, case["reference"], "teknisk@test-pensjon.example")
    assert f"[{case['reference']}]" in str(ack["Subject"]) and "We have received your email" in str(ack["Subject"])
    recipients = {str(m["To"]) for m in outbox_mails(devhost, case["reference"])}
    assert recipients == {"teknisk@test-pensjon.example", "support@bits.example"}
    breach = new_cases["<breach-20261129-1130@demo-forsikring.example>"]["case"]
    dispatch(devhost)
    assert {str(m["To"]) for m in outbox_mails(devhost, breach["reference"])} == {
        "sikkerhet@demo-forsikring.example",
        "sikkerhet@bits.example",
        "sikkerhet@nav.example",
    }


def test_unknown_sender_must_confirm_like_on_the_form(devhost: DevHostProcess, new_cases: dict[str, Any]) -> None:
    case = new_cases["<latin1-question@ukjent-forsikring.example>"]["case"]
    assert case["submitter_name"] == "Pål Østby" and case["organisation_number"] == ""
    dispatch(devhost)
    mails = outbox_mails(devhost, case["reference"])
    assert [str(m["To"]) for m in mails] == ["pal@ukjent-forsikring.example"]
    assert "Bekreft" in str(mails[0]["Subject"])


def test_html_and_charsets_are_stored_as_clean_text(devhost: DevHostProcess, new_cases: dict[str, Any]) -> None:
    html = new_cases["<html-only-1@fjordtrygd.example>"]["events"][0]["data"]["message"]
    assert "syntetiske testpersoner" in html and "alert" not in html and "<" not in html
    latin = new_cases["<latin1-question@ukjent-forsikring.example>"]["events"][0]["data"]["message"]
    assert "før kunden må gi det på ny?" in latin


def test_identity_number_in_an_email_is_masked_everywhere(devhost: DevHostProcess, new_cases: dict[str, Any]) -> None:
    body = new_cases["<fnr-in-body@demo-forsikring.example>"]
    assert "17050544052" not in str(body) and "170505 44052" not in str(body)
    assert body["events"][0]["data"]["identity_numbers_removed"] == 2
    dispatch(devhost)
    for mail in outbox_mails(devhost, body["case"]["reference"]):
        assert "17050544052" not in mail.as_string() and "44052" not in mail.as_string()


def test_noise_and_broken_mail_make_no_case_and_do_not_block_the_rest(
    devhost: DevHostProcess, new_cases: dict[str, Any]
) -> None:
    assert "<newsletter-nov@leverandor.example>" not in new_cases
    assert processed(devhost, "mailing_list.eml")
    assert "not a header" in (failed_reason(devhost, "broken.eml") or "")
    assert "no valid From address" in (failed_reason(devhost, "broken_mime_no_from.eml") or "")
    # Bits' support is told of each message set aside, through the outbox like any mail, as .eml files.
    dispatch(devhost)
    files = sorted((devhost.mail_dir / "outbox").glob("SSU-HELD-*.eml"))
    held = [email.message_from_bytes(p.read_bytes(), policy=default) for p in files]
    told = [m for m in held if str(m["To"]) == "support@bits.example"]
    reasons = " ".join(plain(m) for m in told)
    assert "hodefeltene er ødelagt" in reasons and "ingen gyldig avsenderadresse" in reasons
    assert all("lagt til side" in str(m["Subject"]) for m in told)


def first_ack_id(host: DevHostProcess, reference: str, to: str) -> str:
    return str(ack_of(host, reference, to)["Message-ID"])


def test_replies_are_appended_to_their_case_with_only_the_new_text(
    devhost: DevHostProcess, new_cases: dict[str, Any]
) -> None:
    case = new_cases["<AM0PR07MB1234.eurprd07.prod.outlook.com@demo-forsikring.example>"]["case"]
    ref = case["reference"]
    msgid = first_ack_id(devhost, ref, "fag@demo-forsikring.example")
    for name in ("outlook_nb_reply.eml.tmpl", "apple_mail_reply.eml.tmpl", "thunderbird_reply.eml.tmpl"):
        drop(devhost, name, REF=ref, MSGID=msgid)
    poll(devhost)
    events = case_json(devhost, ref)["events"]
    messages = [e["data"]["message"] for e in events if e["kind"] == "message"]
    assert sorted(messages) == sorted(
        [
            "Takk! Jeg glemte å nevne at det gjelder produksjon.",  # the lone first name at the end is cut
            "Ett spørsmål til: gjelder dette også AAP?",
            "Vi har nå funnet svaret selv.",
        ]
    )
    dispatch(devhost)
    notices = [m for m in outbox_mails(devhost, ref) if "Ny melding i saken" in str(m["Subject"])]
    assert len(notices) == 3 and all(str(m["To"]) == "support@bits.example" for m in notices)
    for notice in notices:
        body = notice.get_body(("plain",))
        assert body is not None and "registrert hos Bits med saksnummer" not in body.get_content()


def test_processing_a_message_twice_has_the_effect_of_once(devhost: DevHostProcess, new_cases: dict[str, Any]) -> None:
    before = len(cases_by_message(devhost))
    drop(devhost, "gmail_en_error.eml", as_name="gmail_en_error_again.eml")
    poll(devhost)
    assert len(cases_by_message(devhost)) == before
    assert processed(devhost, "gmail_en_error_again.eml")
    # A reply seen twice is one event.
    case = new_cases["<CAF=3Dk2xYt7q@mail.gmail.com>"]["case"]
    for copy in ("gmail_reply_a.eml", "gmail_reply_b.eml"):
        drop(devhost, "gmail_en_reply.eml.tmpl", as_name=copy, REF=case["reference"])
        poll(devhost)
    messages = [e for e in case_json(devhost, case["reference"])["events"] if e["kind"] == "message"]
    assert len(messages) == 1 and messages[0]["data"]["message"] == "It works again since 10:30, thanks."


def test_auto_replies_bounces_and_strangers(devhost: DevHostProcess, new_cases: dict[str, Any]) -> None:
    case = new_cases["<wish-aap-field@demo-forsikring.example>"]["case"]
    ref = case["reference"]
    msgid = first_ack_id(devhost, ref, "fag@demo-forsikring.example")
    mails_before = len(outbox_mails(devhost, ref))
    drop(devhost, "auto_reply.eml.tmpl", REF=ref, MSGID=msgid)
    drop(devhost, "bounce.eml.tmpl", REF=ref, MSGID=msgid, RCPT="fag@demo-forsikring.example")
    drop(devhost, "stranger_reply.eml.tmpl", REF=ref, MSGID=msgid)
    poll(devhost)
    events = {e["kind"]: e for e in case_json(devhost, ref)["events"]}
    assert events["automatic_reply"]["public"] is False
    assert events["mail_bounced"]["data"] == {
        "recipients": ["fag@demo-forsikring.example"],
        "status": "5.1.1",
        "permanent": True,
        "message_id": msgid,
    }
    listed = httpx.get(f"{devhost.url}/api/mail/suppressions", headers=sign_in(devhost)).json()["addresses"]
    [counted] = [a for a in listed if a["address"] == "fag@demo-forsikring.example"]
    assert {k: v for k, v in counted.items() if not k.endswith("_bounce_at")} == {
        "address": "fag@demo-forsikring.example",
        "permanent_bounces": 1,
        "suppressed": False,
        "last_status": "5.1.1",
        "last_reference": ref,
    }
    admin = sign_in(devhost, "admin@bits.example")
    lift = httpx.delete(f"{devhost.url}/api/mail/suppressions/fag@demo-forsikring.example", headers=admin)
    assert lift.json() == {"lifted": True}
    listed = httpx.get(f"{devhost.url}/api/mail/suppressions", headers=sign_in(devhost)).json()["addresses"]
    assert "fag@demo-forsikring.example" not in [a["address"] for a in listed]
    assert "message" not in events, "the stranger's message is not appended"
    assert "held for Bits" in (failed_reason(devhost, "stranger_reply.eml") or "")
    dispatch(devhost)
    assert len(outbox_mails(devhost, ref)) == mails_before, "no acknowledgement to automatic mail"


def test_attachments_are_kept_in_blob_storage(devhost: DevHostProcess, tmp_path: Path) -> None:
    message = email.message_from_bytes((MAIL / "gmail_en_error.eml").read_bytes(), policy=default)
    del message["Message-ID"]
    message["Message-ID"] = "<with-attachment@mail.gmail.com>"
    message.add_attachment(b"%PDF-1.4 log", maintype="application", subtype="pdf", filename="logg.pdf")
    message.add_attachment(b"MZ\x90", maintype="application", subtype="x-msdownload", filename="x.exe")
    path = tmp_path / "with_attachment.eml"
    path.write_bytes(message.as_bytes())
    shutil.copy(path, devhost.mail_dir / "inbox" / "with_attachment.eml")
    poll(devhost)
    body = cases_by_message(devhost)["<with-attachment@mail.gmail.com>"]
    attachments = body["events"][0]["data"]["attachments"]
    assert [(a["filename"], a["stored"]) for a in attachments] == [("logg.pdf", True), ("x.exe", False)]
