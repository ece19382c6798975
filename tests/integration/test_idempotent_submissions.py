"""Submissions sent again open nothing more: a JSON client's Idempotency-Key and a browser form's one-time id are
written as markers in the case's own transaction (real Azurite), so the second answer is the first one."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest

from functions.changes.workflow import CHANGE_REQUEST_FORM
from functions.core.forms import WebForm
from functions.core.model import Process
from functions.core.services import Services
from functions.core.store import AlreadyProcessed
from functions.incidents.security import SECURITY_BREACH_FORM
from functions.incidents.workflow import ERROR_REPORT_FORM
from functions.onboarding.contacts import CONTACTS_FORM
from functions.onboarding.workflow import REGISTRATION_FORM
from functions.questions.workflow import QUESTION_FORM
from functions.web.forms import handle_form
from tests.integration.test_case_store import draft, received

CONTACT_UPDATE: dict[str, Any] = {
    "organisation_number": "310000019",
    "name": "Frida Fagerli",
    "email": "fag@demo-forsikring.example",
    "contacts": [
        {"role": role, "name": f"Ny {role}", "email": f"ny-{role}@demo-forsikring.example", "phone": "+47 22 00 00 09"}
        for role in ("business", "technical", "security", "signatory")
    ],
}
FORMS: list[tuple[WebForm, dict[str, Any]]] = [
    (QUESTION_FORM, dict(QUESTION_FORM.example or {})),
    (ERROR_REPORT_FORM, dict(ERROR_REPORT_FORM.example or {})),
    (SECURITY_BREACH_FORM, dict(SECURITY_BREACH_FORM.example or {})),
    (CHANGE_REQUEST_FORM, dict(CHANGE_REQUEST_FORM.example or {})),
    (REGISTRATION_FORM, dict(REGISTRATION_FORM.example or {})),
    (CONTACTS_FORM, CONTACT_UPDATE),
]
QUESTION: dict[str, Any] = dict(QUESTION_FORM.example or {})


def json_post(form: WebForm, body: dict[str, Any], key: str | None = None) -> func.HttpRequest:
    headers = {"content-type": "application/json", **({"idempotency-key": key} if key is not None else {})}
    return func.HttpRequest(
        "POST", f"http://127.0.0.1/api/{form.route}", headers=headers, body=json.dumps(body).encode()
    )


async def cases(services: Services, process: Process) -> list[str]:
    return sorted(c.reference for c in await services.store.cases(process))


async def mail_count(services: Services, reference: str) -> int:
    return len(await services.store.mails(reference))


@pytest.mark.parametrize(("form", "body"), FORMS, ids=[f.route for f, _ in FORMS])
async def test_the_same_idempotency_key_twice_opens_one_case_and_gets_the_first_answer(
    services: Services, form: WebForm, body: dict[str, Any]
) -> None:
    process = form.intake.process if form.intake else Process.ONBOARDING
    first = await handle_form(json_post(form, body, "retry-3f1c9a"), form, services)
    assert first.status_code == 201, first.get_body()
    reference = json.loads(first.get_body())["reference"]
    queued = await mail_count(services, reference)
    again = await handle_form(json_post(form, body, "retry-3f1c9a"), form, services)
    assert again.status_code == 201, again.get_body()
    original, replayed = json.loads(first.get_body()), json.loads(again.get_body())
    assert replayed == {k: v for k, v in original.items() if k != "case_url"}, "the same answer, about the same case"
    assert "case_url" not in replayed and "Location" not in again.headers, "a replay never hands out the signed link"
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert await cases(services, process) == [reference]
    assert await mail_count(services, reference) == queued, "no mail queued twice"


async def test_the_same_key_with_another_body_is_refused_and_opens_nothing(services: Services) -> None:
    first = await handle_form(json_post(QUESTION_FORM, QUESTION, "k-1"), QUESTION_FORM, services)
    assert first.status_code == 201
    other = {**QUESTION, "subject": "Et helt annet spørsmål"}
    refused = await handle_form(json_post(QUESTION_FORM, other, "k-1"), QUESTION_FORM, services)
    assert refused.status_code == 422
    answer = json.loads(refused.get_body())
    assert answer["error"] == "idempotency_key_reused" and "brukt for en annen forespørsel" in answer["message"]
    assert await cases(services, Process.QUESTION) == [json.loads(first.get_body())["reference"]]
    # The first request again is still answered as the first time.
    again = await handle_form(json_post(QUESTION_FORM, QUESTION, "k-1"), QUESTION_FORM, services)
    original = {k: v for k, v in json.loads(first.get_body()).items() if k != "case_url"}
    assert again.status_code == 201 and json.loads(again.get_body()) == original


async def test_keys_are_per_form_and_without_a_key_each_post_is_a_submission(services: Services) -> None:
    report = dict(ERROR_REPORT_FORM.example or {})
    assert (await handle_form(json_post(QUESTION_FORM, QUESTION, "shared"), QUESTION_FORM, services)).status_code == 201
    assert (
        await handle_form(json_post(ERROR_REPORT_FORM, report, "shared"), ERROR_REPORT_FORM, services)
    ).status_code == 201
    assert (
        await handle_form(json_post(QUESTION_FORM, QUESTION, "another"), QUESTION_FORM, services)
    ).status_code == 201
    for _ in range(2):
        assert (await handle_form(json_post(QUESTION_FORM, QUESTION), QUESTION_FORM, services)).status_code == 201
    assert len(await cases(services, Process.QUESTION)) == 4
    assert len(await cases(services, Process.ERROR_REPORT)) == 1


@pytest.mark.parametrize("key", ["", "x" * 201, "nøkkel", "tab\tkey", "nul\x00"])
async def test_a_malformed_idempotency_key_is_400_and_opens_nothing(services: Services, key: str) -> None:
    answer = await handle_form(json_post(QUESTION_FORM, QUESTION, key), QUESTION_FORM, services)
    assert answer.status_code == 400
    assert json.loads(answer.get_body())["error"] == "bad_idempotency_key"
    assert await cases(services, Process.QUESTION) == []


class Browser:
    """A browser's view of a form: the page's CSRF token and the cookie that goes with it."""

    def __init__(self, page: func.HttpResponse) -> None:
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_body().decode())
        assert found, "the form carries a token"
        self.token = found.group(1)
        self.cookie = page.headers["Set-Cookie"].split(";", 1)[0]

    def post(self, form: WebForm, fields: dict[str, Any]) -> func.HttpRequest:
        body = urlencode({**fields, "csrf_token": self.token, "website": ""}).encode()
        headers = {"content-type": "application/x-www-form-urlencoded", "cookie": self.cookie}
        return func.HttpRequest("POST", f"http://127.0.0.1/api/{form.route}", headers=headers, body=body)


async def form_page(services: Services, form: WebForm) -> Browser:
    page = await handle_form(func.HttpRequest("GET", f"http://127.0.0.1/api/{form.route}", body=b""), form, services)
    assert page.status_code == 200
    return Browser(page)


async def test_a_browser_form_sent_twice_is_one_case_and_both_answers_lead_to_it(services: Services) -> None:
    browser = await form_page(services, QUESTION_FORM)
    first = await handle_form(browser.post(QUESTION_FORM, QUESTION), QUESTION_FORM, services)
    assert first.status_code == 303
    [reference] = await cases(services, Process.QUESTION)
    assert f"/api/case-page/{reference}?" in first.headers["Location"]
    # A double click sends the very same; back and send again may send it changed: both are this submission.
    double = await handle_form(browser.post(QUESTION_FORM, QUESTION), QUESTION_FORM, services)
    changed = {**QUESTION, "question": "Jeg glemte å si at det gjelder testmiljøet."}
    resent = await handle_form(browser.post(QUESTION_FORM, changed), QUESTION_FORM, services)
    assert double.status_code == resent.status_code == 303
    assert double.headers["Location"] == resent.headers["Location"] == first.headers["Location"]
    assert await cases(services, Process.QUESTION) == [reference]
    # A new page is a new submission.
    fresh = await form_page(services, QUESTION_FORM)
    assert (await handle_form(fresh.post(QUESTION_FORM, QUESTION), QUESTION_FORM, services)).status_code == 303
    assert len(await cases(services, Process.QUESTION)) == 2


async def test_a_form_shown_again_after_an_error_keeps_its_submission_id(services: Services) -> None:
    browser = await form_page(services, QUESTION_FORM)
    wrong = await handle_form(browser.post(QUESTION_FORM, {**QUESTION, "email": "no"}), QUESTION_FORM, services)
    assert wrong.status_code == 422
    corrected = Browser(wrong)
    first = await handle_form(corrected.post(QUESTION_FORM, QUESTION), QUESTION_FORM, services)
    again = await handle_form(browser.post(QUESTION_FORM, QUESTION), QUESTION_FORM, services)  # the older page
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert len(await cases(services, Process.QUESTION)) == 1


async def test_identical_requests_at_once_open_one_case(services: Services) -> None:
    # Another submission first, so that the identical ones queue behind its write and go out together.
    other = json_post(QUESTION_FORM, {**QUESTION, "subject": "Først i køen"})
    answers = await asyncio.gather(
        handle_form(other, QUESTION_FORM, services),
        *(handle_form(json_post(QUESTION_FORM, QUESTION, "same-at-once"), QUESTION_FORM, services) for _ in range(8)),
    )
    assert [a.status_code for a in answers] == [201] * 9, [a.get_body()[:200] for a in answers]
    references = {json.loads(a.get_body())["reference"] for a in answers[1:]}
    assert len(references) == 1
    assert len(await cases(services, Process.QUESTION)) == 2


async def test_one_transaction_never_carries_the_same_marker_twice(services: Services) -> None:
    """Two creations with a marker in common, queued behind a third's write, would share a transaction that names
    the marker's row twice: Table Storage refuses such a batch whole (InvalidDuplicateRow), both fail."""
    store = services.store
    await store.create_case(draft(), received(), lambda c: [])  # tables, partition and counter known: no waiting
    results = await asyncio.gather(
        store.create_case(draft(title="Først"), received(), lambda c: []),
        *(store.create_case(draft(), received(), lambda c: [], markers=["double-click"]) for _ in range(2)),
        return_exceptions=True,
    )
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["AlreadyProcessed", "Case", "Case"], results
    done = next(r for r in results if isinstance(r, AlreadyProcessed))
    assert done.marker == "double-click"
    assert len(await store.cases(Process.QUESTION)) == 3
