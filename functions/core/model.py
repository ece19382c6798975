"""The shared domain: cases, their audit trail, organisations and contacts, in the words of DOMAIN.md."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Language = Literal["nb", "en"]
EnvironmentChoice = Literal["test", "production", "both"]
Service = Literal["ufore", "aap"]
ConnectedEnvironment = Literal["test", "production"]


class Process(StrEnum):
    ONBOARDING = "A"
    NOTIFICATION = "B"
    ERROR_REPORT = "C"
    QUESTION = "D"
    CHANGE_REQUEST = "E"


class Channel(StrEnum):
    FORM = "form"
    EMAIL = "email"
    API = "api"
    TIMER = "timer"
    WEB = "web"  # a browser: Bits' workspace (a signed-in staff member), or the box on the submitter's case page


class ContactRole(StrEnum):
    BUSINESS = "business"
    TECHNICAL = "technical"
    SECURITY = "security"
    SIGNATORY = "signatory"


class CaseStatus(StrEnum):
    """Statuses every process shares; a process adds its own as plain strings."""

    AWAITING_CONFIRMATION = "awaiting_confirmation"
    NEW = "new"
    CLOSED = "closed"


class Case(BaseModel):
    """One case of one process. `details` holds the process's own fields (small; long text goes to events)."""

    model_config = ConfigDict(extra="forbid")

    reference: str = ""
    process: Process
    kind: str
    status: str
    organisation_number: str
    submitter_name: str
    submitter_email: str
    submitter_verified: bool
    environment: EnvironmentChoice | None = None
    title: str
    language: Language = "nb"
    created_at: datetime
    updated_at: datetime
    details: dict[str, Any] = Field(default_factory=dict)


class CaseEvent(BaseModel):
    """One entry of a case's append-only audit trail."""

    model_config = ConfigDict(extra="forbid")

    at: datetime
    actor: str
    channel: Channel
    kind: str
    public: bool
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    email: str
    roles: list[str]
    language: Language = "nb"
    phone: str | None = None

    def has_role(self, role: str) -> bool:
        return role in self.roles


class TermsAcceptance(BaseModel):
    """Which version of the terms a company has accepted, by whom and when."""

    model_config = ConfigDict(extra="forbid")

    version: str
    accepted_by: str
    accepted_at: datetime
    channel: str  # email | link | agreement
    effective_date: date | None = None  # of the version accepted: a company never goes back to an older one


class Organisation(BaseModel):
    """A data consumer (an insurer) as the registry knows it."""

    model_config = ConfigDict(extra="forbid")

    organisation_number: str
    legal_name: str
    status: str = "registered"
    services: list[Service] = Field(default_factory=list)
    environments: list[ConnectedEnvironment] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    terms_accepted: TermsAcceptance | None = None
    onboarding: str | None = None  # the reference of its onboarding case (process A)
    onboarding_rounds: int = 0  # closed onboardings (rejected, withdrawn): a new registration starts a new round

    def contact(self, email: str) -> Contact | None:
        wanted = email.casefold()
        return next((c for c in self.contacts if c.email.casefold() == wanted), None)


class DataSource(BaseModel):
    """NAV, Altinn or Digdir: who publishes alerts and receives forwarded reports."""

    model_config = ConfigDict(extra="forbid")

    key: Literal["NAV", "ALTINN", "DIGDIR"]
    name: str
    organisation_number: str
    contacts: list[Contact]


class Bits(BaseModel):
    """Bits' own side: the shared mailbox and the staff who handle, secure and approve."""

    model_config = ConfigDict(extra="forbid")

    organisation_number: str = "916960190"
    shared_mailbox: str
    contacts: list[Contact]

    def with_role(self, role: str) -> list[Contact]:
        return [c for c in self.contacts if c.has_role(role)]


REFERENCE_PATTERN = re.compile(r"^(?P<prefix>[A-Z][A-Z0-9]{0,9})-(?P<process>[A-E])-(?P<year>\d{4})-(?P<seq>\d{4,})$")


def format_reference(prefix: str, process: Process, year: int, seq: int) -> str:
    return f"{prefix}-{process.value}-{year}-{seq:04d}"


def parse_reference(reference: str) -> tuple[Process, int, int] | None:
    """(process, year, sequence) of a well-formed reference, or None."""
    match = REFERENCE_PATTERN.match(reference)
    if match is None:
        return None
    return Process(match["process"]), int(match["year"]), int(match["seq"])


# A message set aside for Bits belongs to no case (nothing could be read from it, say): its record and the mail that
# tells Bits are stored under a reference of their own, `SSU-HELD-<message key>`, so that they are written in one
# transaction with the message's marker like any case's event, and the outbox sends that mail like any other.
HELD_PATTERN = re.compile(r"^(?P<prefix>[A-Z][A-Z0-9]{0,9})-HELD-(?P<key>[0-9a-f]{16})$")
HELD_PARTITION = "held"


def held_reference(prefix: str, message_key: str) -> str:
    return f"{prefix}-HELD-{message_key[:16]}"


# A company's registry entry changed by Bits (workspace/registry_view.py): its audit trail and the mails that tell its
# contacts are stored under `SSU-REG-<organisation number>`, one partition for every company, for the same reason.
REGISTRY_PATTERN = re.compile(r"^(?P<prefix>[A-Z][A-Z0-9]{0,9})-REG-(?P<number>\d{9})$")
REGISTRY_PARTITION = "registry"


def registry_reference(prefix: str, organisation_number: str) -> str:
    return f"{prefix}-REG-{organisation_number}"


def partition_of(reference: str) -> str:
    """The storage partition of a case (its process and year), of a held message or of a company's registry trail."""
    if HELD_PATTERN.match(reference):
        return HELD_PARTITION
    if REGISTRY_PATTERN.match(reference):
        return REGISTRY_PARTITION
    parsed = parse_reference(reference)
    if parsed is None:
        raise ValueError(f"not a case reference: {reference!r}")
    process, year, _ = parsed
    return f"{process.value}-{year}"


class DecisionToken(BaseModel):
    """A one-time (or, for an ongoing conversation, reusable) token bound to a case, a person and a decision asked.

    It travels in the subject (`#token`) and in a plus-addressed Reply-To (`ssu+token@…`).
    """

    model_config = ConfigDict(extra="forbid")

    token: str
    person: str
    decision: str
    expires_at: datetime
    single_use: bool = True
    about: str | None = None  # what the token acts on within the case, e.g. one company's organisation number
    used_at: datetime | None = None
    used_by: str | None = None
    used_command: str | None = None
