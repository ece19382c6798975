"""Loop and noise protection: tell automatic mail (auto-replies, lists, bounces, our own) from mail by a person."""

from __future__ import annotations

import re
from enum import StrEnum

from ..core.inbound import InboundMessage


class Kind(StrEnum):
    PERSON = "person"
    AUTO_REPLY = "auto_reply"
    BULK = "bulk"  # mailing lists, newsletters
    DAEMON = "daemon"  # MAILER-DAEMON, postmaster
    BOUNCE = "bounce"  # a delivery status notification
    OWN = "own"  # something we sent ourselves


_AUTO_SUBJECT = re.compile(
    r"^\s*(automatisk svar|automatic reply|auto(matic)?[- ]?reply|autosvar|out of (the )?office|fraværende|"
    r"ikke til stede|abwesenheitsnotiz|réponse automatique)\b",
    re.IGNORECASE,
)
_DAEMONS = ("mailer-daemon", "postmaster", "no-reply", "noreply", "do-not-reply", "donotreply")


def classify(message: InboundMessage, own_addresses: tuple[str, ...]) -> Kind:
    headers = message.headers
    local_part = message.from_address.split("@", 1)[0]
    if message.from_address in own_addresses or "x-ssu-reference" in headers:
        return Kind.OWN
    if message.delivery_report is not None:
        return Kind.BOUNCE
    if local_part in _DAEMONS or headers.get("return-path", "").strip() == "<>":
        return Kind.DAEMON
    auto = headers.get("auto-submitted", "no").lower()
    if auto and not auto.startswith("no"):
        return Kind.AUTO_REPLY
    if any(name in headers for name in ("x-autoreply", "x-autorespond", "x-auto-response-suppress")):
        return Kind.AUTO_REPLY
    if _AUTO_SUBJECT.match(message.subject):
        return Kind.AUTO_REPLY
    if headers.get("precedence", "").lower() in ("bulk", "list", "junk") or "list-id" in headers:
        return Kind.BULK
    if "list-unsubscribe" in headers:
        return Kind.BULK
    return Kind.PERSON
