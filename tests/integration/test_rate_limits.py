"""The rate-limit counters against a real Azurite: the limit holds, concurrent hits at the limit give exactly one
more, a refusal counts nowhere, and the window slides on (the clock is injected)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from functions.adapters.rate_limits import TableRateLimits
from functions.adapters.tables import TableStorage
from functions.core.rate_limits import WINDOW, RateLimit
from functions.core.services import Services
from functions.core.settings import Settings

START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)  # the start of a window: the previous one is empty


async def test_the_limit_holds_and_says_how_long_to_wait(services: Services) -> None:
    ip = RateLimit("ip:203.0.113.7", 3)
    assert [await services.rate_limits.hit([ip], WINDOW, START) for _ in range(3)] == [None, None, None]
    wait = await services.rate_limits.hit([ip], WINDOW, START + timedelta(minutes=10))
    assert wait is not None and 50 * 60 < wait <= 2 * 60 * 60, wait
    again = await services.rate_limits.hit([ip], WINDOW, START + timedelta(minutes=10))
    assert again == wait, "a refused hit is not counted: the wait does not grow"
    other = RateLimit("ip:203.0.113.8", 3)
    assert await services.rate_limits.hit([other], WINDOW, START) is None, "each key counts on its own"


async def test_two_concurrent_hits_at_the_limit_give_exactly_one_more(services: Services, settings: Settings) -> None:
    key = RateLimit("to:offer@victim.example", 5)
    for _ in range(4):
        assert await services.rate_limits.hit([key], WINDOW, START) is None
    # A second app instance: its own client and connections, the same table.
    storage = TableStorage(settings)
    try:
        other = TableRateLimits(storage, settings.effective_signing_key)
        outcomes = await asyncio.gather(services.rate_limits.hit([key], WINDOW, START), other.hit([key], WINDOW, START))
        assert sorted(o is None for o in outcomes) == [False, True], outcomes
        many = await asyncio.gather(*(other.hit([RateLimit("org:310000078", 4)], WINDOW, START) for _ in range(10)))
        assert sum(o is None for o in many) == 4, many
    finally:
        await storage.close()
    assert await services.rate_limits.hit([key], WINDOW, START) is not None


async def test_instances_count_together_whatever_each_remembers(services: Services, settings: Settings) -> None:
    key = RateLimit("ip:192.0.2.44", 3)
    storage = TableStorage(settings)
    try:
        other = TableRateLimits(storage, settings.effective_signing_key)
        assert await services.rate_limits.hit([key], WINDOW, START) is None
        assert await services.rate_limits.hit([key], WINDOW, START) is None
        assert await other.hit([key], WINDOW, START) is None, "a counter it never saw: its create fails, it reads"
        # The first instance remembers two; storage holds three. Its write from memory fails, it reads, it refuses.
        assert await services.rate_limits.hit([key], WINDOW, START) is not None
        assert await other.hit([key], WINDOW, START) is not None
    finally:
        await storage.close()


async def test_a_hit_refused_by_one_counter_counts_against_none(services: Services) -> None:
    spent = RateLimit("to:victim@example.org", 1)
    network = RateLimit("ip:198.51.100.0", 3)
    company = RateLimit("org:310000078", 3)
    assert await services.rate_limits.hit([spent], WINDOW, START) is None
    for _ in range(5):
        assert await services.rate_limits.hit([network, spent, company], WINDOW, START) is not None
    assert [await services.rate_limits.hit([network, company], WINDOW, START) for _ in range(3)] == [None] * 3
    assert await services.rate_limits.hit([network], WINDOW, START) is not None, "now the network is spent too"


async def test_the_window_slides_on(services: Services) -> None:
    ip = RateLimit("ip:2001:db8:1:2::/64", 2)
    assert await services.rate_limits.hit([ip], WINDOW, START) is None
    assert await services.rate_limits.hit([ip], WINDOW, START) is None
    now = START + timedelta(minutes=30)
    wait = await services.rate_limits.hit([ip], WINDOW, now)
    assert wait is not None
    # Just after the window, the last hour still holds both hits (the estimate weights the previous window).
    assert await services.rate_limits.hit([ip], WINDOW, START + WINDOW + timedelta(seconds=1)) is not None
    assert await services.rate_limits.hit([ip], WINDOW, now + timedelta(seconds=wait - 2)) is not None
    assert await services.rate_limits.hit([ip], WINDOW, now + timedelta(seconds=wait)) is None, "allowed when told"
    later = START + 3 * WINDOW
    assert [await services.rate_limits.hit([ip], WINDOW, later) for _ in range(2)] == [None, None]
    assert await services.rate_limits.hit([ip], WINDOW, later) is not None


async def test_an_empty_list_of_counters_is_allowed(services: Services) -> None:
    assert await services.rate_limits.hit([], WINDOW, START) is None
