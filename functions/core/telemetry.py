"""What the app tells its operators: spans, counters and log fields about cases, in one vocabulary, never personal data.

Only the OpenTelemetry API is used here: without a configured SDK (locally, by default) every call is a no-op. The
SDK, its exporters and the processors that copy these fields onto every span and log record live in
adapters/telemetry.py, configured once by function_app.py.

The fields are few and checked: a case's reference, its process (A-E) and kind, a message's key (the hash intake
indexes it by, never the Message-ID itself, which can hold an address), a mail's purpose (its family from the
glossary: purposes carry keys and tokens after the prefix), an outcome, a timer's name, a command, a level. A value
that does not look like what its field holds is dropped, so a slip in the code cannot put a name or an address into
telemetry; an unknown field is a programming error, refused at once (tests catch it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from opentelemetry import metrics, trace

from .glossary import MAIL_PURPOSES
from .model import Case, parse_reference

tracer = trace.get_tracer("ssu")
_meter = metrics.get_meter("ssu")

# Field -> what its value must look like. Everything here is a code of ours or a hash, none of it about a person.
_WORD = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_VALID: dict[str, Callable[[str], object]] = {
    # SSU-D-2026-0001, SSU-REG-<organisation number>, SSU-HELD-<hash>: our references, never an address
    "ssu.case_reference": re.compile(r"^[A-Z][A-Z0-9]{0,9}(-(?:[A-Z0-9]{1,32}|[0-9a-f]{8,32})){1,4}$").match,
    "ssu.process": re.compile(r"^[A-E]$").match,
    "ssu.case_kind": _WORD.match,
    "ssu.message_id": re.compile(r"^[0-9a-f]{16,64}$").match,
    "ssu.purpose": _WORD.match,
    "ssu.outcome": _WORD.match,
    "ssu.channel": _WORD.match,
    "ssu.timer": _WORD.match,
    "ssu.command": _WORD.match,
    "ssu.check": re.compile(r"^[a-z][a-z0-9_:]{0,60}$").match,
    "ssu.level": re.compile(r"^[0-9]{1,2}$").match,
}
FIELDS = tuple(_VALID)

# The metrics, by name: what each counts. infra/modules/monitoring.bicep alerts on these names.
METRICS: dict[str, str] = {
    "ssu.mail.queued": "mails stored to be sent, by purpose and process",
    "ssu.mail.sent": "mails handed to the transport, by purpose",
    "ssu.mail.failed": "mails given up after their retries, by purpose",
    "ssu.intake.outcome": "messages, forms and API calls taken in, by channel and outcome",
    "ssu.decisions": "decisions applied to cases, by process and command",
    "ssu.escalations": "escalations queued, by case kind and level",
    "ssu.timer.runs": "timer runs, by timer and outcome (ok or failed)",
}
HEALTH_METRICS: dict[str, str] = {
    "ssu.health.outbox_oldest_due_minutes": "minutes the mail queued longest has waited, at each health check",
    "ssu.health.poll_age_minutes": "minutes since the mailbox was last read through, at each health check",
    "ssu.health.subscription_hours_left": "hours until the Graph subscription expires, at each health check",
}

_current: ContextVar[Mapping[str, str]] = ContextVar("ssu_telemetry_fields", default=MappingProxyType({}))
# Whether the operation under way is about one case still unnamed (an email, a form): the first case a write names
# is its case. A timer run touches many cases, so nothing names it after the fact.
_open_for_case: ContextVar[bool] = ContextVar("ssu_telemetry_open_for_case", default=False)
_counters: dict[str, Any] = {}
_histograms: dict[str, Any] = {}


def clean(fields: Mapping[str, Any]) -> dict[str, str]:
    """The fields whose values look like what they hold, as strings; None is left out, an unknown field refused."""
    kept: dict[str, str] = {}
    for key, value in fields.items():
        if key not in _VALID:
            raise ValueError(f"not a telemetry field: {key}")
        if value is None:
            continue
        text = str(value)
        if _VALID[key](text):
            kept[key] = text
    return kept


def current_fields() -> dict[str, str]:
    """The fields of the operations under way in this task: the processors add them to every span and log record."""
    return dict(_current.get())


def purpose_family(purpose: str) -> str:
    """A mail purpose without the keys and tokens after its prefix (`answer-3f2a…` -> `answer`), from the glossary's
    list of purposes; one the glossary does not know is `other`."""
    for prefix, _words in MAIL_PURPOSES:
        if purpose.startswith(prefix):  # as glossary.mail_purpose_words reads it: one reading of a purpose
            return prefix.rstrip("-").replace("-", "_")
    return "other"


def case_fields(case: Case | None = None, reference: str | None = None) -> dict[str, str]:
    """A case's fields: its reference, process and kind (the process from the reference when only that is known)."""
    reference = case.reference if case is not None else reference
    parsed = parse_reference(reference) if reference else None
    process = case.process.value if case is not None else (parsed[0].value if parsed else None)
    return clean(
        {"ssu.case_reference": reference, "ssu.process": process, "ssu.case_kind": case.kind if case else None}
    )


class Operation:
    """An operation under way: `note` adds fields learnt on the way (the case a message went to, the outcome)."""

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def note(self, **fields: Any) -> None:
        _note(self._span, _given(fields))

    def note_case(self, case: Case | None = None, reference: str | None = None) -> None:
        _note(self._span, case_fields(case, reference))


def note(**fields: Any) -> None:
    """Add fields to the operation under way, wherever it was started (e.g. the case a form's submit opened)."""
    _note(trace.get_current_span(), _given(fields))


def note_case(case: Case | None = None, reference: str | None = None) -> None:
    """Name the case an operation about one case turned out to be about (the store does, at its first write);
    an operation that already names its case, or is about many (a timer run), is left as it is."""
    if _open_for_case.get() and "ssu.case_reference" not in _current.get():
        _note(trace.get_current_span(), case_fields(case, reference))


def _note(span: trace.Span, kept: dict[str, str]) -> None:
    if kept:
        span.set_attributes(kept)
        _current.set({**_current.get(), **kept})


@contextmanager
def operation(name: str, *, case: Case | None = None, one_case: bool = False, **fields: Any) -> Iterator[Operation]:
    """A span named in the domain's words (`intake email`, `decision`, `timer run`) with these fields, which every
    span and log record inside it carries too. Fields are given without the `ssu.` prefix: `case_reference=...`;
    `case` gives a case's own. `one_case`: the operation is about one case, which the first write names when the
    fields do not."""
    kept = {**(case_fields(case) if case is not None else {}), **_given(fields)}
    token = _current.set({**_current.get(), **kept})
    scope = _open_for_case.set(one_case)
    try:
        # The span records the exception's type, never its text: a message may quote what a person wrote.
        with tracer.start_as_current_span(
            name, attributes=kept, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield Operation(span)
            except BaseException as exc:
                span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
                span.add_event("exception", {"exception.type": type(exc).__name__})
                raise
    finally:
        _open_for_case.reset(scope)
        _current.reset(token)


def count(metric: str, amount: int = 1, **fields: Any) -> None:
    """Add to one of METRICS, with these fields as its dimensions."""
    if metric not in METRICS:
        raise ValueError(f"not a metric: {metric}")
    if metric not in _counters:
        _counters[metric] = _meter.create_counter(metric, description=METRICS[metric])
    _counters[metric].add(amount, _given(fields))


def measure(metric: str, value: float, **fields: Any) -> None:
    """Record one figure of HEALTH_METRICS (the alerts read its max or min over a window)."""
    if metric not in HEALTH_METRICS:
        raise ValueError(f"not a health metric: {metric}")
    if metric not in _histograms:
        _histograms[metric] = _meter.create_histogram(metric, description=HEALTH_METRICS[metric])
    _histograms[metric].record(value, _given(fields))


def _given(fields: Mapping[str, Any]) -> dict[str, str]:
    """Fields as the call sites give them (without the `ssu.` prefix), checked."""
    return clean({_key(k): v for k, v in fields.items()})


def _key(name: str) -> str:
    return name if name.startswith("ssu.") else f"ssu.{name}"
