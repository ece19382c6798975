"""The rate-limit counters against a real Azurite: an email processed twice (redelivered, or by two pollers at once)
counts its confirmation request once, and the table holds keyed HMACs - no address, no bare hash of one."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from functions.adapters.rate_limits import TABLE, TableRateLimits
from functions.adapters.tables import TableStorage
from functions.catalogue import CATALOGUE
from functions.composition import build_services
from functions.core.rate_limits import WINDOW, RateLimit, recipient_limits
from functions.core.services import Services
from functions.core.settings import Settings
from functions.intake.workflow import process_message
from functions.registry_import import parse_registry_file
from tests.conftest import DEMO_REGISTRY

START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
LIMIT = 3


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[Services]:
    """Services whose per-recipient limit is low, as in production."""
    built = build_services(settings.model_copy(update={"rate_limit_per_recipient": LIMIT}))
    await built.registry_store.save_registry(parse_registry_file(DEMO_REGISTRY))
    yield built
    await built.close()


def email_from(sender: str) -> bytes:
    return (
        f"From: Ukjent <{sender}>\r\nTo: ssu@bits.example\r\nSubject: Et spørsmål\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@annen.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hei, hvordan kobler vi oss på?\r\n"
    ).encode()


async def withheld(services: Services, reference: str | None) -> bool:
    assert reference is not None
    stored = await services.store.load(reference)
    assert stored is not None
    return bool(stored.case.details.get("confirmation_withheld"))


async def test_a_redelivered_email_counts_its_confirmation_once(limited: Services) -> None:
    services = limited
    sender = f"ukjent-{uuid.uuid4().hex[:8]}@annen.example"
    first = email_from(sender)
    outcomes = [await process_message(services, first, CATALOGUE) for _ in range(3)]  # redelivered twice
    outcomes += await asyncio.gather(*(process_message(services, first, CATALOGUE) for _ in range(2)))  # and at once
    assert [o.status for o in outcomes] == ["new_case"] + ["duplicate"] * 4
    assert not await withheld(services, outcomes[0].reference)

    # Counted once: the address still has LIMIT - 1 requests this hour, then it is spent.
    later = [await process_message(services, email_from(sender), CATALOGUE) for _ in range(LIMIT)]
    assert [await withheld(services, o.reference) for o in later] == [False] * (LIMIT - 1) + [True]


async def test_a_hit_with_the_same_once_counts_once_across_instances(services: Services, settings: Settings) -> None:
    key = RateLimit(f"to:{uuid.uuid4().hex}@victim.example", 2)
    storage = TableStorage(settings)
    try:
        other = TableRateLimits(storage, settings.effective_signing_key)
        outcomes = await asyncio.gather(
            services.rate_limits.hit([key], WINDOW, START, once="message-1"),
            other.hit([key], WINDOW, START, once="message-1"),
            other.hit([key], WINDOW, START, once="message-1"),
        )
        assert list(outcomes) == [None, None, None]
        assert await other.hit([key], WINDOW, START, once="message-2") is None, "one hit of two is left"
        assert await services.rate_limits.hit([key], WINDOW, START, once="message-3") is not None
        assert await services.rate_limits.hit([key], WINDOW, START, once="message-1") is None, "counted before"
    finally:
        await storage.close()


async def test_the_counter_table_holds_no_address_and_no_bare_hash(services: Services, settings: Settings) -> None:
    address = f"offer-{uuid.uuid4().hex[:8]}@victim.example"
    limits = [RateLimit("ip:203.0.113.77", 10), *recipient_limits(address, 5), RateLimit("org:310000078", 10)]
    assert await services.rate_limits.hit(limits, WINDOW, START, once="<m@victim.example>") is None
    storage = TableStorage(settings)
    try:
        entities = [e async for e in storage.table(TABLE).list_entities()]
    finally:
        await storage.close()
    bare = {hashlib.sha256(f"rate-limit\n{limit.key}".encode()).hexdigest()[:40] for limit in limits}
    assert len(entities) == len(limits) + 1  # and the `once` row
    assert {e["Kind"] for e in entities} == {"ip", "to", "domain", "org", "once"}
    for entity in entities:
        assert entity["RowKey"] not in bare, "a guessed address cannot be hashed into its row"
        text = " ".join(str(v) for v in entity.values())
        assert "victim.example" not in text and "203.0.113" not in text and "310000078" not in text
