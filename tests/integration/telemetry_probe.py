"""Run by tests/integration/test_telemetry.py in a process of its own (the SDK is set up once per process): the app's
telemetry configured as in Azure (Azure Monitor's distro, exporting to a closed loopback port), with in-memory
exporters beside it; a question by email through a Graph mailbox, Bits' answer, the outbox through Graph, a health
check and a failing timer, over real Azurite and the Graph stub. Writes what the exporters got as JSON."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from functions.adapters.graph import GraphClient, GraphTransport
from functions.adapters.graph_mailbox import GraphMailbox
from functions.adapters.telemetry import configure_telemetry
from functions.catalogue import CATALOGUE
from functions.composition import build_services
from functions.core import telemetry
from functions.core.commands import ANSWER
from functions.core.model import Channel
from functions.core.outbox import RetryPolicy, dispatch_outbox
from functions.core.settings import Settings
from functions.core.timer_runs import timed_run
from functions.intake.commands import Decider, Reading, apply_decision
from functions.intake.workflow import poll_mailbox
from functions.operations.health import health_report
from functions.registry_import import parse_registry_file
from functions.telemetry_setup import telemetry_mode
from tests.graph_stub import GraphStub, StaticToken
from tests.identity_numbers import identity_number

MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
DEMO_REGISTRY = Path(__file__).resolve().parents[2] / "data" / "demo-registry.json"
# What the probe's people wrote or are: none of it may reach an exporter.
ANSWER_TEXT = "Hei Frida Fagerli, bruk feltet uføregrad. Ring meg på +47 912 34 567 eller skriv til ola@bits.example."
IDENTITY_NUMBER = identity_number(1, 1, 1970, individual=500)
FAILURE = f"could not reach fag@demo-forsikring.example (fødselsnummer {IDENTITY_NUMBER}, telefon +47 912 34 567)"

log = logging.getLogger("functions.probe")


async def scenario(connection_string: str, prefix: str, stub: GraphStub) -> str:
    settings = Settings(
        storage_connection_string=connection_string,
        table_prefix=prefix,
        graph_base_url=stub.base_url,
        outbox_retry_base_seconds=0,
    )
    services = build_services(settings)
    await services.registry_store.save_registry(parse_registry_file(DEMO_REGISTRY))
    graph = GraphClient(settings, credential=StaticToken())
    mailbox = GraphMailbox(graph, "ssu@bits.example", services.state, "SSU behandlet", "SSU avvist")
    stub.deliver((MAIL / "outlook_nb_question.eml").read_bytes())
    report = await poll_mailbox(services, mailbox, CATALOGUE)
    assert report.outcomes == {"new_case": 1}, report.outcomes
    [case] = await services.store.cases()
    stored = await services.store.load(case.reference)
    assert stored is not None
    decider = Decider("ola@bits.example", "Ola Bitsen", Channel.WEB, "web-action-1", "web-action-1")
    applied = await apply_decision(
        services,
        stored,
        CATALOGUE.decisions,
        decider,
        lambda _: Reading(ANSWER, ANSWER_TEXT),
        decision_name="question.bits",
    )
    assert applied.status == "decided", applied
    transport = GraphTransport(graph, "ssu@bits.example")
    sent = await dispatch_outbox(services.store, transport, services.clock, RetryPolicy(3, 0, 0))
    assert sent.sent >= 2, sent
    await health_report(services)

    async def failing() -> None:
        with telemetry.operation("decision", case_reference=case.reference):
            log.warning("probe: a warning about %s", "fag@demo-forsikring.example")
            raise RuntimeError(FAILURE)

    try:
        await timed_run(services, "deadlines_check", failing)
    except RuntimeError:
        log.exception("probe: the timer failed")
    await mailbox.close()
    await services.close()
    return case.reference


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def main(connection_string: str, prefix: str, out: Path) -> None:
    spans, logs, metrics = InMemorySpanExporter(), InMemoryLogRecordExporter(), InMemoryMetricReader()
    mode = telemetry_mode(os.environ)  # as function_app decides it
    assert mode == "azure", mode
    configure_telemetry(
        Settings(),  # APPLICATIONINSIGHTS_CONNECTION_STRING, as in Azure
        mode,
        span_processors=[SimpleSpanProcessor(spans)],
        log_processors=[SimpleLogRecordProcessor(logs)],
        metric_readers=[metrics],
    )
    logging.getLogger("functions").setLevel(logging.INFO)

    async def run() -> str:
        stub = GraphStub()
        await stub.start()
        try:
            return await scenario(connection_string, prefix, stub)
        finally:
            await stub.stop()

    reference = asyncio.run(run())
    data = metrics.get_metrics_data()
    points = [
        {"name": metric.name, "attributes": dict(point.attributes or {}), "value": getattr(point, "value", None)}
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    ]
    dump = {
        "reference": reference,
        "spans": [
            {
                "name": s.name,
                "kind": s.kind.name,
                "scope": s.instrumentation_scope.name if s.instrumentation_scope else "",
                "span_id": s.context.span_id if s.context else None,
                "parent_id": s.parent.span_id if s.parent else None,
                "attributes": dict(s.attributes or {}),
                "status": s.status.description,
                "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in s.events],
            }
            for s in spans.get_finished_spans()
        ],
        "logs": [
            {"body": r.log_record.body, "attributes": dict(r.log_record.attributes or {})}
            for r in logs.get_finished_logs()
        ],
        "metrics": points,
    }
    out.write_text(json.dumps(_plain(dump), ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
