"""Who sent an inbound email, as far as it can be proven: the From address as mail servers read it, and our receiving
server's verdict on it, counted only when it is about that address's domain.

Three rules make a claim provable:
- The address is read from the header as sent. RFC 2047 encoded words may only ever make up a display name; text
  that decodes to an address is never an address (that was how a forged "Bits" published terms).
- Only the topmost Authentication-Results counts, and only when a receiving server we trust wrote it (its
  authserv-id is in SSU_TRUSTED_AUTHSERV_IDS). Our server prepends its header to what arrived, so every header below
  it may have been written by the sender. Exchange Online (EOP) writes its header without an authserv-id; the
  setting names that form "exchange-online".
- `dmarc=pass` proves the From address only when its `header.from` is the From address's domain (aligned).
Mail that Exchange itself authenticated inside our own organisation (X-MS-Exchange-Organization-AuthAs: Internal,
a header Exchange removes from everything that arrives from outside) is proven for addresses of our own domain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message

from ..core.inbound import Sender
from ..core.settings import Settings

EXCHANGE_ONLINE = "exchange-online"
_ITEM_START = re.compile(r"^\s*[A-Za-z][\w.-]*\s*=")
_RESULT = re.compile(r"^\s*([A-Za-z][\w-]*)\s*=\s*([A-Za-z]+)\b(.*)$", re.DOTALL)
_PROPERTY = re.compile(r"([A-Za-z][\w-]*\.[A-Za-z][\w-]*)\s*=\s*(\S+)")


@dataclass(frozen=True)
class SenderTrust:
    """What we believe about who sent a message: whose verdicts, whether a proof is required, our own domains."""

    authserv_ids: frozenset[str]
    required: bool
    own_domains: frozenset[str]

    @classmethod
    def of(cls, settings: Settings) -> SenderTrust:
        return cls(
            authserv_ids=frozenset(i.casefold() for i in settings.trusted_authserv_ids),
            required=settings.dmarc_required,
            own_domains=frozenset({settings.mail_domain.casefold()}),
        )


NO_TRUST = SenderTrust(frozenset(), required=False, own_domains=frozenset())


def identify(msg: Message, name: str, address: str, trust: SenderTrust) -> Sender:
    """The sender of `msg` whose From header held (`name`, `address`), with whether that is proven and why."""
    domain = address.rsplit("@", 1)[-1].casefold()
    if domain in trust.own_domains and _internal(msg):
        return Sender(address, name, True, "authenticated inside our own organisation by Exchange")
    verdict = _topmost_dmarc(msg.get_all("authentication-results") or [], trust.authserv_ids)
    if verdict is None:
        evidence = "no authentication result from a receiving server we trust"
        return Sender(address, name, not trust.required, evidence)
    result, header_from = verdict
    if result != "pass":
        return Sender(address, name, False, f"DMARC {result}")
    if header_from != domain:
        return Sender(address, name, False, f"DMARC passed for {header_from or 'no domain'}, not for {domain}")
    return Sender(address, name, True, f"DMARC pass for {domain}")


def _internal(msg: Message) -> bool:
    values = [str(v).strip().casefold() for v in msg.get_all("x-ms-exchange-organization-authas") or []]
    return values == ["internal"]


def _topmost_dmarc(headers: Iterable[object], trusted: frozenset[str]) -> tuple[str, str] | None:
    """(result, header.from) of the DMARC result in the topmost Authentication-Results, if a trusted server wrote it."""
    topmost = next(iter(headers), None)
    if topmost is None:
        return None
    text = _lexed(" ".join(str(topmost).split()))
    if text is None:
        return None  # unbalanced quotes or comments: some of the header is the sender's words, so none of it counts
    items = text.split(";")
    if _ITEM_START.match(items[0]):
        authserv_id = EXCHANGE_ONLINE  # EOP's own form: the header opens with a result, not an authserv-id
    else:
        authserv_id = items[0].split()[0].strip('"').casefold() if items[0].split() else ""
        items = items[1:]
    if authserv_id not in trusted:
        return None
    found: list[tuple[str, str]] = []
    for item in items:
        match = _RESULT.match(item)
        if match is None or match.group(1).casefold() != "dmarc":
            continue
        properties = {k.casefold(): v.strip('"').casefold().rstrip(".") for k, v in _PROPERTY.findall(match.group(3))}
        found.append((match.group(2).casefold(), properties.get("header.from", "")))
    if not found:
        return None
    if len(set(found)) > 1:
        return ("ambiguous", "")  # two different DMARC verdicts from one server: believe neither
    return found[0]


def _lexed(text: str) -> str | None:
    """The header with (comments), nested ones too, removed and "quoted strings" emptied, as RFC 8601 reads them:
    either may hold anything, e.g. "dmarc=pass" or a ";". None when they do not balance."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            if ch == '"':
                quoted = False
                out.append('"')
        elif ch == "(":
            depth += 1
        elif ch == ")":
            if not depth:
                return None
            depth -= 1
        elif depth:
            continue
        elif ch == '"':
            quoted = True
            out.append('"')
        else:
            out.append(ch)
    return None if depth or quoted or escaped else "".join(out)
