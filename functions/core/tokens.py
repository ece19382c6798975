"""Decision tokens: issued with emails that ask someone to act, carried in the subject and a plus-addressed Reply-To."""

from __future__ import annotations

import secrets
from datetime import timedelta

from .model import DecisionToken
from .services import Services

_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o or 1/l to confuse
TOKEN_LENGTH = 12


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
