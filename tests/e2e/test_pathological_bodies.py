"""Pathological bodies on every endpoint that reads one (the list from the OpenAPI document and the function list):
deep nesting, numbers no field holds, NUL and bidirectional overrides in a title or text. A clear 400 or 422
naming what is wrong, nothing stored, never a 500."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from functions.changes.workflow import CHANGE_REQUEST_FORM
from functions.incidents.security import SECURITY_BREACH_FORM
from functions.incidents.workflow import ERROR_REPORT_FORM
from functions.onboarding.workflow import REGISTRATION_FORM
from tests.conftest import NOTIFICATION_SECRET, DevHostProcess
from tests.e2e.helpers import MAINTENANCE, QUESTION, post, sign_in, submit_form
from tests.integration.test_idempotent_submissions import CONTACT_UPDATE
from tests.unit.test_function_app import registered

FIELD = "\x00FIELD\x00"  # where a body's chosen field takes the pathological value
PRODUCTION = {
    "organisation_number": "310000019",
    "name": "Tom Tekniker",
    "email": "teknisk@demo-forsikring.example",
    "integration_tests_passed_on": "2026-11-20",
    "test_report_reference": "NAV-TEST-2026-311",
    "production_redirect_domains": ["https://app.demo-forsikring.no"],
    "maskinporten_client_id": "a1b2c3d4-prod",
    "consent_text_confirmed": True,
    "notices_subscribed": True,
}
TERMS = {
    "title": "Vilkår for Syke- og uføreopplysninger fra NAV",
    "version": "9.9.9",
    "effective_date": "2099-01-01",
    "summary": "Punkt 4 er nytt.",
    "document_url": "https://bits.example/vilkar.pdf",
    "preview": True,  # were it taken, it would only be previewed
}
# Per operation that takes a body: a valid body, and the title or text field the pathological value goes into.
VALID: dict[str, tuple[dict[str, Any], str]] = {
    "createAlert": ({**MAINTENANCE, "source_alert_id": "NAV-PATHOLOGICAL"}, "title"),
    "reviseAlert": ({"title": "Ny tittel", "description": "Ny tekst."}, "description"),
    "resolveAlert": ({"outcome": "resolved", "text": "Løst."}, "text"),
    "submitQuestion": (QUESTION, "subject"),
    "submitErrorReport": (dict(ERROR_REPORT_FORM.example or {}), "title"),
    "submitSecurityBreach": (dict(SECURITY_BREACH_FORM.example or {}), "description"),
    "submitChangeRequest": (dict(CHANGE_REQUEST_FORM.example or {}), "title"),
    "submitTerms": (TERMS, "title"),
    "submitRegistration": (dict(REGISTRATION_FORM.example or {}), "legal_name"),
    "submitProductionRequest": (PRODUCTION, "test_report_reference"),
    "submitContactUpdate": (CONTACT_UPDATE, "name"),
}
# The HTTP functions that take a POST but read no body: the buttons behind signed links (the link is the query).
LINK_BUTTONS = {"confirm", "terms-accept", "onboarding/production/confirm", "registry/contacts/confirm"}
NOTIFICATIONS = "mailbox/notifications"  # Graph's, behind the function key: not in the document
# Bits' workspace forms: staff only, browser forms only, not in the document; their bad bodies are tested in
# test_workspace_actions.py.
WORKSPACE_FORMS = {"bits/held/{key}/actions", "bits/cases/{reference}/actions", "bits/publishing/drafts/{reference}"}
WORKSPACE_FORMS |= {"bits/mail/lift", "bits/mail/resend"}  # bad bodies: test_workspace_mail.py
WORKSPACE_FORMS |= {"bits/registry/{organisation_number}/changes"}  # bad bodies: test_workspace_registry.py
# Not the workspace's, but a browser form too: the box on the submitter's case page (test_case_page_in_browser.py).
WORKSPACE_FORMS |= {"case-page/{reference}"}
CLIENT = httpx.Client(timeout=30)  # one connection kept open: some hundred requests in a few seconds

# (name, the JSON text that takes the field's place, the status, the error)
REFUSED_AS_BODY = [
    ("arrays 5000 deep", "[" * 5000 + "]" * 5000, "too_deep"),
    ("objects 1000 deep", '{"a":' * 1000 + "1" + "}" * 1000, "too_deep"),
    ("50 deep", "[" * 50 + "]" * 50, "too_deep"),
    ("1e999999", "1e999999", "bad_number"),
    ("a 100 000-digit integer", "9" * 100_000, "bad_number"),
    ("2**64", str(2**64), "bad_number"),
    ("NaN", "NaN", "bad_number"),
    ("-Infinity", "-Infinity", "bad_number"),
]
REFUSED_AS_TEXT = [
    ("NUL", '"Hei\\u0000du"'),
    ("right-to-left override", '"Faktura \\u202efdp.exe"'),
    ("left-to-right embedding", '"Hei \\u202adu"'),
    ("right-to-left isolate", '"Hei \\u2067du\\u2069"'),
    ("unpaired surrogate", '"Hei \\ud800 du"'),
    ("C1 control", '"Hei \\u009bdu"'),
]


@pytest.fixture(scope="module")
def host(devhost: DevHostProcess) -> DevHostProcess:
    return devhost


@pytest.fixture(scope="module")
def endpoints(host: DevHostProcess) -> list[tuple[str, str, str]]:
    """(operation, method, path) of every operation with a body in the OpenAPI document, the alert's paths
    pointing at an alert that exists, and Graph's notifications."""
    document = httpx.get(f"{host.url}/api/openapi.json").json()
    alert = post(host, {**MAINTENANCE, "source_alert_id": f"NAV-{uuid.uuid4().hex[:8]}"})
    assert alert.status_code == 201, alert.text
    with_body = [
        (operation["operationId"], method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "requestBody" in operation
    ]
    assert {op for op, _, _ in with_body} == set(VALID), "every operation with a body has a valid body here"
    # And the function list has no other endpoint that takes a body.
    takes = {
        getattr(f.get_trigger(), "route", None)
        for f in registered()
        if f.get_trigger().get_binding_name() == "httpTrigger"
        and {str(m.value) for m in f.get_trigger().methods or []} & {"POST", "PATCH", "PUT"}
    }
    assert takes == {path.lstrip("/") for _, _, path in with_body} | LINK_BUTTONS | {NOTIFICATIONS} | WORKSPACE_FORMS
    reference = alert.json()["id"]
    found = [(op, method, path.replace("{reference}", reference)) for op, method, path in with_body]
    return [*found, ("notifications", "POST", f"/{NOTIFICATIONS}")]


def stored(host: DevHostProcess) -> tuple[list[tuple[str, str]], int]:
    """Every case there is (reference, status), and whether the registration's company is in the registry."""
    cases = [
        (c["reference"], c["status"])
        for process in "ABCDE"
        for c in CLIENT.get(f"{host.url}/api/cases", params={"process": process}, headers=sign_in(host)).json()["cases"]
    ]
    number = VALID["submitRegistration"][0]["organisation_number"]
    entry = CLIENT.get(f"{host.url}/api/registry/organisations/{number}", headers=sign_in(host))
    return sorted(cases), entry.status_code


def send(host: DevHostProcess, method: str, path: str, content: bytes) -> httpx.Response:
    headers = {
        "content-type": "application/json",
        "X-Api-Key": "nav-key-one",
        "Cookie": sign_in(host, "admin@bits.example")["Cookie"],
    }
    return CLIENT.request(method, f"{host.url}/api{path}", content=content, headers=headers)


def with_field(operation: str, value: str) -> bytes:
    if operation == "notifications":
        body: dict[str, Any] = {"value": [{"clientState": NOTIFICATION_SECRET, "resource": FIELD}]}
        field = None
    else:
        valid, field = VALID[operation]
        body = {**valid, field: FIELD}
    return json.dumps(body).replace(json.dumps(FIELD), value).encode("utf-8")


@pytest.mark.parametrize(("name", "value", "error"), REFUSED_AS_BODY, ids=[n for n, _, _ in REFUSED_AS_BODY])
def test_deep_nesting_and_numbers_no_field_holds_are_400_everywhere(
    host: DevHostProcess, endpoints: list[tuple[str, str, str]], name: str, value: str, error: str
) -> None:
    before = stored(host)
    answers = {op: send(host, method, path, with_field(op, value)) for op, method, path in endpoints}
    wrong = {op: (a.status_code, a.text[:120]) for op, a in answers.items() if a.status_code != 400}
    assert not wrong, f"{name}: {wrong}"
    assert stored(host) == before, "nothing stored, no alert changed"
    kinds = {op: a.json()["error"] for op, a in answers.items() if op != "notifications"}
    assert set(kinds.values()) == {error}, kinds


@pytest.mark.parametrize(("name", "value"), REFUSED_AS_TEXT, ids=[n for n, _ in REFUSED_AS_TEXT])
def test_nul_and_bidirectional_overrides_in_a_title_or_text_are_422_naming_the_field(
    host: DevHostProcess, endpoints: list[tuple[str, str, str]], name: str, value: str
) -> None:
    before = stored(host)
    answers = {op: send(host, method, path, with_field(op, value)) for op, method, path in endpoints}
    wrong = {op: (a.status_code, a.text[:100]) for op, a in answers.items() if a.status_code != 422}
    assert wrong.keys() <= {"notifications"} and answers["notifications"].status_code == 400, f"{name}: {wrong}"
    assert stored(host) == before, "nothing stored, no alert changed"
    del answers["notifications"]
    for op, answer in answers.items():
        errors = answer.json()["errors"]
        field = VALID[op][1]
        assert "usynlige tegn" in errors[field] or "invisible characters" in errors[field], (op, errors)


def test_a_key_with_nul_is_refused_not_stored(host: DevHostProcess, endpoints: list[tuple[str, str, str]]) -> None:
    before = stored(host)
    for op, method, path in endpoints:
        if op == "notifications":
            continue
        valid, _ = VALID[op]
        answer = send(host, method, path, json.dumps({**valid, "x\x00y": 1}).encode())
        assert answer.status_code == 422, (op, answer.text)
    assert stored(host) == before


def test_a_browser_form_with_a_bidi_override_is_shown_again_with_the_field_marked(host: DevHostProcess) -> None:
    before = stored(host)
    answer = submit_form(host, "questions", {**QUESTION, "subject": "Faktura \u202efdp.exe"})
    assert stored(host) == before
    assert answer.status_code == 422, answer.text
    assert "usynlige tegn som endrer skriveretningen" in answer.text and "<form" in answer.text
    assert "\u202e" not in answer.text
