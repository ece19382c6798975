"""Staff sign-in over the dev host, as App Service Authentication does it in Azure: no session, no staff page; a
principal header a client forges is dropped; the role decides; the lift of a suppression names who; no open
redirect; sign-out ends it. The sign-in page in headless Chromium, checked with axe-core. The dev host answers only
to localhost (DNS rebinding) and will not run in Azure mode; the deploy check catches an app that is open."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import Browser

from functions.composition import build_services
from functions.core.settings import LOCAL_SIGNING_KEY, Settings
from functions.core.signing import sign
from functions.devhost.auth import StaffPerson
from functions.devhost.azurite import PROJECT_ROOT, free_port
from tests.conftest import DevHostProcess
from tests.e2e.helpers import sign_in

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
COOKIE = "AppServiceAuthSession"
JSON = {"Accept": "application/json"}
# Every staff route, as a client reaches it.
STAFF_ROUTES = [
    ("GET", "/api/cases"),
    ("GET", "/api/cases/SSU-D-2026-0001"),
    ("GET", "/api/bits"),
    ("GET", "/api/bits?format=csv"),
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
    page = httpx.get(f"{devhost.url}/api/bits?lang=en", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 302
    assert page.headers["location"] == "/.auth/login/aad?post_login_redirect_uri=/api/bits%3Flang%3Den"
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
    overview = httpx.get(f"{devhost.url}/api/bits", headers={**session, "Accept": "text/html"})
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
    # ... and by the stable Entra object id too (the dev host's stand-in tenant derives it from the email).
    assert lift["lifted_by_id"] == StaffPerson("admin@bits.example", "", ()).object_id
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
    page.goto(f"{devhost.url}/api/bits")
    page.wait_for_url(re.compile(r".*/\.auth/login/aad\?post_login_redirect_uri=/api/bits$"))
    assert page.get_by_role("heading", name="Logg inn som Bits-ansatt").is_visible()
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    assert violations == [], [(v["id"], v["help"], [n["html"] for n in v["nodes"]]) for v in violations]
    page.get_by_role("radio", name=re.compile("Bits administrator")).check()
    page.get_by_role("button", name="Logg inn").click()
    page.wait_for_url(f"{devhost.url}/api/bits")
    assert page.get_by_role("heading", name="Åpne saker").is_visible()
    shown = page.goto(f"{devhost.url}/.auth/me")
    assert shown is not None
    [me] = json.loads(shown.text())
    assert me["user_id"] == "admin@bits.example"
    context.close()


# -- the dev host answers only to this machine ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:7071", "localhost.evil.example", "127.0.0.1.nip.io", "10.0.0.5", "[::2]", ""],
)
def test_a_request_for_another_host_name_is_refused_dns_rebinding(devhost: DevHostProcess, host: str) -> None:
    # A page on evil.example whose name now resolves to 127.0.0.1 reaches the dev host with "Host: evil.example".
    admin = sign_in(devhost, "admin@bits.example")
    refused = {
        "signing in": httpx.get(
            f"{devhost.url}/.auth/login/aad", params={"as": "admin@bits.example"}, headers={"Host": host}
        ),
        "a staff page": httpx.get(f"{devhost.url}/api/cases", headers={**admin, "Host": host}),
        "who is signed in": httpx.get(f"{devhost.url}/.auth/me", headers={**admin, "Host": host}),
        "a public page": httpx.get(f"{devhost.url}/api/health", headers={"Host": host}),
    }
    for what, response in refused.items():
        assert response.status_code == 421, (what, response.status_code)
        assert "set-cookie" not in response.headers and "location" not in response.headers, what
        assert "cases" not in response.text and "user_claims" not in response.text, what


def test_requests_for_localhost_by_any_of_its_names_are_served(devhost: DevHostProcess) -> None:
    port = devhost.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost", "LOCALHOST:7071"):
        signed_in = httpx.get(
            f"{devhost.url}/.auth/login/aad", params={"as": "support@bits.example"}, headers={"Host": host}
        )
        assert signed_in.status_code == 302, host
        session = {"Cookie": f"{COOKIE}={signed_in.cookies[COOKIE]}", "Host": host}
        assert httpx.get(f"{devhost.url}/api/cases", headers=session).status_code == 200, host


def test_a_request_without_exactly_one_host_header_is_refused(devhost: DevHostProcess) -> None:
    port = int(devhost.url.rsplit(":", 1)[1])
    for head in (
        b"GET /api/health HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(head)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert re.match(rb"HTTP/1\.[01] 400 ", answer), answer[:200]  # aiohttp's own answer, or the dev host's


@pytest.mark.parametrize("variable, value", [("SSU_MODE", "azure"), ("ssu_mode", "Azure")])
def test_the_dev_host_refuses_to_start_in_azure_mode(variable: str, value: str) -> None:
    # Anyone who reaches the dev host may sign in as any Bits admin: it must never stand in for App Service.
    env = {k: v for k, v in os.environ.items() if k.upper() != "SSU_MODE"}
    port = free_port()
    started = subprocess.run(
        [sys.executable, "-m", "functions.devhost", "--port", str(port), "--no-timers"],
        cwd=PROJECT_ROOT,
        env={**env, variable: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 1
    assert "does not run with SSU_MODE=azure" in started.stderr, started.stderr
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "nothing listens"


# -- the deploy check (azd's postdeploy hook) ---------------------------------------------------------------------

CHECK = PROJECT_ROOT / "infra" / "scripts" / "check-staff-sign-in.sh"


def run_check(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AZURE_FUNCTION_APP_URL": url, "CHECK_ATTEMPTS": "2", "CHECK_WAIT_SECONDS": "0"}
    return subprocess.run(["sh", str(CHECK)], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def open_app() -> Iterator[tuple[str, dict[str, bool]]]:
    """An app as it must never be deployed: `/api/cases` believes any principal header (or, when told, anyone)."""
    behaviour = {"open_to_anyone": False}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            believed = behaviour["open_to_anyone"] or "x-ms-client-principal" in {k.lower() for k in self.headers}
            self.send_response(200 if believed and self.path == "/api/cases" else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", behaviour
    server.shutdown()
    server.server_close()


def test_the_deploy_check_passes_an_app_that_refuses_and_fails_one_that_is_open(
    devhost: DevHostProcess, open_app: tuple[str, dict[str, bool]]
) -> None:
    passed = run_check(devhost.url)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert passed.stdout.count("(refused, as it must be)") == 2
    url, behaviour = open_app
    believes_forgery = run_check(url)
    assert believes_forgery.returncode == 1
    assert "FAILED: with a forged admin X-MS-CLIENT-PRINCIPAL" in believes_forgery.stderr
    assert "FAILED: without signing in" not in believes_forgery.stderr
    behaviour["open_to_anyone"] = True
    open_to_all = run_check(url)
    assert open_to_all.returncode == 1 and "FAILED: without signing in" in open_to_all.stderr
    # Nothing answering at all is no pass either.
    nobody = run_check(f"http://127.0.0.1:{free_port()}")
    assert nobody.returncode == 1 and "answered 000" in nobody.stderr


# -- the alert API's keys -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key_header",
    [
        {b"x-api-key": b"\xff\xfe"},
        {b"authorization": b"Bearer \xff\xfe"},
        {b"x-api-key": "nøkkel".encode()},
        {b"x-api-key": b"k" * 4000},
    ],
    ids=["not-utf8", "bearer-not-utf8", "non-ascii", "over-long"],
)
def test_a_key_that_is_no_ascii_text_or_over_long_gets_401_not_500(
    devhost: DevHostProcess, key_header: dict[bytes, bytes]
) -> None:
    answers = [
        httpx.post(
            f"{devhost.url}/api/alerts", headers={**key_header, b"content-type": b"application/json"}, content=b"{}"
        ),
        httpx.get(f"{devhost.url}/api/alerts", headers=key_header),
        httpx.get(f"{devhost.url}/api/alerts/SSU-B-2026-0001", headers=key_header),
    ]
    assert [a.status_code for a in answers] == [401] * 3, [(a.status_code, a.text[:100]) for a in answers]
    assert all(a.json()["error"] == "unauthorized" for a in answers)
    assert httpx.get(f"{devhost.url}/api/alerts", headers={"X-Api-Key": "nav-key-one"}).status_code == 200
