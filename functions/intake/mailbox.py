"""The Mailbox port: raw RFC 5322 messages in, each settled afterwards as processed or failed (with the reason)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class InboxItem:
    """One message waiting in the mailbox: the adapter's id for it and its raw bytes."""

    id: str
    raw: bytes


class Mailbox(Protocol):
    name: str

    async def fetch(self, limit: int) -> list[InboxItem]:
        """Messages not yet settled, oldest first (at most `limit`)."""

    async def settle(self, item: InboxItem, processed: bool, reason: str) -> None:
        """Move the message to processed/ or failed/; the reason is kept beside a failed one."""

    async def checkpoint(self, complete: bool) -> None:
        """After a round: `complete` when every fetched message was settled (the Graph delta link moves on then)."""

    async def close(self) -> None: ...
