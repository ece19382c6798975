"""The local mail transport: each sent message becomes an .eml file in .local/mail/outbox/."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from .mail import OutgoingMail


class LocalTransport:
    name = "local"

    def __init__(self, mail_dir: Path) -> None:
        self.outbox = mail_dir / "outbox"

    async def send(self, mail: OutgoingMail) -> None:
        await asyncio.to_thread(self._write, mail)

    def _write(self, mail: OutgoingMail) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True)
        # The name is the mail's identity: sending the same mail again rewrites the same file, never a second one.
        final = self.outbox / f"{mail.reference}_{mail.mail_id}.eml"
        partial = final.with_suffix(".tmp")
        partial.write_bytes(mail.mime())
        os.replace(partial, final)

    async def close(self) -> None:
        return None
