"""The privacy guard masks fødselsnummer and d-nummer, and leaves other numbers alone."""

from __future__ import annotations

import asyncio
import itertools
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from functions.alerts.models import AlertIn, AlertUpdate
from functions.alerts.workflow import mask_alert
from functions.catalogue import CATALOGUE
from functions.core.mail import Letter, compose_mail
from functions.core.privacy import MASK, is_identity_number, mask_fields, mask_identity_numbers
from functions.core.services import Services
from functions.intake.content import masked_subject
from functions.intake.parser import parse_message
from functions.intake.workflow import process_message
from functions.web.forms import field_errors
from tests.fakes import fake_services
from tests.identity_numbers import identity_number

FODSELSNUMMER = "17050544052"  # 17.05.05, valid check digits (synthetic)
D_NUMMER = "41019012393"  # day + 40
FNR = identity_number(1, 1, 90, 100)  # 01.01.90, the first individual number from 100 with valid check digits


def test_the_generator_agrees_with_known_numbers() -> None:
    assert FNR == "01019010046"
    assert identity_number(17, 5, 5, 440) == FODSELSNUMMER


@pytest.mark.parametrize(
    "value",
    [
        FODSELSNUMMER,
        D_NUMMER,
        FNR,
        identity_number(29, 2, 84),  # 29 February
        identity_number(31, 12, 99),
        identity_number(1 + 40, 1, 90),  # d-nummer
        identity_number(31 + 40, 12, 75),  # d-nummer, the last day
        identity_number(1, 1 + 40, 90),  # NAV's synthetic persons (Dolly): month + 40
        identity_number(30, 11 + 40, 2),
        identity_number(1, 1 + 80, 90),  # Skatteetaten's Tenor: month + 80
        identity_number(15, 12 + 80, 1),
        identity_number(5 + 40, 6 + 80, 1),  # a synthetic d-nummer
    ],
)
def test_valid_identity_numbers(value: str) -> None:
    assert is_identity_number(value)


@pytest.mark.parametrize(
    "value",
    [
        "17050544053",  # wrong second check digit
        str((int(FNR[9]) + 1) % 10).join((FNR[:9], FNR[10])),  # wrong first check digit
        "12345678901",
        "00000000000",
        "1705054405",
        "99999999999",
        identity_number(32, 1, 90),  # no 32nd day
        identity_number(31, 4, 90),  # April has 30 days
        identity_number(30, 2, 90),
        identity_number(0, 1, 90),
        identity_number(1, 13, 90),  # month 13
        identity_number(1, 13 + 40, 90),  # and shifted by 40 or 80 it still is not a month
        identity_number(1, 13 + 80, 90),
        identity_number(1, 0, 90),
        identity_number(72, 1, 90),  # day 32 as a d-nummer
        "０１０１９０１００４６"[:10],  # ten fullwidth digits
    ],
)
def test_not_identity_numbers(value: str) -> None:
    assert not is_identity_number(value)


def test_masking_in_text_in_the_forms_people_write_them() -> None:
    text = f"Kunde {FODSELSNUMMER} og {D_NUMMER[:6]} {D_NUMMER[6:]} feilet; korrelasjon 123456789012, orgnr 310000019."
    masked, count = mask_identity_numbers(text)
    assert count == 2
    assert FODSELSNUMMER not in masked and D_NUMMER[6:] not in masked
    assert masked.count(MASK) == 2
    assert "123456789012" in masked and "310000019" in masked, "other numbers stay"


F = FNR
WRITTEN = {
    "whole": F,
    "space 6+5": f"{F[:6]} {F[6:]}",
    "no-break space": f"{F[:6]}\u00a0{F[6:]}",
    "narrow no-break space": f"{F[:6]}\u202f{F[6:]}",
    "thin space": f"{F[:6]}\u2009{F[6:]}",
    "spaces in the groups": f"{F[:6]} {F[6:9]} {F[9:]}",
    "date in pairs": f"{F[:2]} {F[2:4]} {F[4:6]} {F[6:]}",
    "dot 6+5": f"{F[:6]}.{F[6:]}",
    "dotted date": f"{F[:2]}.{F[2:4]}.{F[4:6]} {F[6:]}",
    "dotted date, no-break space": f"{F[:2]}.{F[2:4]}.{F[4:6]}\u00a0{F[6:]}",
    "dash": f"{F[:6]}-{F[6:]}",
    "en dash": f"{F[:6]}\u2013{F[6:]}",
    "slash": f"{F[:6]}/{F[6:]}",
    "zero-width space pasted from a document": f"{F[:6]}\u200b{F[6:]}",
    "fullwidth digits": "".join(chr(0xFF10 + int(d)) for d in F),
    # Two or three separators between the groups.
    "two spaces": f"{F[:6]}  {F[6:]}",
    "space, hyphen, space": f"{F[:6]} - {F[6:]}",
    "space, slash, space": f"{F[:6]} / {F[6:]}",
    "space, en dash, space": f"{F[:6]} \u2013 {F[6:]}",
    "space and no-break space": f"{F[:6]} \u00a0{F[6:]}",
    "space and zero-width space": f"{F[:6]} \u200b{F[6:]}",
    "two en spaces (&ensp;&ensp; in HTML)": f"{F[:6]}\u2002\u2002{F[6:]}",
    "dotted date, space, dash, space": f"{F[:2]}.{F[2:4]}.{F[4:6]} - {F[6:]}",
    # Single characters that were missing.
    "tab": f"{F[:6]}\t{F[6:]}",
    "em dash": f"{F[:6]}\u2014{F[6:]}",
    "minus sign": f"{F[:6]}\u2212{F[6:]}",
    "full-width hyphen": f"{F[:6]}\uff0d{F[6:]}",
    "byte order mark": f"{F[:6]}\ufeff{F[6:]}",
    "left-to-right mark": f"{F[:6]}\u200e{F[6:]}",
    "right-to-left mark": f"{F[:6]}\u200f{F[6:]}",
    "right-to-left override": f"{F[:6]}\u202e{F[6:]}",
    "first strong isolate": f"{F[:6]}\u2068{F[6:]}",
    "ogham space mark": f"{F[:6]}\u1680{F[6:]}",
    "mongolian vowel separator": f"{F[:6]}\u180e{F[6:]}",
    "underscore": f"{F[:6]}_{F[6:]}",
    "a format character between every digit": "\u200d".join(F),
    # One line break where the number is split 6+5 or 6+3+2: a mail client wrapped the line.
    "line break 6+5": f"{F[:6]}\n{F[6:]}",
    "format=flowed soft break": f"{F[:6]} \n{F[6:]}",
    "CRLF and indentation": f"{F[:6]}\r\n   {F[6:]}",
    "line break 6+3+2": f"{F[:6]} {F[6:9]}\n{F[9:]}",
    "line break 6+3+2, first": f"{F[:6]}\n{F[6:9]} {F[9:]}",
}


@pytest.mark.parametrize("written", WRITTEN.values(), ids=WRITTEN.keys())
def test_every_way_of_writing_it_is_masked_and_nothing_around_it(written: str) -> None:
    masked, count = mask_identity_numbers(f"Gjelder kunde ({written}). Takk!")
    assert (masked, count) == (f"Gjelder kunde ({MASK}). Takk!", 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"vedtak_{F}.pdf", f"vedtak_{MASK}.pdf"),  # an attachment's name
        (f"Kari {F[:6]} {F[6:]}", f"Kari {MASK}"),  # a display name
        (f"fnr:{F},tlf 22334455", f"fnr:{MASK},tlf 22334455"),
        (f"sak 12 {F} side 3", f"sak 12 {MASK} side 3"),  # neighbouring numbers are not part of it
        (f"tlf +47 22 33 44 55 {F[:6]} {F[6:]}", f"tlf +47 22 33 44 55 {MASK}"),
        (f"{F} 2026", f"{MASK} 2026"),
        (f"{F[:6]}.{F[6:]}.5", f"{MASK}.5"),  # whole groups of a longer dotted run
        (f"{F}\n{FODSELSNUMMER}", f"{MASK}\n{MASK}"),
        (f"{F[:6]}\n\n{F[6:]}", f"{F[:6]}\n\n{F[6:]}"),  # a blank line separates two numbers
        (f"{F[:6]} \n \n{F[6:]}", f"{F[:6]} \n \n{F[6:]}"),
        (f"{F[:2]} {F[2:4]} {F[4:6]}\n{F[6:]}", f"{F[:2]} {F[2:4]} {F[4:6]}\n{F[6:]}"),  # a line break, not 6+5
        (f"{F[:6]}, {F[6:]}", f"{F[:6]}, {F[6:]}"),  # so does a comma
        (f"{F[:6]}    {F[6:]}", f"{F[:6]}    {F[6:]}"),  # and four spaces: columns of a table
        (f"{F[:6]} - - {F[6:]}", f"{F[:6]} - - {F[6:]}"),
        (f"fnr: {F[:6]} \u2013 {F[6:]}, tlf 22334455", f"fnr: {MASK}, tlf 22334455"),
        (f"Kari\u00a0 {F[:6]}\t{F[6:]} \u00a0Nordmann", f"Kari\u00a0 {MASK} \u00a0Nordmann"),  # the text around stays
        (f"\u200e{F}\u200f", f"\u200e{MASK}\u200f"),
    ],
)
def test_what_is_masked_and_what_stays(text: str, expected: str) -> None:
    assert mask_identity_numbers(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        f"x{F}1",  # inside a longer number
        f"1{F}",
        f"{F}7",
        f"{F[:6]} {F[6:]}3",  # the last group is longer: another number
        f"4{F[:6]} {F[6:]}",
        f"{F[:4]}.{F[4:6]}.{F[6:]}",  # eleven digits written 4.2.5 are a bank account number
        f"{F[:4]} {F[4:6]} {F[6:]}",
    ],
)
def test_not_cut_out_of_a_longer_number_nor_an_account_number(text: str) -> None:
    assert is_identity_number(F)
    assert mask_identity_numbers(text) == (text, 0)


@pytest.mark.parametrize(
    "text",
    [
        "Organisasjonsnummer 916960190, også skrevet 916 960 190.",
        "Ring +47 22 33 44 55 eller 22334455, mobil 004791234567.",
        "Fra 01.01.2026 til 31.01.2026, 2026-11-29, 29.11.2026 kl. 10:00, 2026-12-03T22:00:00+01:00",
        "Beløp: 1 234 567,89 kr, 12 500 000 kr, 1.234.567.890,00",
        "Saken SSU-C-2026-0007 og SSU-B-2026-0117, versjon 1.2.3",
        "Korrelasjons-ID 123456789012 og 550e8400-e29b-41d4-a716-446655440000",
        "Kontonummer 1234.56.78903",
        MASK,  # masking twice is masking once
    ],
)
def test_other_numbers_stay(text: str) -> None:
    assert mask_identity_numbers(text) == (text, 0)


def test_mask_fields_in_a_body() -> None:
    body = {"question": f"fnr {FODSELSNUMMER}", "tags": [FODSELSNUMMER, "x"], "count": 3}
    assert mask_fields(body) == 2
    assert body == {"question": f"fnr {MASK}", "tags": [MASK, "x"], "count": 3}


def test_mask_fields_in_nested_lists_and_dicts() -> None:
    body: dict[str, Any] = {
        "organisation_number": "916960190",
        "contacts": [
            {"role": "business", "name": f"Kari {F[:6]}\u00a0{F[6:]}", "phone": "+47 22 33 44 55"},
            {"role": "technical", "name": "Tom", "notes": [{"text": f"d-nr {D_NUMMER}"}, None, 4.5, True]},
        ],
        "meta": {"deeper": {"still": [[f"{FODSELSNUMMER}"]]}},
    }
    assert mask_fields(body) == 3
    assert body == {
        "organisation_number": "916960190",
        "contacts": [
            {"role": "business", "name": f"Kari {MASK}", "phone": "+47 22 33 44 55"},
            {"role": "technical", "name": "Tom", "notes": [{"text": f"d-nr {MASK}"}, None, 4.5, True]},
        ],
        "meta": {"deeper": {"still": [[MASK]]}},
    }


def test_mask_fields_however_deep_the_nesting() -> None:
    # Deeper than Python's recursion limit: a body built to make a recursive masker give up still gets masked.
    inner: dict[str, Any] = {"text": f"fnr {F}"}
    body: dict[str, Any] = {"level": inner}
    for _ in range(5000):
        body = {"level": [body]}
    assert mask_fields(body) == 1
    assert inner == {"text": f"fnr {MASK}"}


def test_every_format_character_is_ignored_and_every_space_separates() -> None:
    # Whatever the Unicode version of the Python that runs this: each invisible format character (Cf) vanishes
    # between two digits, each space separator (Zs) joins two groups.
    checked = 0
    for code in range(0x110000):
        char = chr(code)
        category = unicodedata.category(char)
        if category == "Cf":
            written = f"{F[:3]}{char}{F[3:6]} {char}{F[6:]}"
        elif category == "Zs":
            written = f"{F[:6]}{char}{F[6:]}"
        else:
            continue
        checked += 1
        assert mask_identity_numbers(f"x {written} y") == (f"x {MASK} y", 1), (
            f"U+{code:04X} {unicodedata.name(char, '')}"
        )
    assert checked > 150


def _issued_from_2032(nine: str, remainder: int) -> str | None:
    """The number for nine digits whose first control digit leaves `remainder` (Skatteetaten's new rule), if any."""
    total = sum(int(d) * w for d, w in zip(nine, (3, 7, 6, 1, 8, 9, 4, 5, 2), strict=True))
    k1 = (remainder - total) % 11
    if k1 == 10:
        return None
    ten = nine + str(k1)
    k2 = (11 - sum(int(d) * w for d, w in zip(ten, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2), strict=True)) % 11) % 11
    return None if k2 == 10 else ten + str(k2)


def test_numbers_issued_from_2032_are_identity_numbers() -> None:
    # Skatteetaten's own examples ("Nytt fødselsnummer fra 2032"): remainders 0, 2 and 1.
    for number in ("02013299997", "02013299903", "30108299920", "30108299939"):
        assert is_identity_number(number), number
        assert mask_identity_numbers(f"Ny person {number[:6]} {number[6:]}.") == (f"Ny person {MASK}.", 1)
    made = {(nine, r): _issued_from_2032(nine, r) for nine in ("010132505", "150390123", "311299567") for r in range(6)}
    assert sum(1 for issued in made.values() if issued) > 10
    for (nine, remainder), issued in made.items():
        if issued:
            assert is_identity_number(issued) == (remainder <= 3), (nine, remainder, issued)
            assert mask_identity_numbers(issued)[1] == (remainder <= 3)


ACCOUNT = identity_number(15, 3, 49, 390)  # eleven digits that also pass as an identity number


@pytest.mark.parametrize(
    ("label", "written"),
    [
        ("IBAN NO00 ", f"{ACCOUNT[:4]} {ACCOUNT[4:8]} {ACCOUNT[8:]}"),  # an IBAN in print form
        ("NO93", f"\u00a0{F[:4]} {F[4:8]} {F[8:]}"),
        ("Kontonummer: ", ACCOUNT),
        ("kontonr. ", f"{ACCOUNT[:4]} {ACCOUNT[4:8]} {ACCOUNT[8:]}"),
        ("Betal til konto ", ACCOUNT),
        ("bankkonto\n", ACCOUNT),
        ("Konto nr. ", F),
        ("KID ", F),
        ("KID-nummer: ", F),
    ],
)
def test_a_bank_account_number_or_kid_after_its_label_stays(label: str, written: str) -> None:
    assert mask_identity_numbers(label + written) == (label + written, 0)
    # The label is what keeps it: the same digits anywhere else are masked.
    assert mask_identity_numbers(f"Gjelder {written.strip()}") == (f"Gjelder {MASK}", 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"konto {ACCOUNT} og fnr {F}", f"konto {ACCOUNT} og fnr {MASK}"),
        (f"konto {ACCOUNT} {F}", f"konto {ACCOUNT} {MASK}"),  # only the number right after the label
        (f"the kid {F}", f"the kid {MASK}"),  # KID in capitals; an English kid is no payment reference
        (f"skonto {F}", f"skonto {MASK}"),
        (f"XNO93 {F}", f"XNO93 {MASK}"),
    ],
)
def test_only_the_number_after_the_label_stays(text: str, expected: str) -> None:
    assert mask_identity_numbers(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        f"3f2a{F[:4]}-{F[4:8]}-{F[8:]}b-8c1d-0a1b2c3d4e5f",  # a UUID whose digits spell one
        f"klient-id {F[:8]}-{F[8:]}0-4000-8000-000000000000",
        f"sha256 {'ab' * 5}{F}{'cd' * 26}",
        f"traceparent 00-4bf92f3577b34da6{F}0e4736-00f067aa0ba902b7-01",
    ],
)
def test_uuids_and_hashes_are_identifiers_not_numbers(text: str) -> None:
    assert mask_identity_numbers(text) == (text, 0)


def test_a_short_run_of_letters_around_it_is_no_identifier() -> None:
    assert mask_identity_numbers(f"ab{F}cd og {F}abcdef") == (f"ab{MASK}cd og {MASK}abcdef", 2)


def test_mask_fields_masks_json_numbers_that_are_identity_numbers() -> None:
    big = identity_number(15, 4, 90, 100)  # starts with 1: fits a JSON number as written
    body: dict[str, Any] = {
        "persons_affected": int(big),
        "as_float": float(big),
        "leading_zero_lost": int(F),  # 1019010046: JSON has no leading zeros
        "count": 12,
        "ratio": 0.5,
        "flag": True,
        "nested": [{"n": int(big)}],
        "other_eleven": 12345678901,
    }
    assert mask_fields(body) == 4
    assert body == {
        "persons_affected": MASK,
        "as_float": MASK,
        "leading_zero_lost": MASK,
        "count": 12,
        "ratio": 0.5,
        "flag": True,
        "nested": [{"n": MASK}],
        "other_eleven": 12345678901,
    }


def test_mask_fields_leaves_an_email_address_as_written() -> None:
    # We reply to it: a masked address reaches nobody (see the module's docstring). The same in text is masked.
    body = {"email": f"{F}@gmail.example", "contacts": [{"email": f" {F}@firma.example"}], "text": f"til {F}@x.no"}
    assert mask_fields(body) == 1
    assert body == {
        "email": f"{F}@gmail.example",
        "contacts": [{"email": f" {F}@firma.example"}],
        "text": f"til {MASK}@x.no",
    }


# The paths: what a mail, a terms mail and an outgoing subject become, over the in-memory ports (tests/fakes.py).

_MESSAGE_IDS = itertools.count(1)


def _raw_mail(
    body: str,
    *,
    sender: str = "fag@demo-forsikring.example",
    name: str = "Frida Fagerli",
    subject: str = "Feil i uføre-API",
    content_type: str = "text/plain; charset=utf-8",
    attachment: str | None = None,
) -> bytes:
    head = (
        f'From: "{name}" <{sender}>\r\nTo: ssu@bits.example\r\nSubject: {subject}\r\n'
        f"Message-ID: <masking-{next(_MESSAGE_IDS)}@demo-forsikring.example>\r\nMIME-Version: 1.0\r\n"
    )
    part = f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    if attachment is None:
        return (head + part).encode()
    return (
        head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n' + part + "--b\r\n"
        f'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="{attachment}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    ).encode()


async def _everything(services: Services, reference: str) -> str:
    """Every string stored on the case (the case, its events) or queued as mail for it, as one text."""
    stored = await services.store.load(reference)
    assert stored is not None
    events = await services.store.events(reference)
    due = await services.store.due_mails(services.clock.now() + timedelta(days=30), 10_000)
    mails = [r.mail for r in due if r.mail.reference == reference]
    assert mails, "the case sent mail"
    return (
        stored.case.model_dump_json()
        + "".join(e.model_dump_json() for e in events)
        + "".join(f"{m.to}|{m.subject}|{m.text}|{m.html}" for m in mails)
    )


def _digits(text: str) -> str:
    # Every digit, wherever it stood: the number leaks if its eleven digits follow each other here.
    return "".join(ch for ch in text if ch.isdecimal())


A, B = F[:6], F[6:]
MAILS = {
    "two spaces": _raw_mail(f"Gjelder fnr {A}  {B}, se vedlegg."),
    "tabs": _raw_mail(f"Fødselsnr:\t{A}\t{B}"),
    "space, hyphen, space": _raw_mail(f"Bruker {A} - {B} får 500."),
    "a line wrapped by the mail client": _raw_mail("x" * 60 + f" {A}\r\n{B} fikk feil svar."),
    "format=flowed": _raw_mail(f"Personen med fnr {A} \r\n{B} i går.", content_type="text/plain; format=flowed"),
    "direction marks": _raw_mail(f"fnr \u200e{A}\u200f{B}\u200e"),
    "HTML &ensp;&ensp;": _raw_mail(f"<p>fnr {A}&ensp;&ensp;{B}</p>", content_type="text/html; charset=utf-8"),
    "HTML <br>": _raw_mail(f"<p>fnr {A}<br>{B}</p>", content_type="text/html; charset=utf-8"),
    "display name with an underscore": _raw_mail("Hei", name=f"Kari {A}_{B}"),
    "display name cut at 100": _raw_mail("Hei", name="K" * 95 + f" {F}"),
    "file name with underscores": _raw_mail("Se vedlegg", attachment=f"fnr_{A}_{B}.pdf"),
    "file name cut at 200": _raw_mail("Se vedlegg", attachment="v" * 195 + f"_{F}.pdf"),
    "subject with two spaces": _raw_mail("Hei", subject=f"Feil for {A}  {B}"),
    "subject cut at 200": _raw_mail("Hei", subject="x" * 194 + f" {F}"),
}


@pytest.mark.parametrize("raw", MAILS.values(), ids=MAILS.keys())
def test_a_mail_leaks_it_into_no_case_event_or_mail(raw: bytes) -> None:
    async def run() -> str:
        services = fake_services()
        outcome = await process_message(services, raw, CATALOGUE)
        assert outcome.status == "new_case" and outcome.reference, outcome
        return await _everything(services, outcome.reference)

    stored = asyncio.run(run())
    assert F not in _digits(stored)
    assert MASK[:4] in stored, "masked (where a text was cut, the marker is cut too)"


def test_what_is_cut_is_masked_first() -> None:
    raw = _raw_mail("Hei", subject="x" * 194 + f" {F}", name="K" * 95 + f" {F}", attachment="v" * 195 + f"_{F}.pdf")
    message = parse_message(raw, max_attachment_bytes=1000, allowed_types=("application/pdf",))
    assert message.subject == "x" * 194 + f" {F}", "the parser keeps the subject whole: its numbers are counted"
    assert masked_subject(message) == (("x" * 194 + f" {MASK}")[:200], 1)
    assert message.from_name == ("K" * 95 + f" {MASK}")[:100]
    assert message.attachments[0].filename == ("v" * 195 + f"_{MASK}.pdf")[:200]


def test_an_address_that_looks_like_one_stays_and_the_name_shown_is_masked() -> None:
    async def run() -> tuple[str, str]:
        services = fake_services()
        outcome = await process_message(
            services, _raw_mail("Et spørsmål.", sender=f"{F}@gmail.example", name=""), CATALOGUE
        )
        assert outcome.reference
        stored = await services.store.load(outcome.reference)
        assert stored is not None
        return stored.case.submitter_email, stored.case.submitter_name

    assert asyncio.run(run()) == (f"{F}@gmail.example", MASK), "we must reply to the address; the name is shown"


def test_terms_by_email_mask_the_fields_the_subject_and_the_name() -> None:
    body = (
        "versjon: 2.5\ngjelder fra: 1.3.2027\nlenke: https://bits.example/vilkar.pdf\n\n"
        f"Nytt punkt om logging. Eksempel fra saken til {A}  {B}."
    )
    raw = _raw_mail(body, sender="admin@bits.example", name=f"Anne Admin {F}", subject=f"VILKÅR Vilkår for {F}")

    async def run() -> tuple[str, Any]:
        services = fake_services()
        outcome = await process_message(services, raw, CATALOGUE)
        assert (outcome.status, outcome.reason) == ("new_case", "terms"), outcome
        assert outcome.reference
        stored = await services.store.load(outcome.reference)
        assert stored is not None
        return await _everything(services, outcome.reference), stored.case

    stored, case = asyncio.run(run())
    assert F not in _digits(stored)
    assert case.title == f"Vilkår for {MASK} (versjon 2.5)"
    assert case.details["published_by"]["name"] == f"Anne Admin {MASK}"
    assert f"saken til {MASK}." in stored


def test_a_refused_terms_mail_masks_its_subject_in_the_title() -> None:
    raw = _raw_mail("versjon: to\n\nx", sender="admin@bits.example", subject=f"VILKÅR {A} {B}")

    async def run() -> Any:
        services = fake_services()
        outcome = await process_message(services, raw, CATALOGUE)
        assert outcome.status == "refused" and outcome.reference, outcome
        stored = await services.store.load(outcome.reference)
        assert stored is not None
        return stored.case

    assert asyncio.run(run()).title == f"VILKÅR ikke publisert: VILKÅR {MASK}"


def test_an_outgoing_subject_is_masked_after_it_is_made_one_line() -> None:
    # A title whose number is split by a blank line (two numbers, as written) reads as one on one line.
    letter = Letter(f"[SSU-B-2026-0001] Feil for {A}\n\n{B}", "tekst", "<p>tekst</p>")
    mail = compose_mail(
        reference="SSU-B-2026-0001",
        purpose="x",
        sender_name="Bits",
        sender="ssu@bits.example",
        to="a@demo-forsikring.example",
        letter=letter,
        created_at=datetime(2026, 11, 29, 12, tzinfo=UTC),
        domain="bits.example",
        key=b"key",
    )
    assert mail.subject == f"[SSU-B-2026-0001] Feil for {MASK}"


# Identifiers and links are refused, not masked (a masked one is broken).

_ALERT: dict[str, Any] = {
    "source_alert_id": "NAV-2026-117",
    "kind": "incident",
    "environments": ["production"],
    "components": ["ufore-api"],
    "severity": "high",
    "title": "Feil i svar",
    "description": "Beskrivelse",
    "starts_at": "2026-12-03T22:00:00+01:00",
}


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (AlertIn, "source_alert_id", F),
        (AlertIn, "source_alert_id", f"NAV-{F}"),
        (AlertIn, "link", f"https://status.nav.example/hendelse?fnr={F}"),
        (AlertIn, "link", f"https://status.nav.example/person/{A}-{B}/status"),
        (AlertUpdate, "link", f"https://status.nav.example/hendelse?fnr={F}"),
    ],
)
def test_an_alert_identifier_or_link_with_one_is_refused(model: type[BaseModel], field: str, value: str) -> None:
    body = {**_ALERT, field: value} if model is AlertIn else {field: value}
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [((field,), "identity_number")]
    assert field_errors(refused.value, "nb") == {
        field: "Feltet ser ut til å inneholde et fødselsnummer. Fjern det og send på nytt."
    }
    model.model_validate({**body, field: "https://status.nav.example/x" if field == "link" else "NAV-2026-117"})


def test_an_alert_link_is_kept_whole_and_its_text_masked() -> None:
    alert = AlertIn.model_validate({**_ALERT, "title": f"Feil for {A}  {B}", "link": "https://status.nav.example/x"})
    masked, removed = mask_alert(alert)
    assert (masked.title, masked.link, removed) == (f"Feil for {MASK}", "https://status.nav.example/x", 1)
