"""Bits' workspace actions: the decisions processes declare for email replies, taken from the case view's forms.

One mechanism: a web action goes through `intake.commands.apply_decision`, the very code an email reply goes through
(the process's states, its handler, the case's ETag, the follow-through), with the signed-in person as the decider
and the channel `web`. Offered on a case are the decisions asked on it (a token for them exists there) whose states
hold the case's status; each form carries a one-time action id in its CSRF token (web/forms.py), written as the
decision's marker, so that a form sent twice applies once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import azure.functions as func

from ..core import glossary
from ..core.commands import ANSWER, Decision
from ..core.glossary import pick
from ..core.model import Case, Channel, DecisionToken, parse_reference
from ..core.services import Services
from ..core.store import AlreadyProcessed, ConcurrentUpdate, StorageUnavailable
from ..intake.commands import Decider, Reading, apply_decision
from ..web.forms import form_cookie, form_token, page_nonce
from ..web.http import html_response, requested_language
from ..web.staff import Role, StaffMember
from .case_view import QUEUE_PATH, case_path
from .forms import FORM_STATUS, FORM_WORDS, read_posted

log = logging.getLogger(__name__)

# Who may take a decision from the browser: approvers decide change requests; support the rest (admin holds every
# role, web/staff.py). A decision not named here is support's.
ROLE_OF: dict[str, Role] = {"change.decide": "approver"}
TEXT = "text"  # the command field's value for a reply without a command: the text alone
MAX_REASON = 10_000
_ROLE_WORDS: dict[str, tuple[str, str]] = {
    "support": ("brukerstøtte", "support"),
    "approver": ("godkjenner", "approver"),
    "admin": ("administrator", "admin"),
}
# What the case view says after an action, by the `done` its redirect names (never text from the query itself).
DONE: dict[str, tuple[str, str]] = {
    "decided": ("Beslutningen er registrert i saken.", "The decision is recorded on the case."),
    "again": (
        "Dette skjemaet var allerede sendt, og beslutningen er registrert én gang. Ingenting ble gjort på nytt.",
        "This form was sent before, and the decision is recorded once. Nothing was done again.",
    ),
}


def role_for(decision: str) -> Role:
    return ROLE_OF.get(decision, "support")


@dataclass
class ActionForm:
    """One decision offered on the case: its words, the buttons (command name, words), and whether the signed-in
    person holds the role it needs. Answering the submitter (SVAR) and an internal note (text without a command)
    are forms of their own, each with its own one-time token, so that the button says where the text goes."""

    decision: str
    words: str
    about: str
    commands: list[tuple[str, str]]
    accepts_text: bool
    role: str
    allowed: bool
    csrf_token: str = ""
    answers: bool = False
    answer_token: str = ""
    note_token: str = ""


@dataclass
class Panel:
    """The actions part of the case view: the forms, the message after an action, and the CSRF cookie."""

    forms: list[ActionForm] = field(default_factory=list)
    notice: str | None = None
    cookie: str | None = None


def offered(case: Case, tokens: list[DecisionToken], decisions: dict[str, Decision]) -> list[tuple[Decision, str]]:
    """The decisions of Bits' own asked on the case (a token for them exists on it) that its status allows now,
    each with what it acts on (the token's `about`), in the order first asked."""
    found: dict[tuple[str, str], Decision] = {}
    for token in tokens:
        decision = decisions.get(token.decision)
        if decision is not None and decision.bits_decides and case.status in decision.states:
            found.setdefault((token.decision, token.about or ""), decision)
    return [(decision, about) for (_, about), decision in found.items()]


def panel(
    services: Services,
    req: func.HttpRequest,
    case: Case,
    tokens: list[DecisionToken],
    decisions: dict[str, Decision],
    member: StaffMember,
    language: str,
) -> Panel:
    """The forms for the decisions offered, each with a one-time action id; one cookie nonce for the page."""
    nonce = page_nonce(req)
    forms = []
    for decision, about in offered(case, tokens, decisions):
        role = role_for(decision.name)
        forms.append(
            ActionForm(
                decision=decision.name,
                words=glossary.decision_words(decision.name, language),
                about=about,
                commands=[(c.name, glossary.command_words(c.name, language)) for c in decision.commands if c != ANSWER],
                accepts_text=decision.takes_text,
                role=pick(_ROLE_WORDS[role], language),
                allowed=member.may(role),
                csrf_token=form_token(services, nonce),
                answers=ANSWER in decision.commands,
                answer_token=form_token(services, nonce),
                note_token=form_token(services, nonce),
            )
        )
    done = DONE.get(req.params.get("done", ""))
    return Panel(forms, pick(done, language) if done else None, form_cookie(services, nonce) if forms else None)


# -- POST /api/bits/cases/{reference}/actions -----------------------------------------------------------------------

_REFUSED: dict[str, tuple[str, str]] = {
    **FORM_WORDS,
    "not_found": ("Det finnes ingen sak med dette saksnummeret.", "There is no case with this reference."),
    "not_asked": (
        "Denne beslutningen er ikke etterspurt i saken. Ingenting er endret.",
        "This decision is not asked for on the case. Nothing was changed.",
    ),
    "bad_command": (
        "Velg en av kommandoene i skjemaet. Ingenting er endret.",
        "Choose one of the commands in the form. Nothing was changed.",
    ),
    "empty": (
        "Skriv teksten først: et tomt svar eller notat lagres ikke. Ingenting er endret.",
        "Write the text first: an empty answer or note is not kept. Nothing was changed.",
    ),
    "too_long": (
        f"Teksten er for lang (høyst {MAX_REASON} tegn). Ingenting er endret.",
        f"The text is too long (at most {MAX_REASON} characters). Nothing was changed.",
    ),
    "role": (
        "Denne beslutningen krever rollen {role}, og den har du ikke. Ingenting er endret.",
        "This decision needs the role {role}, which you do not hold. Nothing was changed.",
    ),
    "already_decided": (
        "Saken er allerede besluttet eller har gått videre, så skjemaet gjelder ikke lenger. Ingenting er endret. "
        "Se saken slik den er nå.",
        "The case is already decided or has moved on, so the form no longer applies. Nothing was changed. See the "
        "case as it is now.",
    ),
}
_STATUS = {
    **FORM_STATUS,
    "not_found": 404,
    "not_asked": 409,
    "bad_command": 400,
    "too_long": 400,
    "empty": 400,
    "role": 403,
    "already_decided": 409,
}


def _refused(services: Services, kind: str, language: str, reference: str, **words: str) -> func.HttpResponse:
    text = pick(_REFUSED[kind], language).format(**words)
    body = services.renderer.env.get_template("workspace/action_refused.html").render(
        queue=QUEUE_PATH,
        language=language,
        message=text,
        kind=kind,
        case=case_path(reference) if parse_reference(reference) else None,
    )
    return html_response(body, _STATUS[kind], {"Cache-Control": "no-store"})


def _back(path: str, done: str, language: str) -> func.HttpResponse:
    """Post/Redirect/Get: back to the page the form was on (the case view), which says in words what was done."""
    lang = "&lang=en" if language == "en" else ""
    return func.HttpResponse(
        status_code=303, headers={"Location": f"{path}?done={done}{lang}", "Cache-Control": "no-store"}
    )


def action_message_id(services: Services, action_id: str) -> str:
    """A web action's id as the message id a decision's event and mails name (In-Reply-To takes its form)."""
    return f"<web.{action_id}@{services.settings.mail_domain}>"


async def take_action(
    req: func.HttpRequest,
    services: Services,
    decisions: dict[str, Decision],
    member: StaffMember,
    back_to: Callable[[str], str] = case_path,
) -> func.HttpResponse:
    """A decision from the case view's form, by the signed-in `member` (the trigger has checked the sign-in); then
    back to `back_to(reference)` (another workspace page that offers the same forms, such as the drafts')."""
    language = requested_language(req)
    reference = req.route_params.get("reference", "")
    posted = read_posted(req, services, language)
    if isinstance(posted, func.HttpResponse):
        return posted
    if isinstance(posted, str):
        log.info("workspace: an action on %s refused: %s", reference[:40], posted)
        return _refused(services, posted, language, reference)
    data, action_id = posted.data, posted.action_id
    name, about = str(data.get("decision", "")), str(data.get("about", ""))
    command_name, text = str(data.get("command", "")), str(data.get("reason", "")).strip()
    try:
        stored = await services.store.load(reference) if parse_reference(reference) else None
        if stored is None:
            return _refused(services, "not_found", language, reference)
        tokens = await services.store.tokens(reference)
        asked = {(t.decision, t.about or "") for t in tokens}
        decision = decisions.get(name)
        # Only Bits' own decisions: the committee's, a source's or a company's are theirs to take, by reply.
        if decision is None or not decision.bits_decides or (name, about) not in asked:
            return _refused(services, "not_asked", language, reference)
        role = role_for(name)
        if not member.may(role):
            log.warning(
                "workspace: staff member %s lacks the role %s for %s on %s", member.object_id, role, name, reference
            )
            return _refused(services, "role", language, reference, role=pick(_ROLE_WORDS[role], language))
        commands = {c.name: c for c in decision.commands}
        if command_name not in commands and not (command_name == TEXT and decision.takes_text):
            return _refused(services, "bad_command", language, reference)
        if len(text) > MAX_REASON:
            return _refused(services, "too_long", language, reference)
        if not text and command_name in (ANSWER.name, TEXT):
            return _refused(services, "empty", language, reference)
        message_id = action_message_id(services, action_id)
        decider = Decider(
            address=member.email,
            name=member.name,
            channel=Channel.WEB,
            action_id=message_id,
            marker="web-action-" + hashlib.sha256(action_id.encode()).hexdigest()[:40],
        )
        reading = Reading(commands.get(command_name), text)
        try:
            applied = await apply_decision(
                services, stored, decisions, decider, lambda _: reading, decision_name=name, about=about or None
            )
        except AlreadyProcessed:
            return _back(back_to(reference), "again", language)
        if applied.status == "already_decided":
            # This very form applied before (its first answer lost, a double click): the same answer as then.
            events = await services.store.events(reference)
            if any((e.data.get("reply") or {}).get("message_id") == message_id for e in events):
                return _back(back_to(reference), "again", language)
            return _refused(services, "already_decided", language, reference)
        if applied.status != "decided":
            return _refused(services, "not_asked", language, reference)
    except (StorageUnavailable, ConcurrentUpdate) as exc:
        log.error("workspace: action on %s not confirmed: %s", reference, exc)
        return _refused(services, "unavailable", language, reference)
    log.info("workspace: staff member %s took %s %s on %s", member.object_id, name, applied.detail, reference)
    return _back(back_to(reference), "decided", language)
