"""Run by tests/integration/test_telemetry_leaks.py in a process of its own: the app's span processors and the Azure
SDK's tracing as configured in Azure, with an in-memory exporter; a decision token looked up (as a reply to a
decision mail does) over real Azurite. Writes the spans' attributes as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from functions.adapters.telemetry import configure_telemetry
from functions.composition import build_services
from functions.core import telemetry
from functions.core.settings import Settings

TOKEN = "Zq7decisiontokenSECRET42"


async def scenario(connection_string: str, prefix: str) -> None:
    services = build_services(Settings(storage_connection_string=connection_string, table_prefix=prefix))
    with telemetry.operation("intake email", one_case=True, channel="email"):
        await services.store.load_token("SSU-D-2026-0001", TOKEN)
    await services.close()


def main(connection_string: str, prefix: str, out: Path) -> None:
    spans = InMemorySpanExporter()
    configure_telemetry(Settings(), "off", span_processors=[SimpleSpanProcessor(spans)])
    asyncio.run(scenario(connection_string, prefix))
    dump = [{"name": s.name, "attributes": dict(s.attributes or {})} for s in spans.get_finished_spans()]
    out.write_text(json.dumps(dump, default=str), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
