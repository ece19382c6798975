"""The submitter's case page: what they sent, in words; where the case stands and whose move it is; when to expect
Bits' first answer; and a box to add a message or files, which lands on the case as a reply by email would.

The signed link (`k`) is the submitter's proof: only whoever got it from us holds it. The box is offered, and taken,
only once the submitter's address has proven itself (`submitter_proven`), as a reply by email counts only from a
proven sender; before that the link may be in the hands of whoever typed the address into a form.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

from ..core.cases import organisation_name, submitter_proven
from ..core.deadlines import whose_move
from ..core.glossary import NEXT_STEPS, ONBOARDING_STEPS, field_label, long_time, pick
from ..core.model import Case, CaseEvent, Channel, Process
from ..core.receipts import sent_rows
from ..core.retention import is_erased
from ..core.services import Services
from ..core.store import AlreadyProcessed
from ..core.targets import FIRST_RESPONSES, OPEN_STATUSES_WITHOUT_TARGET, Deadlines, deadlines, is_open, target_hours
from ..intake.attachments import judged
from ..intake.content import MAX_TEXT, keep_attachments, masked_text
from ..intake.workflow import CaseMessage, add_message
from ..onboarding.workflow import next_step as onboarding_next_step
from ..web.forms import (
    CSRF_FIELD,
    BodyRejected,
    form_cookie,
    form_submission,
    form_token,
    general,
    page_nonce,
    read_body,
    submission_markers,
)
from ..web.http import html_response

log = logging.getLogger(__name__)

MESSAGE_FIELD = "message"
FILE_FIELD = "attachment"
MAX_FILES = 5  # files in one message: an email carries more, but a page's box is for a few
EVIDENCE = "the signed link to the case page, sent to the submitter's proven address"

_WORDS: dict[str, tuple[str, str]] = {
    "empty": ("Skriv en melding eller legg ved en fil.", "Write a message or attach a file."),
    "too_long": (
        "Meldingen er for lang (høyst {max} tegn). Del den opp, eller legg den ved som fil.",
        "The message is too long (at most {max} characters). Split it, or attach it as a file.",
    ),
    "type": (
        "«{name}» kan ikke legges ved: vi tar ikke imot den filtypen (for eksempel programmer, skript og "
        "Office-filer med makroer). Send PDF, bilder, tekst eller Office-filer uten makroer.",
        '"{name}" cannot be attached: we do not take that type of file (programs, scripts and Office files with '
        "macros, for example). Send PDF, images, text or Office files without macros.",
    ),
    "size": (
        "«{name}» er for stor ({size} MB). Hver fil kan være høyst {max} MB.",
        '"{name}" is too large ({size} MB). Each file may be at most {max} MB.',
    ),
    "too_large": (
        "Det du sendte, er for stort til at vi kan ta imot det. Hver fil kan være høyst {max} MB.",
        "What you sent is too large for us to take. Each file may be at most {max} MB.",
    ),
    "zero": (
        "«{name}» er tom (0 byte). Velg filen på nytt.",
        '"{name}" is empty (0 bytes). Choose the file again.',
    ),
    "too_many": ("Legg ved høyst {max} filer om gangen.", "Attach at most {max} files at a time."),
    "erased": (
        "Saken er avsluttet, og opplysningene i den er slettet etter reglene for lagring. Vil du skrive til Bits, "
        "send en ny henvendelse fra startsiden.",
        "The case is closed, and what it held has been erased under our storage rules. To write to Bits, send a new "
        "request from the start page.",
    ),
    "not_yet": (
        "Bekreft e-postadressen din med lenken vi sendte deg, så kan du skrive til Bits her.",
        "Confirm your email address with the link we sent you; then you can write to Bits here.",
    ),
    "form_only": ("Send meldingen fra skjemaet på siden.", "Send the message from the form on the page."),
    "mailed_link": (
        "Bruk lenken i e-posten vi sendte deg for å skrive til Bits her.",
        "Use the link in the email we sent you to write to Bits here.",
    ),
}


def _said(kind: str, language: str, **context: Any) -> str:
    return pick(_WORDS[kind], language).format(**context)


@dataclass
class Row:
    """One thing the submitter sent: its name and its value in words (a long text as written)."""

    label: str
    text: str


@dataclass
class Entry:
    at: str  # ISO, for <time datetime>
    when: str
    kind: str
    summary: str
    text: str = ""  # the submitter's own message, or Bits' answer
    files: list[str] = field(default_factory=list)
    own: bool = False  # written by the submitter


@dataclass
class Box:
    """The message box: whether it is offered, its CSRF token, and what the last try left in it."""

    open: bool
    token: str = ""
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    notice: str | None = None


# -- what the page shows ----------------------------------------------------------------------------------------


def submitted_rows(case: Case, received: dict[str, Any], organisation: str, language: str) -> list[Row]:
    """What the submitter sent, in words, masked as stored: the rows the acknowledgement repeats (core/receipts.py),
    with the company and the sender after the title."""
    rows = [Row(label, text) for label, text in sent_rows(case, received, language)]
    sender = f"{case.submitter_name} <{case.submitter_email}>" if case.submitter_name else case.submitter_email
    who = [
        Row(field_label("organisation", language), organisation),
        Row(field_label("submitter_name", language), sender),
    ]
    return [*rows[:1], *who, *rows[1:]]


def next_step(case: Case, events: list[CaseEvent], found: Deadlines | None, language: str) -> str:
    """Whose move it is and what happens next, said to the submitter."""
    if case.status == "awaiting_confirmation":
        return pick(NEXT_STEPS["confirm_address"], language)
    if not is_open(case):
        return pick(NEXT_STEPS["finished"], language)
    if case.process == Process.ONBOARDING:
        step = pick(ONBOARDING_STEPS.get(onboarding_next_step(case), ONBOARDING_STEPS["none"]), language)
        return pick(("Det som gjenstår nå, er {step}.", "What remains now is {step}."), language).format(step=step)
    if case.kind == "security_breach":
        return pick(NEXT_STEPS["breach"], language)
    return pick(NEXT_STEPS[whose_move(case, events, found)], language)


def clock(services: Services, case: Case, events: list[CaseEvent]) -> Deadlines | None:
    """The case's response-target clock, where one runs (none while awaiting confirmation, for a breach, or in a
    state with no target)."""
    if case.status in OPEN_STATUSES_WITHOUT_TARGET or case.kind == "security_breach":
        return None
    hours = target_hours(services.settings.response_targets, case)
    return deadlines(case, events, hours, services.clock.now()) if hours else None


def first_answer(found: Deadlines | None, events: list[CaseEvent], language: str) -> tuple[str | None, bool]:
    """When Bits answers at the latest, in Oslo time; or "Bits har svart" once it has (then True); None where no
    target runs and Bits has not answered."""
    if found is not None and found.first_response_due is not None:
        return long_time(found.first_response_due, language), False
    if found is not None or any(e.kind in FIRST_RESPONSES for e in events):
        return pick(("Bits har svart", "Bits has answered"), language), True
    return None, False


def _entries(case: Case, events: list[CaseEvent], language: str, by_mail: bool = True) -> list[Entry]:
    """The public entries; the words in them (Bits' answer or question, the submitter's own messages and files) only
    to the holder of the mailed link: the receipt link's holder sent the form, whoever's address they typed, and
    what the address's owner writes later is not theirs to read."""
    own = case.submitter_email.casefold()
    shown: list[Entry] = []
    for event in events:
        if not event.public:
            continue
        mine = by_mail and event.kind == "message" and event.actor.casefold() == own
        text = ""
        if mine or (by_mail and event.kind in ("answered", "resolved", "question_to_reporter")):
            text = str(event.data.get("message") or event.data.get("text") or "")
        files = [str(a.get("filename")) for a in event.data.get("attachments") or [] if mine and a.get("stored")]
        shown.append(
            Entry(event.at.isoformat(), long_time(event.at, language), event.kind, event.summary, text, files, mine)
        )
    return shown


async def show(
    req: func.HttpRequest,
    services: Services,
    case: Case,
    events: list[CaseEvent],
    language: str,
    *,
    box: Box | None = None,
    status: int = 200,
    submission: str | None = None,
    by_mail: bool = True,
) -> func.HttpResponse:
    """The case page, with the box as the last try left it (or empty), and a fresh CSRF token that carries the
    box's one-time submission id (`submission` when the page shows a try again: sent once more, it is still one)."""
    registry = await services.registry()
    received = next((dict(e.data) for e in events if e.kind == "received"), {})
    found = clock(services, case, events)
    answer, answered = first_answer(found, events, language)
    nonce = page_nonce(req)
    if box is None and is_erased(case):
        box = Box(False, notice=_said("erased", language))  # what is written here would be kept for ever
    box = box or Box(open=submitter_proven(case) and by_mail)
    box.token = form_token(services, nonce, submission)
    body = services.renderer.page(
        "case",
        language=language,
        case=case,
        events=_entries(case, events, language, by_mail),
        by_mail=by_mail,
        receipt=req.params.get("receipt") == "1",
        sent=req.params.get("sent") == "1",
        submitted=submitted_rows(case, received, organisation_name(registry, case), language),
        next_step=next_step(case, events, found, language),
        first_answer=answer,
        found_answered=answered,
        box=box,
        key=req.params.get("k", ""),
        csrf_field=CSRF_FIELD,
        field_labels={},  # filled in by the box's fields as they are drawn, for the error summary above them
        message_field=MESSAGE_FIELD,
        file_field=FILE_FIELD,
        max_mb=services.settings.attachment_max_bytes // (1024 * 1024),
    )
    return html_response(body, status, {"Cache-Control": "no-store", "Set-Cookie": form_cookie(services, nonce)})


# -- the message box ----------------------------------------------------------------------------------------------


async def add(
    req: func.HttpRequest, services: Services, case: Case, language: str, *, by_mail: bool = True
) -> func.HttpResponse:
    """POST from the box: a message and/or files on the case, as the submitter's reply by email would add them;
    then back to the page (Post/Redirect/Get). The same form sent twice adds once (its one-time id is the marker
    of the write). Nothing is stored when anything is refused."""
    if not by_mail:
        # The receipt link was in the hands of whoever sent the form, whoever's address they typed: only the link
        # we mailed writes on the case, as only a reply from the mailbox would.
        log.info("case page: a message on %s refused: sent with the receipt link", case.reference)
        events = await services.store.events(case.reference)
        notice = _said("mailed_link" if submitter_proven(case) else "not_yet", language)
        return await show(
            req, services, case, events, language, box=Box(False, notice=notice), status=403, by_mail=False
        )
    if is_erased(case):
        log.info("case page: a message on %s refused: its personal data was erased", case.reference)
        events = await services.store.events(case.reference)
        box = Box(False, notice=_said("erased", language))
        return await show(req, services, case, events, language, box=box, status=403)
    settings = services.settings
    limit = settings.attachment_max_bytes * MAX_FILES + settings.max_body_bytes
    try:
        data, is_browser = read_body(req, language, limit)
    except BodyRejected as rejected:
        if rejected.response.status_code == 413:  # told on the page, as the box's other refusals are
            notice = _said("too_large", language, max=settings.attachment_max_bytes // (1024 * 1024))
            return await _again(req, services, case, language, {}, {}, notice, 413, None)
        if rejected.fields is None:
            return rejected.response  # a body not read at all: not a form
        return await _again(req, services, case, language, rejected.data or {}, rejected.fields, None, 422, None)
    if not is_browser:
        return await _again(req, services, case, language, {}, {}, _said("form_only", language), 415, None)
    submission = form_submission(req, services, data.pop(CSRF_FIELD, ""))
    if submission is None:
        return await _again(req, services, case, language, data, {}, general("expired", language), 403, None)
    events = await services.store.events(case.reference)
    if not submitter_proven(case):
        log.info("case page: a message on %s refused: the submitter has not proven their address", case.reference)
        return await show(
            req, services, case, events, language, box=Box(False, notice=_said("not_yet", language)), status=403
        )
    # A browser sends a text area's line breaks as CRLF (HTML), an email's text reads as LF: the same message
    # either way.
    text = str(data.get(MESSAGE_FIELD) or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    values = {MESSAGE_FIELD: text}
    errors: dict[str, str] = {}
    uploads = [f for f in req.files.getlist(FILE_FIELD) if f.filename]
    files = []
    for upload in uploads[:MAX_FILES]:
        content = upload.read()
        found = judged(
            content,
            upload.filename or "",
            upload.mimetype or "application/octet-stream",
            max_bytes=settings.attachment_max_bytes,
            allowed_types=tuple(settings.attachment_types),
        )
        if not found.size:  # nothing to keep: no file on the case, nor a message of nothing to Bits
            errors.setdefault(FILE_FIELD, _said("zero", language, name=found.filename))
        elif found.refused:
            size = f"{found.size / (1024 * 1024):.1f}"
            errors.setdefault(
                FILE_FIELD,
                _said(
                    found.refused,
                    language,
                    name=found.filename,
                    size=size if language == "en" else size.replace(".", ","),
                    max=settings.attachment_max_bytes // (1024 * 1024),
                ),
            )
        files.append(found)
    if len(uploads) > MAX_FILES:
        errors.setdefault(FILE_FIELD, _said("too_many", language, max=MAX_FILES))
    if len(text) > MAX_TEXT:
        errors[MESSAGE_FIELD] = _said("too_long", language, max=MAX_TEXT)
    elif not text and not files:
        errors[MESSAGE_FIELD] = _said("empty", language)
    if errors:
        return await show(
            req,
            services,
            case,
            events,
            language,
            box=Box(True, values=values, errors=errors),
            status=422,
            submission=submission,
        )
    masked, count = masked_text(text)
    [marker] = submission_markers(f"case-page/{case.reference}", {}, form_id=submission)
    said = CaseMessage(
        sender=case.submitter_email,
        name=case.submitter_name,
        shown_sender=f"{case.submitter_name} <{case.submitter_email}>" if case.submitter_name else case.submitter_email,
        text=masked,
        identity_numbers_removed=count,
        attachments=await keep_attachments(services, files),
        message_id=f"<web.{marker.removeprefix('submission-')}@{settings.mail_domain}>",
        key=marker.removeprefix("submission-"),
        proven=True,
        evidence=EVIDENCE,
        channel=Channel.WEB,
    )
    try:
        await add_message(services, await services.registry(), case, "submitter", said, markers=[marker])
        log.info("case page: a message on %s with %d files", case.reference, len(files))
    except AlreadyProcessed:
        log.info("case page: a message on %s sent again; added once", case.reference)
    location = f"{services.case_page_link(case.reference, language)}&sent=1"
    return func.HttpResponse(status_code=303, headers={"Location": location, "Cache-Control": "no-store"})


async def _again(
    req: func.HttpRequest,
    services: Services,
    case: Case,
    language: str,
    values: dict[str, Any],
    errors: dict[str, str],
    notice: str | None,
    status: int,
    submission: str | None,
) -> func.HttpResponse:
    events = await services.store.events(case.reference)
    box = Box(
        submitter_proven(case),
        values={MESSAGE_FIELD: str(values.get(MESSAGE_FIELD) or "")},
        errors=errors,
        notice=notice,
    )
    return await show(req, services, case, events, language, box=box, status=status, submission=submission)
