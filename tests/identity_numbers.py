"""Valid Norwegian identity numbers for tests, computed with the MOD11 algorithm (never a real person's number)."""

from __future__ import annotations

import random

_WEIGHTS_1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_WEIGHTS_2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _control(digits: str, weights: tuple[int, ...]) -> int:
    """The MOD11 control digit of `digits`; 10 means there is none (that individual number is never issued)."""
    remainder = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if remainder == 11 else remainder


def identity_number(day: int, month: int, year: int, individual: int | None = None) -> str:
    """A valid number for the birth date (day + 40 for a d-nummer, month + 40 for NAV's synthetic persons, month +
    80 for Tenor's; pass them shifted). With no `individual`, a random one; else the first valid from it on."""
    start = random.randint(500, 999) if individual is None else individual
    for candidate in [*range(start, 1000), *range(0, start)]:
        nine = f"{day:02d}{month:02d}{year % 100:02d}{candidate:03d}"
        first = _control(nine, _WEIGHTS_1)
        if first == 10:
            continue
        second = _control(nine + str(first), _WEIGHTS_2)
        if second == 10:
            continue
        return f"{nine}{first}{second}"
    raise ValueError("no valid individual number for that date")  # does not happen: some always work


def random_identity_number() -> str:
    """A valid fødselsnummer with a random birth date, so that one test's number is not another's."""
    return identity_number(random.randint(1, 28), random.randint(1, 12), random.randint(0, 99))
