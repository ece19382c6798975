"""The email parser, the reply splitter, noise classes and routing, on real-looking messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.core.inbound import InboundMessage
from functions.core.model import Process
from functions.core.settings import Settings
from functions.intake.noise import Kind, classify
from functions.intake.parser import MalformedMessage, parse_message
from functions.intake.quotes import split_reply
from functions.intake.routing import route
from functions.intake.threading import reference_in_headers, reference_in_subject

MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
REF = "SSU-D-2026-0042"
OUR_ID = f"<{REF}.0123456789abcdef01234567@bits.example>"


def load(name: str) -> InboundMessage:
    raw = (MAIL / name).read_bytes()
    if name.endswith(".tmpl"):
        raw = raw.replace(b"{REF}", REF.encode()).replace(b"{MSGID}", OUR_ID.encode())
        raw = raw.replace(b"{RCPT}", b"fag@demo-forsikring.example")
    return parse_message(raw, max_attachment_bytes=1_000_000, allowed_types=("application/pdf", "text/plain"))


def test_outlook_multipart_with_encoded_headers() -> None:
    message = load("outlook_nb_question.eml")
    assert message.from_name == "Frida Fagerli" and message.from_address == "fag@demo-forsikring.example"
    assert message.subject == "Spørsmål om uføregrad og IFU"
    assert "uføregrad 50 og IFU" in message.text and "<p>" not in message.text
    assert message.message_id == "<AM0PR07MB1234.eurprd07.prod.outlook.com@demo-forsikring.example>"


def test_quoted_printable_latin1_and_mislabelled_charset() -> None:
    latin = load("iso8859_qp_stranger.eml")
    assert latin.from_name == "Pål Østby" and latin.subject == "Spørsmål om samtykke"
    assert "før kunden må gi det på ny?" in latin.text
    wrong = load("mislabelled_charset.eml")
    assert "æøå – men" in wrong.text
    assert wrong.subject == "Spørsmål om testmiljøet", "a raw 8-bit header is read as windows-1252"


def test_html_only_becomes_safe_text() -> None:
    message = load("html_only.eml")
    assert "syntetiske testpersoner" in message.text
    assert "alert" not in message.text and "color" not in message.text and "<" not in message.text


@pytest.mark.parametrize(
    ("name", "new", "not_in_new"),
    [
        ("outlook_nb_reply.eml.tmpl", "det gjelder produksjon", "registrert hos Bits"),
        ("gmail_en_reply.eml.tmpl", "It works again since 10:30", "thank you for your email"),
        ("outlook_en_reply.eml.tmpl", "The errors stopped at 10:25", "Hello Tess Tester"),
        ("apple_mail_reply.eml.tmpl", "gjelder dette også AAP?", "takk for spørsmålet"),
        ("thunderbird_reply.eml.tmpl", "funnet svaret selv", "Frida Fagerli, Demo"),
    ],
)
def test_new_text_is_separated_from_quotes_and_signature(name: str, new: str, not_in_new: str) -> None:
    message = load(name)
    assert new in message.new_text
    assert not_in_new not in message.new_text
    assert "Sendt fra min iPhone" not in message.new_text


def test_split_reply_handles_forwarded_and_plain_text() -> None:
    new, quoted = split_reply("Se under.\n\n---------- Forwarded message ---------\nFrom: A <a@x>\nHei")
    assert new == "Se under." and quoted.startswith("----------")
    assert split_reply("Bare tekst\nover to linjer") == ("Bare tekst\nover to linjer", "")
    # 'Fra:' in the person's own words is not a quote header
    assert split_reply("Fra: mandag gjelder ny versjon.\nTakk")[0] == "Fra: mandag gjelder ny versjon.\nTakk"


def test_broken_messages_are_refused_with_a_reason() -> None:
    with pytest.raises(MalformedMessage, match="not a header"):
        load("broken.eml")
    with pytest.raises(MalformedMessage, match="From"):
        load("broken_mime_no_from.eml")
    with pytest.raises(MalformedMessage, match="empty"):
        parse_message(b"  ", max_attachment_bytes=1, allowed_types=())


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("outlook_nb_question.eml", Kind.PERSON),
        ("mailing_list.eml", Kind.BULK),
        ("auto_reply.eml.tmpl", Kind.AUTO_REPLY),
        ("bounce.eml.tmpl", Kind.BOUNCE),
    ],
)
def test_noise_classes(name: str, kind: Kind) -> None:
    assert classify(load(name), own_addresses=("ssu@bits.example",)) is kind


def test_delivery_report_names_the_recipient_and_our_message() -> None:
    report = load("bounce.eml.tmpl").delivery_report
    assert report is not None and report.permanent and report.status == "5.1.1"
    assert report.recipients == ("fag@demo-forsikring.example",) and report.original_message_id == OUR_ID


def test_threading_by_our_message_id_and_by_mangled_subjects() -> None:
    assert reference_in_headers(load("outlook_nb_reply.eml.tmpl"), "SSU", "bits.example") == REF
    assert reference_in_headers(load("bounce.eml.tmpl"), "SSU", "bits.example") == REF
    assert reference_in_subject(f"SV: (Opened) [{REF}]", "SSU") == REF
    assert reference_in_subject("RE: ssu d 2026 0042 status?", "SSU") == REF
    assert reference_in_subject("Ingen referanse her", "SSU") is None


@pytest.mark.parametrize(
    ("name", "process", "kind", "by"),
    [
        ("outlook_nb_question.eml", Process.QUESTION, "question", "default"),
        ("gmail_en_error.eml", Process.ERROR_REPORT, "error_report", "keywords"),
        ("security_breach_nb.eml", Process.ERROR_REPORT, "security_breach", "keywords"),
        ("change_request_plus.eml", Process.CHANGE_REQUEST, "change_request", "address"),
    ],
)
def test_routing(name: str, process: Process, kind: str, by: str) -> None:
    message = load(name)
    found = route(message.recipients, message.subject, message.text, Settings().mail_aliases)
    assert (found.process, found.kind, found.by) == (process, kind, by)


def test_routing_keywords_in_english_and_registration() -> None:
    aliases = Settings().mail_aliases
    assert route((), "Change request: new field", "", aliases).process is Process.CHANGE_REQUEST
    assert route((), "Innmelding av Ny Forsikring AS", "", aliases).process is Process.ONBOARDING
    assert route(("ssu+sikkerhet@bits.example",), "hei", "", aliases).kind == "security_breach"
