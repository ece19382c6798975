"""Norwegian identifiers: organisation numbers (MOD11)."""

from __future__ import annotations

_ORGNR_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)


def is_valid_organisation_number(value: str) -> bool:
    """True for nine digits whose last is the MOD11 check digit of the first eight."""
    if len(value) != 9 or not value.isascii() or not value.isdigit():
        return False
    remainder = sum(int(d) * w for d, w in zip(value[:8], _ORGNR_WEIGHTS, strict=True)) % 11
    check = 0 if remainder == 0 else 11 - remainder
    return check != 10 and check == int(value[8])
