"""The local mail transport: each sent message becomes an .eml file in .local/mail/outbox/."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from ..core.mail import OutgoingMail, TransientSendError


class LocalTransport:
    name = "local"

    def __init__(self, mail_dir: Path) -> None:
        self.outbox = mail_dir / "outbox"

    async def send_many(self, mails: Sequence[OutgoingMail]) -> list[Exception | None]:
        return await asyncio.to_thread(self._write_all, mails)

    def _write_all(self, mails: Sequence[OutgoingMail]) -> list[Exception | None]:
        outcomes: list[Exception | None] = []
        for mail in mails:
            try:
                self._write(mail)
                outcomes.append(None)
            except OSError as exc:  # a full disk or a permissions slip: the mail stays pending and is tried again
                outcomes.append(TransientSendError(f"could not write the .eml file: {exc}"))
        return outcomes

    def _write(self, mail: OutgoingMail) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True)
        # The name is the mail's identity: sending the same mail again rewrites the same file, never a second one.
        final = self.outbox / f"{mail.reference}_{mail.mail_id}.eml"
        partial = final.with_suffix(".tmp")
        partial.write_bytes(mail.mime())
        os.replace(partial, final)

    async def close(self) -> None:
        return None
