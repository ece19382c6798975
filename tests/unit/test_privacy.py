"""The privacy guard masks fødselsnummer and d-nummer, and leaves other numbers alone."""

from __future__ import annotations

from typing import Any

import pytest

from functions.core.privacy import MASK, is_identity_number, mask_fields, mask_identity_numbers
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
        (f"{F[:6]}\n{F[6:]}", f"{F[:6]}\n{F[6:]}"),  # a line break separates two numbers
        (f"{F[:6]}, {F[6:]}", f"{F[:6]}, {F[6:]}"),  # so does a comma
        (f"{F[:6]}  {F[6:]}", f"{F[:6]}  {F[6:]}"),  # and two spaces: columns of a table
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
