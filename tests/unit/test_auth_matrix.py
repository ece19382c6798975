"""Who may call what, in Azure mode: every staff route refuses a request without a signed-in person, with a person
who lacks the app role, or with a principal header the platform does not vouch for; the alert API refuses every key
but the calling source's own, the Functions host key included. The handlers are called as the host would call them."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
import pytest

from functions.alerts import api
from functions.alerts.models import AlertIn
from functions.core.services import Services
from functions.web.staff import PRINCIPAL_HEADER, StaffMember, require_staff
from tests.fakes import fake_services
from tests.unit.test_function_app import registered

NAV_KEY, ALTINN_KEY = "nav-key-in-azure", "altinn-key-in-azure"
HOST_KEY = "the-functions-host-key-0123456789abcdef"  # what a source must never be given, and never needs
AZURE: dict[str, Any] = {
    "mode": "azure",
    "table_endpoint": "https://st.table.core.windows.net/",
    "blob_endpoint": "https://st.blob.core.windows.net/",
    "signing_key": "s" * 48,
    "public_base_url": "https://func-ssu.azurewebsites.net",
    "alert_keys": {
        "NAV": [hashlib.sha256(NAV_KEY.encode()).hexdigest()],
        "ALTINN": [hashlib.sha256(ALTINN_KEY.encode()).hexdigest()],
    },
}

# Every staff route and the app role it needs (web/staff.py: admin holds every role).
STAFF_ROUTES: dict[str, tuple[str, str, dict[str, str]]] = {
    "cases_list": ("support", "GET", {}),
    "cases_get": ("support", "GET", {"reference": "SSU-D-2026-0001"}),
    "overview": ("support", "GET", {}),
    "registry_organisation": ("support", "GET", {"number": "310000019"}),
    "mail_suppressions": ("support", "GET", {}),
    "mail_suppression_lift": ("admin", "DELETE", {"address": "fag@demo-forsikring.example"}),
    "terms_acceptances": ("support", "GET", {"reference": "SSU-E-2026-0001"}),
    "terms_publish": ("admin", "POST", {}),
}
# Everyone may reach these; each guards itself (signed links, CSRF, source keys, rate limits).
PUBLIC = {
    "health",
    "openapi",
    "case_page",
    "confirm_submitter",
    "questions",
    "incidents",
    "security_breaches",
    "change_requests",
    "alerts",
    "alert",
    "alert_resolve",
    "status_page",
    "status_feed",
    "status_calendar",
    "terms_accept",
    "terms_document",
    "onboarding_registration",
    "onboarding_production",
    "onboarding_production_confirm",
    "registry_contacts",
    "registry_contacts_confirm",
}
# Graph calls this with the function key in the URL it was given (and the clientState secret): the one keyed function.
KEYED = {"mailbox_notifications"}


def principal(email: str, *roles: str, role_typ: str = "roles") -> str:
    """An X-MS-CLIENT-PRINCIPAL as App Service Authentication writes it (base64 JSON of the token's claims)."""
    claims = [
        {"typ": "preferred_username", "val": email},
        {"typ": "name", "val": email.split("@")[0]},
        {"typ": "oid", "val": "00000000-0000-0000-0000-0000000000aa"},
        *({"typ": role_typ, "val": role} for role in roles),
    ]
    data = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": role_typ}
    return base64.b64encode(json.dumps(data).encode()).decode()


def request(
    method: str = "GET",
    url: str = "https://func-ssu.azurewebsites.net/api/cases",
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
    body: bytes = b"",
) -> func.HttpRequest:
    return func.HttpRequest(
        method=method,
        url=url,
        headers={"accept": "application/json", **(headers or {})},
        params=params or {},
        route_params=route_params or {},
        body=body,
    )


def trigger(name: str) -> Any:
    [function] = [f for f in registered() if f.get_function_name() == name]
    return function.get_user_function()


async def call(name: str, services: Services, monkeypatch: pytest.MonkeyPatch, **headers: str) -> func.HttpResponse:
    """The staff function `name` as the Functions host calls it, with the app's services being `services`."""
    monkeypatch.setattr("functions.composition.get_services", lambda: services)
    _, method, route_params = STAFF_ROUTES[name]
    body = b"{}" if method == "POST" else b""
    req = request(method, headers={"content-type": "application/json", **headers}, route_params=route_params, body=body)
    response: func.HttpResponse = await trigger(name)(req)
    return response


def test_every_http_function_is_staff_public_or_keyed_and_only_graphs_takes_a_key() -> None:
    http = {
        f.get_function_name(): f.get_trigger()
        for f in registered()
        if f.get_trigger().get_binding_name() == "httpTrigger"
    }
    assert set(http) == set(STAFF_ROUTES) | PUBLIC | KEYED, "a new HTTP function: say who may call it"
    keyed = {name for name, t in http.items() if t.auth_level != func.AuthLevel.ANONYMOUS}
    assert keyed == KEYED, "staff sign in and sources use their own keys: no function key stands in for them"


@pytest.mark.parametrize("name", sorted(STAFF_ROUTES))
async def test_a_staff_route_refuses_a_request_without_a_signed_in_person(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = fake_services(platform_auth_enabled=True, **AZURE)
    response = await call(name, services, monkeypatch)
    assert response.status_code == 401
    assert json.loads(response.get_body())["error"] == "unauthenticated"


@pytest.mark.parametrize("name", sorted(STAFF_ROUTES))
async def test_a_staff_route_refuses_a_person_without_the_app_role(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    services = fake_services(platform_auth_enabled=True, **AZURE)
    role = STAFF_ROUTES[name][0]
    # Signed in, but with every role below the one needed (none for support routes), and "admin" only as a group.
    below = ("support", "approver") if role == "admin" else ()
    forged_group = {"typ": "groups", "val": "admin"}
    data = json.loads(base64.b64decode(principal("kari@bits.example", *below)))
    data["claims"].append(forged_group)
    header = base64.b64encode(json.dumps(data).encode()).decode()
    response = await call(name, services, monkeypatch, **{PRINCIPAL_HEADER: header})
    assert response.status_code == 403
    assert json.loads(response.get_body())["error"] == "forbidden"


@pytest.mark.parametrize("name", sorted(STAFF_ROUTES))
async def test_a_principal_header_the_platform_does_not_vouch_for_is_ignored(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Azure mode without App Service Authentication (WEBSITE_AUTH_ENABLED unset): the header is only a client's claim.
    services = fake_services(platform_auth_enabled=False, **AZURE)
    forged = {
        PRINCIPAL_HEADER: principal("admin@bits.example", "admin"),
        "x-ms-client-principal-name": "admin@bits.example",
        "x-ms-client-principal-idp": "aad",
    }
    response = await call(name, services, monkeypatch, **forged)
    assert response.status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "not base64 at all ✓",
        base64.b64encode(b"[1, 2, 3]").decode(),
        base64.b64encode(json.dumps({"claims": [{"typ": "roles", "val": "admin"}]}).encode()).decode(),  # no one
        base64.b64encode(json.dumps({"claims": "admin"}).encode()).decode(),
        "A" * 20_000,
    ],
    ids=["garbage", "json-list", "roles-without-a-person", "claims-not-a-list", "oversized"],
)
def test_a_malformed_principal_is_nobody(header: str) -> None:
    settings = fake_services(platform_auth_enabled=True, **AZURE).settings
    answer = require_staff(request(headers={PRINCIPAL_HEADER: header}), settings, "support")
    assert isinstance(answer, func.HttpResponse) and answer.status_code == 401


def test_the_platforms_principal_with_the_role_is_let_in_and_admin_holds_every_role() -> None:
    settings = fake_services(platform_auth_enabled=True, **AZURE).settings
    support = require_staff(request(headers={PRINCIPAL_HEADER: principal("Kari@Bits.example", "support")}), settings)
    assert isinstance(support, StaffMember) and support.email == "kari@bits.example"
    # An approver may what support may, and approve; not what takes an admin.
    approver = request(headers={PRINCIPAL_HEADER: principal("ola@bits.example", "approver")})
    assert isinstance(require_staff(approver, settings, "support"), StaffMember)
    assert isinstance(require_staff(approver, settings, "approver"), StaffMember)
    refused = require_staff(approver, settings, "admin")
    assert isinstance(refused, func.HttpResponse) and refused.status_code == 403
    # App Service's v1 role claim type, announced in role_typ, counts the same.
    v1 = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
    admin_header = principal("admin@bits.example", "Admin", role_typ=v1)
    for role in ("support", "approver", "admin"):
        member = require_staff(request(headers={PRINCIPAL_HEADER: admin_header}), settings, role)
        assert isinstance(member, StaffMember) and member.roles == frozenset({"admin"})


def test_a_browser_is_sent_to_sign_in_and_comes_back_to_the_same_page() -> None:
    settings = fake_services(platform_auth_enabled=True, **AZURE).settings
    url = "https://func-ssu.azurewebsites.net/api/cases?process=D&status=new"
    answer = require_staff(request(url=url, headers={"accept": "text/html,application/xhtml+xml"}), settings)
    assert isinstance(answer, func.HttpResponse) and answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/.auth/login/aad" and not location.netloc
    assert parse_qs(location.query) == {"post_login_redirect_uri": ["/api/cases?process=D&status=new"]}
    # An API client (or a form POST) is told 401, never redirected.
    posted = require_staff(request("POST", url=url, headers={"accept": "text/html"}), settings)
    assert isinstance(posted, func.HttpResponse) and posted.status_code == 401


# -- the alert API ------------------------------------------------------------------------------------------------

EXAMPLE: dict[str, Any] = AlertIn.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index,assignment]


def alert_request(method: str, key_headers: dict[str, str], reference: str = "", **extra: Any) -> func.HttpRequest:
    path = f"alerts/{reference}" if reference else "alerts"
    return request(
        method,
        url=f"https://func-ssu.azurewebsites.net/api/{path}",
        headers={"content-type": "application/json", **key_headers},
        route_params={"reference": reference} if reference else {},
        **extra,
    )


async def altinn_alert(services: Services) -> str:
    body = json.dumps({**EXAMPLE, "source_alert_id": "ALTINN-7", "components": EXAMPLE["components"]}).encode()
    created = await api.alerts(alert_request("POST", {"x-api-key": ALTINN_KEY}, body=body), services)
    assert created.status_code == 201, created.get_body()
    return str(json.loads(created.get_body())["id"])


REFUSED_KEYS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "no key": ({}, {}),
    "a wrong key": ({"x-api-key": "altinn-key-in-azure-but-not-quite"}, {}),
    "the host key as a function key header": ({"x-functions-key": HOST_KEY}, {}),
    "the host key in the URL": ({}, {"code": HOST_KEY}),
    "the host key as the API key": ({"x-api-key": HOST_KEY}, {}),
    "a staff member's principal": ({PRINCIPAL_HEADER: principal("admin@bits.example", "admin")}, {}),
    "a bearer token that is no key": ({"authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}, {}),
}


@pytest.mark.parametrize("case", sorted(REFUSED_KEYS))
async def test_the_alert_api_refuses_every_key_but_the_sources_own(case: str) -> None:
    services = fake_services(platform_auth_enabled=True, **AZURE)
    reference = await altinn_alert(services)
    headers, params = REFUSED_KEYS[case]
    body = json.dumps({**EXAMPLE, "source_alert_id": "FORGED-1"}).encode()
    answers = [
        await api.alerts(alert_request("POST", headers, params=params, body=body), services),
        await api.alerts(alert_request("GET", headers, params=params), services),
        await api.alert(alert_request("GET", headers, reference, params=params), services),
        await api.revise(alert_request("PATCH", headers, reference, params=params, body=b'{"title": "x"}'), services),
        await api.resolve(
            alert_request("POST", headers, reference, params=params, body=b'{"outcome": "cancelled", "text": "x"}'),
            services,
        ),
    ]
    assert [a.status_code for a in answers] == [401] * 5
    assert all("Bearer" in a.headers.get("WWW-Authenticate", "") for a in answers)
    alerts = [c for c in await services.store.cases() if c.process.value == "B"]
    assert [c.reference for c in alerts] == [reference], "nothing was created"
    stored = await services.store.load(reference)
    assert stored is not None and stored.case.status != "closed" and stored.case.title == EXAMPLE["title"]


async def test_another_sources_key_neither_reads_nor_changes_an_alert() -> None:
    services = fake_services(platform_auth_enabled=True, **AZURE)
    reference = await altinn_alert(services)
    nav = {"x-api-key": NAV_KEY}
    assert (await api.alert(alert_request("GET", nav, reference), services)).status_code == 403
    patched = await api.revise(alert_request("PATCH", nav, reference, body=b'{"title": "NAV was here"}'), services)
    assert patched.status_code == 403
    closing = b'{"outcome": "cancelled", "text": "NAV closes it"}'
    assert (await api.resolve(alert_request("POST", nav, reference, body=closing), services)).status_code == 403
    listed = json.loads((await api.alerts(alert_request("GET", nav), services)).get_body())["alerts"]
    assert reference not in [a["id"] for a in listed], "NAV does not see Altinn's alerts"
    stored = await services.store.load(reference)
    assert stored is not None and stored.case.title == EXAMPLE["title"] and stored.case.status != "closed"
    # The owner's own key does what NAV's could not.
    assert (await api.alert(alert_request("GET", {"x-api-key": ALTINN_KEY}, reference), services)).status_code == 200
