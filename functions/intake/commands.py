"""Decisions by email reply: the one mechanism every process uses to let people act by answering our emails.

An email that asks someone to act carries a token bound to (case, person, decision), in the subject (`#token`) and
in a plus-addressed Reply-To (`ssu+token@…`). A process declares a `Decision`: its command words (nb and en), the
case states in which it may be taken, and the handler that moves the case. This module reads the first line of
what the person wrote (never the quoted history), authenticates the reply, applies the handler once under the
case's ETag and the token's, and records every outcome - applied, refused, unclear, already decided - as an event.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from ..core.commands import Command, Decision, Reply
from ..core.inbound import InboundMessage, Outcome
from ..core.mail import mail_id
from ..core.model import CaseEvent, Channel, DecisionToken
from ..core.privacy import mask_identity_numbers
from ..core.rendering import local_time
from ..core.services import Services
from ..core.store import AlreadyQueued, ConcurrentUpdate, StoredCase, StoredToken
from ..core.tokens import reply_address

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"^[a-z2-9]{12}$")
_SUBJECT_TOKEN = re.compile(r"#([a-z2-9]{12})\b")
_NEGATIONS = ("IKKE", "IKKJE", "NOT", "NO", "NEI", "ALDRI", "NEVER", "DON'T", "DONT")


def token_in(message: InboundMessage, shared_mailbox: str) -> str | None:
    """The token a reply carries: in the plus address it was sent to, or in the subject."""
    local, domain = shared_mailbox.casefold().split("@", 1)
    for address in message.recipients:
        name, _, at = address.partition("@")
        base, _, tag = name.partition("+")
        if at == domain and base == local and _TOKEN.match(tag):
            return tag
    match = _SUBJECT_TOKEN.search(message.subject.lower())
    return match.group(1) if match else None


# -- reading what the person wrote ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    command: Command | None
    text: str
    problem: str | None = None  # negated | ambiguous | quoted_only | forwarded | empty


def _words_in(line: str, decision: Decision) -> list[tuple[int, Command, str]]:
    found = []
    for command in decision.commands:
        for word in command.words:
            for match in re.finditer(rf"(?<![\wÆØÅ]){re.escape(word)}(?![\wÆØÅ])", line):
                found.append((match.start(), command, word))
    # A longer phrase wins over a word inside it ("ANBEFALER IKKE" over "ANBEFALER").
    found.sort(key=lambda f: (f[0], -len(f[2])))
    kept: list[tuple[int, Command, str]] = []
    for start, command, word in found:
        if kept and start < kept[-1][0] + len(kept[-1][2]):
            continue
        kept.append((start, command, word))
    return kept


def read_reply(message: InboundMessage, decision: Decision) -> Reading:
    if message.forwarded:
        return Reading(None, "", "forwarded")
    lines = [line.strip() for line in message.new_text.split("\n")]
    content = [line for line in lines if line]
    if not content:
        quoted = message.text.upper()
        if any(_words_in(quoted, decision)):
            return Reading(None, "", "quoted_only")
        return Reading(None, "", "empty")
    first = content[0].upper()
    found = _words_in(first, decision)
    if not found:
        if any(_words_in(message.text.upper(), decision)) and not decision.accepts_plain_text:
            return Reading(None, "", "quoted_only")
        return Reading(None, "\n".join(lines).strip(), None if decision.accepts_plain_text else "empty")
    if len({command.name for _, command, _ in found}) > 1:
        return Reading(None, "", "ambiguous")
    start, command, word = found[0]
    # A negation anywhere on the command's line makes it no decision: better to ask than to act on "LØST, eller ikke".
    outside = first[:start] + " " + first[start + len(word) :]  # "ANBEFALER IKKE" is itself a command
    if any(w in _NEGATIONS for w in re.findall(r"[\wÆØÅ']+", outside)):
        return Reading(None, "", "negated")
    if first[:start].strip(" :-–,.!"):
        return Reading(None, "", "ambiguous")  # the command must open the reply: "GODKJENT", not "kanskje GODKJENT"
    rest = first[start + len(word) :].strip(" :-–,.")
    if len(first) == len(content[0]):
        rest = content[0][start + len(word) :].strip(" :-–,.")  # the person's own casing, when upper() kept offsets
    text = "\n".join([rest, *lines[lines.index(content[0]) + 1 :]]).strip()
    return Reading(command, text)


# -- authenticating and applying ------------------------------------------------------------------------------------


async def take_decision(
    services: Services, message: InboundMessage, stored: StoredCase, token: str, decisions: dict[str, Decision]
) -> Outcome:
    """Apply the reply's decision once, or record why not (and tell a legitimate sender what to do)."""
    reference = stored.case.reference
    for _ in range(5):
        found = await services.store.load_token(reference, token)
        if found is None:
            return await _refuse(services, message, stored, "unknown token")
        problem = _authenticate(services, message, found.token)
        if problem:
            # Someone claims to be the person the token was issued to and cannot prove it: Bits is told.
            claimed = message.from_address == found.token.person and not message.sender.proven
            return await _refuse(services, message, stored, problem, tell_bits=claimed)
        decision = decisions.get(found.token.decision)
        if decision is None:
            return await _refuse(services, message, stored, f"no process declares the decision {found.token.decision}")
        if found.token.used_at is not None and found.token.single_use:
            return await _already(services, message, stored, found)
        if stored.case.status not in decision.states:
            return await _already(services, message, stored, found)
        reading = read_reply(message, decision)
        if reading.problem:
            return await _unclear(services, message, stored, found, decision, reading.problem)
        registry = await services.registry()
        reply = Reply(
            reading.command,
            reading.text,
            message.from_address,
            mask_identity_numbers(message.from_name)[0],
            message.message_id,
            found.token.about,
        )
        change = await decision.handle(services, stored, reply, registry)
        used = found.token.model_copy(
            update={
                "used_at": services.clock.now(),
                "used_by": message.from_address,
                "used_command": reading.command.name if reading.command else "text",
            }
        )
        try:
            await services.store.transition(
                stored,
                change.case,
                change.event,
                change.mails,
                markers=[message.key],
                tokens=change.tokens,
                use_token=StoredToken(used, found.etag),
            )
        except ConcurrentUpdate:
            # Someone decided at the same moment: read again, and the second reply learns it was already decided.
            reloaded = await services.store.load(reference)
            if reloaded is None:
                break
            stored = reloaded
            continue
        if change.after is not None:
            await _follow_through(reference, change.after)
        log.info("decision: %s %s by token %s…", reference, used.used_command, token[:4])
        return Outcome("decided", used.used_command or "", reference, message.key)
    raise ConcurrentUpdate(reference)


async def _follow_through(reference: str, after: Callable[[], Awaitable[None]]) -> None:
    """What follows a stored decision (a fan-out, a registry write), tried three times. The decision stands either
    way: the reply is not taken again, and each process mends what did not follow on its timer."""
    for attempt in range(3):
        try:
            await after()
            return
        except Exception:
            if attempt == 2:
                log.exception("decision: %s was stored, but what follows it failed; the timer mends it", reference)
                return
            await asyncio.sleep(0.5 * (attempt + 1))


def _authenticate(services: Services, message: InboundMessage, token: DecisionToken) -> str | None:
    if message.from_address != token.person:
        return "the sender is not the person the token was issued to"
    if not message.sender.proven:
        return f"the sender is not proven: {message.sender.evidence}"
    if token.expires_at < services.clock.now():
        return "the token has expired"
    return None


def _event(services: Services, message: InboundMessage, kind: str, summary: str, **data: object) -> CaseEvent:
    return CaseEvent(
        at=services.clock.now(),
        actor=message.from_address,
        channel=Channel.EMAIL,
        kind=kind,
        public=False,
        summary=summary,
        data={"message_id": message.message_id, **data},
    )


async def _refuse(
    services: Services, message: InboundMessage, stored: StoredCase, reason: str, *, tell_bits: bool = False
) -> Outcome:
    """A reply that may not decide: recorded and logged. The sender gets no answer: it would only help a forger.
    When it claims to come from the person who may decide and cannot prove it, Bits' support is told - once a day
    per case and claimed address, so that a flood of forgeries is one warning, not a flood."""
    log.warning("decision refused on %s: %s", stored.case.reference, reason)
    event = _event(services, message, "decision_refused", f"A reply was refused as a decision: {reason}", reason=reason)
    mails = []
    purpose = f"unproven-reply-{services.clock.now().date().isoformat()}-{mail_id('claimed', message.from_address)}"
    if tell_bits and not any(m.mail.purpose == purpose for m in await services.store.mails(stored.case.reference)):
        registry = await services.registry()
        for contact in registry.bits_contacts("support"):
            mails.append(
                services.compose(
                    reference=stored.case.reference,
                    purpose=purpose,
                    to=contact.email,
                    template="unproven_reply_to_bits",
                    language=contact.language,
                    case=stored.case,
                    claimed=message.from_address,
                    evidence=message.sender.evidence,
                )
            )
    try:
        await services.store.append(stored.case.reference, event, mails, markers=[message.key])
    except AlreadyQueued:
        # Another forgery queued today's warning at the same moment: this one is still recorded.
        await services.store.append(stored.case.reference, event, markers=[message.key])
    return Outcome("refused", reason, stored.case.reference, message.key)


async def _unclear(
    services: Services,
    message: InboundMessage,
    stored: StoredCase,
    found: StoredToken,
    decision: Decision,
    problem: str,
) -> Outcome:
    registry = await services.registry()
    mail = services.compose(
        reference=stored.case.reference,
        purpose=f"clarify-{message.key[:16]}",
        to=message.from_address,
        template="decision_unclear",
        language=registry.language_of(message.from_address),
        in_reply_to=message.message_id,
        reply_to=reply_address(services, found.token.token),
        token=found.token.token,
        case=stored.case,
        problem=problem,
        commands=[c.words for c in decision.commands],
    )
    event = _event(
        services, message, "decision_unclear", f"A reply could not be read as a decision ({problem})", problem=problem
    )
    await services.store.append(stored.case.reference, event, [mail], markers=[message.key])
    return Outcome("unclear", problem, stored.case.reference, message.key)


async def _already(services: Services, message: InboundMessage, stored: StoredCase, found: StoredToken) -> Outcome:
    registry = await services.registry()
    decided_at: datetime = found.token.used_at or stored.case.updated_at
    mail = services.compose(
        reference=stored.case.reference,
        purpose=f"already-{message.key[:16]}",
        to=message.from_address,
        template="decision_already_taken",
        language=registry.language_of(message.from_address),
        in_reply_to=message.message_id,
        case=stored.case,
        decided_by=found.token.used_by or "",
        decided_at=local_time(decided_at),
    )
    event = _event(services, message, "decision_too_late", "A reply came after the case was decided")
    await services.store.append(stored.case.reference, event, [mail], markers=[message.key])
    return Outcome("already_decided", "", stored.case.reference, message.key)
