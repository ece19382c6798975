"""Bits' signed-in people: the principal App Service Authentication (or the dev host) vouches for, and its app roles.

In Azure, App Service Authentication signs people in with Entra ID and passes each request on with an
`X-MS-CLIENT-PRINCIPAL` header (base64 JSON of the token's claims); it drops any such header a client sends. The app
believes the header only where the platform runs (`WEBSITE_AUTH_ENABLED=True`, which App Service sets, and which the
dev host sets for the app it serves, and which no SSU_ setting stands in for); anywhere else a principal header is a
client's claim and is ignored. Of the claims, the app reads who from the sign-in name (`preferred_username`, then
`upn`; never `email`, which admins and guests can set), the stable Entra object id (`oid`), and app roles only from
the role claims, compared exactly as Entra ID does (`role_typ`, which the principal names itself, is not read).

App roles (defined on the app registration, assigned to people in Entra ID):
- `support`: reads cases, the work queue, the registry and suppressions; acts on cases;
- `approver`: what support may, and approvals;
- `admin`: everything, including publishing terms and lifting suppressions.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

import azure.functions as func

from ..core.settings import Settings
from .http import json_response, wants_json

Role = Literal["support", "approver", "admin"]
ROLES: tuple[Role, ...] = ("support", "approver", "admin")
# What each app role may do: an approver may what support may, an admin everything.
_HOLDS: dict[str, frozenset[str]] = {
    "support": frozenset({"support"}),
    "approver": frozenset({"support", "approver"}),
    "admin": frozenset(ROLES),
}
PRINCIPAL_HEADER = "x-ms-client-principal"
LOGIN_PATH = "/.auth/login/aad"

# Roles only from the token's role claims, never from a type the principal names itself (`role_typ`).
_ROLE_CLAIMS = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
# Who, by the sign-in name Entra ID gives; not `email`, which admins and guests can set to anything.
_EMAIL_CLAIMS = ("preferred_username", "upn", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn")
_NAME_CLAIMS = ("name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name")
_ID_CLAIMS = ("oid", "http://schemas.microsoft.com/identity/claims/objectidentifier")


@dataclass(frozen=True)
class StaffMember:
    """A signed-in person: who (email, name, Entra object id) and which app roles they hold."""

    email: str
    name: str
    object_id: str
    roles: frozenset[str]

    def may(self, role: Role) -> bool:
        return any(role in _HOLDS.get(held, ()) for held in self.roles)


def principal_of(req: func.HttpRequest, settings: Settings) -> StaffMember | None:
    """The signed-in person the platform vouches for; None without a (believable, well-formed) principal."""
    if not settings.platform_auth_enabled:
        return None
    encoded = req.headers.get(PRINCIPAL_HEADER, "")
    if not encoded or len(encoded) > 16_384:
        return None
    try:
        data = json.loads(base64.b64decode(encoded, validate=False))
    except (ValueError, TypeError, RecursionError):
        # Bad base64, bytes that are not UTF-8, not JSON, or JSON nested too deep to read (RecursionError): nobody.
        return None
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        return None
    claims: dict[str, list[str]] = {}
    for claim in data["claims"]:
        if isinstance(claim, dict) and isinstance(claim.get("typ"), str) and isinstance(claim.get("val"), str):
            claims.setdefault(claim["typ"], []).append(claim["val"])
    # Entra ID role values are case-sensitive: "admin" is the role, "ADMIN" is not.
    roles = frozenset(v for typ in _ROLE_CLAIMS for v in claims.get(typ, ()))
    email = next((v for typ in _EMAIL_CLAIMS for v in claims.get(typ, ()) if "@" in v), "")
    if not email:
        return None
    name = next((v for typ in _NAME_CLAIMS for v in claims.get(typ, ())), email)
    object_id = next((v for typ in _ID_CLAIMS for v in claims.get(typ, ())), "")
    return StaffMember(email.casefold(), name, object_id, roles.intersection(ROLES))


def require_staff(req: func.HttpRequest, settings: Settings, role: Role = "support") -> StaffMember | func.HttpResponse:
    """The signed-in person when they hold `role` (admin holds every role); else the answer to give: a browser is
    sent to sign in, an API client gets 401; a signed-in person without the role gets 403."""
    member = principal_of(req, settings)
    if member is None:
        if not _is_page_visit(req):
            return json_response(
                {"error": "unauthenticated", "message": "Sign in as a Bits staff member.", "login": LOGIN_PATH},
                401,
                {"WWW-Authenticate": 'Bearer realm="ssu-staff"', "Cache-Control": "no-store"},
            )
        # The whole path with its query is one parameter value: encode '?', '&' and '=' too.
        target = quote(_path_of(req), safe="/")
        return func.HttpResponse(
            status_code=302,
            headers={"Location": f"{LOGIN_PATH}?post_login_redirect_uri={target}", "Cache-Control": "no-store"},
        )
    if not member.may(role):
        return json_response(
            {"error": "forbidden", "message": f"This needs the app role {role}.", "roles": sorted(member.roles)}, 403
        )
    return member


def _is_page_visit(req: func.HttpRequest) -> bool:
    """A person's browser opening a page (sent on to sign in), not a script or an API call (told 401)."""
    return req.method in ("GET", "HEAD") and "text/html" in req.headers.get("accept", "") and not wants_json(req)


def _path_of(req: func.HttpRequest) -> str:
    url = req.url
    scheme_end = url.find("://")
    path_start = url.find("/", scheme_end + 3) if scheme_end >= 0 else 0
    return url[path_start:] if path_start >= 0 else "/"
