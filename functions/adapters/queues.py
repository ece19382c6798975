"""Azure Queue Storage adapter (azure.storage.queue.aio): the wake-up messages of the queue-triggered dispatcher."""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from ..core.settings import Settings

log = logging.getLogger(__name__)

# After a message went out, calls within this long share the next one: a fan-out writing its chunks one after the
# other wakes the dispatcher a few times, not once per chunk.
GAP_SECONDS = 0.05
# A wake-up older than this is worth nothing (the timer has run since): let the queue drop it.
TIME_TO_LIVE_SECONDS = 600


class QueueWakeup:
    """Puts a small message on the outbox queue (`SSU_OUTBOX_QUEUE`) once mail was queued; the Functions host's
    queue trigger (`outbox_wake`) then runs the dispatcher.

    `mail_queued` only marks a wake-up as due and returns: one task per process sends it, so that a request never
    waits for the queue, and a failure (queue service down, a slow answer) never fails a request: it is logged, and
    the timer sends the mail. Calls that come while a message is on its way make one more message, not one each,
    and that one starts after all of them: each write is covered by a wake-up sent after it committed.
    """

    def __init__(self, settings: Settings, credential: Any | None = None) -> None:
        from azure.storage.queue import TextBase64EncodePolicy
        from azure.storage.queue.aio import QueueClient

        self._timeout = settings.storage_timeout_seconds
        options: dict[str, Any] = {
            # One quick retry (the storage SDK's first would wait 15 s): a wake-up seconds late is worth little.
            "retry_total": 1,
            "initial_backoff": 0.2,
            "increment_base": 0.2,
            "random_jitter_range": 0.1,
            "connection_timeout": self._timeout,
            "read_timeout": self._timeout,
            # The Functions host's queue trigger reads messages as base64 (its default messageEncoding).
            "message_encode_policy": TextBase64EncodePolicy(),
        }
        self._credential = None
        if settings.connection_string:
            self._queue = QueueClient.from_connection_string(
                settings.connection_string, settings.outbox_queue, **options
            )
        else:
            from azure.identity.aio import ManagedIdentityCredential

            assert settings.queue_endpoint is not None
            if credential is None:
                credential = self._credential = ManagedIdentityCredential(client_id=settings.managed_identity_client_id)
            self._queue = QueueClient(settings.queue_endpoint, settings.outbox_queue, credential=credential, **options)
        self.name = settings.outbox_queue
        self._due = False
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def mail_queued(self) -> None:
        self._due = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._send_due())

    async def _send_due(self) -> None:
        while self._due:
            self._due = False
            await self._send_one()
            await asyncio.sleep(GAP_SECONDS)

    async def _send_one(self) -> None:
        body = json.dumps({"queued_at": datetime.now(UTC).isoformat()})
        try:
            try:
                await asyncio.wait_for(self._put(body), self._timeout * 2)
            except ResourceNotFoundError:
                # Infra creates the queue in Azure; Azurite (make run, the tests) starts without it.
                with suppress(ResourceExistsError):
                    await asyncio.wait_for(self._queue.create_queue(), self._timeout * 2)
                await asyncio.wait_for(self._put(body), self._timeout * 2)
        except Exception as exc:  # never a request's failure: the timer sends the mail
            level = logging.DEBUG if self._failing else logging.WARNING  # once per outage, not once per request
            log.log(
                level,
                "outbox wake-up not sent to queue %s (%s: %s); the timer sends the mail",
                self.name,
                type(exc).__name__,
                str(exc)[:200],
            )
            self._failing = True
            return
        if self._failing:
            log.info("outbox wake-ups reach queue %s again", self.name)
        self._failing = False

    async def _put(self, body: str) -> None:
        await self._queue.send_message(body, time_to_live=TIME_TO_LIVE_SECONDS)

    async def flush(self, within_seconds: float | None = None) -> None:
        """Wait until the wake-ups due now went out, at most `within_seconds` (the storage timeout unless told); one
        still on its way then is dropped: the timer sends the mail."""
        if self._task is not None and not self._task.done():
            with suppress(Exception):
                await asyncio.wait_for(self._task, self._timeout if within_seconds is None else within_seconds)

    async def close(self) -> None:
        await self.flush()
        await self._queue.close()
        if self._credential is not None:
            await self._credential.close()
