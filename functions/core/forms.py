"""A process's web form as a declaration (template, model, the workflow that takes it), and the refusals a workflow
raises when it does not take a valid submission. The HTTP side is `web/forms.py`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel

from .cases import NO_PROOF, AddressProof, CaseIntake
from .model import Case, Channel
from .services import Services


class FormSubmit(Protocol):
    """The workflow a form hands a valid body to: (services, the model, the channel, identity numbers masked), and
    what the channel proves about the addresses in it (`proof`: nothing, for a plain anonymous post)."""

    def __call__(
        self, services: Services, model: Any, channel: Channel, masked: int = 0, /, *, proof: AddressProof = NO_PROOF
    ) -> Awaitable[Case]: ...


@dataclass(frozen=True)
class WebForm:
    """A process's form: its template, its model, and the workflow that opens the case.

    `from_browser` turns a browser form's flat fields into the JSON body's shape (rows of contacts, check boxes);
    a field's name in the form is its path in the body (`contacts.0.email`), so errors land next to the field.
    """

    template: str
    route: str  # under /api/, as its trigger declares it (tests/unit/test_function_app.py holds the two together)
    model: type[BaseModel]
    submit: FormSubmit
    max_body_bytes: int | None = None
    from_browser: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    intake: CaseIntake | None = None  # the intake its cases open through (None: the form opens no ordinary case)
    example: dict[str, Any] | None = None  # a valid JSON body, for the documentation and the catalogue's tests
    # True: never refused by the rate limits (a breach report); over one, the case is taken with nothing mailed to
    # the submitter (`AddressProof.may_mail`).
    taken_over_rate_limit: bool = False


class Refusal(StrEnum):
    """Why a workflow does not take a valid submission, in the domain's words (the web layer maps it to HTTP)."""

    UNKNOWN = "unknown"  # what it names does not exist (e.g. a company the registry does not know)
    CONFLICT = "conflict"  # the state forbids it now (e.g. a registration is already open)
    NOT_ALLOWED = "not_allowed"  # this sender may not ask for it (e.g. not a registered contact)
    PENDING = "pending"  # taken, but it waits for a confirmation (e.g. a signed link to a registered contact)


class SubmissionRefused(Exception):
    """A valid body the workflow cannot take now (e.g. a registration already open): nothing is stored, and the
    sender learns why. `errors` point at fields when one field is the reason."""

    def __init__(
        self, why: Refusal, nb: str, en: str, errors: dict[str, str] | None = None, reference: str | None = None
    ) -> None:
        super().__init__(en)
        self.why, self.nb, self.en, self.errors, self.reference = why, nb, en, errors or {}, reference


class SubmissionPending(SubmissionRefused):
    """A valid body that is taken but waits for a confirmation (e.g. a link to the address given)."""

    def __init__(self, nb: str, en: str, reference: str | None = None) -> None:
        super().__init__(Refusal.PENDING, nb, en, reference=reference)
