"""Rate limits on anonymous submissions: who the client is (the address Azure's front end saw), and what a validated
submission counts against (its client network, every address it names and their domains, its organisation number).

The client address. App Service's front ends (Functions on App Service plans, Premium and Flex Consumption alike)
set `client-ip` (`<address>:<port>`) on every request and overwrite any value a client sends, and append the
address they accepted the connection from to `X-Forwarded-For`; everything left of that entry is whatever the client
(or a proxy before us) wrote, so it is never read. We take `client-ip`, else (locally, where the dev host or a proxy
of the developer's may set only the other one) the right-most `X-Forwarded-For` entry, else one shared bucket
("unknown"). In Azure mode, `client-ip` alone counts: a request without it did not come through the front end as
we expect, and `X-Forwarded-For` is then whatever someone wrote; it goes to the shared bucket, with a warning in
the log. The dev host sets both headers the same way from the socket's peer. Behind a
proxy of our own (Front Door, Application Gateway) the front end would see the proxy; that proxy's own header would
have to be read instead - there is none in infra/ today.

IPv6 clients are counted per /64 (one subscriber's network: changing the host part gives no new allowance);
IPv4-mapped IPv6 addresses count as the IPv4 address.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from ..core.rate_limits import WINDOW, RateLimit, canonical_address, ip_key, organisation_key, recipient_limits
from ..core.services import Services

log = logging.getLogger(__name__)

UNKNOWN = "unknown"

RATE_LIMITED = (
    "Det er sendt inn for mange henvendelser herfra, for denne e-postadressen eller for denne virksomheten den "
    "siste timen. Ingenting er lagret eller sendt. Prøv igjen om {minutes} minutter.",
    "Too many submissions from here, for this email address or for this company in the last hour. Nothing was "
    "saved or sent. Please try again in {minutes} minutes.",
)


def rate_limited_message(language: str, retry_after: int) -> str:
    nb, en = RATE_LIMITED
    return (en if language == "en" else nb).format(minutes=max(1, math.ceil(retry_after / 60)))


def parse_address(value: str) -> str | None:
    """The network an address counts for: `203.0.113.7`, `2001:db8:1:2::/64`; None when it is no IP address.
    Takes the forms the front ends write: `203.0.113.7:52311`, `[2001:db8::1]:443`, `2001:db8::1`."""
    text = value.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]  # IPv4 with a port
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # no zone index
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def client_network(headers: Mapping[str, str], azure: bool = False) -> str:
    """The client's network as Azure's front end saw it (see the module's docstring); never a client's own claim.
    `azure`: only the platform's `client-ip` is read."""
    platform = parse_address(headers.get("client-ip", "")) if headers.get("client-ip") else None
    if platform:
        return platform
    if azure:
        log.warning("rate limits: a request without a usable client-ip header counts in the shared bucket")
        return UNKNOWN
    forwarded = [entry for entry in headers.get("x-forwarded-for", "").split(",") if entry.strip()]
    return (parse_address(forwarded[-1]) if forwarded else None) or UNKNOWN


def addresses_in(submission: BaseModel) -> list[str]:
    """Every email address a submission names, at the top or in a list of rows (a registration's contacts): each
    is someone we may write to."""
    data: dict[str, Any] = submission.model_dump(mode="json")
    found = [data["email"]] if isinstance(data.get("email"), str) else []
    for value in data.values():
        if isinstance(value, list):
            found += [row["email"] for row in value if isinstance(row, dict) and isinstance(row.get("email"), str)]
    return list(dict.fromkeys(canonical_address(a) for a in found))


def limits_for(services: Services, headers: Mapping[str, str], submission: BaseModel) -> list[RateLimit]:
    settings = services.settings
    limits = [RateLimit(ip_key(client_network(headers, settings.mode == "azure")), settings.rate_limit_per_ip)]
    limits += [
        limit
        for address in addresses_in(submission)
        for limit in recipient_limits(address, settings.rate_limit_per_recipient)
    ]
    number = getattr(submission, "organisation_number", None)
    if isinstance(number, str) and number:
        limits.append(RateLimit(organisation_key(number), settings.rate_limit_per_organisation))
    return limits


async def count_submission(
    services: Services, headers: Mapping[str, str], submission: BaseModel, once: str | None = None
) -> int | None:
    """Count a valid anonymous submission; the seconds to wait when it is over a limit (then nothing was counted).
    `once`: the submission's identity (its marker): sent again (a retry after a 503), it is not counted again."""
    limits = limits_for(services, headers, submission)
    return await services.rate_limits.hit(limits, WINDOW, services.clock.now(), once=once)
