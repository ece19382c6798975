"""Routing a message that belongs to no case: by the address it was sent to, then by keywords (nb and en)."""

from __future__ import annotations

import re

from ..core.inbound import Route
from ..core.model import Process

ROUTES = {
    "B": Route(Process.NOTIFICATION, "notice", ""),
    "C": Route(Process.ERROR_REPORT, "error_report", ""),
    "C-security": Route(Process.ERROR_REPORT, "security_breach", ""),
    "D": Route(Process.QUESTION, "question", ""),
    "E": Route(Process.CHANGE_REQUEST, "change_request", ""),
    "A": Route(Process.ONBOARDING, "registration", ""),
}

# First match wins: a security breach before an error, an error before a wish, anything else is a question.
_KEYWORDS: list[tuple[str, re.Pattern[str]]] = [
    (
        "C-security",
        re.compile(
            r"sikkerhetsbrudd|sikkerhetshendelse|personvernbrudd|datalekkasje|avvik\s+personopplysning|"
            r"security\s+(breach|incident)|data\s+breach|personal\s+data\s+breach|kompromitter|compromised",
            re.IGNORECASE,
        ),
    ),
    (
        "C",
        re.compile(
            r"feilmelding|\bfeil\s+(i|ved|på|med)\b|fungerer\s+ikke|virker\s+ikke|nedetid|driftsavbrudd|"
            r"\berror\b|\bexception\b|\bbug\b|\boutage\b|\btimeout\b|status\s?code|statuskode|http\s?[45]\d\d|"
            r"\b(500|502|503|504)\b|not\s+working|is\s+down",
            re.IGNORECASE,
        ),
    ),
    (
        "E",
        re.compile(r"endringsønske|endringsforslag|ønsker?\s+(en\s+)?endring|change\s+request|feature\s+request", re.I),
    ),
    (
        "A",
        re.compile(
            r"innmelding|tilknytningsavtale|ny\s+datakonsument|bli\s+(tilknyttet|koblet\s+på)|onboarding|"
            r"registrering\s+av\s+(selskap|virksomhet)|register\s+(our|a)\s+company|connection\s+agreement",
            re.IGNORECASE,
        ),
    ),
]


# Words that mark an error in a subject line, though they are too common to count in a body.
_SUBJECT_ONLY: list[tuple[str, re.Pattern[str]]] = [("C", re.compile(r"\bfeil\b|\bfails?\b|\bfailing\b", re.I))]


def route(recipients: tuple[str, ...], subject: str, text: str, aliases: dict[str, str]) -> Route:
    """Aliases map a full address or a plus tag (ssu+feil@…) to a route key: B, C, C-security, D, E or A."""
    for address in recipients:
        local = address.partition("@")[0]
        tag = local.split("+", 1)[1] if "+" in local else None
        for key in (address, tag):
            if key and key in aliases and aliases[key] in ROUTES:
                found = ROUTES[aliases[key]]
                return Route(found.process, found.kind, "address")
    for haystack, patterns in ((subject, _KEYWORDS + _SUBJECT_ONLY), (text[:5000], _KEYWORDS)):
        for key, pattern in patterns:
            if pattern.search(haystack):
                found = ROUTES[key]
                return Route(found.process, found.kind, "keywords")
    return Route(Process.QUESTION, "question", "default")
