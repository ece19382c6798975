"""The privacy guard masks fødselsnummer and d-nummer, and leaves other numbers alone."""

from __future__ import annotations

import pytest

from functions.core.privacy import MASK, is_identity_number, mask_fields, mask_identity_numbers

FODSELSNUMMER = "17050544052"  # 17.05.05, valid check digits (synthetic)
D_NUMMER = "41019012393"  # day + 40


@pytest.mark.parametrize("value", [FODSELSNUMMER, D_NUMMER])
def test_valid_identity_numbers(value: str) -> None:
    assert is_identity_number(value)


@pytest.mark.parametrize("value", ["17050544053", "12345678901", "00000000000", "1705054405", "99999999999"])
def test_not_identity_numbers(value: str) -> None:
    assert not is_identity_number(value)


def test_masking_in_text_in_the_forms_people_write_them() -> None:
    text = f"Kunde {FODSELSNUMMER} og {D_NUMMER[:6]} {D_NUMMER[6:]} feilet; korrelasjon 123456789012, orgnr 310000019."
    masked, count = mask_identity_numbers(text)
    assert count == 2
    assert FODSELSNUMMER not in masked and D_NUMMER[6:] not in masked
    assert masked.count(MASK) == 2
    assert "123456789012" in masked and "310000019" in masked, "other numbers stay"


def test_mask_fields_in_a_body() -> None:
    body = {"question": f"fnr {FODSELSNUMMER}", "tags": [FODSELSNUMMER, "x"], "count": 3}
    assert mask_fields(body) == 2
    assert body == {"question": f"fnr {MASK}", "tags": [MASK, "x"], "count": 3}
