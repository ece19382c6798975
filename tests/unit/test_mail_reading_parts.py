"""The parts intake reads mail with, each on its own: format=flowed, attachment types, dates, fields, routing, HTML."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from functions.core.model import Process
from functions.intake.attachments import content_type_of
from functions.intake.dates import find_date, find_datetime
from functions.intake.fields import components_in, environment_in
from functions.intake.flowed import unflow
from functions.intake.html_text import html_to_text
from functions.intake.routing import route

OSLO = ZoneInfo("Europe/Oslo")
NOW = datetime(2026, 11, 29, 18, 0, tzinfo=OSLO)


def test_flowed_soft_breaks_are_joined_and_hard_ones_kept() -> None:
    text = "Vi har et nytt selskap \nsom har org.nr. 310 000 \n132.\nNy linje.\n-- \nFrida"
    assert unflow(text) == "Vi har et nytt selskap som har org.nr. 310 000 132.\nNy linje.\n-- \nFrida"


def test_flowed_delsp_removes_the_space_the_client_added() -> None:
    assert unflow("https://api.nav.example/ufo \nre/v1\n", delsp=True) == "https://api.nav.example/ufore/v1\n"
    assert unflow("https://api.nav.example/ufo \nre/v1\n") == "https://api.nav.example/ufo re/v1\n"


def test_flowed_quotes_join_only_at_their_own_depth_and_stuffing_is_removed() -> None:
    text = "Svar her.\n> Sitert \n> linje\n>> Dypere \n> tilbake\n From the start"
    assert unflow(text) == "Svar her.\n> Sitert linje\n> > Dypere \n> tilbake\nFrom the start"


@pytest.mark.parametrize(
    ("data", "name", "declared", "expected"),
    [
        (b"%PDF-1.7\n...", "skann.bin", "application/octet-stream", "application/pdf"),
        (b"MZ\x90\x00", "rapport.pdf", "application/pdf", "application/x-msdownload"),  # the content wins
        (
            b"PK\x03\x04..[Content_Types].xml..",
            "skjema.docx",
            "application/octet-stream",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (b"PK\x03\x04....", "skjema.docx", "application/pdf", "application/zip"),  # a zip labelled as something else
        (b"PK\x03\x04....", "logger.zip", "application/octet-stream", "application/zip"),
        (b"2026-11-29 10:55 ERROR token\n" * 20, "app.log", "application/octet-stream", "text/plain"),
        (b"<svg onload=alert(1)>", "logo.svg", "application/octet-stream", "application/x-executable"),
        (b"<script>x</script>", "side.html", "text/plain", "application/x-executable"),  # runs in a browser
        (b"\x00\x01\x02\x03binary", "data.bin", "application/octet-stream", "application/octet-stream"),
    ],
)
def test_an_attachment_is_judged_by_what_it_is(data: bytes, name: str, declared: str, expected: str) -> None:
    assert content_type_of(data, name, declared) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("UTSATT til 1. mars 2027", date(2027, 3, 1)),
        ("til 01.03.2027", date(2027, 3, 1)),
        ("DEFER until 2027-03-01", date(2027, 3, 1)),
        ("utsatt til 1. mars", date(2027, 3, 1)),  # the next 1 March
        ("until March 1st, 2027", date(2027, 3, 1)),
        ("til 31.02.2027 eller 1. mars 2027", date(2027, 3, 1)),  # an impossible date is passed over
        ("til uke 12", None),
        ("99.99.9999 00.00.0000", None),
    ],
)
def test_dates_as_people_write_them(text: str, expected: date | None) -> None:
    assert find_date(text, NOW.date()) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("29.11.2026 kl. 10.55", datetime(2026, 11, 29, 10, 55, tzinfo=OSLO)),
        ("søndag 29. november kl 09:15", datetime(2026, 11, 29, 9, 15, tzinfo=OSLO)),
        ("29 November 2026 at 10:55", datetime(2026, 11, 29, 10, 55, tzinfo=OSLO)),
        ("November 29, 2026 10:55 PM", None),  # 22:55 is after the mail was written
        ("i går kl. 22.10", datetime(2026, 11, 28, 22, 10, tzinfo=OSLO)),
        ("i dag kl. 08:05", datetime(2026, 11, 29, 8, 5, tzinfo=OSLO)),
        ("kl. 08:05", None),  # a time without a date is no discovery time to count a deadline from
        ("neste uke", None),
    ],
)
def test_times_as_people_write_them_never_in_the_future(text: str, expected: datetime | None) -> None:
    assert find_datetime(text, NOW) == expected


@pytest.mark.parametrize(
    ("subject", "text", "expected"),
    [
        ("TT02: samtykke feiler", "", "test"),
        ("Feil i produksjon", "", "production"),
        ("[PROD] AAP-API 503", "", "production"),
        ("Spørsmål", "Token fra Maskinporten test feiler", "test"),
        ("Feature request from Test Pensjon", "We would like a new field.", None),
        ("Vi har testet", "Vi har testet dette grundig.", None),
        ("Feil", "Det gjelder både test og produksjon, i test sist uke", "both"),
    ],
)
def test_the_environment_only_when_the_message_says_it(subject: str, text: str, expected: str | None) -> None:
    assert environment_in(subject, text) == expected


def test_components_in_the_order_they_are_named_the_subject_first() -> None:
    assert components_in("Samtykke feiler", "Mot uføre-API-et og Maskinporten") == [
        "altinn-consent",
        "ufore-api",
        "maskinporten",
    ]


@pytest.mark.parametrize(
    ("subject", "text", "process", "kind"),
    [
        (
            "Spørsmål om AAP",
            "Vi får HTTP 403 fra NAV. Hva gjør vi feil? Fnr 01019012146.",
            Process.ERROR_REPORT,
            "error_report",
        ),
        ("Hjelp", "Kallet gir 401 Unauthorized med correlation id 3b7c9d2e", Process.ERROR_REPORT, "error_report"),
        ("Token", '{"error":"invalid_client"}', Process.ERROR_REPORT, "error_report"),
        ("Spørsmål", "Vi har 500 kunder med uføretrygd. Hvordan får vi tilgang?", Process.QUESTION, "question"),
        (
            "Innspill",
            "Ønsker et nytt felt. I dag får vi 403 på feltet vi ikke har tilgang til.",
            Process.ERROR_REPORT,
            "error_report",
        ),  # evidence of an error wins over a wish
        ("Lekket nøkkel", "HTTP 500 etter at nøkkelen lekket", Process.ERROR_REPORT, "security_breach"),
        ("Spørsmål", "Hvordan fungerer samtykke?", Process.QUESTION, "question"),
        ("Endringsønske", "I dag får vi 403 på feltet.", Process.CHANGE_REQUEST, "change_request"),  # the subject says
    ],
)
def test_routing_by_what_the_message_says(subject: str, text: str, process: Process, kind: str) -> None:
    found = route((), subject, text, {})
    assert (found.process, found.kind) == (process, kind)


def test_html_blocks_are_one_line_each_and_an_empty_div_is_an_empty_line() -> None:
    html = (
        "<div>PUBLISER</div>\n<div>alvorlighet: høy</div>\n<div><br></div>\n<div>slutt: 02:00</div>"
        "<p>Avsnitt</p><p>To</p>"
    )
    assert html_to_text(html) == "PUBLISER\nalvorlighet: høy\n\nslutt: 02:00\nAvsnitt\n\nTo"
