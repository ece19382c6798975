"""What a receipt repeats of a new case: the submitted fields in words, masked as stored, and when Bits answers."""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import date, datetime, timedelta
from typing import Any

from .glossary import field_label, long_date, long_time, pick, word
from .model import Case
from .office_hours import add_office_time
from .targets import OPEN_STATUSES_WITHOUT_TARGET, target_hours

# What a submitter can have sent, in the order a receipt repeats it: the short fields the case keeps in its details
# (from a form, or read from an email's text), then the long texts kept on its first event. Anything else in the
# details is the case's own bookkeeping (its intake, routing, deadlines, registry lookups) and is not repeated.
SENT_DETAILS = (
    "legal_name",
    "services",
    "service",
    "supplier_name",
    "supplier_organisation_number",
    "finans_norge_member",
    "desired_go_live",
    "contacts",
    "category",
    "change_type",
    "urgency",
    "component",
    "severity",
    "occurred_at",
    "discovered_at",
    "http_status",
    "correlation_id",
    "endpoint",
    "customers_affected",
    "breach_type",
    "data_categories",
    "persons_affected",
    "phone",
    "datatilsynet_notified_at",
    "finanstilsynet_notified_at",
)
SENT_TEXTS = (
    "question",
    "description",
    "need_and_benefit",
    "products_affected",
    "legal_impact",
    "containment",
    "comments",
    "message",
)

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YES_NO = {True: ("Ja", "Yes"), False: ("Nei", "No")}
_UNKNOWN = {"unknown": ("Ukjent", "Unknown")}
_ROLES = ("role", "name", "email", "phone")


def value_words(key: str, value: Any, language: str) -> str:
    """One submitted value in words: a code by the glossary, yes/no, a time or date in Oslo time, a list joined."""
    if isinstance(value, bool):
        return pick(_YES_NO[value], language)
    if isinstance(value, list):  # contacts one after the other; each one's parts are joined by commas
        joiner = "; " if any(isinstance(item, dict) for item in value) else ", "
        return joiner.join(value_words(key, item, language) for item in value)
    if isinstance(value, dict):  # a contact: its role, name, address and phone on one line
        parts = [value_words(k, value[k], language) for k in _ROLES if value.get(k) not in (None, "")]
        return ", ".join(parts)
    known = word(key, value, language)
    if known is not None:
        return known
    if isinstance(value, str):
        if value in _UNKNOWN:
            return pick(_UNKNOWN[value], language)
        with suppress(ValueError):  # a value that only looks like a time is shown as it stands
            if _DATETIME.match(value):
                return long_time(datetime.fromisoformat(value), language)
            if _DATE.match(value):
                return long_date(date.fromisoformat(value), language)
    return str(value)


def sent_rows(case: Case, text: dict[str, Any], language: str) -> list[tuple[str, str]]:
    """What the submitter sent, as (label, value) in words: the title and environment, the short fields, the long
    texts as written (masked as stored), and the names of the files kept."""
    rows = [(field_label("title", language), case.title)]
    if case.environment:
        rows.append((field_label("environment", language), value_words("environment", case.environment, language)))
    for key in SENT_DETAILS:
        value = case.details.get(key)
        if value not in (None, "", []):
            rows.append((field_label(key, language), value_words(key, value, language)))
    for key in SENT_TEXTS:
        value = text.get(key)
        if isinstance(value, str) and value.strip():
            rows.append((field_label(key, language), value.strip()))
    kept = [a for a in text.get("attachments") or [] if not a.get("inline") and not a.get("refused")]
    files = [str(a.get("filename")) for a in kept]
    if files:
        rows.append((field_label("attachments", language), ", ".join(files)))
    return rows


def first_response_due(targets: dict[str, list[float]], case: Case, start: datetime) -> datetime | None:
    """When Bits answers a case that reaches it at `start` at the latest: the process's first-response target
    counted in Bits' office hours. None where no target runs (a security breach counts round the clock on its own
    clocks; a notice has no target)."""
    if case.kind == "security_breach" or case.status in OPEN_STATUSES_WITHOUT_TARGET:
        return None
    hours = target_hours(targets, case)
    return add_office_time(start, timedelta(hours=hours[0])) if hours else None
