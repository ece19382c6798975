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
from functions.alerts.workflow import source_of_key
from functions.core.services import Services
from functions.core.settings import Settings, SettingsError, load_settings
from functions.questions.workflow import QUESTION_FORM
from functions.web.staff import PRINCIPAL_HEADER, StaffMember, principal_of, require_staff
from tests.fakes import fake_services
from tests.unit.test_function_app import registered

V1_ROLE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
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
    "bits_queue": ("support", "GET", {}),
    "bits_case": ("support", "GET", {"reference": "SSU-D-2026-0001"}),
    "bits_case_attachment": ("support", "GET", {"reference": "SSU-D-2026-0001", "sha256": "0" * 64}),
    "bits_case_export": ("support", "GET", {"reference": "SSU-D-2026-0001"}),
    # The trigger asks for support; the decision's own role (approver for change.decide) is checked by the action.
    "bits_case_action": ("support", "POST", {"reference": "SSU-D-2026-0001"}),
    "bits_registry": ("support", "GET", {}),
    "bits_registry_company": ("support", "GET", {"organisation_number": "310000019"}),
    # Edits are admins'; anyone else signed in is told so on a page (403) by the edit itself.
    "bits_registry_change": ("support", "POST", {"organisation_number": "310000019"}),
    "bits_mail": ("support", "GET", {}),
    # Lifting needs an admin: the action says so in words to support (a 403 page), as the case actions do.
    "bits_mail_lift": ("support", "POST", {}),
    "bits_mail_resend": ("support", "POST", {}),
    "bits_held": ("support", "GET", {}),
    "bits_held_action": ("support", "POST", {"key": "0123456789abcdef"}),
    "bits_publishing": ("support", "GET", {}),
    # Drafts are support's to publish; the terms link tells anyone without the admin role so in words (a 403 page).
    "bits_publishing_draft": ("support", "POST", {"reference": "SSU-B-2026-0001"}),
    "bits_publishing_terms": ("support", "GET", {}),
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
    "overview",  # a redirect to the work queue, which asks for sign-in itself
    "start_page",
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
        # JSON nested deeper than Python's parser recurses (RecursionError), still under the size limit.
        base64.b64encode(b'{"claims": [' + b"[" * 6000 + b"]" * 6000 + b"]}").decode(),
        base64.b64encode(b"\xff\xfe not UTF-8").decode(),
    ],
    ids=[
        "garbage",
        "json-list",
        "roles-without-a-person",
        "claims-not-a-list",
        "oversized",
        "deeply-nested",
        "not-utf8",
    ],
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
    # App Service's v1 role claim type counts the same as `roles`.
    admin_header = principal("admin@bits.example", "admin", role_typ=V1_ROLE)
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


# -- what the app believes of a principal ---------------------------------------------------------------------------

ADMIN_OID = "00000000-0000-0000-0000-0000000000aa"


def claims_principal(claims: list[dict[str, str]], role_typ: str = "roles") -> str:
    data = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": role_typ}
    return base64.b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize("variable", ["SSU_PLATFORM_AUTH_ENABLED", "ssu_platform_auth_enabled"])
def test_no_setting_of_ours_makes_the_app_believe_a_forged_principal(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An operator (or an attacker with app-settings access) sets what used to be an alias of the platform's flag.
    monkeypatch.delenv("WEBSITE_AUTH_ENABLED", raising=False)
    monkeypatch.setenv(variable, "true")
    settings = Settings(**AZURE)
    assert settings.platform_auth_enabled is False
    forged = request(headers={PRINCIPAL_HEADER: principal("admin@bits.example", "admin")})
    answer = require_staff(forged, settings, "admin")
    assert isinstance(answer, func.HttpResponse) and answer.status_code == 401
    # Only the platform's own variable (App Service sets it read-only; the dev host for the app it serves) counts.
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    assert Settings(**AZURE).platform_auth_enabled is True


@pytest.mark.parametrize(
    "claims, role_typ",
    [
        # role_typ names a claim the principal chose itself: a group called "admin" is no app role.
        ([{"typ": "groups", "val": "admin"}], "groups"),
        ([{"typ": "wids", "val": "admin"}], "wids"),
        # Entra ID role values are case-sensitive: only "admin" is the admin role.
        ([{"typ": "roles", "val": "ADMIN"}], "roles"),
        ([{"typ": V1_ROLE, "val": "Admin"}], V1_ROLE),
        ([{"typ": "roles", "val": " admin"}], "roles"),
    ],
    ids=["group-as-role_typ", "wids-as-role_typ", "upper-case", "v1-capitalised", "padded"],
)
def test_roles_come_only_from_the_role_claims_and_match_exactly(claims: list[dict[str, str]], role_typ: str) -> None:
    settings = fake_services(platform_auth_enabled=True, **AZURE).settings
    person = [{"typ": "preferred_username", "val": "mallory@bits.example"}, {"typ": "oid", "val": ADMIN_OID}]
    header = claims_principal(person + claims, role_typ)
    for role in ("admin", "support"):
        answer = require_staff(request(headers={PRINCIPAL_HEADER: header}), settings, role)
        assert isinstance(answer, func.HttpResponse) and answer.status_code == 403, role


@pytest.mark.parametrize(
    "claims, email",
    [
        (
            [{"typ": "preferred_username", "val": "kari@bits.example"}, {"typ": "upn", "val": "k@bits.example"}],
            "kari@bits.example",
        ),
        (
            [{"typ": "upn", "val": "Kari@Bits.example"}, {"typ": "email", "val": "admin@bits.example"}],
            "kari@bits.example",
        ),
        # `email` and the emailaddress claim can be set by admins and guests: never who someone is.
        ([{"typ": "email", "val": "admin@bits.example"}], None),
        (
            [
                {
                    "typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                    "val": "admin@bits.example",
                }
            ],
            None,
        ),
    ],
    ids=["preferred_username-first", "upn-over-email", "email-only", "emailaddress-only"],
)
def test_who_someone_is_comes_from_the_sign_in_name_never_the_email_claim(
    claims: list[dict[str, str]], email: str | None
) -> None:
    settings = fake_services(platform_auth_enabled=True, **AZURE).settings
    header = claims_principal([*claims, {"typ": "oid", "val": ADMIN_OID}, {"typ": "roles", "val": "support"}])
    member = principal_of(request(headers={PRINCIPAL_HEADER: header}), settings)
    assert (member.email if member else None) == email


@pytest.mark.parametrize("roles", [(), ("support",)], ids=["no-app-role", "support"])
async def test_only_staff_with_an_app_role_skip_the_rate_limits(
    roles: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    limits: dict[str, Any] = {f"rate_limit_per_{kind}": 1 for kind in ("ip", "recipient", "organisation")}
    services = fake_services(platform_auth_enabled=True, **AZURE, **limits)
    monkeypatch.setattr("functions.composition.get_services", lambda: services)
    headers = {"content-type": "application/json", "client-ip": "203.0.113.7"}
    headers[PRINCIPAL_HEADER] = principal("someone@bits.example", *roles)
    body = json.dumps(QUESTION_FORM.example).encode()
    url = "https://func-ssu.azurewebsites.net/api/questions"
    answers = [await trigger("questions")(request("POST", url, headers, body=body)) for _ in range(3)]
    statuses = [a.status_code for a in answers]
    if roles:  # a signed-in member of Bits' staff is no relay
        assert 429 not in statuses, statuses
    else:  # signed in (say, a guest of the tenant) but with no app role: anyone, counted like anyone
        assert statuses[0] != 429 and statuses[1:] == [429, 429], statuses
        assert "Retry-After" in answers[1].headers


async def test_staff_actions_record_the_person_by_object_id_too(monkeypatch: pytest.MonkeyPatch) -> None:
    services = fake_services(platform_auth_enabled=True, **AZURE)
    monkeypatch.setattr("functions.composition.get_services", lambda: services)
    admin = {PRINCIPAL_HEADER: principal("admin@bits.example", "admin"), "content-type": "application/json"}
    # Lifting a suppression: the record names the admin's email and Entra object id (which stays if the email changes).
    address = "bounced@fjordtrygd.example"
    for _ in range(3):
        await services.limits.record_bounce(address, services.clock.now(), suppress_after=3)
    url = f"https://func-ssu.azurewebsites.net/api/mail/suppressions/{address}"
    lifted = await trigger("mail_suppression_lift")(request("DELETE", url, admin, route_params={"address": address}))
    assert lifted.status_code == 200, lifted.get_body()
    [record] = await services.limits.lifts()
    assert (record["lifted_by"], record["lifted_by_id"]) == ("admin@bits.example", ADMIN_OID)
    # Publishing terms: the case and its first event name the admin both ways.
    terms = {
        "title": "Vilkår for Syke- og uføreopplysninger fra NAV",
        "version": "2.1",
        "effective_date": "2027-03-01",
        "summary": "Punkt 4 om logging er nytt.",
        "document_url": "https://bits.example/vilkar-2.1.pdf",
    }
    url = "https://func-ssu.azurewebsites.net/api/terms"
    published = await trigger("terms_publish")(request("POST", url, admin, body=json.dumps(terms).encode()))
    assert published.status_code == 201, published.get_body()
    reference = json.loads(published.get_body())["reference"]
    stored = await services.store.load(reference)
    assert stored is not None
    assert stored.case.details["published_by"]["email"] == "admin@bits.example"
    assert stored.case.details["published_by_id"] == ADMIN_OID
    [first, *_] = await services.store.events(reference)
    assert first.actor == "admin@bits.example" and first.data["published_by_id"] == ADMIN_OID


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


@pytest.mark.parametrize(
    "presented",
    ["\udcff\udcfe", "nøkkel-med-æøå", "nav-key-in-azure\u200b", "nav-key-in-azure\n", "k" * 513, NAV_KEY + "x" * 600],
    ids=["undecodable-bytes", "non-ascii", "zero-width", "control", "over-long", "valid-then-over-long"],
)
def test_a_key_that_is_not_printable_ascii_or_over_long_is_nobodys(presented: str) -> None:
    settings = Settings(**AZURE)
    assert source_of_key(settings, presented) is None
    assert source_of_key(settings, NAV_KEY) == "NAV"


async def test_a_non_ascii_key_is_answered_401_not_500() -> None:
    # What the dev host (aiohttp) hands on for the raw bytes \xff\xfe: surrogate escapes, which .encode() refuses.
    services = fake_services(platform_auth_enabled=True, **AZURE)
    answer = await api.alerts(alert_request("GET", {"x-api-key": "\udcff\udcfe"}), services)
    assert answer.status_code == 401


def test_one_key_hash_under_two_sources_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = hashlib.sha256(b"one-key-for-two").hexdigest()
    # The same hash, once in upper case: the key decides the source, so NAV's key would also be Altinn's.
    monkeypatch.setenv("SSU_ALERT_KEYS", json.dumps({"NAV": [shared], "ALTINN": ["0" * 64, shared.upper()]}))
    with pytest.raises(SettingsError, match=r"SSU_ALERT_KEYS.*same key hash to NAV and ALTINN"):
        load_settings()
    with pytest.raises(ValueError, match="each source needs a key of its own"):
        Settings(alert_keys={"NAV": [shared], "DIGDIR": [shared]})
    # Two keys of one source (a rotation) and distinct keys of each are fine.
    other = hashlib.sha256(b"another").hexdigest()
    assert Settings(alert_keys={"NAV": [shared, other], "ALTINN": ["0" * 64]}).alert_keys["NAV"] == [shared, other]
