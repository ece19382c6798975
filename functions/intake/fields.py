"""What a new case by email says about itself: the environment and the service it concerns, and for a security
breach when it was discovered - read from the subject and the text, in Norwegian and English.

Only what the message states: a message that names neither environment nor service leaves them empty (Bits asks),
and one that names both environments is about both. The words are the ones insurers use for NAV's and Altinn's
environments (DOMAIN.md): test is Altinn TT02, Maskinporten's test environment and NAV's dev gateway.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ..core.inbound import InboundMessage, Route
from .dates import find_datetime

# "test" alone is too common a word ("we tested it"): it counts as the environment after "i"/"in"/"mot", or in a
# subject's tag ("[TEST]", "Test:").
_TEST = re.compile(
    r"\b(tt02|test[\s-]?miljø(et)?|testmiljoet|test[\s-]?environment|dev[\s-]?gateway|ver2|staging|preprod)\b|"
    r"\b(i|in|på|mot|against|on|fra|from|maskinporten|altinn|nav)[\s-]+test(en)?\b(?!(?-i:\s+[A-ZÆØÅ]))|"
    r"\[test\]|^\s*test\s*:",
    re.IGNORECASE,
)
_PRODUCTION = re.compile(r"\b(produksjon(smiljø(et)?|en)?|prod|production|prodmiljø(et)?)\b|\[prod\]", re.IGNORECASE)

# The components of the service (incidents/models.py) by the words people use for them. Longer names first.
_COMPONENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("nav-api-portal", re.compile(r"\bapi[\s-]?portal(en)?\b", re.IGNORECASE)),
    ("maskinporten", re.compile(r"\bmaskinporten\b", re.IGNORECASE)),
    ("altinn-consent", re.compile(r"\b(samtykke\w*|consent|altinn[\s-]?samtykke)\b", re.IGNORECASE)),
    ("aap-api", re.compile(r"\b(aap(-api)?|arbeidsavklaringspenger)\b", re.IGNORECASE)),
    ("ufore-api", re.compile(r"\b(uføre\w*|ufore(-api)?)\b", re.IGNORECASE)),
)
# What a service wanted or asked about is named by its benefit, not its API (questions and change requests).
SERVICE_OF_COMPONENT = {"ufore-api": "ufore", "aap-api": "aap"}

_DISCOVERED = re.compile(
    r"\b(oppdaget|oppdaga|oppdagede|ble\s+kjent|fikk\s+(vi\s+)?kjennskap|ble\s+vi\s+klar\s+over|discovered|detected|"
    r"noticed|became\s+aware|identified|oppdagelsestidspunkt|tidspunkt\s+for\s+oppdagelse)\b",
    re.IGNORECASE,
)


def _said(pattern: re.Pattern[str], text: str) -> bool:
    """Whether `text` names the environment, and not as one it is not in ("vi er ikke i produksjon ennå")."""
    for match in pattern.finditer(text):
        before = text[max(0, match.start() - 20) : match.start()].casefold()
        if not re.search(r"\b(ikke|ikkje|not|never|aldri|uten|without)\b(\s+\w+)?\s*$", before):
            return True
    return False


def environment_in(subject: str, text: str) -> str | None:
    """test, production or both: what the subject says, else what the text says."""
    for haystack in (subject, text[:5000]):
        test, production = _said(_TEST, haystack), _said(_PRODUCTION, haystack)
        if test and production:
            return "both"
        if test or production:
            return "test" if test else "production"
    return None


def components_in(subject: str, text: str) -> list[str]:
    """The components named, the subject's first; [] when none is."""
    found: list[str] = []
    for haystack in (subject, text[:5000]):
        hits = sorted((m.start(), key) for key, pattern in _COMPONENTS for m in [pattern.search(haystack)] if m)
        found += [key for _, key in hits if key not in found]
    return found


def discovered_at_in(text: str, now: datetime) -> datetime | None:
    """When a breach was discovered, as the text states it right after a word for discovering it."""
    for match in _DISCOVERED.finditer(text[:5000]):
        found = find_datetime(text[match.end() : match.end() + 120], now)
        if found is not None:
            return found
    return None


def read_fields(message: InboundMessage, where: Route, now: datetime) -> dict[str, Any]:
    """The details a new case by email gets from what the message says (the environment goes on the case itself)."""
    details: dict[str, Any] = {}
    components = components_in(message.subject, message.text)
    if where.kind == "registration":
        # A registration names the services it wants, not a component with a problem.
        wanted = sorted({SERVICE_OF_COMPONENT[c] for c in components if c in SERVICE_OF_COMPONENT})
        return {"services": wanted} if wanted else {}
    if components:
        details["component"] = components[0]
        details["components"] = components
        services = sorted({SERVICE_OF_COMPONENT[c] for c in components if c in SERVICE_OF_COMPONENT})
        if services:
            details["service"] = services[0] if len(services) == 1 else "both"
    if where.kind == "security_breach":
        # "i dag kl. 10:55" means the day it was written: the Date header's, unless that claims a later time.
        written = min(message.sent_at, now) if message.sent_at else now
        # From what the reporter wrote, never from the quoted history ("Den 3.11.2026 kl. 10:12 skrev …").
        discovered = discovered_at_in(f"{message.subject}\n{message.new_text or message.text}", written)
        if discovered is not None:
            details["discovered_at"] = discovered.isoformat()
    return details
