"""Privacy guard: Norwegian identity numbers (fødselsnummer, d-nummer) in free text are masked before storing."""

from __future__ import annotations

import re
from typing import Any

MASK = "[fødselsnummer fjernet]"
_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
# Eleven digits, possibly written 6+5 with a space, dot or dash, not part of a longer number.
_CANDIDATE = re.compile(r"(?<![\d])(\d{6})[ .\-]?(\d{5})(?![\d])")


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11
    check = 0 if remainder == 0 else 11 - remainder
    return None if check == 10 else check


def is_identity_number(value: str) -> bool:
    """True for a fødselsnummer or d-nummer: a plausible date (d-nummer adds 40 to the day, test numbers 40/80 to
    the month) and two valid MOD11 check digits."""
    if len(value) != 11 or not value.isdigit():
        return False
    day, month = int(value[0:2]), int(value[2:4])
    if day > 40:
        day -= 40
    if month > 80:
        month -= 80
    elif month > 40:
        month -= 40
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return False
    return _check_digit(value[:9], _K1) == int(value[9]) and _check_digit(value[:10], _K2) == int(value[10])


def mask_identity_numbers(text: str) -> tuple[str, int]:
    """The text with every identity number replaced by a marker, and how many were replaced."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if is_identity_number(match.group(1) + match.group(2)):
            count += 1
            return MASK
        return match.group(0)

    return _CANDIDATE.sub(replace, text), count


def mask_fields(data: dict[str, Any]) -> int:
    """Mask identity numbers in every text value of a submitted body, in place; returns how many were masked."""
    total = 0
    for key, value in data.items():
        if isinstance(value, str):
            data[key], n = mask_identity_numbers(value)
            total += n
        elif isinstance(value, list):
            masked = [mask_identity_numbers(v) if isinstance(v, str) else (v, 0) for v in value]
            data[key] = [v for v, _ in masked]
            total += sum(n for _, n in masked)
    return total


def without_sender(text: str, name: str, email: str) -> str:
    """The text without lines that name its sender (sign-offs, signatures): for passing a report on to a data source
    without the reporter's personal details."""
    marks = {email.casefold(), *(part.casefold() for part in name.split() if len(part) > 2)}
    kept = [line for line in text.split("\n") if not any(mark in line.casefold() for mark in marks)]
    return "\n".join(kept).strip()
