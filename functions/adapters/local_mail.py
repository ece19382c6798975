"""The local mail transport: each sent message becomes an .eml file in .local/mail/outbox/."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from ..core.mail import NotStarted, OutgoingMail, TransientSendError


class LocalTransport:
    name = "local"

    def __init__(self, mail_dir: Path) -> None:
        self.outbox = mail_dir / "outbox"

    async def send_many(
        self, mails: Sequence[OutgoingMail], start_within: float | None = None
    ) -> list[Exception | None]:
        deadline = None if start_within is None else time.monotonic() + start_within
        return await asyncio.to_thread(self._write_all, mails, deadline)

    def _write_all(self, mails: Sequence[OutgoingMail], deadline: float | None) -> list[Exception | None]:
        outcomes: list[Exception | None] = []
        for mail in mails:
            if deadline is not None and time.monotonic() > deadline:
                outcomes.append(NotStarted("not written before the claim's deadline"))
                continue
            try:
                self._write(mail)
                outcomes.append(None)
            except OSError as exc:  # a full disk or a permissions slip: the mail stays pending and is tried again
                outcomes.append(TransientSendError(f"could not write the .eml file: {exc}"))
        return outcomes

    def _path(self, mail: OutgoingMail) -> Path:
        # The name is the mail's identity: sending the same mail again rewrites the same file, never a second one.
        return self.outbox / f"{mail.reference}_{mail.mail_id}.eml"

    def _write(self, mail: OutgoingMail) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True)
        final = self._path(mail)
        # Written aside, then renamed: a file under the mail's name is a whole message, so that its being there
        # means it was sent (was_sent), even after a crash mid-write. The partial name is this writer's own.
        partial = final.with_name(f".{final.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            partial.write_bytes(mail.mime())
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)

    async def was_sent(self, mail: OutgoingMail) -> bool | None:
        """Whether the mail's .eml is in outbox/ (this transport's Sent Items)."""
        try:
            return await asyncio.to_thread(self._path(mail).is_file)
        except OSError:
            return None

    async def close(self) -> None:
        return None
