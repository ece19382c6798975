"""Bits' mail health: suppressed addresses with their bounces (an admin lifts them), failed mails (support sends one
again through the outbox), and the mails queued but not yet sent.

A lift goes through `limits.lift`, as the JSON `DELETE /api/mail/suppressions/{address}` does, which records who
lifted it and when. A resend is a new attempt of the very same mail (its identity and Message-ID): the store queues
it again in one transaction with an internal event on the case's timeline that names who asked, and the ordinary
dispatcher claims it, asks the transport whether it went before, and sends it once. Each form carries a one-time
action id (web/forms.py): a resend is written with it as a marker, a lift remembers it in the state store, so that a
form sent twice applies once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import azure.functions as func

from ..core import glossary
from ..core.glossary import long_time, pick
from ..core.mail import MailRecord
from ..core.model import CaseEvent, Channel, parse_reference, partition_of
from ..core.services import Services
from ..core.store import AlreadyProcessed, Backlog, ConcurrentUpdate, StorageUnavailable
from ..core.tokens import without_token
from ..web.forms import form_cookie, form_token, page_nonce
from ..web.http import html_response, requested_language
from ..web.staff import StaffMember
from .case_view import QUEUE_PATH, case_path
from .forms import FORM_STATUS, FORM_WORDS, read_posted

log = logging.getLogger(__name__)

MAIL_PATH = "/api/bits/mail"
FAILED_SHOWN = 200  # the newest failed mails listed
RESENT = "mail_resent"  # the event kind of a resend on the case's timeline
_MAIL_ID = re.compile(r"[0-9a-f]{24}")
_MAX_ADDRESS = 320  # RFC 5321's longest address

# The outbox's reasons (core/outbox.py writes them in English, for logs), by how they start, in words.
_ERRORS: tuple[tuple[str, tuple[str, str]], ...] = (
    (
        "the address is suppressed",
        (
            "Adressen er sperret etter gjentatte permanente returer.",
            "The address is suppressed after repeated permanent bounces.",
        ),
    ),
    ("refused", ("E-posttjenesten avviste e-posten.", "The mail service refused the mail.")),
    ("gave up", ("Ga opp etter for mange mislykkede forsøk.", "Gave up after too many failed attempts.")),
    (
        "not sent within",
        ("Ble ikke sendt i tide, og er for gammel til å sendes.", "Not sent in time: too old to send."),
    ),
    (
        "could not tell",
        (
            "Vi kunne ikke fastslå om e-posten ble sendt; den kan ha kommet fram. Sendes den på nytt, sjekkes "
            "det først.",
            "We could not tell whether the mail was sent; it may have arrived. Sent again, that is checked first.",
        ),
    ),
)
_UNKNOWN_ERROR = ("Sendingen feilet.", "Sending failed.")

# A bounce's delivery status (RFC 3463: class.subject.detail), by subject.detail then subject, in words.
_DSN = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")
_DSN_WORDS: dict[str, tuple[str, str]] = {
    "1.1": ("Adressen finnes ikke", "The address does not exist"),
    "1.2": ("Domenet finnes ikke eller tar ikke imot e-post", "The domain does not exist or takes no mail"),
    "2.1": ("Postkassen er stengt", "The mailbox is disabled"),
    "2.2": ("Postkassen er full", "The mailbox is full"),
    "1": ("Feil ved adressen", "Something is wrong with the address"),
    "2": ("Feil ved postkassen", "Something is wrong with the mailbox"),
    "3": ("Feil ved mottakerens e-postsystem", "The recipient's mail system failed"),
    "4": ("Nettverks- eller rutingsfeil", "A network or routing error"),
    "5": ("Feil i e-postprotokollen", "A mail protocol error"),
    "6": ("Innholdet ble ikke godtatt", "The content was not accepted"),
    "7": ("Avvist av mottakerens sikkerhetsregler", "Refused by the recipient's security policy"),
}

# What the page says after a form, by the `done` its redirect names (never text from the query itself).
DONE: dict[str, tuple[str, str]] = {
    "lifted": (
        "Sperringen er opphevet, og returene er glemt. Adressen får e-post igjen.",
        "The suppression is lifted and its bounces forgotten. The address gets mail again.",
    ),
    "not_listed": (
        "Adressen var ikke sperret (kanskje opphevet allerede). Ingenting er endret.",
        "The address was not suppressed (perhaps lifted already). Nothing was changed.",
    ),
    "resent": (
        "E-posten er lagt i kø på nytt og sendes straks. Det er registrert i saken.",
        "The mail is queued again and goes out shortly. It is recorded on the case.",
    ),
    "again": (
        "Dette skjemaet var allerede sendt, og det ble gjort én gang. Ingenting ble gjort på nytt.",
        "This form was sent before, and it was done once. Nothing was done again.",
    ),
}

_REFUSED: dict[str, tuple[str, str]] = {
    **FORM_WORDS,
    "role": (
        "Å oppheve en sperring krever rollen administrator, og den har du ikke. Ingenting er endret.",
        "Lifting a suppression needs the role admin, which you do not hold. Nothing was changed.",
    ),
    "bad_address": (
        "Det er ingen gyldig e-postadresse i skjemaet. Ingenting er endret.",
        "The form holds no valid email address. Nothing was changed.",
    ),
    "unknown_mail": (
        "Det finnes ingen e-post som feilet med denne identiteten. Ingenting er endret.",
        "There is no failed mail with this identity. Nothing was changed.",
    ),
    "not_failed": (
        "Denne e-posten har ikke feilet (lenger): den er allerede sendt på nytt eller sendt. Ingenting er endret.",
        "This mail has not failed (any more): it was sent again or sent already. Nothing was changed.",
    ),
    "suppressed": (
        "Mottakeren {address} er sperret etter returer. Få en administrator til å oppheve sperringen først, og "
        "send så e-posten på nytt. Ingenting er endret.",
        "The recipient {address} is suppressed after bounces. Have an admin lift the suppression first, then send "
        "the mail again. Nothing was changed.",
    ),
}
_STATUS = {
    **FORM_STATUS,
    "role": 403,
    "bad_address": 400,
    "unknown_mail": 404,
    "not_failed": 409,
    "suppressed": 409,
}


def error_words(error: str, language: str) -> str:
    """What a failed mail's error means, in words (the stored error itself is for logs)."""
    lowered = error.strip().lower()
    for start, words in _ERRORS:
        if lowered.startswith(start):
            return pick(words, language)
    return pick(_UNKNOWN_ERROR, language)


def bounce_words(status: str, language: str) -> str:
    """A delivery status code in words, with the code: `Adressen finnes ikke (5.1.1)`; empty when there is none."""
    found = _DSN.match(status.strip())
    if not found:
        return ""
    _, subject, detail = found.groups()
    words = _DSN_WORDS.get(f"{subject}.{detail}") or _DSN_WORDS.get(subject)
    text = pick(words, language) if words else pick(("Ukjent årsak", "Unknown reason"), language)
    return f"{text} ({status.strip()})"


def age_words(age: timedelta, language: str) -> str:
    """How long, in whole days, hours and minutes: `2 timer og 5 minutter`, `2 hours and 5 minutes`."""
    minutes = max(int(age.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    units = (
        ("dag", "dager", "day", "days"),
        ("time", "timer", "hour", "hours"),
        ("minutt", "minutter", "minute", "minutes"),
    )
    parts = []
    for n, (nb1, nb2, en1, en2) in zip((days, hours, minutes), units, strict=True):
        if n:
            parts.append(f"{n} {pick((nb1 if n == 1 else nb2, en1 if n == 1 else en2), language)}")
    if not parts:
        return pick(("under ett minutt", "less than a minute"), language)
    joiner = pick((" og ", " and "), language)
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + joiner + parts[-1]


@dataclass
class SuppressionRow:
    address: str
    bounces: int
    suppressed: bool
    last_bounce: str
    last_bounce_at: str
    first_bounce: str = ""
    reason: str = ""
    reference: str = ""
    href: str = ""
    csrf_token: str = ""


@dataclass
class LiftRow:
    address: str
    bounces: int
    by: str
    when: str


@dataclass
class FailedRow:
    reference: str
    href: str
    mail_id: str
    to: str
    purpose: str
    subject: str
    when: str
    failed_at: str
    error: str
    detail: str
    attempts: int
    suppressed: bool
    csrf_token: str = ""


@dataclass
class MailHealth:
    suppressions: list[SuppressionRow] = field(default_factory=list)
    lifts: list[LiftRow] = field(default_factory=list)
    failed: list[FailedRow] = field(default_factory=list)
    queued: int = 0
    queued_more: bool = False
    oldest_waited: str = ""
    may_lift: bool = False
    notice: str | None = None


def _when(value: Any, language: str) -> tuple[str, str]:
    """A stored time in words (Oslo time) and as ISO, from a datetime or an ISO string."""
    at: datetime | None = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            at = None
    return (long_time(at, language), at.isoformat()) if at else ("", "")


def build(
    suppressions: list[dict[str, Any]],
    lifts: list[dict[str, Any]],
    failed: list[MailRecord],
    backlog: Backlog,
    now: datetime,
    language: str,
) -> MailHealth:
    """The page's content in words: suppressed (and counted, not yet suppressed) addresses, the latest lifts, the
    newest failed mails, and the queue's size and oldest wait."""
    suppressed = {str(s["address"]).casefold() for s in suppressions if s.get("suppressed")}
    rows = []
    for s in suppressions:
        when, iso = _when(s.get("last_bounce_at"), language)
        first, _ = _when(s.get("first_bounce_at"), language)
        reference = str(s.get("last_reference") or "")
        known = parse_reference(reference) is not None
        rows.append(
            SuppressionRow(
                address=str(s["address"]),
                bounces=int(s.get("permanent_bounces", 0)),
                suppressed=bool(s.get("suppressed")),
                last_bounce=when,
                last_bounce_at=iso,
                first_bounce=first if first != when else "",
                reason=bounce_words(str(s.get("last_status") or ""), language),
                reference=reference if known else "",
                href=case_path(reference) if known else "",
            )
        )
    # Suppressed first, then those nearest to it, then by address: who gets no mail now is what matters.
    rows.sort(key=lambda r: (not r.suppressed, -r.bounces, r.address))
    lifted = [
        LiftRow(
            str(x["address"]),
            int(x.get("permanent_bounces", 0)),
            str(x.get("lifted_by", "")),
            _when(x.get("lifted_at"), language)[0],
        )
        for x in lifts
    ]
    failed_rows = []
    for record in failed:
        mail = record.mail
        when, iso = _when(record.failed_at, language)
        failed_rows.append(
            FailedRow(
                reference=mail.reference,
                # A held message's or a registry trail's mail has no case view to link to.
                href=case_path(mail.reference) if parse_reference(mail.reference) else "",
                mail_id=mail.mail_id,
                to=mail.to,
                purpose=glossary.mail_purpose_words(mail.purpose, language) or pick(("E-post", "Email"), language),
                subject=without_token(mail.subject),
                when=when,
                failed_at=iso,
                error=error_words(record.last_error, language),
                detail=record.last_error,
                attempts=record.attempts,
                suppressed=mail.to.casefold() in suppressed,
            )
        )
    oldest = age_words(now - backlog.oldest_queued_at, language) if backlog.oldest_queued_at else ""
    return MailHealth(rows, lifted, failed_rows, backlog.count, backlog.more, oldest)


def _page_url(language: str, done: str | None = None) -> str:
    query = [f"done={done}"] if done else []
    query += ["lang=en"] if language == "en" else []
    return MAIL_PATH + ("?" + "&".join(query) if query else "")


def _refused(services: Services, kind: str, language: str, **words: str) -> func.HttpResponse:
    text = pick(_REFUSED[kind], language).format(**words)
    body = services.renderer.env.get_template("workspace/action_refused.html").render(
        queue=QUEUE_PATH, language=language, message=text, kind=kind, case=None, back=MAIL_PATH
    )
    return html_response(body, _STATUS[kind], {"Cache-Control": "no-store"})


def _back(language: str, done: str) -> func.HttpResponse:
    """Post/Redirect/Get: back to the page, which says in words what was done."""
    return func.HttpResponse(
        status_code=303, headers={"Location": _page_url(language, done), "Cache-Control": "no-store"}
    )


# -- GET /api/bits/mail ---------------------------------------------------------------------------------------------


async def mail_page(req: func.HttpRequest, services: Services, member: StaffMember) -> func.HttpResponse:
    """The mail health page (the trigger has checked the sign-in): lift forms for an admin, resend forms for all."""
    language = requested_language(req)
    try:
        suppressions = await services.limits.suppressions()
        lifts = await services.limits.lifts()
        failed = await services.store.failed_mails(FAILED_SHOWN)
        backlog = await services.store.backlog()
    except StorageUnavailable:
        return html_response(services.renderer.page("unavailable", language=language), 503)
    view = build(suppressions, lifts, failed, backlog, services.clock.now(), language)
    nonce = page_nonce(req)
    view.may_lift = member.may("admin")
    for row in view.suppressions:
        if row.suppressed and view.may_lift:
            row.csrf_token = form_token(services, nonce)
    for failed_row in view.failed:
        failed_row.csrf_token = form_token(services, nonce)
    done = DONE.get(req.params.get("done", ""))
    view.notice = pick(done, language) if done else None
    body = services.renderer.env.get_template("workspace/mail.html").render(
        queue=QUEUE_PATH, language=language, view=view, path=MAIL_PATH
    )
    return html_response(body, 200, {"Cache-Control": "no-store", "Set-Cookie": form_cookie(services, nonce)})


# -- the forms ------------------------------------------------------------------------------------------------------


async def _form(
    req: func.HttpRequest, services: Services, language: str
) -> tuple[dict[str, Any], str] | func.HttpResponse:
    """The form's fields and its one-time action id, or the refusal page."""
    posted = read_posted(req, services, language)
    if isinstance(posted, func.HttpResponse):
        return posted
    if isinstance(posted, str):
        return _refused(services, posted, language)
    return posted.data, posted.action_id


def _stored(reference: str) -> bool:
    """Whether mail can be stored under `reference`: a case's, a held message's or a company's registry trail."""
    try:
        partition_of(reference)
    except ValueError:
        return False
    return True


def _marker(kind: str, action_id: str) -> str:
    return f"web-{kind}-" + hashlib.sha256(action_id.encode()).hexdigest()[:40]


async def lift(req: func.HttpRequest, services: Services, member: StaffMember) -> func.HttpResponse:
    """POST /api/bits/mail/lift: an admin lifts a suppression, through the same `limits.lift` as the JSON API."""
    language = requested_language(req)
    form = await _form(req, services, language)
    if isinstance(form, func.HttpResponse):
        return form
    data, action_id = form
    if not member.may("admin"):
        log.warning("workspace: staff member %s may not lift a suppression", member.object_id)
        return _refused(services, "role", language)
    address = data.get("address")
    if not isinstance(address, str) or not 3 <= len(address) <= _MAX_ADDRESS or "@" not in address:
        return _refused(services, "bad_address", language)
    marker = _marker("lift", action_id)
    try:
        if (remembered := await services.state.get(marker)) is not None:
            if remembered.get("address") != address.casefold():
                return _refused(services, "expired", language)  # the used form of another address's lift
            return _back(language, "again")
        now = services.clock.now()
        lifted = await services.limits.lift(address, member.email, now, by_id=member.object_id)
        # Remembered once lifted (a lift that failed is tried again by the same form): sent again later, after the
        # address was suppressed anew, this form lifts nothing.
        await services.state.put(marker, {"address": address.casefold(), "by": member.email, "at": now.isoformat()})
    except StorageUnavailable as exc:
        log.error("workspace: a lift not confirmed: %s", exc)
        return _refused(services, "unavailable", language)
    log.info("workspace: lift by staff member %s: %s", member.object_id, "lifted" if lifted else "not listed")
    return _back(language, "lifted" if lifted else "not_listed")


async def resend(req: func.HttpRequest, services: Services, member: StaffMember) -> func.HttpResponse:
    """POST /api/bits/mail/resend: support sends a failed mail again, once, through the outbox."""
    language = requested_language(req)
    form = await _form(req, services, language)
    if isinstance(form, func.HttpResponse):
        return form
    data, action_id = form
    reference, mail_id = data.get("reference"), data.get("mail")
    if not isinstance(reference, str) or not isinstance(mail_id, str):
        return _refused(services, "unknown_mail", language)
    if not _stored(reference) or not _MAIL_ID.fullmatch(mail_id):
        return _refused(services, "unknown_mail", language)
    marker = _marker("resend", action_id)
    try:
        record = await services.store.failed_mail(reference, mail_id)
        if record is None:
            return await _gone(services, reference, mail_id, marker, language)
        if record.mail.to.casefold() in await services.limits.suppressed():
            return _refused(services, "suppressed", language, address=record.mail.to)
        now = services.clock.now()
        event = CaseEvent(
            at=now,
            actor=member.email,
            channel=Channel.WEB,
            kind=RESENT,
            public=False,
            summary=f"{member.name or member.email} sent the email '{record.mail.purpose}' to {record.mail.to} again",
            data={
                "purpose": record.mail.purpose,
                "to": record.mail.to,
                "message_id": record.mail.message_id,
                "by_name": member.name,
                "resend_form": marker,
            },
        )
        # Dated now: the outbox fails a mail older than its maximum age at once, and the letter's Date says when
        # it went. Its identity and Message-ID stay: it is the same mail, and a reply to it threads as before.
        again = replace(record, mail=replace(record.mail, created_at=now))
        try:
            await services.store.resend_failed(again, now, event, markers=[marker])
        except AlreadyProcessed:
            # Markers are kept per partition (cases of one process and year): this form's id may have resent
            # another mail, and then it is that mail's form, not this one's.
            events = await services.store.events(reference)
            if any(
                e.kind == RESENT
                and e.data.get("resend_form") == marker
                and e.data.get("message_id") == event.data["message_id"]
                for e in events
            ):
                return _back(language, "again")
            return _refused(services, "expired", language)
        except ConcurrentUpdate:
            return await _gone(services, reference, mail_id, marker, language)
    except StorageUnavailable as exc:
        log.error("workspace: a resend on %s not confirmed: %s", reference, exc)
        return _refused(services, "unavailable", language)
    log.info("workspace: staff member %s sent mail %s on %s again", member.object_id, mail_id, reference)
    return _back(language, "resent")


async def _gone(services: Services, reference: str, mail_id: str, marker: str, language: str) -> func.HttpResponse:
    """No failed mail to send again: this very form did it before (its first answer lost, a double click), someone
    sent it again, or there never was one."""
    events = await services.store.events(reference)
    if any(e.kind == RESENT and e.data.get("resend_form") == marker for e in events):
        return _back(language, "again")
    mails = await services.store.mails(reference)
    if any(m.mail.mail_id == mail_id for m in mails):
        return _refused(services, "not_failed", language)
    return _refused(services, "unknown_mail", language)
