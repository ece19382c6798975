"""Rate limits for anonymous submissions: the counters' keys and the sliding-window arithmetic every store shares.

A counter keeps two numbers: the hits in the current fixed window and in the one before. The sliding estimate
weights the previous window by how much of it still lies within the last `window` (Cloudflare's approximation):
`previous * (1 - elapsed / window) + current`. A hit is allowed while the estimate plus that hit stays within the
limit, so that no burst across a window boundary gets twice the limit. Stores keep the numbers (one entity per key);
this module decides.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WINDOW = timedelta(hours=1)  # the limits in settings are per hour


@dataclass(frozen=True)
class RateLimit:
    """One counter a submission counts against: its key (see the helpers below) and how many hits a window allows."""

    key: str
    limit: int


@dataclass(frozen=True)
class Counts:
    """What a store holds for one key: the window (its index since the epoch) of its last hit, the hits in that
    window, and the hits in the window before it."""

    window: int
    current: int
    previous: int

    def at(self, window: int) -> Counts:
        """The same counter as seen from `window` (later windows start empty). A window before the counter's own
        (another instance's clock a little ahead) counts into the counter's own, so that no skew resets it."""
        if window <= self.window:
            return self
        if window == self.window + 1:
            return Counts(window, 0, self.current)
        return Counts(window, 0, 0)

    def plus_one(self) -> Counts:
        return Counts(self.window, self.current + 1, self.previous)


EMPTY = Counts(0, 0, 0)


def window_of(now: datetime, window: timedelta) -> tuple[int, float]:
    """The index of the fixed window `now` falls in, and how far into it (0 ≤ fraction < 1)."""
    seconds = now.astimezone(UTC).timestamp() / window.total_seconds()
    index = math.floor(seconds)
    return index, seconds - index


def retry_after(counts: Counts, limit: int, now: datetime, window: timedelta) -> int | None:
    """None when one more hit is within the limit; else the whole seconds until it would be (at least 1)."""
    index, fraction = window_of(now, window)
    seen = counts.at(index)
    room = limit - 1  # the estimate may be at most this before the hit
    if seen.previous * (1 - fraction) + seen.current <= room:
        return None
    total = window.total_seconds()
    if seen.current <= room and seen.previous > 0:
        # Still in this window: wait until the previous window's weight has fallen far enough.
        wait = total * (1 - (room - seen.current) / seen.previous) - fraction * total
    else:
        # Not before the next window, then until this window's weight has fallen far enough.
        later = total * (1 - room / seen.current) if seen.current > room else 0.0
        wait = (1 - fraction) * total + later
    return max(1, math.ceil(wait))


def decide(
    counters: list[tuple[RateLimit, Counts]], now: datetime, window: timedelta
) -> tuple[int | None, list[Counts]]:
    """For a submission counted against every counter: (None, the counts after the hit) when every counter allows
    it; else (the longest wait of the counters that refuse, []) - and then nothing is counted anywhere."""
    index, _ = window_of(now, window)
    waits = [w for limit, counts in counters if (w := retry_after(counts, limit.limit, now, window)) is not None]
    if waits:
        return max(waits), []
    return None, [counts.at(index).plus_one() for _, counts in counters]


def row_key(key: str) -> str:
    """A counter's storage key: a hash, so that no address or IP is stored and no character is a problem."""
    return hashlib.sha256(f"rate-limit\n{key}".encode()).hexdigest()[:40]


def ip_key(network: str) -> str:
    return f"ip:{network}"


def recipient_key(address: str) -> str:
    return f"to:{address.strip().casefold()}"


def organisation_key(number: str) -> str:
    return f"org:{number.strip()}"
