"""Bits' held messages: what intake held for Bits, in words, and what Bits does with each - attach, open, discard.

Intake records each message it cannot or may not take in under a reference of its own, `SSU-HELD-<key>`
(intake/set_aside.py: `message_set_aside` for an unreadable one, `message_held` for a stranger on a case or a
command claiming to be Bits). An action on one is recorded there as a `held_handled` event (who, what, when, the case
it went to) in one write with two markers: the form's one-time action id (a form sent twice applies once) and the
held message's own "handled" marker (a second action on it, in another tab or by a colleague at the same moment,
changes nothing and is told so). What follows (the text on a case, a new case) is written after, with markers of its
own, so that sending the same form again completes it and never does it twice.
"""

from __future__ import annotations

import hashlib
import logging
import re
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from typing import Any
from urllib.parse import quote, urlencode

import azure.functions as func

from ..core.cases import Submission, open_case
from ..core.glossary import Words, long_time, pick, word
from ..core.model import Case, CaseEvent, Channel, Process, held_reference, parse_reference
from ..core.privacy import mask_identity_numbers
from ..core.processes import Catalogue
from ..core.registry import Registry
from ..core.retention import is_erased
from ..core.services import Services
from ..core.store import AlreadyProcessed, ConcurrentUpdate, StorageUnavailable
from ..intake.fields import environment_in
from ..web.forms import form_cookie, form_token, page_nonce
from ..web.http import html_response, requested_language
from ..web.staff import StaffMember
from .case_view import QUEUE_PATH, case_path
from .forms import FORM_STATUS, FORM_WORDS, read_posted

log = logging.getLogger(__name__)

HELD_PATH = f"{QUEUE_PATH}/held"
MESSAGE_KINDS = ("message_set_aside", "message_held")
HANDLED = "held_handled"
OPENED = "held_case_opened"
ATTACHED = "held_message_attached"  # the event on the case the text is attached to
MAX_REASON = 2_000
_LINES, _CHARS = 8, 800  # the start of a text shown in the list
_KEY = re.compile(r"^[0-9a-f]{16}$")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_NAMED = re.compile(r"(?<![A-Z0-9-])[A-Z][A-Z0-9]{0,9}-[A-E]-\d{4}-\d{4,}(?!\d)")

# Why a message was held, by the code intake recorded (the set-aside codes as the notice to Bits says them).
REASONS: dict[str, Words] = {
    "no_text": (
        "Det var ingen tekst å lese i den (for eksempel er MIME-strukturen ødelagt eller teksten kan ikke dekodes).",
        "There was no text to read in it (the MIME structure is broken, say, or the text cannot be decoded).",
    ),
    "unreadable_headers": ("Hodefeltene kunne ikke leses.", "Its headers could not be read."),
    "no_from": ("Den har ingen gyldig avsenderadresse.", "It has no valid sender address."),
    "several_from": (
        "Den oppgir mer enn én avsender, noe ekte e-postprogrammer aldri gjør.",
        "It names more than one sender, which real mail programs never do.",
    ),
    "header_defect": (
        "Hodefeltene er ødelagt på en måte som kan skjule hvem som sendte den.",
        "Its headers are broken in a way that can hide who sent it.",
    ),
    "not_participant": (
        "Avsenderen skrev i en sak der hen ikke er deltaker: meldingen er ikke lagt til saken.",
        "The sender wrote on a case they take no part in: the message was not added to the case.",
    ),
    "unproven_command": (
        "En kommando bare Bits kan gi (VILKÅR), fra en avsender som ikke er bekreftet: ingenting er gjort.",
        "A command only Bits may give (VILKÅR), from a sender who is not proven: nothing was done.",
    ),
}
ACTIONS: dict[str, Words] = {
    "attach": ("Lagt til en sak", "Attached to a case"),
    "open_case": ("Åpnet som ny sak", "Opened as a new case"),
    "discard": ("Forkastet", "Discarded"),
    "known_contact": ("Avsenderen meldt som kjent kontakt", "The sender marked as a known contact"),
}
# The processes a held message can open a case in, with the kind of case their email intake makes.
PROCESSES: dict[str, str] = {"D": "question", "C": "error_report", "E": "change_request"}
# What the list says after an action, by the `done` its redirect names (never text from the query itself).
DONE: dict[str, Words] = {
    "attach": (
        "Meldingen er lagt til saken som en intern oppføring.",
        "The message is on the case as an internal entry.",
    ),
    "open_case": ("Meldingen er åpnet som ny sak.", "The message is opened as a new case."),
    "discard": ("Meldingen er forkastet.", "The message is discarded."),
    "again": (
        "Dette skjemaet var allerede sendt, og handlingen er registrert én gang. Ingenting ble gjort på nytt.",
        "This form was sent before, and the action is recorded once. Nothing was done again.",
    ),
}
_REFUSED: dict[str, tuple[int, Words]] = {
    **{kind: (FORM_STATUS[kind], words) for kind, words in FORM_WORDS.items()},
    "not_found": (
        404,
        ("Det finnes ingen holdt melding med denne nøkkelen.", "There is no held message with this key."),
    ),
    "bad_action": (
        400,
        (
            "Velg en av handlingene i skjemaet. Ingenting er endret.",
            "Choose one of the actions in the form. Nothing was changed.",
        ),
    ),
    "too_long": (
        400,
        (
            f"Begrunnelsen er for lang (høyst {MAX_REASON} tegn). Ingenting er endret.",
            f"The reason is too long (at most {MAX_REASON} characters). Nothing was changed.",
        ),
    ),
    "no_case": (
        422,
        (
            "Det finnes ingen sak med saksnummeret {reference}. Skriv et saksnummer som SSU-D-2026-0001. "
            "Ingenting er endret.",
            "There is no case with the reference {reference}. Give a reference such as SSU-D-2026-0001. "
            "Nothing was changed.",
        ),
    ),
    "erased_case": (
        409,
        (
            "Opplysningene i sak {reference} er slettet etter oppbevaringstiden: det som legges til der, ville bli "
            "liggende for alltid. Åpne en ny sak av meldingen i stedet. Ingenting er endret.",
            "The personal data of {reference} was erased after the retention period: what is added there would be "
            "kept for ever. Open a new case from the message instead. Nothing was changed.",
        ),
    ),
    "bad_process": (
        400,
        (
            "Velg spørsmål, feilmelding eller endringsønske. Ingenting er endret.",
            "Choose question, error report or change request. Nothing was changed.",
        ),
    ),
    "no_address": (
        422,
        (
            "Meldingen har ingen gyldig avsenderadresse, så det kan ikke gjøres noe som gjelder avsenderen. "
            "Ingenting er endret.",
            "The message has no valid sender address, so nothing can be done that concerns the sender. "
            "Nothing was changed.",
        ),
    ),
    "own_address": (
        422,
        (
            "Avsenderadressen er Bits' egen postkasse ({address}). E-post fra den blir aldri en sak, og den er ingen "
            "kontaktperson hos en virksomhet. Legg meldingen til en sak eller forkast den. Ingenting er endret.",
            "The sender address is Bits' own mailbox ({address}). Mail from it never becomes a case, and it is no "
            "company's contact. Attach the message to a case or discard it. Nothing was changed.",
        ),
    ),
    "no_organisation": (
        422,
        (
            "Velg en av virksomhetene i registeret. Ingenting er endret.",
            "Choose one of the companies in the registry. Nothing was changed.",
        ),
    ),
    "handled": (
        409,
        (
            "Meldingen er allerede behandlet ({what}, av {by}, {when}). Ingenting er endret.",
            "The message is already handled ({what}, by {by}, {when}). Nothing was changed.",
        ),
    ),
}


def held_path(key: str) -> str:
    return f"{HELD_PATH}/{quote(key, safe='')}"


def registry_path(organisation_number: str, address: str, name: str) -> str:
    """The registry page of the company with its add-contact form filled in with the sender."""
    query = urlencode({"add_email": address, "add_name": name})
    return f"{QUEUE_PATH}/registry/{quote(organisation_number, safe='')}?{query}"


# -- the held messages as stored ------------------------------------------------------------------------------------


@dataclass
class Held:
    """One held message: the record intake made, what Bits did with it, and the case a new case became."""

    key: str
    reference: str
    message: CaseEvent
    handled: CaseEvent | None = None
    opened: str | None = None

    @property
    def data(self) -> dict[str, Any]:
        return self.message.data

    @property
    def sender(self) -> tuple[str, str]:
        """(display name, address) as the message claims them; the address "" when there is none to use."""
        if "sender_address" in self.data:
            name, address = str(self.data.get("sender_name") or ""), str(self.data["sender_address"])
        else:
            # Recorded before the address was kept as mail servers read it: the claim is decoded text, in which an
            # encoded word can put another address before the real one. Only a claim with one address is used.
            claimed = str(self.data.get("claimed_sender") or "")
            name, address = parseaddr(claimed) if claimed.count("@") == 1 else ("", "")
        return name, address if _ADDRESS.match(address) else ""

    @property
    def text(self) -> str:
        return mask_identity_numbers(str(self.data.get("text") or ""))[0]

    @property
    def subject(self) -> str:
        return mask_identity_numbers(str(self.data.get("subject") or ""))[0]

    @property
    def case(self) -> str | None:
        """The case it writes on (intake recorded it), or the one its subject names (a set-aside reply)."""
        case = self.data.get("case")
        if isinstance(case, str) and parse_reference(case):
            return case
        named = _NAMED.search(self.subject)
        return named.group(0) if named and parse_reference(named.group(0)) else None

    @property
    def proven(self) -> bool:
        return bool(self.data.get("sender_proven"))


def gather(pairs: list[tuple[str, CaseEvent]]) -> dict[str, Held]:
    """The held messages, by key, from the events of the held partition."""
    found: dict[str, Held] = {}
    later: list[tuple[str, CaseEvent]] = []
    for reference, event in pairs:
        key = reference.rsplit("-", 1)[-1]
        if event.kind in MESSAGE_KINDS and key not in found:
            found[key] = Held(key, reference, event)
        else:
            later.append((key, event))
    for key, event in later:
        held = found.get(key)
        if held is None:
            continue
        if event.kind == HANDLED and held.handled is None:
            held.handled = event
        elif event.kind == OPENED and held.opened is None:
            held.opened = str(event.data.get("reference") or "") or None
    return found


async def load(services: Services, key: str) -> Held | None:
    reference = held_reference(services.settings.reference_prefix, key)
    return gather([(reference, e) for e in await services.store.events(reference)]).get(key)


# -- the list -------------------------------------------------------------------------------------------------------


@dataclass
class Handling:
    action: str
    words: str
    by: str
    by_name: str
    when: str
    reference: str | None
    href: str | None
    reason: str
    detail: str  # the process chosen, the company named


@dataclass
class ActionForms:
    """The CSRF tokens of one item's forms (each its own one-time action id) and the choices they offer."""

    tokens: dict[str, str]
    organisation: str  # the company chosen by default for the known-contact form


@dataclass
class Item:
    key: str
    at: datetime
    when: str
    sender_name: str
    sender_address: str
    claimed: str
    proven: bool
    subject: str
    reason: str
    lines: str
    more: bool
    case: str | None
    case_href: str | None
    handled: Handling | None
    forms: ActionForms | None = None


@dataclass
class Page:
    items: list[Item]
    show: str
    notice: str | None
    organisations: list[tuple[str, str]] = field(default_factory=list)
    processes: list[tuple[str, str]] = field(default_factory=list)
    cookie: str | None = None


def _start(text: str) -> tuple[str, bool]:
    """The first lines of a text (at most _LINES lines, _CHARS characters), and whether there is more."""
    lines = text.strip().splitlines()
    shown = "\n".join(lines[:_LINES])
    cut = shown[:_CHARS]
    return cut, len(lines) > _LINES or len(shown) > _CHARS


def reason_words(held: Held, language: str) -> str:
    code = str(held.data.get("problem") or "")
    words = REASONS.get(code)
    return pick(words, language) if words else str(held.data.get("detail") or code)


def handling(held: Held, registry: Registry, language: str) -> Handling | None:
    event = held.handled
    if event is None:
        return None
    action = str(event.data.get("action") or "")
    reference = held.opened if action == "open_case" else str(event.data.get("reference") or "") or None
    detail = ""
    if action == "open_case":
        detail = word("process", event.data.get("process"), language) or ""
    elif action == "known_contact":
        number = str(event.data.get("organisation_number") or "")
        organisation = registry.organisation(number)
        detail = f"{organisation.legal_name} ({number})" if organisation else number
    return Handling(
        action=action,
        words=pick(ACTIONS.get(action, (action, action)), language),
        by=event.actor,
        by_name=str(event.data.get("by_name") or ""),
        when=long_time(event.at, language),
        reference=reference,
        href=case_path(reference) if reference and parse_reference(reference) else None,
        reason=str(event.data.get("reason") or ""),
        detail=detail,
    )


def default_organisation(registry: Registry, address: str) -> str:
    """The company the address is a contact of, else the one whose contacts' domain it shares; "" when none."""
    if not address:
        return ""
    found = registry.organisations_of_contact(address) or registry.organisations_of_domain(address.rsplit("@", 1)[-1])
    return found[0].organisation_number if found else ""


def item(held: Held, registry: Registry, language: str) -> Item:
    name, address = held.sender
    lines, more = _start(held.text)
    return Item(
        key=held.key,
        at=held.message.at,
        when=long_time(held.message.at, language),
        sender_name=mask_identity_numbers(name)[0],
        sender_address=address,
        claimed=mask_identity_numbers(str(held.data.get("claimed_sender") or ""))[0],
        proven=held.proven,
        subject=held.subject,
        reason=reason_words(held, language),
        lines=lines,
        more=more,
        case=held.case,
        case_href=case_path(held.case) if held.case else None,
        handled=handling(held, registry, language),
    )


async def held_page(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """GET /api/bits/held: the messages held for Bits, newest first; `show=handled` lists those handled, with what
    was done (the trigger has checked the sign-in)."""
    language = requested_language(req)
    show = "handled" if req.params.get("show") == "handled" else "open"
    try:
        held = gather(await services.store.held_events())
        registry = await services.registry()
    except StorageUnavailable:
        return html_response(services.renderer.page("unavailable", language=language), 503)
    wanted = [h for h in held.values() if (h.handled is not None) == (show == "handled")]
    items = sorted((item(h, registry, language) for h in wanted), key=lambda i: i.at, reverse=True)
    nonce = page_nonce(req)
    for shown in items:
        if shown.handled is None:
            tokens = {action: form_token(services, nonce) for action in ACTIONS}
            shown.forms = ActionForms(tokens, default_organisation(registry, shown.sender_address))
    done = DONE.get(req.params.get("done", ""))
    page = Page(
        items=items,
        show=show,
        notice=pick(done, language) if done else None,
        organisations=sorted(
            ((o.organisation_number, o.legal_name) for o in registry.organisations.values()), key=lambda o: o[1]
        ),
        processes=[(p, word("process", p, language) or p) for p in PROCESSES],
        cookie=form_cookie(services, nonce) if any(i.forms for i in items) else None,
    )
    body = services.renderer.env.get_template("workspace/held.html").render(
        queue=QUEUE_PATH, path=HELD_PATH, language=language, page=page
    )
    headers = {"Cache-Control": "no-store", **({"Set-Cookie": page.cookie} if page.cookie else {})}
    return html_response(body, 200, headers)


# -- POST /api/bits/held/{key}/actions ------------------------------------------------------------------------------


def _refused(services: Services, kind: str, language: str, **words: str) -> func.HttpResponse:
    status, text = _REFUSED[kind]
    body = services.renderer.env.get_template("workspace/held_refused.html").render(
        held=HELD_PATH, language=language, message=pick(text, language).format(**words), kind=kind
    )
    return html_response(body, status, {"Cache-Control": "no-store"})


def _back(done: str, language: str) -> func.HttpResponse:
    """Post/Redirect/Get: back to the list, which says in words what was done."""
    lang = "&lang=en" if language == "en" else ""
    return func.HttpResponse(
        status_code=303, headers={"Location": f"{HELD_PATH}?done={done}{lang}", "Cache-Control": "no-store"}
    )


def _to(location: str) -> func.HttpResponse:
    return func.HttpResponse(status_code=303, headers={"Location": location, "Cache-Control": "no-store"})


def _already(services: Services, held: Held, registry: Registry, language: str) -> func.HttpResponse:
    done = handling(held, registry, language)
    assert done is not None
    by = f"{done.by_name} <{done.by}>" if done.by_name else done.by
    what = f"{done.words}: {done.reference}" if done.reference else done.words
    return _refused(services, "handled", language, what=what, by=by, when=done.when)


async def take_held_action(
    req: func.HttpRequest, services: Services, catalogue: Catalogue, member: StaffMember
) -> func.HttpResponse:
    """An action on a held message from the list's form, by the signed-in `member` (the trigger checked the role)."""
    language = requested_language(req)
    key = req.route_params.get("key", "")
    posted = read_posted(req, services, language)
    if isinstance(posted, func.HttpResponse):
        return posted
    if isinstance(posted, str):
        log.info("workspace: an action on held message %s refused: %s", key[:20], posted)
        return _refused(services, posted, language)
    data, action_id = posted.data, posted.action_id
    action = str(data.get("action", ""))
    # What Bits types is masked before it is stored, as in every form (core/privacy.py).
    reason = mask_identity_numbers(str(data.get("reason", "")).strip())[0]
    if action not in ACTIONS:
        return _refused(services, "bad_action", language)
    if len(reason) > MAX_REASON:
        return _refused(services, "too_long", language)
    marker = "web-action-" + hashlib.sha256(action_id.encode()).hexdigest()[:40]
    try:
        held = await load(services, key) if _KEY.match(key) else None
        if held is None:
            return _refused(services, "not_found", language)
        registry = await services.registry()
        if held.handled is not None:
            if held.handled.data.get("action_id") != marker:
                return _already(services, held, registry, language)
            return await _again(services, catalogue, held, language)
        choice = await _choice(services, held, registry, action, data)
        if isinstance(choice, tuple):
            kind, words = choice
            return _refused(services, kind, language, **words)
        event = CaseEvent(
            at=services.clock.now(),
            actor=member.email,
            channel=Channel.WEB,
            kind=HANDLED,
            public=False,
            summary=f"{pick(ACTIONS[action], 'en')} by {member.email}",
            data={"action": action, "by_name": member.name, "action_id": marker, **choice, "reason": reason},
        )
        try:
            await services.store.append(held.reference, event, markers=[marker, f"held-handled-{key}"])
        except AlreadyProcessed as done:
            if done.reference != held.reference:
                # The form's one-time id was taken by an action on another held message (they share a partition):
                # a form of that message, not of this one.
                log.info("workspace: a used form of %s sent to held message %s; refused", done.reference, key)
                return _refused(services, "expired", language)
            again = await load(services, key)
            assert again is not None and again.handled is not None
            if done.marker != marker:
                return _already(services, again, registry, language)
            return await _again(services, catalogue, again, language)
        held.handled = event
        await follow_through(services, catalogue, held)
    except (StorageUnavailable, ConcurrentUpdate) as exc:
        log.error("workspace: action on held message %s not confirmed: %s", key, exc)
        return _refused(services, "unavailable", language)
    log.info("workspace: staff member %s took %s on held message %s", member.object_id, action, held.reference)
    if action == "known_contact":
        return _to(registry_path(choice["organisation_number"], choice["contact_email"], choice["contact_name"]))
    return _back(action, language)


async def _again(services: Services, catalogue: Catalogue, held: Held, language: str) -> func.HttpResponse:
    """This very form applied before (its answer lost, a double click): what follows it is completed, if it was
    not, and the answer is the one it had."""
    assert held.handled is not None
    await follow_through(services, catalogue, held)
    data = held.handled.data
    if data.get("action") == "known_contact":
        number, address = str(data["organisation_number"]), str(data["contact_email"])
        return _to(registry_path(number, address, str(data.get("contact_name") or "")))
    return _back("again", language)


async def _choice(
    services: Services, held: Held, registry: Registry, action: str, data: dict[str, Any]
) -> dict[str, str] | tuple[str, dict[str, str]]:
    """What the action's form chose, checked (the details the handled event records); or the refusal's kind."""
    name, address = held.sender
    if action in ("open_case", "known_contact") and address and own_address(services, address):
        return "own_address", {"address": address}
    if action == "attach":
        reference = str(data.get("reference") or held.case or "").strip().upper()[:40]
        stored = await services.store.load(reference) if parse_reference(reference) else None
        if stored is None:
            return "no_case", {"reference": reference or "–"}
        if is_erased(stored.case):
            return "erased_case", {"reference": reference}
        return {"reference": reference}
    if action == "open_case":
        process = str(data.get("process", ""))
        if process not in PROCESSES:
            return "bad_process", {}
        return ("no_address", {}) if not address else {"process": process}
    if action == "known_contact":
        if not address:
            return "no_address", {}
        number = str(data.get("organisation_number", ""))
        if registry.organisation(number) is None:
            return "no_organisation", {}
        return {"organisation_number": number, "contact_email": address, "contact_name": name}
    return {}


def own_address(services: Services, address: str) -> bool:
    """Whether `address` is Bits' shared mailbox, one of its plus tags (ssu+feil@...) or an alias address: mail
    from it is our own, which intake never takes in as a case (intake/noise.py)."""
    settings = services.settings
    local, _, domain = address.casefold().partition("@")
    mailbox_local, _, mailbox_domain = settings.shared_mailbox.casefold().partition("@")
    if domain == mailbox_domain and local.split("+", 1)[0] == mailbox_local:
        return True
    return address.casefold() in {a.casefold() for a in settings.mail_aliases if "@" in a}


async def follow_through(services: Services, catalogue: Catalogue, held: Held) -> str | None:
    """What a recorded action does beyond the record: the text on the case, or the new case (and its reference on
    the held message). Each with a marker of its own, so that doing it again finds what the first time did."""
    assert held.handled is not None
    handled = held.handled
    action = handled.data.get("action")
    if action == "attach":
        reference = str(handled.data["reference"])
        stored = await services.store.load(reference)
        if stored is not None and is_erased(stored.case):
            return reference  # erased after Bits chose it: nothing goes under the skeleton (the choice refuses it)
        with suppress(AlreadyProcessed):
            await services.store.append(reference, _attached(held, handled), markers=[f"held-{held.key}"])
        return reference
    if action == "open_case":
        if held.opened:
            return held.opened
        try:
            case = await _open(services, catalogue, held, handled)
            reference = case.reference
        except AlreadyProcessed as done:
            reference = done.reference
        opened = CaseEvent(
            at=services.clock.now(),
            actor=handled.actor,
            channel=Channel.WEB,
            kind=OPENED,
            public=False,
            summary=f"Opened as {reference}",
            data={"reference": reference, "by_name": handled.data.get("by_name", "")},
        )
        with suppress(AlreadyProcessed):
            await services.store.append(held.reference, opened, markers=[f"held-opened-{held.key}"])
        held.opened = reference
        return reference
    return None


def _attached(held: Held, handled: CaseEvent) -> CaseEvent:
    """The held message as an internal entry on the case: its text and what it claims, by the staff member."""
    data = held.data
    return CaseEvent(
        at=handled.at,
        actor=handled.actor,
        channel=Channel.WEB,
        kind=ATTACHED,
        public=False,
        summary=f"A message held for Bits ({held.reference}) was attached by {handled.actor}",
        data={
            "message": held.text,
            "claimed_sender": mask_identity_numbers(str(data.get("claimed_sender") or ""))[0],
            "claimed_subject": held.subject,
            "sender_proven": held.proven,
            "held_message": held.reference,
            "message_id": str(data.get("message_id") or ""),
            "attachments": list(data.get("attachments") or []),
            "by_name": str(handled.data.get("by_name") or ""),
            **({"reason": handled.data["reason"]} if handled.data.get("reason") else {}),
        },
    )


async def _open(services: Services, catalogue: Catalogue, held: Held, handled: CaseEvent) -> Case:
    """The held message as a new case of the process chosen, opened as its email would have opened it (the email
    intake's templates, Bits told); the sender as proven as the message was: one not proven gets only the neutral
    confirmation request, never the text, and the case waits for it (core/cases.py)."""
    process = str(handled.data["process"])
    intake = catalogue.email_intakes[process]
    name, address = held.sender
    registry = await services.registry()
    text, subject = held.text, held.subject
    details: dict[str, Any] = {"source": "email", "routed_by": "bits", "from_held": held.reference}
    submission = Submission(
        kind=PROCESSES[process],
        organisation_number=default_organisation(registry, address),
        name=name or address.split("@", 1)[0],
        email=address,
        title=subject or "(uten emne)",
        language=str(held.data.get("language") or "nb"),
        environment=environment_in(subject, text),
        details=intake.email_details(details) if intake.email_details else details,
        text={
            "message": text,
            "message_id": str(held.data.get("message_id") or ""),
            "attachments": list(held.data.get("attachments") or []),
        },
        email_proven=held.proven,
        filed_by=handled.actor,
    )
    assert Process(process) == intake.process
    return await open_case(services, intake, submission, Channel.EMAIL, markers=[f"held-{held.key}"])
