"""Privacy guard: Norwegian identity numbers (fødselsnummer, d-nummer) in free text are masked before storing."""

from __future__ import annotations

import re
from typing import Any

MASK = "[fødselsnummer fjernet]"
_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
# The longest a month can be (the year is unknown here: 29 February is always possible).
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# What people (and their word processors) put between groups of digits: spaces of every width, including the
# no-break and narrow no-break spaces that Norwegian typography uses for grouping, zero-width characters pasted
# from documents, dots, hyphens and dashes, a slash. Never a comma or a line break: those separate numbers.
_SEPARATOR = "[ \u00a0\u00ad\u2000-\u200d\u2010-\u2013\u202f\u205f\u2060\u3000./\\-]"
# A run of digit groups, each joined to the next by exactly one separator; a group is a maximal run of digits, so
# a candidate is made of whole groups and never cut out of a longer number.
_RUN = re.compile(rf"\d+(?:{_SEPARATOR}\d+)*")
_GROUP = re.compile(r"\d+")
_LENGTH = 11
# Bank account numbers have eleven digits and a MOD11 check too, and are written 4.2.5 (`1503.12.34567`); an
# identity number never is.
_ACCOUNT_NUMBER = (4, 2, 5)


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11
    check = 0 if remainder == 0 else 11 - remainder
    return None if check == 10 else check


def is_identity_number(value: str) -> bool:
    """True for a fødselsnummer or d-nummer: a plausible date (a d-nummer adds 40 to the day; synthetic test persons
    add 40 to the month in NAV's environments and 80 in Skatteetaten's Tenor) and two valid MOD11 check digits."""
    if len(value) != _LENGTH or not value.isdecimal():
        return False
    digits = "".join(str(int(d)) for d in value)  # other scripts' decimal digits as ASCII
    day, month = int(digits[0:2]), int(digits[2:4])
    if day > 40:
        day -= 40
    if month > 80:
        month -= 80
    elif month > 40:
        month -= 40
    if not (1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month - 1]):
        return False
    return _check_digit(digits[:9], _K1) == int(digits[9]) and _check_digit(digits[:10], _K2) == int(digits[10])


def _identity_spans(run: str) -> list[tuple[int, int]]:
    """Where in a run of digit groups whole consecutive groups spell an identity number, leftmost first."""
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(run)]
    spans: list[tuple[int, int]] = []
    first = 0
    while first < len(groups):
        length, last = 0, first
        while last < len(groups) and length < _LENGTH:
            length += groups[last][1] - groups[last][0]
            last += 1
        shape = tuple(e - s for s, e in groups[first:last])
        if length == _LENGTH and shape != _ACCOUNT_NUMBER:
            start, end = groups[first][0], groups[last - 1][1]
            if is_identity_number("".join(run[s:e] for s, e in groups[first:last])):
                spans.append((start, end))
                first = last
                continue
        first += 1
    return spans


def mask_identity_numbers(text: str) -> tuple[str, int]:
    """The text with every identity number replaced by a marker, and how many were replaced. A number counts when it
    is written whole (`01019012345`) or in groups split by one separator each (`010190 12345`, `01.01.90 123 45`,
    `010190/12345`, a no-break space), and not when its digits are part of a longer number."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        run = match.group(0)
        spans = _identity_spans(run)
        if not spans:
            return run
        count += len(spans)
        parts, at = [], 0
        for start, end in spans:
            parts += [run[at:start], MASK]
            at = end
        return "".join(parts) + run[at:]

    return _RUN.sub(replace, text), count


def mask_fields(data: dict[str, Any]) -> int:
    """Mask identity numbers in every text value of a submitted body, in place, however deeply its dicts and lists
    nest (registration contacts are a list of dicts); returns how many were masked. Keys are names, not text."""
    total = 0
    # A stack rather than recursion: a body nested deeper than Python's recursion limit is masked all the same.
    pending: list[dict[Any, Any] | list[Any]] = [data]
    seen: set[int] = set()
    while pending:
        container = pending.pop()
        if id(container) in seen:
            continue
        seen.add(id(container))
        keys: list[Any] = list(container) if isinstance(container, dict) else list(range(len(container)))
        for key in keys:
            value = container[key]
            if isinstance(value, str):
                masked, n = mask_identity_numbers(value)
                if n:
                    container[key] = masked
                    total += n
            elif isinstance(value, dict | list):
                pending.append(value)
    return total


def without_sender(text: str, name: str, email: str) -> str:
    """The text without lines that name its sender (sign-offs, signatures): for passing a report on to a data source
    without the reporter's personal details."""
    marks = {email.casefold(), *(part.casefold() for part in name.split() if len(part) > 2)}
    kept = [line for line in text.split("\n") if not any(mark in line.casefold() for mark in marks)]
    return "\n".join(kept).strip()
