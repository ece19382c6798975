"""The local mailbox: .eml files dropped into .local/mail/inbox/ are read and moved to processed/ or failed/."""

from __future__ import annotations

import asyncio
import os
from contextlib import suppress
from pathlib import Path

from ..core.inbound import InboxItem


class LocalMailbox:
    name = "local"

    def __init__(self, mail_dir: Path) -> None:
        self.inbox = mail_dir / "inbox"
        self.processed = mail_dir / "processed"
        self.failed = mail_dir / "failed"

    @property
    def failed_folder(self) -> str:
        return str(self.failed)

    async def fetch(self, limit: int) -> list[InboxItem]:
        return await asyncio.to_thread(self._fetch, limit)

    def _fetch(self, limit: int) -> list[InboxItem]:
        if not self.inbox.exists():
            return []
        files = sorted(self.inbox.glob("*.eml"), key=lambda p: (p.stat().st_mtime, p.name))[:limit]
        items = []
        for path in files:
            try:
                items.append(InboxItem(path.name, path.read_bytes()))
            except FileNotFoundError:  # moved by a concurrent run
                continue
        return items

    async def settle(self, item: InboxItem, processed: bool, reason: str) -> None:
        await asyncio.to_thread(self._settle, item, processed, reason)

    def _settle(self, item: InboxItem, processed: bool, reason: str) -> None:
        target = self.processed if processed else self.failed
        target.mkdir(parents=True, exist_ok=True)
        source = self.inbox / item.id
        if not processed:
            (target / f"{item.id}.reason.txt").write_text(reason + "\n", encoding="utf-8")
        with suppress(FileNotFoundError):  # already moved by a second run
            os.replace(source, target / item.id)

    async def checkpoint(self, complete: bool) -> None:
        return None  # files that stay in inbox/ are simply read again

    async def close(self) -> None:
        return None
