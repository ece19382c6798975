"""The reply-command types every process declares: commands, decisions, the reply a handler gets and the change it
returns, and the helpers handlers share (`Step`, `ask_by_reply`). Reading and authenticating replies is `intake`'s
work (`intake/commands.py`); deciding what a reply does is the process's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .cases import tell_submitter
from .mail import OutgoingMail
from .model import Case, CaseEvent, Channel, DecisionToken
from .privacy import mask_identity_numbers
from .registry import Registry
from .services import Services
from .store import StoredCase
from .tokens import issue, reply_address


@dataclass(frozen=True)
class Command:
    name: str
    words: tuple[str, ...]  # upper case, nb and en: ("LØST", "RESOLVED")
    # Its words also open ordinary sentences ("Feil i dokumentasjonen, …", "Varsel om …"): opening a reply in small
    # letters they are the command only when a stop, a colon or a dash follows, else they are the person's text.
    ordinary_words: bool = False
    # It refuses, dismisses or withdraws: a reason after it that starts "ikke …"/"not …" says why, not when.
    refusal: bool = False
    # The case states in which it applies, where that is fewer than its decision's (None: all of them): what a reply
    # that could not be read offers the person instead (`Decision.commands_in`).
    states: frozenset[str] | None = None


# Bits answers the submitter: the text after it goes to them. One rule in every process, for Bits' own decisions:
# a reply without a command is an internal note, stored on the case and sent to nobody (`internal_note`), so that
# text meant for colleagues never reaches an insurer; to write to the submitter, Bits says SVAR.
ANSWER = Command("answer", ("SVAR", "ANSWER"), ordinary_words=True)


@dataclass(frozen=True)
class Reply:
    """An authenticated reply: the command it gave (None for plain text) and the person's text after it."""

    command: Command | None
    text: str
    sender: str
    sender_name: str
    message_id: str
    about: str | None = None  # the token's `about`: what it was issued to act on


@dataclass
class Change:
    """What a handler decided: the case as it becomes, its event, and the emails (and new tokens) that go with it."""

    case: Case
    event: CaseEvent
    mails: list[OutgoingMail] = field(default_factory=list)
    tokens: list[DecisionToken] = field(default_factory=list)
    after: Callable[[], Awaitable[None]] | None = None  # what follows once the change is stored (e.g. a new case)


Handler = Callable[[Services, StoredCase, Reply, Registry], Awaitable[Change]]


@dataclass(frozen=True)
class Decision:
    name: str
    commands: tuple[Command, ...]
    states: frozenset[str]
    handle: Handler
    accepts_plain_text: bool = False  # a reply without a command word means something (a message, a note)
    # Bits' own people take it (triage, approval, publishing): then a signed-in member of staff may take it from
    # the case view too, and a reply without a command is an internal note whatever the process (`internal_note`:
    # the handler never sees it). Decisions of the committee, the sources or the companies are theirs alone.
    bits_decides: bool = False

    def commands_in(self, status: str) -> tuple[Command, ...]:
        """The commands that apply to a case in `status`: none outside the decision's states."""
        if status not in self.states:
            return ()
        return tuple(c for c in self.commands if c.states is None or status in c.states)

    @property
    def takes_text(self) -> bool:
        """A reply without a command means something: a note for Bits' own decisions, else what the process says."""
        return self.accepts_plain_text or self.bits_decides


class Step:
    """What a handler works with for one reply: the time, the masked text, a key unique to the reply, the case as
    touched now, and the event and status change it records - so that each process's handler reads as its steps."""

    def __init__(self, services: Services, case: Case, reply: Reply) -> None:
        self.services = services
        self.now = services.clock.now()
        self.reply = reply
        self.text = mask_identity_numbers(reply.text)[0]
        self.key = hashlib.sha256(reply.message_id.encode()).hexdigest()[:12]
        self.case = case.model_copy(update={"updated_at": self.now})

    def event(self, kind: str, summary: str, public: bool, **data: object) -> CaseEvent:
        return CaseEvent(
            at=self.now,
            actor=self.reply.sender,
            channel=Channel.EMAIL,
            kind=kind,
            public=public,
            summary=summary,
            data=data,
        )

    def moved(self, status: str, **details: Any) -> Case:
        return self.case.model_copy(update={"status": status, "details": {**self.case.details, **details}})

    def answer(self, template: str = "case_answer", status: str | None = None, **context: Any) -> Change:
        """SVAR: Bits' text to the submitter, as a public entry on the case (a first response); the status stays,
        unless the process names the one an answer moves the case to."""
        case = self.moved(status) if status else self.case
        mail = tell_submitter(
            self.services, case, purpose=f"answer-{self.key}", template=template, answer=self.text, **context
        )
        return Change(case, self.event("answered", "Bits answered the submitter", True, text=self.text), [mail])

    def to_bits(self, registry: Registry) -> list[OutgoingMail]:
        """A reply without a command from someone outside Bits, relayed to Bits' support as a message on the case."""
        return [
            self.services.compose(
                reference=self.case.reference,
                purpose=f"message-{self.key}",
                to=contact.email,
                template="case_message_to_bits",
                language=contact.language,
                in_reply_to=self.reply.message_id,
                case=self.case,
                sender=self.reply.sender_name or self.reply.sender,
                text={"message": self.text, "attachments": []},
            )
            for contact in registry.bits_contacts("support")
        ]


def internal_note(services: Services, case: Case, reply: Reply) -> Change:
    """A reply from Bits without a command, in any process: an internal note on the case, sent to nobody."""
    step = Step(services, case, reply)
    return Change(step.case, step.event("note", "Internal note from Bits", False, text=step.text))


def ask_by_reply(
    services: Services,
    registry: Registry,
    case: Case,
    people: list[str],
    decision: str,
    template: str,
    purpose: str,
    *,
    single_use: bool = True,
    days: int | None = None,
    **context: Any,
) -> tuple[list[OutgoingMail], list[DecisionToken]]:
    """One email per person asking them to act by replying, each with a token of their own for `decision`."""
    mails, tokens = [], []
    for person in people:
        token = issue(services, person, decision, single_use=single_use, days=days)
        tokens.append(token)
        mails.append(
            services.compose(
                reference=case.reference,
                purpose=f"{purpose}-{token.token}",
                to=person,
                template=template,
                language=registry.language_of(person),
                reply_to=reply_address(services, token.token),
                token=token.token,
                case=case,
                replies_decide=True,
                **context,
            )
        )
    return mails, tokens
