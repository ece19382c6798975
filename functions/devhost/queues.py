"""Queue-triggered functions in the dev host, run as the Functions host runs them against Azurite's queues.

What the host does, and so does this: poll the queue; take a batch with a visibility timeout (no one else sees a
message while it is being processed); call the function with a `func.QueueMessage` (the body base64-decoded, the
host's default `messageEncoding`); delete the message when the function returns; when it raises, let the message
be seen again after `visibilityTimeout`; after `maxDequeueCount` attempts (or a body that is not base64) move it to
`<queue>-poison`. The settings come from host.json's `extensions.queues`, with the host's defaults.

One difference: the host backs off to `maxPollingInterval` while a queue is empty; the dev host polls every
`IDLE_POLL_SECONDS`, Azurite being on this machine.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

log = logging.getLogger("devhost")

IDLE_POLL_SECONDS = 0.2
ERROR_POLL_SECONDS = 2.0  # storage unreachable: try again, without filling the log
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$")


def timespan_seconds(value: str) -> float:
    """host.json's TimeSpan ("00:00:05", "1.00:00:00") in seconds."""
    match = _TIMESPAN.match(value.strip())
    if not match:
        raise ValueError(f"not a TimeSpan (d.hh:mm:ss): {value!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    """host.json's `extensions.queues` (the host's defaults when absent) and `functionTimeout`."""

    batch_size: int = 16
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0  # how long a message that failed stays invisible before it is tried again
    function_timeout: float = 300.0  # how long a message being processed stays invisible

    @classmethod
    def from_host_json(cls, path: Path) -> QueueOptions:
        if not path.exists():
            return cls()
        config = json.loads(path.read_text(encoding="utf-8"))
        queues = config.get("extensions", {}).get("queues", {})
        return cls(
            batch_size=int(queues.get("batchSize", 16)),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout=timespan_seconds(queues.get("visibilityTimeout", "00:00:00")),
            function_timeout=timespan_seconds(config.get("functionTimeout", "00:05:00")),
        )


def storage_connection(name: str, environ: dict[str, str], fallback: str) -> str:
    """The connection string a trigger's `connection` names, as the host resolves it: the app setting of that name,
    or `AzureWebJobs<name>`; `UseDevelopmentStorage=true` is Azurite's well-known account (`fallback`)."""
    value = environ.get(name) or environ.get(f"AzureWebJobs{name}")
    if not value:
        raise KeyError(
            f"the queue trigger's connection {name!r} is not set: give it a storage connection string "
            "(identity-based connections exist only in Azure)"
        )
    if value.strip().casefold() == "usedevelopmentstorage=true":
        return fallback
    return value


class QueueTrigger:
    """One queue-triggered function, polling its queue until stopped."""

    def __init__(
        self,
        name: str,
        run: Callable[[func.QueueMessage], Awaitable[None]],
        connection_string: str,
        queue_name: str,
        options: QueueOptions,
    ) -> None:
        from azure.storage.queue.aio import QueueClient

        self.name = name
        self.queue_name = queue_name
        self._run = run
        self._options = options
        # No message policies: bodies are decoded here, so that one that is not base64 goes to the poison queue
        # (as the host does) instead of failing the whole batch, and the poison queue gets the body as it came.
        self._queue = QueueClient.from_connection_string(connection_string, queue_name, retry_total=0)
        self._poison = QueueClient.from_connection_string(connection_string, f"{queue_name}-poison", retry_total=0)
        self._failing = False

    async def run_forever(self) -> None:
        while True:
            try:
                handled = await self.poll_once()
            except Exception as exc:  # Azurite away or unreachable: the host logs and keeps polling too
                if not self._failing:
                    log.warning("queue %s (%s): %s: %s", self.queue_name, self.name, type(exc).__name__, exc)
                self._failing = True
                await asyncio.sleep(ERROR_POLL_SECONDS)
                continue
            if self._failing:
                log.info("queue %s (%s) answers again", self.queue_name, self.name)
                self._failing = False
            if not handled:
                await asyncio.sleep(IDLE_POLL_SECONDS)

    async def poll_once(self) -> int:
        """Take one batch and process it; returns how many messages it held."""
        try:
            batch = [
                message
                async for message in self._queue.receive_messages(
                    messages_per_page=self._options.batch_size,
                    max_messages=self._options.batch_size,
                    visibility_timeout=max(1, int(self._options.function_timeout)),
                )
            ]
        except ResourceNotFoundError:
            return 0  # the queue does not exist yet: the first message creates it
        await asyncio.gather(*(self._process(message) for message in batch))
        return len(batch)

    async def _process(self, message: Any) -> None:
        if message.dequeue_count > self._options.max_dequeue_count:
            await self._to_poison(message, "dequeued more than maxDequeueCount times")
            return
        try:
            body = base64.b64decode(str(message.content), validate=True)
        except (binascii.Error, ValueError):
            await self._to_poison(message, "its body is not base64")
            return
        try:
            await self._run(func.QueueMessage(id=message.id, body=body, pop_receipt=message.pop_receipt))
        except Exception:
            log.exception("queue-triggered function %s failed (attempt %d)", self.name, message.dequeue_count)
            if message.dequeue_count >= self._options.max_dequeue_count:
                await self._to_poison(message, f"failed {message.dequeue_count} times")
            else:
                await self._queue.update_message(message, visibility_timeout=int(self._options.visibility_timeout))
            return
        await self._queue.delete_message(message)

    async def _to_poison(self, message: Any, why: str) -> None:
        log.warning("queue %s: message %s moved to %s-poison: %s", self.queue_name, message.id, self.queue_name, why)
        try:
            await self._poison.send_message(message.content)
        except ResourceNotFoundError:
            with suppress(ResourceExistsError):
                await self._poison.create_queue()
            await self._poison.send_message(message.content)
        await self._queue.delete_message(message)

    async def close(self) -> None:
        await self._queue.close()
        await self._poison.close()
