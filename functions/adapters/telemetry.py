"""The OpenTelemetry SDK: Azure Monitor's distro in Azure, the console locally on request, off otherwise.

In Azure the Functions host runs in OpenTelemetry mode (host.json `telemetryMode`) and makes a span of each
invocation it supports (HTTP triggers; a timer's `timer run` span is a root of its own); the Python worker
(`PYTHON_ENABLE_OPENTELEMETRY`) hands its context to the invocation, so the spans of core/telemetry.py are its
children, and the distro's instrumentations add Table Storage, Blob, Queue (the Azure SDK) and Graph (httpx) calls as
dependencies beneath them. The app configures the distro itself, as Microsoft's page on OpenTelemetry with Functions
describes for Python ("configure_azure_monitor() in function_app.py"), because it adds its own processors and the
managed identity.

Two processors make every span and log record carry the fields of the operation under way (the case reference, the
process, the message's key, the mail's purpose), dependencies included; a third masks what must never leave the app
in a log message or an exception's text: email addresses, Norwegian identity numbers and international phone
numbers (our own code logs references and keys, not people; this guards what an exception or a library writes).
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Status

from ..core.privacy import mask_identity_numbers
from ..core.settings import Settings
from ..core.telemetry import current_fields

log = logging.getLogger(__name__)

# The loggers whose records are exported: the app's own. The Azure SDK's HTTP logging policy logs request URLs and
# headers at INFO; those calls are exported as dependency spans instead, with their fields.
APP_LOGGER = "functions"

# The distro's instrumentations this app uses; the others (web frameworks it does not run, requests/urllib that
# only MSAL's token calls use) stay off.
_INSTRUMENTATIONS = {
    "azure_sdk": {"enabled": True},
    "httpx": {"enabled": True},
    **{name: {"enabled": False} for name in ("django", "fastapi", "flask", "psycopg2")},
    **{name: {"enabled": False} for name in ("requests", "urllib", "urllib3")},
}

# A match starts only where a run of address characters starts: tried from every character inside a long run (a
# hash, a base64 blob in an exception's text), the pattern would take quadratic time.
_ADDRESS = re.compile(r"(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_PHONE = re.compile(r"(?:\+|\b00)\d[\d \u00a0-]{6,16}\d")
# A Norwegian number written without +47 (912 34 567, 91 23 45 67, 91234567): eight digits, the first 2-9, standing
# alone (not part of a longer number: an identity number is masked first, an organisation number has nine).
_NATIONAL_PHONE = re.compile(r"(?<![\w+-])[2-9]\d(?:[ \u00a0]?\d){6}(?![\w-])")
# The exception texts the logging handler copies into attributes (semantic conventions).
_TEXT_ATTRIBUTES = ("exception.message", "exception.stacktrace", "code.function.name")


def scrub(text: str) -> str:
    """The text with addresses, identity numbers and phone numbers (international, and Norwegian without +47) masked."""
    text = _ADDRESS.sub("[adresse]", text)
    text = _PHONE.sub("[telefon]", text)
    text = mask_identity_numbers(text)[0]
    return _NATIONAL_PHONE.sub("[telefon]", text)


class CaseFieldsSpanProcessor(SpanProcessor):
    """Every span started inside an operation carries its fields: a Table Storage call made while a decision is
    applied names the case it was for."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        fields = current_fields()
        if fields:
            span.set_attributes({k: v for k, v in fields.items() if k not in (span.attributes or {})})

    def on_end(self, span: ReadableSpan) -> None:
        """An exception recorded on a span (ours or a dependency's: an Azure SDK or Graph error) keeps its type and
        stack, with addresses, identity numbers and phone numbers masked in its text, before any exporter sees it.
        The SDK has no public way to change an ended span: this relies on its `_events` and `_status`, and
        tests/integration/test_telemetry.py fails if that stops working."""
        events = getattr(span, "_events", None)
        if events:
            span._events = [_scrubbed_event(event) for event in events]
        status = span.status
        if status.description:
            span._status = Status(status.status_code, scrub(status.description))


def _scrubbed_event(event: Event) -> Event:
    attributes = dict(event.attributes or {})
    if not any(isinstance(attributes.get(key), str) for key in _TEXT_ATTRIBUTES):
        return event
    for key in _TEXT_ATTRIBUTES:
        if isinstance(attributes.get(key), str):
            attributes[key] = scrub(str(attributes[key]))
    return Event(event.name, attributes, event.timestamp)


class CaseFieldsLogProcessor(LogRecordProcessor):
    """Every log record carries the fields of the operation under way, and no address, identity number or phone
    number in its exception text. (Its message was masked when it was made: `mask_app_records`, installed with the
    handler; the handler hears the app's own loggers only.)"""

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        record = log_record.log_record
        attributes: Any = record.attributes
        if attributes is not None:
            for key in _TEXT_ATTRIBUTES:
                if isinstance(attributes.get(key), str):
                    attributes[key] = scrub(attributes[key])
            for key, value in current_fields().items():
                attributes.setdefault(key, value)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def configure_telemetry(
    settings: Settings,
    mode: str,
    *,
    span_processors: Sequence[SpanProcessor] = (),
    log_processors: Sequence[LogRecordProcessor] = (),
    metric_readers: Sequence[Any] = (),
) -> None:
    """Set up the SDK once for this process in `mode` (functions/telemetry_setup.py decides it). The extra
    processors and readers are added beside the exporters (the tests pass in-memory ones and read what would have
    been sent)."""
    if mode == "azure":
        _azure(settings, span_processors, log_processors, metric_readers)
    elif mode == "console":
        _console(span_processors, log_processors, metric_readers)
    elif span_processors or log_processors or metric_readers:
        _console(span_processors, log_processors, metric_readers, print_out=False)


def _azure(
    settings: Settings,
    span_processors: Sequence[SpanProcessor],
    log_processors: Sequence[LogRecordProcessor],
    metric_readers: Sequence[Any],
) -> None:
    from azure.identity import ManagedIdentityCredential
    from azure.monitor.opentelemetry import configure_azure_monitor

    assert settings.applicationinsights_connection_string is not None, "SSU_TELEMETRY=azure needs a connection string"
    # Application Insights accepts only Entra ID (infra/modules/monitoring.bicep turns local auth off).
    credential = (
        ManagedIdentityCredential(client_id=settings.managed_identity_client_id) if settings.mode == "azure" else None
    )
    configure_azure_monitor(
        connection_string=settings.applicationinsights_connection_string.get_secret_value(),
        credential=credential,
        logger_name=APP_LOGGER,
        instrumentation_options=_INSTRUMENTATIONS,
        span_processors=[CaseFieldsSpanProcessor(), *span_processors],
        log_record_processors=[CaseFieldsLogProcessor(), *log_processors],
        metric_readers=list(metric_readers),
        enable_live_metrics=False,
    )
    # The Functions worker also forwards every record that reaches the root logger to the host, which exports it
    # itself: past these processors. So the app's records are masked where they are made, and the Azure SDK's HTTP
    # log lines (request URLs with entity keys, headers) do not go that way either.
    mask_app_records()
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)


def mask_app_records() -> None:
    """Mask the app's log records as they are made, for every handler (ours and the worker's): the message is
    formatted and scrubbed once, and an exception's formatted text too (what logging's formatters print). Installed
    once; a record of another logger is left as it is."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "ssu_masking", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.name == APP_LOGGER or record.name.startswith(APP_LOGGER + "."):
            # A record that cannot be formatted is left for logging to report, as it would.
            with suppress(Exception):
                record.msg, record.args = scrub(record.getMessage()), None
                if record.exc_info and record.exc_info[1] is not None:
                    record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        return record

    factory.ssu_masking = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def _console(
    span_processors: Sequence[SpanProcessor],
    log_processors: Sequence[LogRecordProcessor],
    metric_readers: Sequence[Any],
    print_out: bool = True,
) -> None:
    """The same processors and instrumentations as in Azure, printing instead of exporting (or, with the tests'
    in-memory processors only, not printing at all)."""
    from azure.core.settings import settings as azure_settings
    from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan
    from opentelemetry import metrics, trace
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    tracer_provider = TracerProvider()
    for span_processor in (CaseFieldsSpanProcessor(), *span_processors):
        tracer_provider.add_span_processor(span_processor)
    logger_provider = LoggerProvider()
    for log_processor in (CaseFieldsLogProcessor(), *log_processors):
        logger_provider.add_log_record_processor(log_processor)
    readers = list(metric_readers)
    if print_out:
        tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(ConsoleLogRecordExporter()))
        readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=60_000))
    trace.set_tracer_provider(tracer_provider)
    set_logger_provider(logger_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=readers))
    logging.getLogger(APP_LOGGER).addHandler(LoggingHandler(logger_provider=logger_provider))
    mask_app_records()
    azure_settings.tracing_implementation = OpenTelemetrySpan  # what the distro's azure_sdk instrumentation does
    HTTPXClientInstrumentor().instrument()
