"""Fan-out of one alert to 500 recipients: from publishing to all queued, and to all sent through the local
transport; and how many HTTP requests the Graph transport makes for them (against the local Graph stub)."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import azurite

from functions.adapters.graph import GraphClient, GraphTransport
from functions.alerts.models import AlertIn
from functions.alerts.workflow import publish_alert
from functions.composition import build_services
from functions.core.identifiers import is_valid_organisation_number
from functions.core.model import Bits, Contact, DataSource, Organisation
from functions.core.outbox import dispatch_outbox
from functions.core.registry import Registry
from functions.core.settings import Settings
from tests.graph_stub import GraphStub, StaticToken

RECIPIENTS = 500


def registry() -> Registry:
    numbers = (f"{n:08d}" for n in range(31000000, 32000000))
    orgs = []
    for base in numbers:
        number = next((base + str(d) for d in range(10) if is_valid_organisation_number(base + str(d))), None)
        if number is None:
            continue
        i = len(orgs)
        contacts = [Contact(email=f"drift{j}@selskap{i}.example", roles=["technical"]) for j in range(2)]
        orgs.append(
            Organisation(
                organisation_number=number,
                legal_name=f"Selskap {i}",
                services=["ufore"],
                environments=["production"],
                contacts=contacts,
            )
        )
        if len(orgs) * 2 >= RECIPIENTS - 1:
            break
    nav = DataSource(
        key="NAV",
        name="NAV",
        organisation_number="889640782",
        contacts=[Contact(email="drift@nav.example", roles=["operations"])],
    )
    bits = Bits(shared_mailbox="ssu@bits.example", contacts=[Contact(email="support@bits.example", roles=["support"])])
    return Registry.of(orgs, [nav], bits)


async def run(connection_string: str, mail_dir: Path, graph: bool) -> None:
    stub = GraphStub()
    await stub.start()
    settings = Settings(
        storage_connection_string=connection_string,
        table_prefix="f" + uuid.uuid4().hex[:10],
        mail_local_dir=mail_dir,
        graph_base_url=stub.base_url,
    )
    transport = (
        GraphTransport(GraphClient(settings, credential=StaticToken()), settings.shared_mailbox) if graph else None
    )
    services = build_services(settings, transport=transport)
    await services.registry_store.save_registry(registry())
    now = datetime.now(UTC)
    alert = AlertIn(
        source_alert_id=f"BENCH-{uuid.uuid4().hex[:6]}",
        kind="maintenance",
        environments=["production"],
        components=["ufore-api"],
        severity="low",
        title="Vedlikehold",
        description="Kort nedetid.",
        starts_at=now + timedelta(days=2),
        ends_at=now + timedelta(days=2, hours=2),
    )
    start = time.perf_counter()
    case, _ = await publish_alert(services, "NAV", alert)
    queued = time.perf_counter() - start
    report = await dispatch_outbox(
        services.store, services.transport, services.clock, services.retry_policy, limit=5000
    )
    sent = time.perf_counter() - start
    mails = len(await services.store.mails(case.reference))
    await services.close()
    await stub.stop()
    transport_name = "Graph (local stub)" if graph else "local"
    print(f"fan-out of one alert to {mails} recipients, {transport_name} transport:")
    print(f"  all queued after {queued * 1000:.0f} ms; all sent after {sent * 1000:.0f} ms ({report.sent} sent)")
    if graph:
        batches = sum(r.path.endswith("/$batch") for r in stub.requests)
        print(
            f"  HTTP requests to Graph: {len(stub.requests)} ({batches} JSON $batch of up to 20 sendMail;"
            f" target ⌈{mails}/20⌉ = {-(-mails // 20)}); MIME messages received by the stub: {len(stub.sent_mime())}"
        )


def main() -> None:
    with azurite() as storage, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(storage.connection_string, Path(tmp) / "mail", graph=False))
        asyncio.run(run(storage.connection_string, Path(tmp) / "mail2", graph=True))


if __name__ == "__main__":
    main()
