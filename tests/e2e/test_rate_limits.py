"""Anonymous submissions are rate-limited per client address, per recipient address and per organisation number,
JSON and browser forms alike: over a limit the answer is 429 with Retry-After, and nothing is stored or mailed.
A flood of forged emails naming one victim mails them at most the per-recipient limit of confirmation requests.

These tests run their own dev host with low limits (3 per client, 2 per recipient, 3 per organisation; the
suite's shared dev host has limits far above what the suite posts). Each test connects from its own loopback
address (127.0.0.x), which the dev host, like App Service's front end, reports as the client's."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from typing import Any

import httpx
import pytest

from functions.devhost.azurite import Azurite
from tests.conftest import DevHostProcess, load_demo_registry, start_devhost
from tests.e2e.helpers import QUESTION, dispatch, new_organisation_number, poll, sign_in

LIMITS = {"SSU_RATE_LIMIT_PER_IP": "3", "SSU_RATE_LIMIT_PER_RECIPIENT": "2", "SSU_RATE_LIMIT_PER_ORGANISATION": "3"}


@pytest.fixture(scope="module")
def limited(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHostProcess]:
    host = start_devhost(
        tmp_path_factory.mktemp("limited"), {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string, **LIMITS}
    )
    load_demo_registry(host.env)
    yield host
    host.stop()


def client_at(address: str) -> httpx.Client:
    """A client whose connections come from `address` (any 127.0.0.x reaches the dev host on 127.0.0.1)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def victim() -> str:
    # A domain of its own: a recipient domain has a counter too (4 x the per-recipient limit).
    return f"offer@{uuid.uuid4().hex[:8]}.victim.example"


def question(email: str, organisation_number: str | None = None, **more: Any) -> dict[str, Any]:
    return {**QUESTION, "email": email, "organisation_number": organisation_number or new_organisation_number(), **more}


def mails_to(host: DevHostProcess, address: str) -> list[str]:
    """The subjects of every mail sent to `address`."""
    dispatch(host)
    found = []
    for path in (host.mail_dir / "outbox").glob("*.eml"):
        raw = path.read_bytes()
        if address.encode() in raw:
            found.append(re.search(rb"^Subject: (.*)$", raw, re.M).group(1).decode())  # type: ignore[union-attr]
    return found


def stored_for(host: DevHostProcess, address: str) -> list[dict[str, Any]]:
    cases = httpx.get(f"{host.url}/api/cases", params={"process": "D"}, headers=sign_in(host)).json()["cases"]
    return [c for c in cases if c["submitter_email"] == address]


def assert_refused_json(response: httpx.Response, language: str = "nb") -> int:
    assert response.status_code == 429, response.text
    wait = int(response.headers["Retry-After"])
    assert 0 < wait <= 2 * 3600
    body = response.json()
    assert body["error"] == "rate_limited" and body["retry_after"] == wait
    assert ("Nothing was saved or sent" if language == "en" else "Ingenting er lagret eller sendt") in body["message"]
    return wait


def form_post(client: httpx.Client, host: DevHostProcess, body: dict[str, Any]) -> httpx.Response:
    page = client.get(f"{host.url}/api/questions")  # showing the form counts nothing
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    return client.post(f"{host.url}/api/questions", data={**body, "csrf_token": token.group(1), "website": ""})


def test_the_fourth_post_from_one_client_is_refused_json_and_form_alike(limited: DevHostProcess) -> None:
    with client_at("127.0.0.11") as client:
        for _ in range(3):
            assert client.post(f"{limited.url}/api/questions", json=question(victim())).status_code == 201
        fourth = victim()
        # A client's own client-ip and X-Forwarded-For are not believed: the front end's entry is the right-most.
        forged = {"X-Forwarded-For": "198.51.100.7", "client-ip": "198.51.100.8", "X-Client-IP": "198.51.100.9"}
        assert_refused_json(client.post(f"{limited.url}/api/questions", json=question(fourth), headers=forged))
        assert_refused_json(
            client.post(f"{limited.url}/api/questions", json=question(fourth, language="en")), language="en"
        )
        page = form_post(client, limited, question(fourth))
        assert page.status_code == 429 and int(page.headers["Retry-After"]) > 0
        assert "Ingenting er lagret eller sendt" in page.text and "<form" in page.text, "the form again, with why"
    assert stored_for(limited, fourth) == [] and mails_to(limited, fourth) == [], "nothing stored, nothing mailed"
    with client_at("127.0.0.12") as elsewhere:
        assert elsewhere.post(f"{limited.url}/api/questions", json=question(fourth)).status_code == 201


def test_one_recipient_gets_at_most_the_limit_whoever_posts(limited: DevHostProcess) -> None:
    target = victim()
    with client_at("127.0.0.21") as first, client_at("127.0.0.22") as second:
        assert first.post(f"{limited.url}/api/questions", json=question(target)).status_code == 201
        assert second.post(f"{limited.url}/api/questions", json=question(target)).status_code == 201
        assert_refused_json(first.post(f"{limited.url}/api/questions", json=question(target.upper())))
        assert form_post(second, limited, question(target)).status_code == 429
        # The refusals counted against no other counter: the first client still has two posts left.
        assert first.post(f"{limited.url}/api/questions", json=question(victim())).status_code == 201
        assert first.post(f"{limited.url}/api/questions", json=question(victim())).status_code == 201
        assert_refused_json(first.post(f"{limited.url}/api/questions", json=question(victim())))
    assert len(stored_for(limited, target)) == 2
    assert len(mails_to(limited, target)) == 2, "two neutral requests, no more"


def test_one_organisation_number_takes_at_most_the_limit(limited: DevHostProcess) -> None:
    number = new_organisation_number()
    with client_at("127.0.0.31") as first, client_at("127.0.0.32") as second:
        assert first.post(f"{limited.url}/api/questions", json=question(victim(), number)).status_code == 201
        assert first.post(f"{limited.url}/api/questions", json=question(victim(), number)).status_code == 201
        assert form_post(second, limited, question(victim(), number)).status_code == 303
        late = victim()
        assert_refused_json(second.post(f"{limited.url}/api/questions", json=question(late, number)))
        assert form_post(second, limited, question(late, number)).status_code == 429
    assert stored_for(limited, late) == [] and mails_to(limited, late) == []


def test_forged_emails_mail_their_victim_at_most_the_limit(limited: DevHostProcess) -> None:
    target = victim()
    inbox = limited.mail_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    for n in range(4):
        forged = EmailMessage(policy=default)
        forged["From"] = f"Offer <{target}>"
        forged["To"] = "ssu@bits.example"
        forged["Subject"] = f"Spørsmål nummer {n}"
        forged["Message-ID"] = f"<{uuid.uuid4().hex}@evil.example>"
        forged.set_content("Hvordan leser vi uføregraden?")
        (inbox / f"forged-{n}-{uuid.uuid4().hex[:6]}.eml").write_bytes(forged.as_bytes())
    poll(limited)
    cases = stored_for(limited, target)
    assert len(cases) == 4, "every email is recorded for Bits"
    assert sum(bool(c["details"].get("confirmation_withheld")) for c in cases) == 2
    assert len(mails_to(limited, target)) == 2
