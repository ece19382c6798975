"""Decision tokens: issued with emails that ask someone to act, carried in the subject and a plus-addressed Reply-To."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import timedelta

from .model import DecisionToken
from .services import Services

_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o or 1/l to confuse
TOKEN_LENGTH = 12


# A decision token at the end of a subject (`… #k3m9p2qx7tbn`), as the decision mails carry it.
_SUBJECT_TOKEN = re.compile(r"\s#[a-z0-9]{8,32}$")


def without_token(subject: str, tokens: Iterable[str] = ()) -> str:
    """The subject as sent, but for the decision token it carries: a credential, never shown or exported. The
    case's own `tokens` go wherever they stand; any token-shaped ending goes too."""
    for token in tokens:
        subject = subject.replace(f" #{token}", "")
    return _SUBJECT_TOKEN.sub("", subject)


def new_token() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_LENGTH))


def issue(
    services: Services,
    person: str,
    decision: str,
    *,
    single_use: bool = True,
    days: int | None = None,
    about: str | None = None,
) -> DecisionToken:
    """A token for `person` to take `decision` by replying; valid SSU_DECISION_TOKEN_DAYS, or `days` for steps that
    can come months later (NAV implementing a change, Bits offboarding a company)."""
    expires = services.clock.now() + timedelta(days=days or services.settings.decision_token_days)
    return DecisionToken(
        token=new_token(),
        person=person.casefold(),
        decision=decision,
        expires_at=expires,
        single_use=single_use,
        about=about,
    )


def reply_address(services: Services, token: str) -> str:
    local, domain = services.settings.shared_mailbox.split("@", 1)
    return f"{local}+{token}@{domain}"
