"""Bits' case view: what was submitted, the timeline, the mails, attachments, linked cases and open tokens, in words.

Read-only: it shows a case as its store holds it, in the domain's words (core/glossary.py), never its codes. Staff
only (the trigger checks the sign-in); a decision token's value is never shown, since it is a credential.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import azure.functions as func

from ..core import glossary
from ..core.glossary import field_label, long_date, long_time, pick
from ..core.mail import MailRecord
from ..core.model import REFERENCE_PATTERN, Case, CaseEvent, DecisionToken, parse_reference
from ..core.registry import Registry
from ..core.services import Services
from ..core.store import StorageUnavailable, StoredCase
from ..core.tokens import without_token
from ..web.http import html_response, requested_language

log = logging.getLogger(__name__)

QUEUE_PATH = "/api/bits"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Shown elsewhere on the page (the case's own fields, attachments, a decision's reply) or a credential.
_NOT_A_FIELD = frozenset({"submitter_token", "attachments", "by_name", "reply"})
# The long texts people wrote: shown as text, kept as written (escaped, line breaks kept).
_TEXTS = frozenset(
    {
        "description",
        "description_en",
        "containment",
        "question",
        "need_and_benefit",
        "products_affected",
        "legal_impact",
        "comments",
        "message",
        "text",
        "summary",
        "action_required",
        "note_from_bits",
    }
)
# Details that name another case, and how the link reads.
_LINK_KEYS = ("duplicate_of", "continued_from", "continued_in", "linked_from", "reclassified_to", "reclassified")


def case_path(reference: str) -> str:
    return f"{QUEUE_PATH}/cases/{quote(reference, safe='')}"


@dataclass
class Field:
    """One line of what a case holds: its name, its value in words, a link when it names a case or a document."""

    label: str
    text: str = ""
    href: str | None = None
    long: bool = False  # a text someone wrote: shown as text with its line breaks
    groups: list[list[Field]] = field(default_factory=list)  # a list of records (contacts): one group each


@dataclass
class Entry:
    at: datetime
    when: str
    public: bool
    who: str
    who_name: str
    channel: str
    what: str
    command: str | None = None
    reason: str | None = None
    texts: list[Field] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    attachments: int = 0


@dataclass
class MailRow:
    state: str  # pending | sent | failed | bounced | suppressed
    state_words: str
    to: str
    subject: str
    purpose: str
    when: str
    attempts: int
    error: str


@dataclass
class AttachmentRow:
    filename: str
    size: str
    content_type: str
    kept: bool
    why: str
    inline: bool
    href: str | None
    when: str


@dataclass
class TokenRow:
    person: str
    name: str
    decision: str
    until: str
    reusable: bool
    about: str


@dataclass
class LinkedCase:
    reference: str
    how: str
    href: str


@dataclass
class CaseView:
    case: Case
    organisation: str
    status: str
    process: str
    kind: str
    fields: list[Field]
    submitted: list[Field]
    timeline: list[Entry]
    mails: list[MailRow]
    attachments: list[AttachmentRow]
    linked: list[LinkedCase]
    tokens: list[TokenRow]


# -- values in words ----------------------------------------------------------------------------------------------


def _yes_no(value: bool, language: str) -> str:
    return pick(("Ja", "Yes") if value else ("Nei", "No"), language)


def value_text(key: str, value: Any, language: str) -> str:
    """One value as words: a code by the glossary, yes/no, a date or time in Oslo time, a list joined."""
    if value is None or value == "":
        return pick(("Ikke oppgitt", "Not given"), language)
    if isinstance(value, bool):
        return _yes_no(value, language)
    if isinstance(value, datetime):
        return long_time(value, language)
    if isinstance(value, date):
        return long_date(value, language)
    if isinstance(value, list):
        if not value:
            return pick(("Ingen", "None"), language)
        return ", ".join(value_text(key, item, language) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{field_label(k, language)}: {value_text(k, v, language)}" for k, v in value.items())
    known = glossary.word(key, value, language)
    if known is not None:
        return known
    if isinstance(value, str):
        # A value that looks like a time but is none (a typo in old data) is shown as it stands.
        with suppress(ValueError):
            if _DATETIME.match(value):
                return long_time(datetime.fromisoformat(value), language)
            if _DATE.match(value):
                return long_date(date.fromisoformat(value), language)
    return str(value)


def field_of(key: str, value: Any, language: str) -> Field:
    label = field_label(key, language)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return Field(label, groups=[[field_of(k, v, language) for k, v in item.items()] for item in value])
    if isinstance(value, dict) and value:
        return Field(label, groups=[[field_of(k, v, language) for k, v in value.items()]])
    if isinstance(value, str) and REFERENCE_PATTERN.match(value):
        return Field(label, value, href=case_path(value))
    if isinstance(value, str) and key in ("document_url", "link") and value.startswith("https://"):
        return Field(label, value, href=value)
    long = key in _TEXTS and isinstance(value, str) and bool(value)
    return Field(label, value if long else value_text(key, value, language), long=long)


def fields_of(data: dict[str, Any], language: str) -> list[Field]:
    return [field_of(k, v, language) for k, v in data.items() if k not in _NOT_A_FIELD]


def _size(size: int, language: str) -> str:
    if size < 1024:
        return f"{size} byte"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} kB"
    shown = f"{size / (1024 * 1024):.1f}"
    return f"{shown.replace('.', ',') if language != 'en' else shown} MB"


# -- the parts of the page ----------------------------------------------------------------------------------------


def _names(registry: Registry) -> dict[str, str]:
    """Everyone the registry knows, by address: the names shown beside addresses."""
    people = [c for o in registry.organisations.values() for c in o.contacts]
    people += [c for s in registry.sources.values() for c in s.contacts]
    people += registry.bits.contacts if registry.bits else []
    return {c.email.casefold(): c.name for c in people if c.name}


def _entry(event: CaseEvent, names: dict[str, str], language: str) -> Entry:
    data = dict(event.data)
    said = data.get("reply") if isinstance(data.get("reply"), dict) else None
    texts = [
        Field(field_label(k, language), str(v), long=True)
        for k, v in data.items()
        if k in _TEXTS and isinstance(v, str) and v.strip() and event.kind != "received"
    ]
    shown = {
        k: v
        for k, v in data.items()
        if k not in _NOT_A_FIELD and k not in _TEXTS and not (event.kind == "received" and k == "verified")
    }
    if event.kind == "received":
        shown = {}  # what was submitted is the section above
    return Entry(
        at=event.at,
        when=long_time(event.at, language),
        public=event.public,
        who=event.actor,
        who_name=str(data.get("by_name") or names.get(event.actor.casefold(), "")),
        channel=value_text("channel", event.channel.value, language),
        what=glossary.event_words(event.kind, language) or event.summary,
        command=glossary.command_words(str(said.get("command", "")), language) if said else None,
        # The reason as read is often the very text the event keeps (a note, an answer): shown once.
        reason=str(said.get("reason") or "") if said and said.get("reason") not in [t.text for t in texts] else None,
        texts=texts,
        fields=fields_of(shown, language),
        attachments=len(data.get("attachments") or []),
    )


def _bounced(events: list[CaseEvent]) -> set[tuple[str, str]]:
    """(Message-ID, recipient) of every mail a delivery report on the case said bounced."""
    return {
        (str(e.data.get("message_id")), str(r).casefold())
        for e in events
        if e.kind == "mail_bounced"
        for r in e.data.get("recipients", [])
    }


def _mail_row(
    record: MailRecord, bounced: set[tuple[str, str]], suppressed: set[str], tokens: set[str], language: str
) -> MailRow:
    mail = record.mail
    state = record.status
    if (mail.message_id, mail.to.casefold()) in bounced:
        state = "bounced"
    elif state != "sent" and (mail.to.casefold() in suppressed or "suppressed" in record.last_error):
        state = "suppressed"
    at = record.sent_at if state == "sent" else record.due_at
    when = value_text("at", at, language) if at else ""
    return MailRow(
        state=state,
        state_words=glossary.mail_state_words(state, language),
        to=mail.to,
        subject=without_token(mail.subject, tokens),
        purpose=glossary.mail_purpose_words(mail.purpose, language) or pick(("E-post", "Email"), language),
        when=when,
        attempts=record.attempts,
        error=record.last_error if state in ("failed", "suppressed") else "",
    )


def _attachments(case: Case, events: list[CaseEvent], language: str) -> list[AttachmentRow]:
    rows: list[AttachmentRow] = []
    for event in events:
        for a in event.data.get("attachments") or []:
            kept = bool(a.get("stored"))
            refused = str(a.get("refused") or "")
            why = (
                pick(("Lagret", "Kept"), language)
                if kept
                else glossary.word("refused", refused, language)
                or pick(("Ikke lagret (tom fil)", "Not kept (empty file)"), language)
            )
            sha = str(a.get("sha256", ""))
            rows.append(
                AttachmentRow(
                    filename=str(a.get("filename") or pick(("(uten navn)", "(no name)"), language)),
                    size=_size(int(a.get("size") or 0), language),
                    content_type=str(a.get("content_type", "")),
                    kept=kept,
                    why=why,
                    inline=bool(a.get("inline")),
                    href=f"{case_path(case.reference)}/attachments/{sha}" if kept and _SHA256.match(sha) else None,
                    when=long_time(event.at, language),
                )
            )
    return rows


def _linked(case: Case, events: list[CaseEvent], language: str) -> list[LinkedCase]:
    """Cases this one names: in its details (duplicate of, continued from, …) or its events."""
    found: dict[str, str] = {}

    def walk(key: str, value: Any) -> None:
        if isinstance(value, str) and REFERENCE_PATTERN.match(value) and value != case.reference:
            found.setdefault(value, field_label(key, language) if key in _LINK_KEYS else "")
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k, v)
        elif isinstance(value, list):
            for v in value:
                walk(key, v)

    walk("", case.details)
    for event in events:
        walk("", event.data)
    mentioned = pick(("Nevnt i saken", "Mentioned in the case"), language)
    return [LinkedCase(ref, how or mentioned, case_path(ref)) for ref, how in found.items()]


def _tokens(tokens: list[DecisionToken], names: dict[str, str], now: datetime, language: str) -> list[TokenRow]:
    """The decisions people are asked to take and can still take: unexpired, and unused or reusable."""
    outstanding = [t for t in tokens if t.expires_at > now and (t.used_at is None or not t.single_use)]
    return [
        TokenRow(
            person=t.person,
            name=names.get(t.person.casefold(), ""),
            decision=glossary.decision_words(t.decision, language),
            until=long_time(t.expires_at, language),
            reusable=not t.single_use,
            about=t.about or "",
        )
        for t in sorted(outstanding, key=lambda t: (t.expires_at, t.person))
    ]


_CASE_FIELDS = (
    "reference",
    "process",
    "kind",
    "status",
    "organisation_number",
    "submitter_name",
    "submitter_email",
    "submitter_verified",
    "environment",
    "language",
    "created_at",
    "updated_at",
)


def build(
    case: Case,
    events: list[CaseEvent],
    mails: list[MailRecord],
    tokens: list[DecisionToken],
    suppressed: set[str],
    registry: Registry,
    now: datetime,
    language: str,
) -> CaseView:
    names = _names(registry)
    organisation = registry.organisation(case.organisation_number)
    fields = [field_of(k, getattr(case, k), language) for k in _CASE_FIELDS]
    fields[0].href = None  # the case's own reference: this very page
    if organisation is not None:
        fields.insert(5, Field(field_label("organisation", language), organisation.legal_name))
    first = next((e for e in events if e.kind == "received"), events[0] if events else None)
    submitted = [*fields_of(case.details, language), *(fields_of(first.data, language) if first else [])]
    bounced = _bounced(events)
    suppressed = {s.casefold() for s in suppressed}
    return CaseView(
        case=case,
        organisation=organisation.legal_name if organisation else case.organisation_number,
        status=glossary.status_words(case.status, language),
        process=value_text("process", case.process.value, language),
        kind=value_text("kind", case.kind, language),
        fields=fields,
        submitted=submitted,
        timeline=[_entry(e, names, language) for e in events],
        mails=[_mail_row(m, bounced, suppressed, {t.token for t in tokens}, language) for m in mails],
        attachments=_attachments(case, events, language),
        linked=_linked(case, events, language),
        tokens=_tokens(tokens, names, now, language),
    )


# -- HTTP ---------------------------------------------------------------------------------------------------------


def _page(
    services: Services, name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> func.HttpResponse:
    body = services.renderer.env.get_template(f"workspace/{name}.html").render(queue=QUEUE_PATH, **context)
    return html_response(body, status, {"Cache-Control": "no-store", **(headers or {})})


# The actions part of the page (workspace/actions.py), built from the case and its tokens in the page's language:
# an object whose `forms`, `notice` and `cookie` the template and the response use.
PanelFor = Callable[[Case, list[DecisionToken], str], Any]


CaseRecord = tuple[StoredCase, list[CaseEvent], list[MailRecord], list[DecisionToken]]


async def read_case(services: Services, reference: str, language: str) -> CaseRecord | func.HttpResponse:
    """A case with its events, mails and tokens as the store holds them, or the page saying no such case exists
    (the case page and the export read it alike). StorageUnavailable is the caller's to answer."""
    stored = await services.store.load(reference) if parse_reference(reference) else None
    if stored is None:
        return _page(services, "case_not_found", 404, language=language, reference=reference[:60])
    events = await services.store.events(reference)
    return stored, events, await services.store.mails(reference), await services.store.tokens(reference)


async def case_page(req: func.HttpRequest, services: Services, panel_for: PanelFor | None = None) -> func.HttpResponse:
    """GET /api/bits/cases/{reference}: the case as Bits reads it (the trigger has checked the sign-in), with the
    actions `panel_for` offers."""
    language = requested_language(req)
    reference = req.route_params.get("reference", "")
    try:
        record = await read_case(services, reference, language)
        if isinstance(record, func.HttpResponse):
            return record
        stored, events, mails, tokens = record
        suppressed = await services.limits.suppressed()
        registry = await services.registry()
    except StorageUnavailable:
        return html_response(services.renderer.page("unavailable", language=language), 503)
    view = build(stored.case, events, mails, tokens, suppressed, registry, services.clock.now(), language)
    actions = panel_for(stored.case, tokens, language) if panel_for else None
    cookie = {"Set-Cookie": actions.cookie} if actions is not None and actions.cookie else {}
    return _page(
        services, "case", 200, cookie, language=language, view=view, path=case_path(reference), actions=actions
    )


def _listed(events: list[CaseEvent], sha256: str) -> dict[str, Any] | None:
    """The kept attachment of that hash as one of the case's events lists it; None when none does."""
    for event in events:
        for a in event.data.get("attachments") or []:
            if a.get("sha256") == sha256 and a.get("stored"):
                return dict(a)
    return None


def _disposition(filename: str) -> str:
    """`attachment` with the name as sent (RFC 6266: a plain ASCII fallback and the UTF-8 name)."""
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:100] or "vedlegg"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename[:200], safe='')}"


async def attachment(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """GET /api/bits/cases/{reference}/attachments/{sha256}: a kept attachment, only of a hash the case lists."""
    reference = req.route_params.get("reference", "")
    sha256 = req.route_params.get("sha256", "").lower()
    language = requested_language(req)
    not_found = _page(services, "case_not_found", 404, language=language, reference=reference[:60], attachment=True)
    if not _SHA256.match(sha256) or parse_reference(reference) is None:
        return not_found
    try:
        # The hash must be one this very case's events list: Blob Storage holds every case's files by hash, and a
        # hash from elsewhere (another case, a guess) must not open them.
        listed = _listed(await services.store.events(reference), sha256)
        if listed is None:
            return not_found
        data = await services.blobs.get(sha256)
    except StorageUnavailable:
        return html_response(services.renderer.page("unavailable", language=language), 503)
    except Exception as exc:
        # The blob is gone (Blob Storage answers 404; the in-memory store has no such key): nothing to give.
        if not isinstance(exc, KeyError) and getattr(exc, "status_code", None) != 404:
            raise
        log.warning("workspace: %s lists attachment %s… but its blob is missing", reference, sha256[:12])
        return not_found
    return func.HttpResponse(
        data,
        status_code=200,
        mimetype=str(listed.get("content_type") or "application/octet-stream"),
        headers={
            "Content-Disposition": _disposition(str(listed.get("filename") or "vedlegg")),
            "X-Content-Type-Options": "nosniff",
            # Opened in a browser by mistake it runs nothing: no script, no plugin, its own origin.
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
