"""Submissions while Azurite is paused (SIGSTOP): the write the answer gave up on commits when Azurite goes on
(SIGCONT); the 503 says so truthfully, and sending the same again - same Idempotency-Key, or the form page the
503 showed - is answered with that very case and opens no second one."""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from functions.devhost.azurite import Azurite, start_azurite
from tests.conftest import DevHostProcess, load_demo_registry, start_devhost
from tests.e2e.helpers import QUESTION, dispatch, sign_in

TIMEOUT = 1.0  # SSU_STORAGE_TIMEOUT_SECONDS: how long the host waits for storage before it answers 503
# Bits' signed-in staff are not counted against the rate limits, so their submission's first storage call is the
# case's own transaction: the write that Azurite takes in while paused, and commits when it goes on. (An anonymous
# submission is counted first; a stall there answers the same 503 before anything of the case was sent.)
STAFF = "support@bits.example"


@pytest.fixture(scope="module")
def paused_storage() -> Iterator[Azurite]:
    """An Azurite of its own: pausing the suite's would stall every other test."""
    instance = start_azurite()
    yield instance
    os.kill(instance.process.pid, signal.SIGCONT)  # never leave it stopped, whatever failed
    instance.stop()


@pytest.fixture(scope="module")
def host(paused_storage: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHostProcess]:
    env = {
        "SSU_STORAGE_CONNECTION_STRING": paused_storage.connection_string,
        "SSU_STORAGE_TIMEOUT_SECONDS": str(TIMEOUT),
    }
    started = start_devhost(tmp_path_factory.mktemp("retry"), env)
    load_demo_registry(started.env)
    yield started
    started.stop()


class Paused:
    def __init__(self, azurite: Azurite) -> None:
        self.pid = azurite.process.pid

    def __enter__(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def __exit__(self, *_: object) -> None:
        os.kill(self.pid, signal.SIGCONT)


def questions(host: DevHostProcess) -> list[dict[str, Any]]:
    answer = httpx.get(f"{host.url}/api/cases", params={"process": "D"}, headers=sign_in(host), timeout=30)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["cases"]
    return found


def committed(host: DevHostProcess, title: str) -> list[str]:
    """The references of the cases with this title, once the write taken in while paused has committed."""
    deadline = time.monotonic() + 20
    while True:
        found = [c["reference"] for c in questions(host) if c["title"] == title]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def warm(host: DevHostProcess) -> None:
    """One submission first: tables, partition, counter and registry are known, so the next one's first storage
    call is its transaction."""
    answer = httpx.post(f"{host.url}/api/questions", json=QUESTION, headers=sign_in(host, STAFF), timeout=30)
    assert answer.status_code == 201, answer.text


def test_a_keyed_json_submission_whose_503_was_wrong_is_answered_with_its_case(
    host: DevHostProcess, paused_storage: Azurite
) -> None:
    warm(host)
    title = f"Spørsmål mens lagringen sto {uuid.uuid4().hex[:6]}"
    body = {**QUESTION, "subject": title}
    headers = {**sign_in(host, STAFF), "Idempotency-Key": str(uuid.uuid4())}
    with Paused(paused_storage):
        down = httpx.post(f"{host.url}/api/questions", json=body, headers=headers, timeout=60)
    assert down.status_code == 503, down.text
    # The finding: the write the 503 gave up on commits once storage goes on...
    [reference] = committed(host, title)
    # ... so the answer may not say that nothing was stored; and sending it again is what it says: safe.
    answer = down.json()
    assert "Vi fikk ikke bekreftet at saken ble lagret" in answer["message"], answer
    assert "ikke registrert to ganger" in answer["message"] and "Ingenting er lagret" not in answer["message"]
    assert answer["retry_safe"] is True and down.headers["retry-after"] == "30"

    again = httpx.post(f"{host.url}/api/questions", json=body, headers=headers, timeout=60)
    assert again.status_code == 201, again.text
    assert committed(host, title) == [reference], "sent again, and still one case"
    assert again.json()["reference"] == reference and again.headers["idempotent-replayed"] == "true"
    dispatch(host)
    case = httpx.get(f"{host.url}/api/cases/{reference}", headers=sign_in(host), timeout=30).json()
    purposes = sorted((m["purpose"], m["to"]) for m in case["mails"])
    assert purposes == sorted(set(purposes)), "every mail once"
    assert {p for p, _ in purposes} >= {"acknowledgement", "notify-support"}


def test_without_a_key_the_503_says_that_sending_again_may_make_a_second_case(
    host: DevHostProcess, paused_storage: Azurite
) -> None:
    warm(host)
    body = {**QUESTION, "language": "en", "subject": f"Unkeyed {uuid.uuid4().hex[:6]}"}
    with Paused(paused_storage):
        down = httpx.post(f"{host.url}/api/questions", json=body, headers=sign_in(host, STAFF), timeout=60)
    assert down.status_code == 503, down.text
    assert down.json()["retry_safe"] is False
    assert "may create a second case, unless the request carries an Idempotency-Key" in down.json()["message"]
    committed(host, body["subject"])  # let it settle before the next test pauses storage again


def test_the_form_page_a_503_shows_sends_the_same_submission(host: DevHostProcess, paused_storage: Azurite) -> None:
    warm(host)
    title = f"Skjema mens lagringen sto {uuid.uuid4().hex[:6]}"
    with httpx.Client(timeout=60) as browser:
        name, session = sign_in(host, STAFF)["Cookie"].split("=", 1)
        browser.cookies.set(name, session)  # signed in, beside the form's own cookie
        page = browser.get(f"{host.url}/api/questions")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        fields = {**QUESTION, "subject": title, "website": ""}
        with Paused(paused_storage):
            down = browser.post(f"{host.url}/api/questions", data={**fields, "csrf_token": token.group(1)})
        assert down.status_code == 503, down.text
        assert down.headers["retry-after"] == "30"
        assert "Vi fikk ikke bekreftet at saken ble lagret" in down.text and "trygt å sende" in down.text
        assert "<form" in down.text and title in down.text, "the form again, with the values"
        [reference] = committed(host, title)
        # The person presses "Send" on the page the 503 showed: its token carries the same submission id.
        shown = re.search(r'name="csrf_token" value="([^"]+)"', down.text)
        assert shown
        again = browser.post(f"{host.url}/api/questions", data={**fields, "csrf_token": shown.group(1)})
    assert again.status_code == 303, again.text
    assert f"/api/case-page/{reference}?" in again.headers["location"]
    assert committed(host, title) == [reference]
