"""The services a workflow works with: the ports (storage, mail, registry, clock) and the few helpers every process
uses to link and compose mail. Built by the composition root (`functions/composition.py`), never here."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock
from .inbound import Mailbox
from .mail import Letter, MailTransport, OutgoingMail, compose_mail
from .outbox import RetryPolicy
from .registry import Registry
from .rendering import Renderer
from .settings import Settings
from .signing import sign
from .store import AttachmentStore, CaseStore, DeliveryLimits, RateLimits, RegistryStore, StateStore, StorageAccount


@dataclass
class RegistryCache:
    """The registry is small (a few hundred organisations): read it whole and keep it for a short while."""

    store: RegistryStore
    ttl_seconds: float
    _value: Registry | None = None
    _read_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self) -> Registry:
        if self._value is None or time.monotonic() - self._read_at > self.ttl_seconds:
            async with self._lock:
                if self._value is None or time.monotonic() - self._read_at > self.ttl_seconds:
                    self._value = await self.store.load_registry()
                    self._read_at = time.monotonic()
        return self._value

    def invalidate(self) -> None:
        self._value = None


@dataclass
class Services:
    settings: Settings
    storage: StorageAccount
    store: CaseStore
    registry_store: RegistryStore
    registry_cache: RegistryCache
    renderer: Renderer
    transport: MailTransport
    clock: Clock
    blobs: AttachmentStore
    mailbox: Mailbox
    limits: DeliveryLimits
    state: StateStore
    rate_limits: RateLimits  # anonymous submissions (web/rate_limit.py; core/cases.py for emailed confirmations)

    async def registry(self) -> Registry:
        return await self.registry_cache.get()

    @property
    def retry_policy(self) -> RetryPolicy:
        s = self.settings
        return RetryPolicy(s.outbox_max_attempts, s.outbox_retry_base_seconds, s.outbox_retry_max_seconds)

    def link(self, path: str) -> str:
        return f"{self.settings.public_base_url.rstrip('/')}/api/{path.lstrip('/')}"

    def case_page_link(self, reference: str) -> str:
        token = sign(self.settings.effective_signing_key, "case-page", {"r": reference})
        return self.link(f"case-page/{reference}?k={token}")

    def compose(
        self,
        *,
        reference: str,
        purpose: str,
        to: str,
        template: str,
        language: str,
        in_reply_to: str | None = None,
        reply_to: str | None = None,
        token: str | None = None,
        **context: Any,
    ) -> OutgoingMail:
        """Render a templated email for one recipient, ready to queue. A decision token goes in the subject."""
        letter: Letter = self.renderer.letter(template, language, reference, **context)
        if token:
            letter = Letter(f"{letter.subject} #{token}", letter.text, letter.html)
        return compose_mail(
            reference=reference,
            purpose=purpose,
            sender_name=self.settings.mail_sender_name,
            sender=self.settings.shared_mailbox,
            to=to,
            letter=letter,
            created_at=self.clock.now(),
            domain=self.settings.mail_domain,
            key=self.settings.effective_signing_key,
            in_reply_to=in_reply_to,
            reply_to=reply_to,
        )

    async def close(self) -> None:
        await self.transport.close()
        await self.storage.close()
        await self.blobs.close()
        await self.mailbox.close()
