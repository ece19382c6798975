"""Staff sign-in over the dev host, as App Service Authentication does it in Azure: no session, no staff page; a
principal header a client forges is dropped; the role decides; the lift of a suppression names who; no open
redirect; sign-out ends it. The sign-in page in headless Chromium, checked with axe-core."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser

from functions.composition import build_services
from functions.core.settings import LOCAL_SIGNING_KEY, Settings
from functions.core.signing import sign
from functions.devhost.azurite import PROJECT_ROOT
from tests.conftest import DevHostProcess
from tests.e2e.helpers import sign_in

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
COOKIE = "AppServiceAuthSession"
JSON = {"Accept": "application/json"}
# Every staff route, as a client reaches it.
STAFF_ROUTES = [
    ("GET", "/api/cases"),
    ("GET", "/api/cases/SSU-D-2026-0001"),
    ("GET", "/api/overview"),
    ("GET", "/api/registry/organisations/310000019"),
    ("GET", "/api/mail/suppressions"),
    ("DELETE", "/api/mail/suppressions/fag@demo-forsikring.example"),
    ("GET", "/api/terms/SSU-E-2026-0001"),
    ("GET", "/api/terms"),
    ("POST", "/api/terms"),
]


def forged_principal(email: str = "admin@bits.example", *roles: str) -> dict[str, str]:
    """The headers App Service Authentication would add for an admin, written by the client itself."""
    claims = [{"typ": "preferred_username", "val": email}, {"typ": "name", "val": "Mallory"}]
    claims += [{"typ": "roles", "val": role} for role in roles or ("admin",)]
    data = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"}
    return {
        "X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(data).encode()).decode(),
        "X-MS-CLIENT-PRINCIPAL-NAME": email,
        "X-MS-CLIENT-PRINCIPAL-ID": "00000000-0000-0000-0000-0000000000aa",
        "X-MS-CLIENT-PRINCIPAL-IDP": "aad",
    }


def suppress(host: DevHostProcess, address: str) -> None:
    """Three permanent bounces for `address`, written straight into the dev host's storage: it is suppressed."""

    async def write() -> None:
        settings = Settings(
            storage_connection_string=host.env["SSU_STORAGE_CONNECTION_STRING"],
            table_prefix=host.env["SSU_TABLE_PREFIX"],
        )
        services = build_services(settings)
        try:
            for _ in range(3):
                await services.limits.record_bounce(address, datetime.now(UTC), suppress_after=3)
        finally:
            await services.close()

    with ThreadPoolExecutor(1) as pool:  # the tests' own event loop (if any) stays out of it
        pool.submit(asyncio.run, write()).result()


def fresh_session(host: DevHostProcess, email: str) -> httpx.Client:
    client = httpx.Client(base_url=host.url)
    signed_in = client.get("/.auth/login/aad", params={"as": email})
    assert signed_in.status_code == 302, signed_in.text
    return client


def test_without_signing_in_every_staff_route_is_refused(devhost: DevHostProcess) -> None:
    for method, path in STAFF_ROUTES:
        response = httpx.request(method, f"{devhost.url}{path}", headers=JSON, json={} if method == "POST" else None)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"] == "unauthenticated" and response.json()["login"] == "/.auth/login/aad"
    # A script that says nothing about what it accepts is an API client too: 401, not a redirect.
    assert httpx.get(f"{devhost.url}/api/cases").status_code == 401
    # A browser opening a staff page is sent to sign in, and will come back to it.
    page = httpx.get(f"{devhost.url}/api/overview?lang=en", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 302
    assert page.headers["location"] == "/.auth/login/aad?post_login_redirect_uri=/api/overview%3Flang%3Den"
    assert httpx.get(f"{devhost.url}/.auth/me").json() == []


def test_a_principal_header_forged_by_the_client_is_dropped(devhost: DevHostProcess) -> None:
    for method, path in STAFF_ROUTES:
        headers = {**JSON, **forged_principal()}
        response = httpx.request(method, f"{devhost.url}{path}", headers=headers, json={} if method == "POST" else None)
        assert response.status_code == 401, (method, path, response.text)
    # Nor does a forged header lift a signed-in support person to admin: the platform's own header replaces it.
    address = f"forged-{uuid.uuid4().hex[:8]}@fjordtrygd.example"
    suppress(devhost, address)
    raised = httpx.delete(
        f"{devhost.url}/api/mail/suppressions/{address}", headers={**sign_in(devhost), **forged_principal()}
    )
    assert raised.status_code == 403, raised.text
    listed = httpx.get(f"{devhost.url}/api/mail/suppressions", headers=sign_in(devhost)).json()["addresses"]
    assert address in [row["address"] for row in listed if row["suppressed"]], "still suppressed"


def test_signing_in_as_support_sets_the_session_and_reaches_the_case_api(devhost: DevHostProcess) -> None:
    answer = httpx.get(
        f"{devhost.url}/.auth/login/aad",
        params={"as": "Support@Bits.example", "post_login_redirect_uri": "/api/cases?process=D"},
    )
    assert answer.status_code == 302 and answer.headers["location"] == "/api/cases?process=D"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert {"httponly", "path=/", "samesite=lax"} <= {part.strip().lower() for part in cookie.split(";")}
    session = {"Cookie": f"{COOKIE}={answer.cookies[COOKIE]}"}
    cases = httpx.get(f"{devhost.url}/api/cases", params={"process": "D"}, headers=session)
    assert cases.status_code == 200 and "cases" in cases.json()
    overview = httpx.get(f"{devhost.url}/api/overview", headers={**session, "Accept": "text/html"})
    assert overview.status_code == 200 and "Åpne saker" in overview.text
    [me] = httpx.get(f"{devhost.url}/.auth/me", headers=session).json()
    assert me["provider_name"] == "aad" and me["user_id"] == "support@bits.example"
    claims = {(c["typ"], c["val"]) for c in me["user_claims"]}
    assert {
        ("preferred_username", "support@bits.example"),
        ("name", "Bits brukerstøtte"),
        ("roles", "support"),
    } <= claims
    assert ("roles", "admin") not in claims
    # Support may read but not publish terms: that takes the admin role.
    publish = httpx.post(f"{devhost.url}/api/terms", json={}, headers=session)
    assert publish.status_code == 403 and publish.json()["error"] == "forbidden"


def test_someone_who_is_not_bits_staff_cannot_sign_in(devhost: DevHostProcess) -> None:
    for who in ("fag@demo-forsikring.example", "drift@nav.example", "nobody@bits.example"):
        answer = httpx.get(f"{devhost.url}/.auth/login/aad", params={"as": who})
        assert answer.status_code == 403 and COOKIE not in answer.headers.get("set-cookie", "")


def test_a_tampered_expired_or_foreign_session_is_nobody(devhost: DevHostProcess) -> None:
    support = sign_in(devhost)["Cookie"].split("=", 1)[1]
    body, mac = support.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raised = base64.urlsafe_b64encode(json.dumps({**payload, "roles": ["admin"]}).encode()).rstrip(b"=").decode()
    person = {"email": "admin@bits.example", "name": "Admin", "oid": "x", "roles": ["admin"]}
    past = datetime.now(UTC) - timedelta(minutes=1)
    forged = {
        "roles raised, old signature": f"{raised}.{mac}",
        "expired": sign(LOCAL_SIGNING_KEY.encode(), "devhost-session", person, past),
        "another purpose's token": sign(LOCAL_SIGNING_KEY.encode(), "case-page", person, past + timedelta(hours=2)),
        "another key": sign(b"k" * 48, "devhost-session", person, past + timedelta(hours=2)),
        "not ASCII": "æøå.å",
    }
    for what, token in forged.items():
        cookie = {b"Cookie": f"{COOKIE}={token}".encode()}  # bytes: the non-ASCII one goes out as UTF-8
        response = httpx.delete(f"{devhost.url}/api/mail/suppressions/x@fjordtrygd.example", headers=cookie)
        assert response.status_code == 401, what
        assert httpx.get(f"{devhost.url}/.auth/me", headers=cookie).json() == [], what


def test_only_an_admin_lifts_a_suppression_and_the_record_names_who(devhost: DevHostProcess) -> None:
    address = f"bounced-{uuid.uuid4().hex[:8]}@fjordtrygd.example"
    suppress(devhost, address)
    url = f"{devhost.url}/api/mail/suppressions/{address}"
    for who in ("support@bits.example", "godkjenner1@bits.example", "sikkerhet@bits.example"):
        refused = httpx.delete(url, headers=sign_in(devhost, who))
        assert refused.status_code == 403, (who, refused.text)
    assert httpx.delete(url, headers=sign_in(devhost, "admin@bits.example")).json() == {"lifted": True}
    listing = httpx.get(f"{devhost.url}/api/mail/suppressions", headers=sign_in(devhost)).json()
    assert address not in [row["address"] for row in listing["addresses"]]
    [lift] = [row for row in listing["lifted"] if row["address"] == address]
    assert lift["lifted_by"] == "admin@bits.example" and lift["permanent_bounces"] == 3
    assert datetime.fromisoformat(lift["lifted_at"]) > datetime.now(UTC) - timedelta(minutes=5)
    assert httpx.delete(url, headers=sign_in(devhost, "admin@bits.example")).status_code == 404, "lifted once"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/phish",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "evil.example",
        " /api/cases",
        "/api/cases\r\nSet-Cookie: x=1",
        "/\tevil.example",
    ],
)
def test_sign_in_and_sign_out_never_send_anyone_off_the_site(devhost: DevHostProcess, target: str) -> None:
    login = httpx.get(
        f"{devhost.url}/.auth/login/aad", params={"as": "admin@bits.example", "post_login_redirect_uri": target}
    )
    assert login.status_code == 400 and "location" not in login.headers
    assert COOKIE not in login.headers.get("set-cookie", ""), "no session either"
    assert (
        "location"
        not in httpx.get(f"{devhost.url}/.auth/login/aad", params={"post_login_redirect_uri": target}).headers
    )
    logout = httpx.get(f"{devhost.url}/.auth/logout", params={"post_logout_redirect_uri": target})
    assert logout.status_code == 400 and "location" not in logout.headers


def test_signing_out_ends_the_session(devhost: DevHostProcess) -> None:
    client = fresh_session(devhost, "godkjenner2@bits.example")
    assert client.get("/api/cases").status_code == 200
    out = client.get("/.auth/logout", params={"post_logout_redirect_uri": "/api/status"})
    assert out.status_code == 302 and out.headers["location"] == "/api/status"
    assert (
        re.search(rf"{COOKIE}=\"?\"?;", out.headers["set-cookie"]) and "max-age=0" in out.headers["set-cookie"].lower()
    )
    assert COOKIE not in client.cookies
    assert client.get("/api/cases").status_code == 401
    assert client.get("/.auth/me").json() == []
    done = client.get("/.auth/logout")
    assert done.headers["location"] == "/.auth/logout/complete"
    assert "Du er logget ut" in client.get("/.auth/logout/complete").text
    client.close()


def test_a_person_picks_a_staff_member_and_lands_on_the_page_asked_for(
    devhost: DevHostProcess, browser: Browser
) -> None:
    context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script; the page's CSP forbids that
    page = context.new_page()
    page.goto(f"{devhost.url}/api/overview")
    page.wait_for_url(re.compile(r".*/\.auth/login/aad\?post_login_redirect_uri=/api/overview$"))
    assert page.get_by_role("heading", name="Logg inn som Bits-ansatt").is_visible()
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    assert violations == [], [(v["id"], v["help"], [n["html"] for n in v["nodes"]]) for v in violations]
    page.get_by_role("radio", name=re.compile("Bits administrator")).check()
    page.get_by_role("button", name="Logg inn").click()
    page.wait_for_url(f"{devhost.url}/api/overview")
    assert page.get_by_role("heading", name="Åpne saker").is_visible()
    shown = page.goto(f"{devhost.url}/.auth/me")
    assert shown is not None
    [me] = json.loads(shown.text())
    assert me["user_id"] == "admin@bits.example"
    context.close()
