"""Table Storage adapter of the rate-limit counters (azure.data.tables.aio): one small entity per counter.

Table `ratelimits`, one partition (`counters`), so that the counters one submission counts against (its client
network, each recipient address, its organisation number) change in one entity-group transaction: all of them or
none. Each entity holds the window of its last hit and the hits in that window and the one before (see
`core.rate_limits`); the row key is an HMAC of the counter's key under the signing key, so no address or IP address
is stored, and none can be confirmed by hashing a guess (rotating the key starts the counters afresh: an hour's
allowance at most). A hit with `once` (an email's identity) also creates a `once` entity in the same transaction:
found, the hit was counted before and counts nothing again. A write is
guarded by the ETag of what was read (or is a create that fails if someone created it first); on a conflict the
counts are read again and the decision taken again, so two concurrent hits at the limit give exactly one more.
Within one instance, hits on the same counters wait for each other (striped locks) instead of racing: a burst from
one client (fifty posts at once) costs one round trip each, not a storm of conflicts; between instances the ETags
decide, with jittered backoff. One partition serves some thousands of operations a second: far more than anonymous
forms will ever see.

Round trips: the instance remembers each counter as it last wrote or read it (counts and ETag), and writes from
that without reading first; a counter it has not seen is assumed new and created. Both are guarded, so a stale
memory costs a conflict and a read, never a wrong count: a submission usually costs one round trip (the
transaction). A refusal is decided from memory too: counts only grow, so what refuses from memory refuses in
storage (its Retry-After may then be a little short; the next try reads again if it gets that far).
"""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import AsyncExitStack, suppress
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient

from ..core.rate_limits import EMPTY, Counts, RateLimit, decide, row_key
from ..core.store import StorageUnavailable
from .tables import TableStorage, storage_errors

TABLE = "ratelimits"
PARTITION = "counters"
_ATTEMPTS = 30  # conflicts only come from other instances' hits on the same counters at the same moment
_STRIPES = 64
_REMEMBERED = 10_000  # counters remembered per instance (least recently used are forgotten)


class TableRateLimits:
    def __init__(self, storage: TableStorage, secret: bytes) -> None:
        self._storage = storage
        self._secret = secret
        self._ready = False
        self._stripes = [asyncio.Lock() for _ in range(_STRIPES)]
        self._known: OrderedDict[str, tuple[Counts, str]] = OrderedDict()  # row key -> as last written or read

    @property
    def _table(self) -> TableClient:
        return self._storage.table(TABLE)

    async def _ensure_table(self) -> None:
        if not self._ready:
            with suppress(ResourceExistsError):
                await self._table.create_table()
            self._ready = True

    def _row(self, key: str) -> str:
        return row_key(key, self._secret)

    async def hit(
        self, limits: Sequence[RateLimit], window: timedelta, now: datetime, once: str | None = None
    ) -> int | None:
        unique = list({limit.key: limit for limit in limits}.values())  # a transaction names each entity once
        if not unique:
            return None
        # Always taken in the same order, so that two hits that share stripes cannot wait for each other.
        stripes = sorted({int(self._row(limit.key), 16) % _STRIPES for limit in unique})
        async with AsyncExitStack() as held:
            for stripe in stripes:
                await held.enter_async_context(self._stripes[stripe])
            return await self._hit(unique, window, now, None if once is None else self._row(f"once:{once}"))

    async def _counted_before(self, once: str | None) -> bool:
        if once is None:
            return False
        try:
            await self._table.get_entity(PARTITION, once)
        except ResourceNotFoundError:
            return False
        return True

    async def _hit(self, unique: list[RateLimit], window: timedelta, now: datetime, once: str | None) -> int | None:
        with storage_errors():
            await self._ensure_table()
            for attempt in range(_ATTEMPTS):
                seen: list[tuple[Counts, str | None]] = [
                    self._known.get(self._row(limit.key), (EMPTY, None)) for limit in unique
                ]
                wait, after = decide(
                    [(limit, counts) for limit, (counts, _) in zip(unique, seen, strict=True)], now, window
                )
                if wait is not None:
                    # The same message again was counted (and allowed) the first time, even if the limit is
                    # reached since. Read only here and on a conflict: the common hit stays one round trip.
                    return None if await self._counted_before(once) else wait
                ops = [
                    _write(self._row(limit.key), limit, counts, etag)
                    for limit, (_, etag), counts in zip(unique, seen, after, strict=True)
                ]
                if once is not None:
                    ops.append(("create", {"PartitionKey": PARTITION, "RowKey": once, "Kind": "once"}))
                try:
                    written = await self._table.submit_transaction(ops)
                    for limit, counts, result in zip(unique, after, written, strict=False):
                        self._remember(self._row(limit.key), counts, str(result["etag"]))
                    return None
                except TableTransactionError as exc:
                    if exc.status_code not in (409, 412):
                        raise
                    if await self._counted_before(once):
                        return None  # the conflict was the `once` row: this message was counted before
                # Someone else counted since (another instance, or before this one remembered): read, decide again.
                if attempt:
                    await asyncio.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                await asyncio.gather(*(self._read(limit) for limit in unique))
        raise StorageUnavailable("rate-limit counters: too many concurrent updates")

    async def _read(self, limit: RateLimit) -> None:
        key = self._row(limit.key)
        try:
            entity = await self._table.get_entity(PARTITION, key)
        except ResourceNotFoundError:
            self._known.pop(key, None)
            return
        counts = Counts(int(entity["Window"]), int(entity["Current"]), int(entity["Previous"]))
        self._remember(key, counts, str(entity.metadata["etag"]))

    def _remember(self, key: str, counts: Counts, etag: str) -> None:
        self._known[key] = (counts, etag)
        self._known.move_to_end(key)
        while len(self._known) > _REMEMBERED:
            self._known.popitem(last=False)


def _write(row: str, limit: RateLimit, counts: Counts, etag: str | None) -> tuple[Any, ...]:
    entity = {
        "PartitionKey": PARTITION,
        "RowKey": row,
        "Kind": limit.key.split(":", 1)[0],  # ip, to, domain, org: enough to read the table, nothing personal
        "Window": counts.window,
        "Current": counts.current,
        "Previous": counts.previous,
    }
    if etag is None:
        return ("create", entity)
    return (
        "update",
        entity,
        {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified},
    )
