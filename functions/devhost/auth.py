"""The dev host's stand-in for App Service Authentication: the same /.auth URLs and principal headers as in Azure.

- `GET /.auth/login/aad` shows the Bits staff of the registry to pick one (`?as=<email>` signs in at once, for
  scripts and tests); `post_login_redirect_uri` is followed when it is a path on this site, refused otherwise.
- The session is a cookie, `AppServiceAuthSession` (HttpOnly, SameSite=Lax), holding a token signed with the app's
  signing key that expires after 8 hours of wall-clock time (moving the app's clock does not sign anyone out).
- `GET /.auth/me` answers as App Service does; `GET /.auth/logout` ends the session in this browser by deleting
  the cookie. The token itself is not revoked (nothing is stored server-side): a copy of the cookie taken before
  signing out stays valid until it expires, at most 8 hours after signing in. Acceptable on a developer's machine,
  which answers only to localhost (devhost/server.py).
- Every request to a function loses any `X-MS-CLIENT-PRINCIPAL*` header the client sent and, with a valid session,
  gets the platform's own: `X-MS-CLIENT-PRINCIPAL` (base64 JSON of the claims), `-NAME`, `-ID` and `-IDP`.

A person's app roles come from their roles in the registry: support and security give `support`, approver gives
`approver`, admin gives `admin`. In Azure the roles are app roles assigned in Entra ID (docs/deploy.md).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

log = logging.getLogger("devhost.auth")

SESSION_COOKIE = "AppServiceAuthSession"
SESSION_PURPOSE = "devhost-session"
SESSION_LIFETIME = timedelta(hours=8)
LOGIN_PATH = "/.auth/login/aad"
LOGOUT_COMPLETE_PATH = "/.auth/logout/complete"
DEFAULT_LANDING = "/api/bits"
# Headers only the platform may set: whatever a client sends under these names is dropped.
PLATFORM_HEADER_PREFIXES = ("x-ms-client-principal", "x-ms-token-")
# Registry roles of Bits' people, as the app roles the app checks (functions/web/staff.py).
APP_ROLES = {"support": "support", "security": "support", "approver": "approver", "admin": "admin"}
ROLE_CLAIM = "roles"
# The dev host's stand-in for the Entra tenant: object ids are derived from the email within it.
_TENANT = uuid.UUID("00000000-0000-4000-8000-000000000551")


@dataclass(frozen=True)
class StaffPerson:
    email: str
    name: str
    roles: tuple[str, ...]

    @property
    def object_id(self) -> str:
        return str(uuid.uuid5(_TENANT, self.email))


def staff_people(contacts: Iterable[Any]) -> list[StaffPerson]:
    """Bits' contacts who hold at least one app role, with those roles."""
    people = []
    for contact in contacts:
        roles = tuple(sorted({APP_ROLES[r] for r in contact.roles if r in APP_ROLES}))
        if roles:
            people.append(StaffPerson(contact.email.casefold(), contact.name or contact.email, roles))
    return people


def safe_local_path(value: str | None, default: str) -> str | None:
    """`value` when it is a path on this site (one leading '/', no scheme, no host, no backslash, no control or
    space characters); `default` when it is not given; None when it must be refused (an open redirect)."""
    if value is None or value == "":
        return default
    if not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return None  # browsers read '/\\evil.example' as '//evil.example'
    return value


# -- the session --------------------------------------------------------------------------------------------------


def _settings() -> Any:
    from functions.core.settings import get_settings

    return get_settings()


def session_token(person: StaffPerson, now: datetime) -> str:
    from functions.core.signing import sign

    payload = {"email": person.email, "name": person.name, "oid": person.object_id, "roles": list(person.roles)}
    return sign(_settings().effective_signing_key, SESSION_PURPOSE, payload, now + SESSION_LIFETIME)


def session_of(request: web.Request) -> dict[str, Any] | None:
    """The signed-in person of a valid, unexpired session cookie; None otherwise."""
    from functions.core.signing import verify

    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    payload = verify(_settings().verification_keys, SESSION_PURPOSE, token, datetime.now(UTC))
    if payload is None or not isinstance(payload.get("email"), str) or not isinstance(payload.get("roles"), list):
        return None
    return payload


def _claims(session: dict[str, Any]) -> list[dict[str, str]]:
    claims = [
        {"typ": "iss", "val": "http://localhost/devhost/v2.0"},
        {"typ": "preferred_username", "val": session["email"]},
        {"typ": "name", "val": str(session.get("name") or session["email"])},
        {"typ": "oid", "val": str(session.get("oid", ""))},
        {"typ": "tid", "val": str(_TENANT)},
        {"typ": "ver", "val": "2.0"},
    ]
    return claims + [{"typ": ROLE_CLAIM, "val": str(role)} for role in session["roles"]]


def principal_headers(session: dict[str, Any] | None) -> dict[str, str]:
    """The headers App Service Authentication adds for a signed-in person (none without a session)."""
    if session is None:
        return {}
    principal = {"auth_typ": "aad", "claims": _claims(session), "name_typ": "name", "role_typ": ROLE_CLAIM}
    return {
        "x-ms-client-principal": base64.b64encode(json.dumps(principal).encode()).decode(),
        "x-ms-client-principal-name": session["email"],
        "x-ms-client-principal-id": str(session.get("oid", "")),
        "x-ms-client-principal-idp": "aad",
    }


def platform_headers(request: web.Request, headers: dict[str, str]) -> dict[str, str]:
    """`headers` (lower-case names) without what a client may not claim, plus what the platform vouches for."""
    kept = {k: v for k, v in headers.items() if not k.startswith(PLATFORM_HEADER_PREFIXES)}
    return {**kept, **principal_headers(session_of(request))}


# -- the /.auth endpoints -------------------------------------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    target = safe_local_path(request.query.get("post_login_redirect_uri"), DEFAULT_LANDING)
    if target is None:
        return _page(
            "Kan ikke sende deg dit",
            "<p>Etter innloggingen kan du bare sendes til en side på dette nettstedet, for eksempel "
            f"<code>{DEFAULT_LANDING}</code>.</p>",
            400,
        )
    try:
        people = await _registry_staff()
    except Exception:
        log.exception("login: the registry could not be read")
        return _page("Innloggingen er ikke tilgjengelig", "<p>Registeret kunne ikke leses. Prøv igjen.</p>", 503)
    chosen = request.query.get("as")
    if chosen is None:
        return _page("Logg inn som Bits-ansatt", _chooser(people, target))
    person = next((p for p in people if p.email == chosen.strip().casefold()), None)
    if person is None:
        error = '<p class="feil" role="alert">Denne adressen er ikke en Bits-ansatt med en rolle i registeret.</p>'
        return _page("Logg inn som Bits-ansatt", error + _chooser(people, target), 403)
    response = web.Response(status=302, headers={"Location": target, "Cache-Control": "no-store"})
    response.set_cookie(
        SESSION_COOKIE,
        session_token(person, datetime.now(UTC)),
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=request.secure,
    )
    log.info("login: %s signed in with roles %s", person.email, ", ".join(person.roles))
    return response


async def me(request: web.Request) -> web.Response:
    session = session_of(request)
    if session is None:
        return web.json_response([], headers={"Cache-Control": "no-store"})
    body = [{"provider_name": "aad", "user_id": session["email"], "user_claims": _claims(session)}]
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def logout(request: web.Request) -> web.Response:
    target = safe_local_path(request.query.get("post_logout_redirect_uri"), LOGOUT_COMPLETE_PATH)
    if target is None:
        return _page(
            "Kan ikke sende deg dit",
            "<p>Etter utloggingen kan du bare sendes til en side på dette nettstedet.</p>",
            400,
        )
    response = web.Response(status=302, headers={"Location": target, "Cache-Control": "no-store"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def logout_complete(_request: web.Request) -> web.Response:
    return _page("Du er logget ut", f'<p><a href="{LOGIN_PATH}">Logg inn igjen</a></p>')


def add_routes(app: web.Application) -> None:
    app.router.add_get(LOGIN_PATH, login)
    app.router.add_get("/.auth/me", me)
    app.router.add_get("/.auth/logout", logout)
    app.router.add_get(LOGOUT_COMPLETE_PATH, logout_complete)


async def _registry_staff() -> list[StaffPerson]:
    from functions.composition import get_services

    registry = await get_services().registry()
    return staff_people(registry.bits.contacts if registry.bits else [])


# -- pages --------------------------------------------------------------------------------------------------------

_ROLE_NAMES = {"support": "brukerstøtte", "approver": "godkjenner", "admin": "administrator"}


def _chooser(people: list[StaffPerson], target: str) -> str:
    if not people:
        return (
            "<p>Registeret har ingen Bits-ansatte med en rolle. Last inn demoregisteret "
            "(<code>make run</code> gjør det) og last siden på nytt.</p>"
        )
    options = "\n".join(
        f'<li><label><input type="radio" name="as" value="{html.escape(p.email)}"{" required" if i == 0 else ""}> '
        f"{html.escape(p.name)} &lt;{html.escape(p.email)}&gt;, "
        f"rolle: {html.escape(', '.join(_ROLE_NAMES.get(r, r) for r in p.roles))}</label></li>"
        for i, p in enumerate(people)
    )
    return f"""<p>Dette er utviklingsverten. I Azure logger du inn med Entra ID; her velger du hvem du er.</p>
<form method="get" action="{LOGIN_PATH}">
<input type="hidden" name="post_login_redirect_uri" value="{html.escape(target)}">
<fieldset>
<legend>Bits-ansatte i registeret</legend>
<ul>
{options}
</ul>
</fieldset>
<button type="submit">Logg inn</button>
</form>"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    page = f"""<!doctype html>
<html lang="nb">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} – Bits SSU (lokalt)</title>
<style>
body {{ font-family: system-ui, sans-serif; line-height: 1.5; color: #1b1b1b; background: #fff; }}
main {{ max-width: 42rem; margin: 2rem auto; padding: 0 1rem; }}
fieldset {{ border: 1px solid #595959; padding: 0.5rem 1rem; }}
ul {{ list-style: none; padding: 0; }}
li {{ margin: 0.5rem 0; }}
button {{ font-size: 1rem; margin-top: 1rem; padding: 0.5rem 1.25rem; }}
.feil {{ color: #9b0000; font-weight: bold; }}
</style>
</head>
<body>
<main>
<h1>{html.escape(title)}</h1>
{body}
</main>
</body>
</html>
"""
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8", headers=headers)
