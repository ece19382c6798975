"""Rate limits for anonymous submissions: the counters' keys and the sliding-window arithmetic every store shares.

A counter keeps two numbers: the hits in the current fixed window and in the one before. The sliding estimate
weights the previous window by how much of it still lies within the last `window` (Cloudflare's approximation):
`previous * (1 - elapsed / window) + current`. A hit is allowed while the estimate plus that hit stays within the
limit, so that no burst across a window boundary gets twice the limit. Stores keep the numbers (one entity per key);
this module decides.

A recipient is counted by one key for every spelling that reaches the same mailbox (`canonical_address`), and its
domain on a counter of its own, at `DOMAIN_FACTOR` times the per-recipient limit: neither `victim+1@`, `victim+2@`
… nor `a1@`, `a2@` … at one domain buys a fresh allowance.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import unicodedata
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


def row_key(key: str, secret: bytes) -> str:
    """A counter's storage key: an HMAC under our signing key, so that no address or IP is stored, no character is
    a problem, and nobody holding the table can confirm a guessed address (a bare hash of one is a dictionary
    lookup away)."""
    return hmac.new(secret, f"rate-limit\n{key}".encode(), hashlib.sha256).hexdigest()[:40]


def ip_key(network: str) -> str:
    return f"ip:{network}"


# Providers where a dot in the local part is ignored (and the two domains are one mailbox).
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
# A recipient domain may get this many times the per-recipient limit an hour (no setting of its own: it follows).
DOMAIN_FACTOR = 4


def canonical_address(address: str) -> str:
    """The one spelling of an address that every spelling reaching the same mailbox shares: NFKC-normalised (full-
    width and other compatibility letters fold to the plain ones) and case-folded, the `+tag` of sub-addressing
    dropped, the domain in its IDNA (xn--) form, and for Gmail the dots of the local part dropped."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", address).casefold()).strip()
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    local = local.split("+", 1)[0]
    domain = domain.strip().rstrip(".")
    with contextlib.suppress(UnicodeError):  # no valid IDNA name: it reaches nobody, and counts as written
        domain = domain.encode("idna").decode("ascii")
    if domain in _DOTLESS:
        local, domain = local.replace(".", ""), _DOTLESS[domain]
    return f"{local}@{domain}"


def recipient_key(address: str) -> str:
    return f"to:{canonical_address(address)}"


def domain_key(address: str) -> str:
    return f"domain:{canonical_address(address).rpartition('@')[2]}"


def recipient_limits(address: str, per_recipient: int) -> list[RateLimit]:
    """What a mail to `address` counts against: the mailbox, and its domain (a submission naming several addresses
    at one domain counts once there, as the store counts each key once per hit)."""
    return [
        RateLimit(recipient_key(address), per_recipient),
        RateLimit(domain_key(address), DOMAIN_FACTOR * per_recipient),
    ]


def organisation_key(number: str) -> str:
    return f"org:{number.strip()}"
