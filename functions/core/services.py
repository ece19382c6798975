"""The composition root: builds the adapters once per process (per event loop) and hands them to triggers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from ..intake.local_mailbox import LocalMailbox
from ..intake.mailbox import Mailbox
from .blobs import BlobStore
from .clock import Clock, SystemClock
from .local_mail import LocalTransport
from .mail import Letter, MailTransport, OutgoingMail, compose_mail
from .outbox import RetryPolicy
from .registry import Registry
from .rendering import Renderer
from .settings import Settings, get_settings
from .signing import sign
from .store import CaseStore, DeliveryLimits, RegistryStore
from .tables import TableCaseStore, TableDeliveryLimits, TableRegistryStore, TableStateStore, TableStorage


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
    storage: TableStorage
    store: CaseStore
    registry_store: RegistryStore
    registry_cache: RegistryCache
    renderer: Renderer
    transport: MailTransport
    clock: Clock
    blobs: BlobStore
    mailbox: Mailbox
    limits: DeliveryLimits

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
            in_reply_to=in_reply_to,
            reply_to=reply_to,
        )

    async def close(self) -> None:
        await self.transport.close()
        await self.storage.close()
        await self.blobs.close()
        await self.mailbox.close()


def build_services(
    settings: Settings,
    *,
    transport: MailTransport | None = None,
    clock: Clock | None = None,
    storage_credential: Any | None = None,
) -> Services:
    """`storage_credential` replaces the managed identity, for commands run by a person (see registry_import)."""
    storage = TableStorage(settings, storage_credential)
    registry_store = TableRegistryStore(storage)
    graph = None
    if settings.mail_transport == "graph" or settings.mailbox == "graph":
        from .graph import GraphClient

        graph = GraphClient(settings)  # one client for sending and reading: one token cache, one connection pool
    return Services(
        settings=settings,
        storage=storage,
        store=TableCaseStore(storage, settings.reference_prefix),
        registry_store=registry_store,
        registry_cache=RegistryCache(registry_store, settings.registry_cache_seconds),
        renderer=Renderer(),
        transport=transport or build_transport(settings, graph),
        clock=clock or SystemClock(),
        blobs=BlobStore(settings),
        mailbox=build_mailbox(settings, graph, storage),
        limits=TableDeliveryLimits(storage),
    )


def build_transport(settings: Settings, graph: Any) -> MailTransport:
    if settings.mail_transport == "graph":
        from .graph import GraphTransport

        return GraphTransport(graph, settings.shared_mailbox, settings.graph_batch_size)
    return LocalTransport(settings.mail_local_dir)


def build_mailbox(settings: Settings, graph: Any, storage: TableStorage) -> Mailbox:
    if settings.mailbox == "graph":
        from ..intake.graph_mailbox import GraphMailbox

        return GraphMailbox(
            graph,
            settings.shared_mailbox,
            TableStateStore(storage),
            settings.mailbox_processed_folder,
            settings.mailbox_failed_folder,
        )
    return LocalMailbox(settings.mail_local_dir)


_by_loop: dict[int, Services] = {}


def get_services() -> Services:
    """The process's services. Async SDK clients belong to one event loop, so there is one set per loop."""
    loop = asyncio.get_running_loop()
    services = _by_loop.get(id(loop))
    if services is None:
        services = _by_loop[id(loop)] = build_services(get_settings())
    return services
