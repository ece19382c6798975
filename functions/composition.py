"""The composition root: the one place that builds adapters, once per process (per event loop), for the triggers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .adapters.blobs import BlobStore
from .adapters.local_mail import LocalTransport
from .adapters.local_mailbox import LocalMailbox
from .adapters.queues import QueueWakeup
from .adapters.rate_limits import TableRateLimits
from .adapters.tables import TableCaseStore, TableDeliveryLimits, TableRegistryStore, TableStateStore, TableStorage
from .core.clock import Clock, SystemClock
from .core.inbound import Mailbox
from .core.mail import MailTransport
from .core.rendering import Renderer
from .core.services import NoWakeup, RegistryCache, Services, Wakeup, WakingCaseStore
from .core.settings import Settings, get_settings

log = logging.getLogger(__name__)


def build_services(
    settings: Settings,
    *,
    transport: MailTransport | None = None,
    clock: Clock | None = None,
    storage_credential: Any | None = None,
    wakeup: Wakeup | None = None,
) -> Services:
    """`storage_credential` replaces the managed identity, for commands run by a person (see registry_import).
    `wakeup` replaces the outbox queue's (tests)."""
    storage = TableStorage(settings, storage_credential)
    wakeup = wakeup or build_wakeup(settings, storage_credential)
    registry_store = TableRegistryStore(storage)
    graph = None
    if settings.mail_transport == "graph" or settings.mailbox == "graph":
        from .adapters.graph import GraphClient

        graph = GraphClient(settings)  # one client for sending and reading: one token cache, one connection pool
    return Services(
        settings=settings,
        storage=storage,
        # Every write that queues mail wakes the dispatcher after it committed (the timer is the safety net).
        store=WakingCaseStore(TableCaseStore(storage, settings.reference_prefix), wakeup),
        registry_store=registry_store,
        registry_cache=RegistryCache(registry_store, settings.registry_cache_seconds),
        renderer=Renderer(),
        transport=transport or build_transport(settings, graph),
        clock=clock or SystemClock(),
        blobs=BlobStore(settings),
        mailbox=build_mailbox(settings, graph, storage),
        limits=TableDeliveryLimits(storage),
        state=TableStateStore(storage),
        rate_limits=TableRateLimits(storage, settings.effective_signing_key),
        wakeup=wakeup,
    )


def build_wakeup(settings: Settings, credential: Any | None = None) -> Wakeup:
    if settings.connection_string or settings.queue_endpoint:
        return QueueWakeup(settings, credential)
    log.warning("SSU_QUEUE_ENDPOINT is not set: nothing wakes the outbox, mail waits for the timer")
    return NoWakeup()


def build_transport(settings: Settings, graph: Any) -> MailTransport:
    if settings.mail_transport == "graph":
        from .adapters.graph import GraphTransport

        return GraphTransport(graph, settings.shared_mailbox, settings.graph_batch_size)
    return LocalTransport(settings.mail_local_dir)


def build_mailbox(settings: Settings, graph: Any, storage: TableStorage) -> Mailbox:
    if settings.mailbox == "graph":
        from .adapters.graph_mailbox import GraphMailbox

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
