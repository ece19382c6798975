"""Second review of #15's mail reading: ordinary replies that the latest fixes (3f5aad9) turned into clarifications,
texts or leaked reasons, a few older ones of the same kind, and inputs of 1 MB that take seconds."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest

from functions.catalogue import CATALOGUE
from functions.intake.commands import read_reply
from functions.intake.dates import find_date
from functions.intake.html_text import html_to_text
from functions.intake.parser import parse_message
from functions.intake.quotes import split_reply

HEADERS = (
    "From: Kari Nordmann <kari@forsikring.example>\nTo: ssu@bits.example\n"
    "Subject: SV: [SSU-C-2026-0001] Beslutning\nMessage-ID: <regression@forsikring.example>\n"
    "Date: Tue, 01 Dec 2026 12:30:00 +0100\nMIME-Version: 1.0\n"
)
NOTICE = (
    "Endringsforespørsel SSU-C-2026-0001 venter på beslutning.\nSvar GODKJENT, AVSLÅTT eller UTSATT på denne e-posten."
)
GMAIL_QUOTE = "tir. 1. des. 2026 kl. 10:12 skrev Bits <ssu@bits.example>:\n" + "\n".join(
    f"> {line}" for line in NOTICE.split("\n")
)
MB = 1_000_000


def decided(body: str, decision: str = "change.decide", html: bool = False) -> tuple[str | None, str, str | None]:
    kind = "html" if html else "plain"
    raw = f"{HEADERS}Content-Type: text/{kind}; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}\n".encode()
    message = parse_message(raw, max_attachment_bytes=1024 * 1024, allowed_types=("application/pdf",))
    found = read_reply(message, CATALOGUE.decisions[decision])
    return (found.command.name if found.command else None, found.text, found.problem)


class _TooSlow(BaseException):
    """Not an Exception: html_to_text's last-resort `except Exception` must not swallow it."""


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Stops a call that runs past `seconds`, so that a quadratic one fails in seconds instead of minutes."""

    def stop(*_: object) -> None:
        raise _TooSlow

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def took(limit: float, call: Callable[..., Any], *args: Any) -> float:
    """The best of two runs (a pause of the machine is no slowness), each stopped at four times the limit."""
    best = limit * 4
    for _ in range(2):
        start = time.perf_counter()
        try:
            with _deadline(limit * 4):
                call(*args)
        except _TooSlow:
            return limit * 4
        best = min(best, time.perf_counter() - start)
        if best < limit:
            break
    return best


# -- greetings: 3f5aad9 keeps a greeting that has a word in small letters in it -------------------------------------


@pytest.mark.parametrize(
    "greeting",
    [
        "Hei Bits brukerstøtte,",
        "Hei Bits support,",
        "Hei igjen,",
        "Hei dere,",
        "Hei hei,",
        "Hei Kari og Ola,",
        "Kjære referansegruppe,",
        "Dear Bits support team,",
    ],
)
def test_a_greeting_with_a_word_in_small_letters_is_no_reason(greeting: str) -> None:
    # Before 3f5aad9: ('reject', 'For dyrt.', None). Now the greeting is stored and sent on as the reason:
    # ('reject', 'Hei Bits brukerstøtte,\nFor dyrt.', None).
    assert decided(f"{greeting}\n\nAVSLÅTT. For dyrt.\n\n{GMAIL_QUOTE}") == ("reject", "For dyrt.", None)


# -- quote headers: an unrecognised one now makes every reply two commands ------------------------------------------

_OUTLOOK_BLOCKS = {
    "sv": "Från: Bits <ssu@bits.example>\nSkickat: den 1 december 2026 10:12\nTill: Kari Nordmann <kari@forsikring."
    "example>\nÄmne: [SSU-C-2026-0001] Beslutning",
    "sv_mac": "Från: Bits <ssu@bits.example>\nDatum: tisdag 1 december 2026 10:12\nTill: Kari Nordmann\n"
    "Ämne: Beslutning",
    "sv_rule": "-----Ursprungligt meddelande-----\nFrån: Bits\nSkickat: den 1 december 2026 10:12",
    "de": "Von: Bits <ssu@bits.example>\nGesendt: Dienstag, 1. Dezember 2026 10:12\nAn: Kari Nordmann <kari@forsikring."
    "example>\nBetreff: [SSU-C-2026-0001] Beslutning",
    "de_rule": "-----Ursprüngliche Nachricht-----\nVon: Bits\nGesendt: Dienstag, 1. Dezember 2026 10:12",
    "fr": "De : Bits <ssu@bits.example>\nEnvoyé : mardi 1 décembre 2026 10:12\nÀ : Kari Nordmann <kari@forsikring."
    "example>\nObjet : [SSU-C-2026-0001] Beslutning",
    "da_rule": "-----Oprindelig meddelelse-----\nFra: Bits\nSendt: 1. december 2026 10:12",
}


@pytest.mark.parametrize("client", sorted(_OUTLOOK_BLOCKS))
def test_outlook_in_another_language_quotes_the_notice_below_its_header_block(client: str) -> None:
    # Swedish, German, French Outlook (a Nordic insurer's staff): the header block is not known, so the notice's own
    # "Svar GODKJENT, AVSLÅTT eller UTSATT" counts as the person's words. Since 3f5aad9 ("a second command in
    # capitals anywhere") every approval from such a client is (None, '', 'ambiguous') - and so is every answer to
    # the clarification, which quotes the command words again. Before, it approved (with the quote as the reason).
    # Danish Outlook's rule is left in the reason: ('approve', 'Fint.\n\n-----Oprindelig meddelelse-----', None).
    body = f"GODKJENT. Fint.\n\n{_OUTLOOK_BLOCKS[client]}\n\n{NOTICE}"
    assert decided(body) == ("approve", "Fint.", None)


@pytest.mark.parametrize(
    "attribution",
    [
        # Gmail (en) puts the "<" on the first line, as it does in Norwegian.
        "On Tue, Dec 1, 2026 at 10:12 AM Bits Support <\nssu@bits.example> wrote:",
        "On 1 Dec 2026, at 10:12, Bits Support <\nssu@bits.example> wrote:",
    ],
)
def test_an_english_attribution_wrapped_after_the_angle_bracket_is_no_reason(attribution: str) -> None:
    # 3f5aad9: "the next line is an attribution of its own" - the second line ("ssu@… wrote:") is one, so the first
    # is kept: ('approve', 'Fint.\n\nOn Tue, Dec 1, 2026 at 10:12 AM Bits Support <', None). Before: correct.
    quote = "\n".join(f"> {line}" for line in NOTICE.split("\n"))
    assert decided(f"GODKJENT. Fint.\n\n{attribution}\n{quote}") == ("approve", "Fint.", None)


@pytest.mark.parametrize(
    "attribution",
    [
        "On Tuesday, December 1, 2026, Bits wrote:",  # Yahoo without time or address
        "-----Bits <ssu@bits.example> wrote: -----",  # Lotus Notes
    ],
)
def test_older_clients_attribution_lines_are_no_reason(attribution: str) -> None:
    # Older than 3f5aad9: ('approve', 'Fint.\n\nOn Tuesday, December 1, 2026, Bits wrote:', None).
    quote = "\n".join(f"> {line}" for line in NOTICE.split("\n"))
    assert decided(f"GODKJENT. Fint.\n\n{attribution}\n\n{quote}") == ("approve", "Fint.", None)


# -- capitals below the person's words: signatures and disclaimers are no second command ----------------------------

_CAPITAL_DISCLAIMER = (
    "CONFIDENTIALITY NOTICE: THIS E-MAIL IS CONFIDENTIAL AND INTENDED SOLELY FOR THE ADDRESSEE. IF YOU HAVE RECEIVED "
    "IT IN ERROR, PLEASE NOTIFY THE SENDER AND DELETE IT. DO NOT FORWARD, COPY OR DISCLOSE ITS CONTENTS."
)


@pytest.mark.parametrize(
    ("decision", "body", "expected"),
    [
        # Bits' answer to a question, with an English disclaimer in capitals ("IN ERROR", "DO NOT FORWARD"): every
        # answer is now ('None', '', 'ambiguous') and never reaches the asker.
        (
            "question.bits",
            f"Hei Kari,\n\nFeltet heter uforegrad i versjon 2.\n\nMvh Ola\n\n{_CAPITAL_DISCLAIMER}",
            (None, "Feltet heter uforegrad i versjon 2.", None),
        ),
        (
            "error_report.triage",
            f"LØST. NAV har rettet sertifikatet.\n\nMvh Ola\n\n{_CAPITAL_DISCLAIMER}",
            ("resolve", "NAV har rettet sertifikatet.", None),
        ),
        # A title in capitals under the sign-off (CHANGE is question.bits' ENDRING in English).
        ("question.bits", "LØST. Ringte Kari.\n\nMvh Ola\nCHANGE MANAGER, BITS AS", ("resolve", "Ringte Kari.", None)),
        (
            "change.decide",
            "AVSLÅTT. For dyrt.\n\nMvh Kari\nFORSIKRING AS\nFINANSTILSYNET APPROVED",
            ("reject", "For dyrt.", None),
        ),
    ],
)
def test_capitals_in_a_signature_or_disclaimer_are_no_second_command(
    decision: str, body: str, expected: tuple[str | None, str, str | None]
) -> None:
    # Before 3f5aad9 each of these was read as expected.
    assert decided(f"{body}\n\n{GMAIL_QUOTE}", decision) == expected


# -- the command in small letters, opening a sentence, where a reply may be text -------------------------------------


@pytest.mark.parametrize(
    ("decision", "body", "expected"),
    [
        # Bits acknowledges a security breach: now an internal note, so the escalation goes on and NAV is not told
        # - and Bits is not asked, since a note is a valid reply.
        (
            "security_breach.acknowledge",
            "Mottatt og videresendt til sikkerhetsansvarlig.",
            ("acknowledge", "og videresendt til sikkerhetsansvarlig.", None),
        ),
        # NAV/Altinn grant access: now "Tekst uten kommando går til Bits", who must grant it by hand.
        ("onboarding.source.test", "Tilgang gitt i TT02.", ("granted", "i TT02.", None)),
        ("change.nav", "Implementert i produksjon 1. mars.", ("implemented", "i produksjon 1. mars.", None)),
        ("change.handle", "Duplikat av SSU-C-2026-0003.", ("duplicate", "av SSU-C-2026-0003.", None)),
        ("onboarding.company", "Signert og sendt tilbake.", ("signed", "og sendt tilbake.", None)),
        # Bits closes a question it answered by phone: now the note is relayed to the asker as the answer.
        ("question.bits", "Løst på telefon med Kari.", ("resolve", "på telefon med Kari.", None)),
    ],
)
def test_a_command_that_opens_the_reply_in_small_letters_still_decides(
    decision: str, body: str, expected: tuple[str | None, str, str | None]
) -> None:
    # 3f5aad9 made "Feil i dokumentasjonen, vi retter det." text for question.bits, but for every decision that takes
    # text: a small-letter command followed by a word is now (None, <the whole text>, None). Before: as expected.
    assert decided(f"{body}\n\n{GMAIL_QUOTE}", decision) == expected


# -- older: a reason after a colon or a dash that holds "ikke" is taken for a negation ------------------------------


@pytest.mark.parametrize(
    ("decision", "body", "expected"),
    [
        ("change.decide", "AVSLÅTT: Vi har ikke budsjett i år.", ("reject", "Vi har ikke budsjett i år.", None)),
        ("change.decide", "AVSLÅTT – dette er ikke prioritert.", ("reject", "dette er ikke prioritert.", None)),
        ("change.decide", "REJECTED: not in scope this year.", ("reject", "not in scope this year.", None)),
        (
            "security_breach.acknowledge",
            "AVVIST: dette er ikke et sikkerhetsbrudd.",
            ("dismiss", "dette er ikke et sikkerhetsbrudd.", None),
        ),
        ("alert.draft", "FORKAST – ikke lenger aktuelt.", ("discard", "ikke lenger aktuelt.", None)),
        ("onboarding.company", "TRUKKET – vi går ikke videre nå.", ("withdraw", "vi går ikke videre nå.", None)),
        # "no" as a determiner, not a negation of the recommendation
        ("change.assess", "RECOMMENDED – low risk, no downtime.", ("recommend", "low risk, no downtime.", None)),
    ],
)
def test_a_reason_after_a_colon_or_dash_with_a_negation_in_it_is_kept(
    decision: str, body: str, expected: tuple[str | None, str, str | None]
) -> None:
    # Today (and before 3f5aad9): (None, '', 'negated'). A refusal's reason says what is not so; "AVSLÅTT\n\nVi har
    # ikke budsjett" is read, "AVSLÅTT: Vi har ikke budsjett" is not.
    assert decided(f"{body}\n\n{GMAIL_QUOTE}", decision) == expected


# -- older: ordinary approvals and reasons ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["OK, GODKJENT", "Ja – GODKJENT", "Ja, GODKJENT."])
def test_a_yes_before_the_command_is_an_approval(body: str) -> None:
    # Today: (None, '', 'ambiguous').
    assert decided(f"{body}\n\n{GMAIL_QUOTE}") == ("approve", "", None)


def test_a_first_name_and_a_department_in_capitals_are_a_signature() -> None:
    # Today: ('approve', 'Kari\nIT-SIKKERHET OG DRIFT', None).
    assert decided(f"GODKJENT\n\nKari\nIT-SIKKERHET OG DRIFT\n\n{GMAIL_QUOTE}") == ("approve", "", None)


@pytest.mark.parametrize(
    ("text", "expected"), [("til 15.01.", date(2027, 1, 15)), ("til 15.januar 2027", date(2027, 1, 15))]
)
def test_a_deferral_date_as_norwegians_write_it_is_read(text: str, expected: date) -> None:
    # Today: None - the deferral silently takes the default number of days, and the submitter is told that date.
    assert find_date(text, date(2026, 12, 1), ahead=True) == expected


# -- HTML: 3f5aad9's guard against unclosed tags turns long tags into text ------------------------------------------


def test_a_link_with_a_long_address_stays_a_link() -> None:
    # Outlook's Safe Links around a SharePoint address easily pass 2000 characters. Today the whole <a …> tag is text
    # in the reason: 'GODKJENT\nSe <a href="https://eur02.safelinks…'.
    href = "https://eur02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fx.sharepoint.com%2F" + "x" * 2100
    assert html_to_text(f'<div>GODKJENT</div><div>Se <a href="{href}">notatet</a>.</div>') == "GODKJENT\nSe notatet."


def test_an_image_embedded_as_a_data_uri_is_no_text() -> None:
    # A signature logo as data: URI (signature generators, Outlook for Mac): today 6 KB of base64 become text.
    logo = "data:image/png;base64,iVBORw0KGgo" + "A" * 6000
    html = f'<div>AVSLÅTT. <img src="{logo}" width="1"> For dyrt.</div>'
    assert decided(html, html=True) == ("reject", "For dyrt.", None)


# -- speed on 1 MB ---------------------------------------------------------------------------------------------------


def test_split_reply_on_lines_that_open_like_a_disclaimer_is_linear() -> None:
    # parse_message splits every inbound mail, from anyone. 3f5aad9 checks for a disclaimer at every line that opens
    # like one (not only at a paragraph's start) and joins the rest of the paragraph each time: ~57 s for 1 MB.
    assert took(0.5, split_reply, "This email is confidential\n" * (MB // 27)) < 0.5


def test_read_reply_on_a_long_paragraph_after_the_command_is_linear() -> None:
    # _sentence_after joins all lines so far on every line of the paragraph (3f5aad9): ~15 s for 1 MB, 1.7 s before.
    reply = "GODKJENT men\n" * (MB // 13)
    assert took(0.5, decided, reply) < 0.5


def test_html_to_text_on_nested_blockquotes_is_linear() -> None:
    # Older: each text is prefixed with "> " once per open blockquote - the output grows with the square of the
    # input (~96 s for 1 MB of "<blockquote>x"), and anyone can send HTML-only mail.
    assert took(0.5, html_to_text, "<blockquote>x" * (MB // 13)) < 0.5
