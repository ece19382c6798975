"""Who a rate limit counts: one key per mailbox however its address is spelt (sub-addresses, case, compatibility
letters, Gmail's dots, IDNA), a counter per recipient domain, counter row keys that are keyed HMACs, and - in Azure
- only the platform's client-ip (a forged X-Forwarded-For buys nothing). Each attack reproduced over the fakes."""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

import pytest

from functions.catalogue import CATALOGUE
from functions.core.rate_limits import DOMAIN_FACTOR, canonical_address, domain_key, recipient_key, row_key
from functions.core.services import Services
from functions.intake.workflow import process_message
from functions.questions.models import Question
from functions.questions.workflow import QUESTION_FORM
from functions.web.rate_limit import UNKNOWN, client_network, count_submission
from tests.fakes import fake_services

PER_RECIPIENT = 2


def question(email: str) -> Question:
    return Question.model_validate({**(QUESTION_FORM.example or {}), "email": email})


async def post(services: Services, email: str, headers: dict[str, str] | None = None) -> int | None:
    """One anonymous question as the door counts it, from a client of its own unless `headers` say otherwise."""
    client = headers if headers is not None else {"client-ip": f"198.51.100.{uuid.uuid4().int % 250 + 1}:4000"}
    return await count_submission(services, client, question(email))


# -- one key per mailbox ---------------------------------------------------------------------------------------------


def test_every_spelling_of_one_mailbox_is_one_key() -> None:
    same = [
        "victim@example.org",
        "Victim@EXAMPLE.org",
        "victim+1@example.org",
        "victim+tilbud+2@example.org",
        " victim@example.org. ",
        "ｖｉｃｔｉｍ@ｅｘａｍｐｌｅ.org",  # fullwidth letters: NFKC folds them
    ]
    assert {recipient_key(a) for a in same} == {"to:victim@example.org"}
    gmail = ["v.i.c.t.i.m@gmail.com", "Victim+x@googlemail.com", "vic.tim@GMAIL.com"]
    assert {canonical_address(a) for a in gmail} == {"victim@gmail.com"}
    assert canonical_address("kari@bücher.example") == canonical_address("kari@xn--bcher-kva.example")
    assert canonical_address("a.b@example.org") != canonical_address("ab@example.org"), "dots count outside Gmail"
    assert domain_key("x+1@Sub.Example.org") == domain_key("y@sub.example.org") == "domain:sub.example.org"


async def test_sub_addresses_and_lookalikes_share_the_recipients_limit() -> None:
    services = fake_services(rate_limit_per_recipient=PER_RECIPIENT)
    assert await post(services, "victim+1@example.org") is None
    assert await post(services, "Victim+2@EXAMPLE.org") is None
    # The attack: a third spelling of the same mailbox, from yet another client.
    assert await post(services, "ｖｉｃｔｉｍ+3@example.org") is not None
    assert await post(services, "VICTIM+4@example.org") is not None
    assert await post(services, "someone.else@example.org") is None, "another mailbox has its own allowance"


async def test_fresh_local_parts_at_one_domain_run_into_the_domain_counter() -> None:
    services = fake_services(rate_limit_per_recipient=PER_RECIPIENT)
    for n in range(DOMAIN_FACTOR * PER_RECIPIENT):
        assert await post(services, f"a{n}@victim.example") is None, n
    assert await post(services, "fresh@victim.example") is not None, "a new mailbox, but the domain had its share"
    assert await post(services, "fresh@Victim.Example") is not None
    assert await post(services, "fresh@other.example") is None


async def test_forged_emails_to_sub_addresses_share_the_confirmation_limit() -> None:
    # The email path: a confirmation request to an unknown sender counts in open_case, by the same keys.
    services = fake_services(rate_limit_per_recipient=PER_RECIPIENT)
    withheld = []
    for n in range(4):
        raw = (
            f"From: Offer <victim+{n}@example.org>\r\nTo: ssu@bits.example\r\nSubject: Spørsmål {n}\r\n"
            f"Message-ID: <q-{uuid.uuid4().hex}@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "Hei, kan dere hjelpe?\r\n"
        ).encode()
        outcome = await process_message(services, raw, CATALOGUE)
        assert outcome.status == "new_case" and outcome.reference
        stored = await services.store.load(outcome.reference)
        assert stored is not None
        withheld.append(bool(stored.case.details.get("confirmation_withheld")))
    assert withheld == [False, False, True, True]


# -- the counters' row keys ------------------------------------------------------------------------------------------


def test_row_keys_are_keyed_hmacs_not_a_dictionary_lookup() -> None:
    key = "to:victim@example.org"
    bare = hashlib.sha256(f"rate-limit\n{key}".encode()).hexdigest()[:40]
    ours = row_key(key, b"k" * 40)
    assert ours != bare, "whoever reads the table cannot hash a guessed address and find its row"
    assert ours == row_key(key, b"k" * 40) and ours != row_key(key, b"j" * 40)
    assert len(ours) == 40 and all(c in "0123456789abcdef" for c in ours)


# -- the client's address in Azure -----------------------------------------------------------------------------------


def test_in_azure_only_the_platforms_client_ip_counts(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="functions.web.rate_limit"):
        assert client_network({"x-forwarded-for": "10.0.0.1, 198.51.100.7"}, azure=True) == UNKNOWN
    assert caplog.records and all("198.51.100.7" not in r.getMessage() for r in caplog.records), "no address logged"
    assert client_network({"client-ip": "203.0.113.9:443", "x-forwarded-for": "198.51.100.7"}, azure=True) == (
        "203.0.113.9"
    )
    assert client_network({"x-forwarded-for": "198.51.100.7"}) == "198.51.100.7", "locally the fallback stays"


AZURE: dict[str, Any] = {
    "mode": "azure",
    "signing_key": "s" * 40,
    "public_base_url": "https://ssu.bits.example",
    "table_endpoint": "https://account.table.core.windows.net",
    "blob_endpoint": "https://account.blob.core.windows.net",
    "rate_limit_per_ip": 2,
}


async def test_in_azure_a_forged_x_forwarded_for_buys_no_fresh_allowance() -> None:
    services = fake_services(**AZURE)
    assert services.settings.mode == "azure"
    # The attack: no client-ip (a request that did not come through the front end), a new "address" every time.
    outcomes = [await post(services, f"person{n}@example.org", {"x-forwarded-for": f"192.0.2.{n}"}) for n in range(3)]
    assert outcomes[:2] == [None, None] and outcomes[2] is not None, "all in the one shared bucket"
    assert await post(services, "person9@example.org", {"client-ip": "203.0.113.9:1"}) is None
