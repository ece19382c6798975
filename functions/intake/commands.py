"""Decisions by email reply: the one mechanism every process uses to let people act by answering our emails.

An email that asks someone to act carries a token bound to (case, person, decision), in the subject (`#token`) and
in a plus-addressed Reply-To (`ssu+token@…`). A process declares a `Decision`: its command words (nb and en), the
case states in which it may be taken, and the handler that moves the case. This module reads what the person
wrote (never the quoted history: `read_reply` says what counts as a command), authenticates the reply, applies the
handler once under the case's ETag and the token's, and records every outcome - applied, refused, unclear, already
decided - as an event.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from ..core import telemetry
from ..core.commands import ANSWER, Command, Decision, Reply, internal_note
from ..core.glossary import command_effect, event_words, long_time, status_words
from ..core.inbound import InboundMessage, Outcome
from ..core.mail import mail_id
from ..core.model import CaseEvent, Channel, DecisionToken
from ..core.privacy import mask_identity_numbers
from ..core.services import Services
from ..core.store import AlreadyQueued, ConcurrentUpdate, StoredCase, StoredToken
from ..core.tokens import reply_address
from .quotes import split_reply

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


@dataclass(frozen=True)
class _Found:
    line: int  # index in the own lines
    start: int  # where the word starts on its line
    command: Command
    word: str  # as the person wrote it


# A greeting above the words that matter ("Hei,", "Hei Bits brukerstøtte,", "Dear Bits support team,"): never part of
# a reason. A greeting word and a few words of address; more than one of them only with the comma or "!" a
# greeting ends with ("Hei, dette er altfor dyrt for oss" is the person's words).
_GREETING = re.compile(
    r"^(?P<word>hei|hallo|heisann|hoi|god\s+(morgen|dag|ettermiddag)|kjære|hi|hello|hey|dear|good\s+(morning|afternoon))"
    r"(?P<rest>(\s+[\w.'&-]+){0,5})\s*(?P<end>[,!.:]?)$",
    re.IGNORECASE,
)


def _is_greeting(line: str) -> bool:
    match = _GREETING.match(line)
    if match is None:
        return False
    return len(match["rest"].split()) <= 1 or match["end"] in (",", "!", ":")


_SEPARATOR = " \t.!:,;-–—"  # what may stand between a command word and its reason
_REASON_FOLLOWS = re.compile(r"\s*(:|\s[–—-])\s+\S")
_CONDITION = re.compile(
    r"\s*(:|\s[–—-])\s+(?P<word>men|but|dersom|hvis|om|if|unless|med\s+mindre|forutsatt|provided|så\s+lenge|"
    r"as\s+long|kun|only|bare|ikke|not|except|unntatt)\b",
    re.IGNORECASE,
)
_YES = re.compile(r"^\s*(ok|okei|okay|ja|jo|yes|yep|jepp|greit)\s*[,:–—-]?\s+(?=\S)", re.IGNORECASE)
_SENTENCE_LINES = 12  # a sentence runs over this many wrapped lines at most
_MARKS = ("", ".", "!", ":", "-", "–", "—")  # what marks a word in small letters as the command
_SENTENCE_END = re.compile(r"[.!?]+(?=\s+[A-ZÆØÅ\d\"«(]|\s*$)")
# Characters that hide a word from a reader: zero-width spaces and joiners, the word joiner, the BOM, soft hyphens.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))


def _normalised(text: str) -> str:
    """The text as a reader sees it: compatibility forms folded (NFKC: "Å" written as A and a ring, full-width
    letters, no-break spaces), invisible characters removed."""
    return unicodedata.normalize("NFKC", text).translate(_INVISIBLE)


@lru_cache(maxsize=64)
def _pattern(words: tuple[tuple[str, str], ...]) -> re.Pattern[str]:
    """One pattern for a decision's command words, longest first, each a whole word (not the start of a compound:
    "Forward-kompatibilitet" is no FORWARD)."""
    ordered = sorted(words, key=lambda w: -len(w[1]))
    alternatives = "|".join(f"(?P<c{i}>{re.escape(word)})" for i, (_, word) in enumerate(ordered))
    return re.compile(rf"(?<![\wÆØÅ-])(?:{alternatives})(?![\wÆØÅ]|-[\wÆØÅ])", re.IGNORECASE)


def _words_in(line: str, decision: Decision) -> list[_Found]:
    """The decision's command words on `line` (any case), leftmost first; a longer phrase wins over a word inside
    it ("ANBEFALER IKKE" over "ANBEFALER")."""
    pattern, commands = _matcher(decision.commands)
    found = []
    for match in pattern.finditer(line):
        found.append(_Found(-1, match.start(), commands[match.lastgroup or ""], match.group(0)))
    return found


@lru_cache(maxsize=64)
def _matcher(commands: tuple[Command, ...]) -> tuple[re.Pattern[str], dict[str, Command]]:
    """The pattern for these commands' words and the command each of its groups names."""
    pairs = tuple((c.name, w) for c in commands for w in c.words)
    ordered = sorted(pairs, key=lambda w: -len(w[1]))
    by_name = {c.name: c for c in commands}
    return _pattern(pairs), {f"c{i}": by_name[name] for i, (name, _) in enumerate(ordered)}


def _negated(text: str, command_words: str) -> bool:
    """Whether `text` (the command's sentence, without the command itself) holds a negation."""
    words = re.findall(r"[\wÆØÅæøå']+", text.upper())
    inside = set(command_words.upper().split())  # "ANBEFALER IKKE" is itself a command
    return any(w in _NEGATIONS and w not in inside for w in words)


def _sentence_after(lines: list[str], found: _Found) -> str:
    """The rest of the command's sentence: to the first full stop, ! or ? that ends a sentence, across the lines of
    its paragraph when a line ends without one (a client's hard wrap, "GODKJENT\nmen ikke før mars"); nothing when
    a stop follows the command, or it stands alone and the next line starts a sentence of its own."""
    rest = lines[found.line][found.start + len(found.word) :]
    condition = _CONDITION.match(rest)
    if condition and found.command.refusal and condition["word"].casefold() in ("ikke", "not"):
        condition = None  # "AVSLÅTT – ikke prioritert": why it is refused
    if rest.lstrip()[:1] in (".", "!", "?") or (_REASON_FOLLOWS.match(rest) and not condition):
        # A stop ends it; so does a colon or a dash with the reason after it ("AVSLÅTT: vi har ikke budsjett"),
        # unless what follows is a condition on the command ("GODKJENT – men ikke før mars").
        return ""
    parts = [rest]
    alone = not rest.strip(_SEPARATOR)
    for following in lines[found.line + 1 : found.line + 1 + _SENTENCE_LINES]:
        if _SENTENCE_END.search(parts[-1]) or not following.strip():
            break
        if alone and not following.strip()[:1].islower():
            break  # the command alone on its line, and a new sentence below it
        alone = False
        parts.append(following)
    joined = " ".join(parts)
    end = _SENTENCE_END.search(joined)
    return joined[: end.start()] if end else joined


def _sentence_before(lines: list[str], found: _Found) -> str:
    """The start of the command's sentence: back to the last sentence end, across the lines above it in its
    paragraph ("…at det ikke blir\nGODKJENT denne gangen")."""
    parts = [lines[found.line][: found.start]]
    for above in reversed(lines[max(0, found.line - _SENTENCE_LINES) : found.line]):
        if not above.strip() or _SENTENCE_END.search(above.rstrip()[-1:] or "x"):
            break
        parts.insert(0, above)
    joined = " ".join(parts)
    ends = list(_SENTENCE_END.finditer(joined))
    return joined[ends[-1].end() :] if ends else joined


def _sentences_with(text: str, decision: Decision, command: Command) -> list[str]:
    """The sentences of `text` that hold one of `command`'s words."""
    pieces = re.split(r"(?<=[.!?])\s+|\n\s*\n", text)
    return [p for p in pieces if any(f.command == command for f in _words_in(p, decision))]


def read_reply(message: InboundMessage, decision: Decision) -> Reading:
    """What a reply decides. A command counts where it opens the first line of the person's own text, stands alone
    on a line, or opens a line in capitals; two different commands, or a negation in the command's sentence, make
    the reply unclear. The reason is the rest of the own text, without the command, its separator and a greeting."""
    if message.forwarded:
        return Reading(None, "", "forwarded")
    words = [w for c in decision.commands for w in c.words]
    text = _normalised(message.text)
    own, quoted = split_reply(text, sender_name=message.from_name, keep=words)
    above_quote = text[: len(text) - len(quoted)] if quoted and text.endswith(quoted) else text
    lines = own.split("\n") if own else []
    body = _without_greeting(lines, decision)
    content = [i for i, line in enumerate(body) if line.strip()]
    if not content:
        return Reading(None, "", "quoted_only" if _words_in(quoted, decision) else "empty")
    first = content[0]
    body[first] = _YES.sub(
        "", body[first], count=1
    )  # "OK, GODKJENT", "Ja – GODKJENT": the yes is no word of the reason
    leading: list[_Found] = []
    for i in content:
        stripped = body[i].lstrip(" \t-*•–—")
        offset = len(body[i]) - len(stripped)
        for found in _words_in(stripped, decision)[:1]:
            if found.start == 0:
                after = stripped[len(found.word) :]
                alone = not after.strip(_SEPARATOR)
                # "Feil i dokumentasjonen, vi retter det." opens with a word, not a command: a command whose words
                # are ordinary words counts at the top in small letters only with a stop, a colon or a dash after it.
                marked = not found.command.ordinary_words or after.lstrip()[:1] in _MARKS
                strong = alone or found.word.isupper() or (i == first and marked)
                leading.append(_Found(i if strong else -1 - i, offset, found.command, found.word))
    # A different command anywhere above the quote, written in capitals as commands are (also after a sign-off,
    # in a PS, or inside a sentence: ". AVSLÅTT er riktig"), makes the reply two commands.
    below_own = above_quote.replace(own, "", 1) if own and own in above_quote else above_quote
    sentences = "\n".join(ln for ln in below_own.split("\n") if re.search(r"[a-zæøå]{2,}", ln))
    shouted = {f.command.name for f in _words_in(f"{own}\n{sentences}", decision) if f.word.isupper()}
    # A line opening with an ordinary word in small letters ("Svar gitt på telefon", "Feil i loggen") is prose, no
    # second command; other command words opening a line count ("LØST\nGodkjent av meg" is two).
    heading = {f.command.name for f in leading if f.line >= 0 or not f.command.ordinary_words}
    if len(heading | shouted) > 1:
        return Reading(None, "", "ambiguous")
    chosen = next((f for f in leading if f.line >= 0), None)
    if chosen is None:
        anywhere = _words_in(body[first], decision)
        # Where replies may be text, a command word inside a sentence is prose ("This is not an error in your
        # integration"): the reply is text, which the process takes as such (an answer, a note) and which decides
        # nothing. Only one among the first line's first words ("Ikke løst ennå") is a command someone hedged.
        opening = len(re.findall(r"\S+", body[first][: anywhere[0].start])) if anywhere else 0
        if decision.takes_text and (not anywhere or opening > 1 or anywhere[0].start == 0):
            return Reading(None, "\n".join(body).strip(), None)
        if anywhere:
            # "Ikke godkjent", "Jeg tror GODKJENT": a command word, but not as a command. Better to ask.
            return Reading(None, "", "negated" if _negated(body[first], anywhere[0].word) else "ambiguous")
        # Words, but no command (the quote below always holds some): what the person meant is for them to say.
        return Reading(None, "", "ambiguous" if leading else "empty")
    if decision.bits_decides and chosen.line != first:
        # Bits' own decision with words above the command ("Ring Frida først.\n\nSVAR\n…"): those words are a note
        # for colleagues, and the command's text goes out. Only the first line holds a command: better to ask.
        return Reading(None, "", "ambiguous")
    line = body[chosen.line]
    sentence = _sentence_after(body, chosen)
    before = _sentence_before(body, chosen)
    others = {f.command.name for f in _words_in(f"{before} {sentence}", decision)} - {chosen.command.name}
    if others:
        return Reading(None, "", "ambiguous")  # "GODKJENT eller AVSLÅTT"
    if _negated(f"{before} {sentence}", chosen.word):
        return Reading(None, "", "negated")  # "GODKJENT, men ikke før mars": better to ask than to act
    after = line[chosen.start + len(chosen.word) :]
    if after.lstrip().startswith("?"):
        # "GODKJENT? Nei, ikke ennå": a question about the command, never the command.
        return Reading(None, "", "negated" if _negated(after, chosen.word) else "ambiguous")
    later = "\n".join([after.lstrip(_SEPARATOR), *body[chosen.line + 1 :]])
    if any(_negated(p, chosen.word) for p in _sentences_with(later, decision, chosen.command)):
        return Reading(None, "", "negated")  # "GODKJENT. Nei forresten, ikke godkjent likevel."
    rest = after.lstrip(_SEPARATOR)
    head = body[: chosen.line]
    lead = line[: chosen.start].strip(" \t-*•–—")  # words before it on its line; a bullet is no word
    kept = [*head, lead, rest] if lead else [*head, rest]
    kept = [*kept, *body[chosen.line + 1 :]] if rest else [*kept[:-1], *body[chosen.line + 1 :]]
    reason = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return Reading(chosen.command, reason)


def _without_greeting(lines: list[str], decision: Decision) -> list[str]:
    """The own lines without a greeting on the first of them (unless it holds a command word)."""
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if _is_greeting(line.strip()) and not _words_in(line, decision):
            return lines[i + 1 :]
        return lines[i:]
    return []


# -- authenticating and applying ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decider:
    """Who takes a decision and through which channel: a reply's sender, or a signed-in staff member in the
    workspace. `action_id` is what the event names as the reply's message id (the reply's Message-ID, or the web
    action's one-time id); `marker` is written with the decision, so that the same reply or form sent again applies
    nothing more (AlreadyProcessed)."""

    address: str
    name: str
    channel: Channel
    action_id: str
    marker: str


@dataclass(frozen=True)
class Applied:
    """What became of a decision: `decided` (with the command), `refused` (with why), `unclear` (with the
    problem), or `already_decided`; the token and decision it was about, where known."""

    status: str
    detail: str = ""
    stored: StoredCase | None = None
    found: StoredToken | None = None
    decision: Decision | None = None


async def apply_decision(
    services: Services,
    stored: StoredCase,
    decisions: dict[str, Decision],
    decider: Decider,
    read: Callable[[Decision], Reading],
    *,
    token: str | None = None,
    authenticate: Callable[[DecisionToken], str | None] | None = None,
    decision_name: str | None = None,
    about: str | None = None,
) -> Applied:
    """The one way a decision is taken, whichever the channel: the token (an email reply's, authenticated) or the
    decision named (a web action, whose caller has checked the person's role), the process's states, the reading,
    the handler, and the change stored once under the case's ETag (and the token's), read again and decided again
    when someone else changed the case first; then what follows it. One `decision` span, counted when applied."""
    with telemetry.operation("decision", case=stored.case) as span:
        applied = await _apply_decision(
            services, stored, decisions, decider, read, token, authenticate, decision_name, about
        )
        span.note(outcome=applied.status)
        if applied.status == "decided":
            span.note(command=applied.detail)
            telemetry.count("ssu.decisions", process=stored.case.process.value, command=applied.detail)
        return applied


async def _apply_decision(
    services: Services,
    stored: StoredCase,
    decisions: dict[str, Decision],
    decider: Decider,
    read: Callable[[Decision], Reading],
    token: str | None,
    authenticate: Callable[[DecisionToken], str | None] | None,
    decision_name: str | None,
    about: str | None,
) -> Applied:
    reference = stored.case.reference
    for _ in range(5):
        found = None
        if token is not None:
            found = await services.store.load_token(reference, token)
            if found is None:
                return Applied("refused", "unknown token", stored)
            problem = authenticate(found.token) if authenticate else None
            if problem:
                return Applied("refused", problem, stored, found)
            decision_name, about = found.token.decision, found.token.about
        decision = decisions.get(decision_name or "")
        if decision is None:
            return Applied("refused", f"no process declares the decision {decision_name}", stored, found)
        if found is not None and found.token.used_at is not None and found.token.single_use:
            return Applied("already_decided", "", stored, found, decision)
        if stored.case.status not in decision.states:
            return Applied("already_decided", "", stored, found, decision)
        reading = read(decision)
        if reading.command == ANSWER and not reading.text.strip():
            reading = Reading(None, "", "empty")  # SVAR and nothing below it: an empty mail to the submitter
        if reading.problem:
            return Applied("unclear", reading.problem, stored, found, decision)
        registry = await services.registry()
        reply = Reply(reading.command, reading.text, decider.address, decider.name, decider.action_id, about)
        if reading.command is None and decision.bits_decides:
            change = internal_note(services, stored.case, reply)  # one rule in every process: it reaches nobody
        else:
            change = await decision.handle(services, stored, reply, registry)
        command = reading.command.name if reading.command else "text"
        # Every decision's event says who took it by name as well as address, through which channel, and what the
        # reply said: the command and the reason as read (masked), whatever else the process records.
        # The decision and the status it left the case in, so that a reply too late can be told who decided it.
        said = {
            "command": command,
            "reason": mask_identity_numbers(reading.text)[0],
            "message_id": decider.action_id,
            "decision": decision.name,
            "status": change.case.status,
        }
        change.event = change.event.model_copy(
            update={
                "channel": decider.channel,
                "data": {**change.event.data, "by_name": reply.sender_name, "reply": said},
            }
        )
        used = None
        if found is not None:
            stamp = {"used_at": services.clock.now(), "used_by": decider.address, "used_command": command}
            used = StoredToken(found.token.model_copy(update=stamp), found.etag)
        try:
            await services.store.transition(
                stored,
                change.case,
                change.event,
                change.mails,
                markers=[decider.marker],
                tokens=change.tokens,
                use_token=used,
            )
        except ConcurrentUpdate:
            # Someone decided at the same moment: read again, and the second one learns it was already decided.
            reloaded = await services.store.load(reference)
            if reloaded is None:
                break
            stored = reloaded
            continue
        if change.after is not None:
            await _follow_through(reference, change.after)
        log.info("decision: %s %s by %s (%s)", reference, command, decider.channel.value, decision.name)
        return Applied("decided", command, stored, found, decision)
    raise ConcurrentUpdate(reference)


async def take_decision(
    services: Services, message: InboundMessage, stored: StoredCase, token: str, decisions: dict[str, Decision]
) -> Outcome:
    """Apply the reply's decision once, or record why not (and tell a legitimate sender what to do)."""
    decider = Decider(
        message.from_address,
        mask_identity_numbers(message.from_name)[0],
        Channel.EMAIL,
        message.message_id,
        message.key,
    )
    applied = await apply_decision(
        services,
        stored,
        decisions,
        decider,
        lambda decision: read_reply(message, decision),
        token=token,
        authenticate=lambda issued: _authenticate(services, message, issued),
    )
    stored = applied.stored or stored
    found = applied.found
    if applied.status == "refused":
        # Someone claims to be the person the token was issued to and cannot prove it: Bits is told.
        claimed = found is not None and message.from_address == found.token.person and not message.sender.proven
        return await _refuse(services, message, stored, applied.detail, tell_bits=claimed)
    assert found is not None and applied.decision is not None  # an email decision always has its token
    if applied.status == "already_decided":
        return await _already(services, message, stored, found, applied.decision)
    if applied.status == "unclear":
        return await _unclear(services, message, stored, found, applied.decision, applied.detail, decisions)
    log.info("decision: %s %s by token %s…", stored.case.reference, applied.detail, token[:4])
    return Outcome("decided", applied.detail, stored.case.reference, message.key)


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
    decisions: dict[str, Decision],
) -> Outcome:
    """Tell the person what we read and what they may answer instead: the commands of their step that apply to the
    case as it stands now, each with what it does."""
    registry = await services.registry()
    language = registry.language_of(message.from_address)
    understood = understood_in(message, decision, problem, decisions)
    mail = services.compose(
        reference=stored.case.reference,
        purpose=f"clarify-{message.key[:16]}",
        to=message.from_address,
        template="decision_unclear",
        language=language,
        in_reply_to=message.message_id,
        reply_to=reply_address(services, found.token.token),
        token=found.token.token,
        case=stored.case,
        problem=problem,
        understood=understood.kind,
        seen=list(understood.seen),
        foreign=list(understood.foreign),
        commands=[c.words for c in decision.commands_in(stored.case.status)],
        applicable=applicable_commands(decision, stored.case.status, language),
    )
    event = _event(
        services, message, "decision_unclear", f"A reply could not be read as a decision ({problem})", problem=problem
    )
    await services.store.append(stored.case.reference, event, [mail], markers=[message.key])
    return Outcome("unclear", problem, stored.case.reference, message.key)


@dataclass(frozen=True)
class Understood:
    """What we read in a reply that decided nothing, for the answer that says so: `kind` is two_commands,
    not_as_command, negation, only_in_quote, forwarded, other_step, no_command or empty; `seen` the step's command
    words found in the person's own text, `foreign` the words of other steps' commands found there."""

    kind: str
    seen: tuple[str, ...] = ()
    foreign: tuple[str, ...] = ()


def understood_in(
    message: InboundMessage, decision: Decision, problem: str, decisions: dict[str, Decision]
) -> Understood:
    """What the reply said, as far as we read it, given the problem `read_reply` found."""
    if problem == "forwarded":
        return Understood("forwarded")
    words = [w for c in decision.commands for w in c.words]
    own, _ = split_reply(_normalised(message.text), sender_name=message.from_name, keep=words)
    seen = _unique(f.word.upper() for f in _words_in(own, decision))
    if problem == "quoted_only":
        return Understood("only_in_quote")
    if problem == "negated":
        return Understood("negation", seen)
    if problem == "ambiguous":
        named = {c.name for c in decision.commands for w in c.words if w in seen}
        return Understood("two_commands" if len(named) > 1 else "not_as_command", seen)
    if not own.strip():
        return Understood("empty")
    # Words of another step's commands ("Ja, godkjent!" to a committee member, whose words are ANBEFALER, …): the
    # person answered a question they were not asked.
    mine = {c.name for c in decision.commands}
    others = [d for d in decisions.values() if d.name != decision.name]
    foreign = _unique(f.word.upper() for other in others for f in _words_in(own, other) if f.command.name not in mine)
    return Understood("other_step" if foreign else "no_command", seen, foreign)


def _unique(words: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(words))


def applicable_commands(decision: Decision, status: str, language: str) -> list[dict[str, str]]:
    """The decision's commands that apply to a case in `status`, each as the word to write and what it does."""
    return [
        {
            "word": c.words[-1] if language == "en" else c.words[0],
            "does": command_effect(decision.name, c.name, language),
        }
        for c in decision.commands_in(status)
    ]


async def _already(
    services: Services, message: InboundMessage, stored: StoredCase, found: StoredToken, decision: Decision
) -> Outcome:
    """Tell the person the case was decided: what, by whom (name and address) and when, from the case's events."""
    registry = await services.registry()
    language = registry.language_of(message.from_address)
    events = await services.store.events(stored.case.reference)
    decided_at: datetime = found.token.used_at or stored.case.updated_at
    mail = services.compose(
        reference=stored.case.reference,
        purpose=f"already-{message.key[:16]}",
        to=message.from_address,
        template="decision_already_taken",
        language=language,
        in_reply_to=message.message_id,
        case=stored.case,
        decided_by=found.token.used_by or "",
        decided_at=long_time(decided_at, language),
        decided=decided_in(events, decision, found.token, message.from_address, language),
        status_now=status_words(stored.case.status, language),
    )
    event = _event(services, message, "decision_too_late", "A reply came after the case was decided")
    await services.store.append(stored.case.reference, event, [mail], markers=[message.key])
    return Outcome("already_decided", "", stored.case.reference, message.key)


def decided_in(
    events: list[CaseEvent], decision: Decision, token: DecisionToken, reader: str, language: str
) -> dict[str, Any] | None:
    """What took the case out of the decision's hands, in words: a reply (the command, who by name and address,
    when, and whether it was the reader's own) or a deadline; None when the events do not say."""
    mine = {c.name: c for c in decision.commands}
    last_reply = -1
    chosen: CaseEvent | None = None
    for i, event in enumerate(events):
        said = event.data.get("reply")
        if not isinstance(said, dict) or said.get("command") not in mine:
            continue
        if said.get("decision", decision.name) != decision.name:
            continue
        last_reply = i
        if token.used_at is not None and token.used_by and event.actor.casefold() == token.used_by.casefold():
            chosen = event  # the reader's own token was used: their reply decided it (the latest one)
        elif token.used_at is None and said.get("status", "") not in decision.states:
            chosen = event  # it left the decision's states (older events do not say: the latest one counts)
    if chosen is not None:
        said = chosen.data["reply"]
        command = mine[str(said["command"])]
        return {
            "command": command.words[-1] if language == "en" else command.words[0],
            "does": command_effect(decision.name, command.name, language),
            "name": str(chosen.data.get("by_name") or ""),
            "address": chosen.actor,
            "at": long_time(chosen.at, language),
            "yours": chosen.actor.casefold() == reader.casefold(),
        }
    # No reply of this step moved it: a deadline did (the first one after the step's last reply).
    timer = next((e for e in events[last_reply + 1 :] if e.channel == Channel.TIMER), None)
    if timer is not None:
        return {"deadline": event_words(timer.kind, language) or "", "at": long_time(timer.at, language)}
    return None
