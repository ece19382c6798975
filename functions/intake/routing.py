"""Routing a message that belongs to no case: by the address it was sent to, then by what it says (nb and en)."""

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

_SECURITY = re.compile(
    r"sikkerhetsbrudd|sikkerhetshendelse|personvernbrudd|brudd\s+på\s+personopplysningssikkerheten|datalekkasje|"
    r"avvik\s+(personopplysning|personvern)|\bavviksmelding|lekket|lekkasje\s+av|security\s+(breach|incident)|"
    r"data\s+breach|personal\s+data\s+breach|kompromitter|compromised|leaked|uautorisert\s+tilgang|"
    r"unauthori[sz]ed\s+access",
    re.IGNORECASE,
)
# What only an error report has: a status code, a correlation id, an OAuth error, an exception. These win over
# everything but a breach: a mail that quotes an HTTP 403 is about an error, whatever else it asks or proposes.
_ERROR_EVIDENCE = re.compile(
    r"\bhttp[\s/-]*(status\s*)?(kode\s*|code\s*)?[1-5]\d\d\b|\b(status|statuskode|feilkode|error\s+code|"
    r"response\s+code|svarkode|returkode)\s*:?\s*[1-5]\d\d\b|\b[45]\d\d\s*[-:(]?\s*(bad\s+request|unauthori[sz]ed|"
    r"forbidden|not\s+found|conflict|unprocessable|too\s+many\s+requests|internal\s+server\s+error|bad\s+gateway|"
    r"service\s+unavailable|gateway\s+time-?out)\b|\b(feil|error|svar|respons|response|får|fikk|gets?|got|"
    r"returns?|returnerer|gir|gives?)\s+(vi\s+|we\s+|de\s+|they\s+)?(en\s+|a\s+|an\s+)?(http\s*)?[45]\d\d\b"
    r"(?=\s*([.,;:!?)]|$|fra\b|from\b|på\b|on\b|når\b|when\b|ved\b|i\s+(svar|retur)|feil|error|tilbake|back))|"
    r"\b(correlation|korrelasjons|trace|request|call)[\s_-]?id\b|x-correlation-id|\b[0-9a-f]{8}-[0-9a-f]{4}-"
    r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b(invalid_client|invalid_grant|invalid_scope|unauthorized_client|"
    r"invalid_request|access_denied|server_error|temporarily_unavailable)\b|\b\w+Exception\b|stack\s?trace|"
    r"\bat\s+[\w.$]+\([\w.]+:\d+\)",  # a Java stack frame
    re.IGNORECASE,
)
_CHANGE = re.compile(
    r"endringsønske|endringsforslag|endringsbehov|ønsker?\s+(oss\s+)?(en\s+)?endring|forslag\s+til\s+endring|"
    r"change\s+request|feature\s+request|we\s+propose|vi\s+foreslår",
    re.IGNORECASE,
)
_REGISTRATION = re.compile(
    r"innmelding|tilknytningsavtale|ny\s+datakonsument|bli\s+(tilknyttet|koblet\s+på|med\s+i\s+ordningen)|"
    r"melde\s+(oss|inn)\s+(inn\s+)?(i|som)|registrering\s+av\s+(selskap|virksomhet)|register\s+(our|a)\s+company|"
    r"connection\s+agreement|join\s+the\s+(scheme|service)",
    re.IGNORECASE,
)
# Words that say something does not work: an error report unless the message says it is something else.
_ERROR_WORDS = re.compile(
    r"\bfeil(er|et|en|ene|kode\w*|melding\w*)?\b|fungerer\s+ikke|virker\s+ikke|nedetid|driftsavbrudd|"
    r"tidsavbrudd|\btime-?outs?\b|timed\s+out|\berror(s)?\b|\bbug\b|\boutage\b|not\s+working|is\s+down|"
    r"\bfails?\b|\bfailing\b|\bfailed\b|\bavvist\b|\brejected\b|\bnede\b",
    re.IGNORECASE,
)

# First match wins: a breach, then evidence of an error, then a change wish or a registration, then words of an
# error; anything else is a question. The subject is read before the text.
_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("C-security", _SECURITY),
    ("C", _ERROR_EVIDENCE),
    ("E", _CHANGE),
    ("A", _REGISTRATION),
    ("C", _ERROR_WORDS),
]
_SUBJECT_ONLY: list[tuple[str, re.Pattern[str]]] = [("A", re.compile(r"\bonboarding\b", re.IGNORECASE))]


def route(recipients: tuple[str, ...], subject: str, text: str, aliases: dict[str, str]) -> Route:
    """Aliases map a full address or a plus tag (ssu+feil@…) to a route key: B, C, C-security, D, E or A."""
    for address in recipients:
        local = address.partition("@")[0]
        tag = local.split("+", 1)[1] if "+" in local else None
        for key in (address, tag):
            if key and key in aliases and aliases[key] in ROUTES:
                found = ROUTES[aliases[key]]
                return Route(found.process, found.kind, "address")
    for haystack, rules in ((subject, _RULES + _SUBJECT_ONLY), (text[:5000], _RULES)):
        for key, pattern in rules:
            if pattern.search(haystack):
                found = ROUTES[key]
                return Route(found.process, found.kind, "keywords")
    return Route(Process.QUESTION, "question", "default")
