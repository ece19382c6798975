"""Privacy guard: Norwegian identity numbers (fødselsnummer, d-nummer) in free text are masked before storing.

What is masked: every text a person wrote that we store, show or send on - a mail's subject, text, display name and
attachment names, every text field of a form or a JSON body (a number given as a JSON number too), an alert's
text - after it is normalised and before it is cut to a length, so that what is shown is what was checked.

What is never masked, and why:
- Email addresses (a mail's From, a form's `email`), even when the local part looks like an identity number: we
  must reply to them, and a masked address reaches nobody. Where an address stands in for a name (a mail without a
  display name), the name shown is its masked local part.
- Structured identifiers and links (a correlation id, an endpoint, a client id, an alert's link or source id): a
  masked one is a broken one, so a value of that kind that holds an identity number is refused with a field error
  that says why (forms: `web/forms.py` `field_errors`; the alert API: `alerts/models.py`).
- Attachment contents: kept as sent (by hash, for Bits to open), never read or rewritten; only their names are
  masked.
- The raw mail in the mailbox (Exchange's copy, and the processed folder of the local mail directory): it is the
  record of what was received, kept under the mailbox's retention, never rewritten by us.
- A number right after "konto", "kontonummer" or "KID", or after an IBAN's "NO" and check digits: those are bank
  account numbers and payment references, which share the identity number's length and MOD11 check.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "[fødselsnummer fjernet]"
_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
# Numbers issued from 1 January 2032 may have a first control digit that leaves a remainder of 0, 1, 2 or 3 of the
# control sum (today only 0); the second is unchanged (Skatteetaten, "Nytt fødselsnummer fra 2032"). Both are valid
# and a number does not say when it was issued, so both are accepted.
_K1_REMAINDERS = (0, 1, 2, 3)
# The longest a month can be (the year is unknown here: 29 February is always possible).
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_LENGTH = 11

# Unicode format characters (category Cf: soft hyphen, zero-width spaces and joiners, byte order mark, direction
# marks and bidi controls, ...) are invisible: wherever they stand among digits and separators they are ignored.
_FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
# Spaces of every width (every Unicode space separator, the no-break and narrow no-break spaces of Norwegian
# typography among them) and a tab.
_SPACE = "\t \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
# What people (and their word processors) put between groups of digits: spaces, dots, slashes, underscores (file
# names), hyphens, dashes and minus signs of every kind. Never a comma: it separates numbers.
_SEPARATOR = _SPACE + r"._/\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d\uff0e\uff0f"
_IGNORED = f"[{_FORMAT}]*+"
# One to three separators join two groups (`010190 10046`, `010190 - 10046`, `&ensp;&ensp;`); more are columns.
_JOIN = f"{_IGNORED}(?:[{_SEPARATOR}]{_IGNORED}){{1,3}}"
# So does one line break, spaces around it allowed (a mail client wrapped the line, format=flowed `010190 \n10046`),
# but only where a number is split 6+5 or 6+3+2 (see _LINE_SHAPES); a blank line never joins.
_LINE_BREAK = f"(?:[{_SPACE}]|[{_FORMAT}])*+(?:\r\n|[\n\r\u0085\u2028])(?:[{_SPACE}]|[{_FORMAT}])*+"
_GROUP_TEXT = rf"\d(?:{_IGNORED}\d)*"
# A run of digit groups, each joined to the next; a group is a maximal run of digits, so a candidate is made of
# whole groups and never cut out of a longer number.
_RUN = re.compile(rf"{_GROUP_TEXT}(?:(?:{_JOIN}|{_LINE_BREAK}){_GROUP_TEXT})*")
_GROUP = re.compile(_GROUP_TEXT)
_HAS_LINE_BREAK = re.compile("[\n\r\u0085\u2028]")
_LINE_SHAPES = ((6, 5), (6, 3, 2))
# Bank account numbers have eleven digits and a MOD11 check too (the same as an identity number's second), and are
# written 4.2.5 (`1503.12.34567`); an identity number never is.
_ACCOUNT_NUMBER = (4, 2, 5)
# ... or come right after the word for them, or an IBAN's country code and check digits (`NO93 8601 1117 947`); a
# KID (payment reference) is named in capitals, so that the English "kid" is not.
_ACCOUNT_BEFORE = re.compile(
    r"(?:\b(?i:(?:bank)?konto(?:nummer|nr)?)|\bKID(?i:-?(?:nummer|nr))?)(?:\s*(?i:nr))?\.?\s*:?\s*$"
    r"|\bNO\d\d\W?$"
)
# A UUID, or a hex string of 32 characters or more (a hash, a trace id), is an identifier: its digits are no number.
_HEX_ID = re.compile(r"\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b|\b[0-9a-f]{32,}\b", re.IGNORECASE)
_ADDRESS = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11
    check = 0 if remainder == 0 else 11 - remainder
    return None if check == 10 else check


def is_identity_number(value: str) -> bool:
    """True for a fødselsnummer or d-nummer: a plausible date (a d-nummer adds 40 to the day; synthetic test persons
    add 40 to the month in NAV's environments and 80 in Skatteetaten's Tenor) and two valid MOD11 check digits (the
    first by the rule of numbers issued before 2032 or after)."""
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
    first = sum(int(d) * w for d, w in zip(digits[:10], (*_K1, 1), strict=True)) % 11
    return first in _K1_REMAINDERS and _check_digit(digits[:10], _K2) == int(digits[10])


def _identity_spans(text: str, run: re.Match[str]) -> list[tuple[int, int]]:
    """Where in a run of digit groups whole consecutive groups spell an identity number, leftmost first; positions
    in `text`."""
    groups = [(m.start(), m.end(), sum(ch.isdecimal() for ch in m.group())) for m in _GROUP.finditer(run.group())]
    spans: list[tuple[int, int]] = []
    first = 0
    while first < len(groups):
        length, last = 0, first
        while last < len(groups) and length < _LENGTH:
            length += groups[last][2]
            last += 1
        shape = tuple(n for _, _, n in groups[first:last])
        start, end = run.start() + groups[first][0], run.start() + groups[last - 1][1]
        if length == _LENGTH and shape != _ACCOUNT_NUMBER and _is_one_number(text, start, end, shape):
            spans.append((start, end))
            first = last
            continue
        first += 1
    return spans


def _is_one_number(text: str, start: int, end: int, shape: tuple[int, ...]) -> bool:
    """Whether text[start:end], eleven digits in groups of `shape`, is an identity number as written there."""
    if not is_identity_number("".join(ch for ch in text[start:end] if ch.isdecimal())):
        return False
    if _HAS_LINE_BREAK.search(text, start, end) and shape not in _LINE_SHAPES:
        return False
    if _ACCOUNT_BEFORE.search(text, max(0, start - 40), start):
        return False
    return not any(
        m.start() <= start and end <= m.end() for m in _HEX_ID.finditer(text, max(0, start - 200), end + 200)
    )


def mask_identity_numbers(text: str) -> tuple[str, int]:
    """The text with every identity number replaced by a marker, and how many were replaced. A number counts when it
    is written whole (`01019012345`) or in groups joined by one to three separators (`010190 12345`,
    `01.01.90 123 45`, `010190 - 12345`, `vedtak_010190_12345`, a no-break space), or by one line break where it is
    split 6+5 or 6+3+2; invisible format characters among its digits are ignored. Not when its digits are part of a
    longer number, nor when it is a bank account number. Only the number is replaced, never the text around it."""
    parts: list[str] = []
    at = 0
    for run in _RUN.finditer(text):
        for start, end in _identity_spans(text, run):
            parts += [text[at:start], MASK]
            at = end
    if not parts:
        return text, 0
    return "".join(parts) + text[at:], len(parts) // 2


def _masked_number(value: int | float) -> str | None:
    """MASK for a JSON number that is an identity number (a leading zero is lost in a number: put it back)."""
    if isinstance(value, float) and not value.is_integer():
        return None
    digits = str(int(value))
    return MASK if 10 <= len(digits) <= _LENGTH and is_identity_number(digits.zfill(_LENGTH)) else None


def mask_fields(data: dict[str, Any]) -> int:
    """Mask identity numbers in every text value of a submitted body, in place, however deeply its dicts and lists
    nest (registration contacts are a list of dicts); returns how many were masked. A number (int or float) that is
    an identity number becomes the marker, so that a field for a count refuses it. An email address is left as
    written (see the module's docstring). Keys are names, not text."""
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
            if isinstance(value, str) and not _ADDRESS.fullmatch(value.strip()):
                masked, n = mask_identity_numbers(value)
                if n:
                    container[key] = masked
                    total += n
            elif isinstance(value, int | float) and not isinstance(value, bool):
                marker = _masked_number(value)
                if marker:
                    container[key] = marker
                    total += 1
            elif isinstance(value, dict | list):
                pending.append(value)
    return total


def without_sender(text: str, name: str, email: str) -> str:
    """The text without lines that name its sender (sign-offs, signatures): for passing a report on to a data source
    without the reporter's personal details."""
    marks = {email.casefold(), *(part.casefold() for part in name.split() if len(part) > 2)}
    kept = [line for line in text.split("\n") if not any(mark in line.casefold() for mark in marks)]
    return "\n".join(kept).strip()
