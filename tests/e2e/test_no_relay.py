"""Finding 4 of issue #13, reproduced: an anonymous POST (or a forged email) naming someone else's address made Bits'
mailbox send that address the poster's text. Now the address gets only the neutral confirmation request - for every
public form the catalogue declares, for the processes that go on at once (breaches, registrations) too - and the full
receipt only once the address is confirmed. JSON bodies get the form's protections (honeypot, depth, size)."""

from __future__ import annotations

import email
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from typing import Any

import httpx
import pytest

from functions.catalogue import CATALOGUE
from functions.core.cases import CaseIntake
from functions.core.forms import WebForm
from functions.devhost.azurite import Azurite
from tests.conftest import DevHostProcess, load_demo_registry, start_devhost
from tests.e2e.helpers import (
    QUESTION,
    case_json,
    confirm_address,
    dispatch,
    new_organisation_number,
    outbox_mails,
    poll,
)

PUBLIC_FORMS = [(declared.name, form) for declared, form in CATALOGUE.forms if form.intake is not None]
BITS_PEOPLE = {"support@bits.example", "sikkerhet@bits.example"}
# The free-text fields of the forms' bodies: whatever a poster types there must never reach an unproven address.
FREE_TEXT = (
    "name",
    "title",
    "subject",
    "question",
    "description",
    "containment",
    "data_categories",
    "need_and_benefit",
    "products_affected",
    "legal_name",
    "comments",
)


def attack(tag: str) -> str:
    return f"Kontoen din er sperret {tag} logg inn på bits-support.evil.example"


def attacker_body(form: WebForm) -> tuple[dict[str, Any], str, list[str]]:
    """The form's example with the attacker's text in every free-text field and a victim's address; returns the
    body, the victim's address and the attacker's strings."""
    assert form.example is not None, f"the {form.template} form declares no example body"
    victim = f"offer-{uuid.uuid4().hex[:8]}@victim.example"
    body: dict[str, Any] = {**form.example}
    planted: list[str] = []
    for field in FREE_TEXT:
        if field in body or (field == "comments" and "contacts" in body):  # registrations may carry comments
            body[field] = attack(f"X{uuid.uuid4().hex[:10]}")
            planted.append(body[field])
    if "contacts" in body:  # a registration: a new company; the victim is the business contact who "submits"
        body["organisation_number"] = new_organisation_number()
        body["contacts"] = [
            {
                **c,
                "name": attack(f"X{uuid.uuid4().hex[:10]}"),
                "email": victim if c["role"] == "business" else f"{c['role']}-{uuid.uuid4().hex[:8]}@victim.example",
            }
            for c in body["contacts"]
        ]
        planted += [c["name"] for c in body["contacts"]]
    else:
        body["email"] = victim
    assert len(planted) >= 3, f"the {form.template} form has too few free-text fields to plant text in: {planted}"
    return body, victim, planted


def all_mails_to(host: DevHostProcess, address: str) -> list[EmailMessage]:
    """Every mail the outbox holds for `address`, of any case (the address is new to each test)."""
    dispatch(host)
    raws = [p.read_bytes() for p in (host.mail_dir / "outbox").glob("*.eml")]
    found = [email.message_from_bytes(raw, policy=default) for raw in raws if address.encode() in raw]
    return [m for m in found if str(m["To"]) == address]


def readable(message: EmailMessage) -> str:
    """Everything a recipient can read: every header, the text and the HTML."""
    parts = [f"{k}: {v}" for k, v in message.items()]
    for kind in ("plain", "html"):
        body = message.get_body((kind,))
        assert body is not None, f"no {kind} part"
        parts.append(str(body.get_content()))
    return "\n".join(parts)


def assert_neutral(message: EmailMessage, planted: list[str], reference: str) -> None:
    seen = readable(message)
    for text in planted:
        assert text not in seen, f"the poster's text reached the address: {text!r}"
    assert "evil.example" not in seen and "sperret" not in seen
    assert reference in str(message["Subject"]) and "/api/confirm?t=" in seen
    assert "case-page" not in seen, "no link to the case page: it shows what the poster typed"


@pytest.mark.parametrize(("process", "form"), PUBLIC_FORMS, ids=[f"{n}-{f.template}" for n, f in PUBLIC_FORMS])
def test_a_post_naming_someone_elses_address_sends_them_only_the_neutral_request(
    devhost: DevHostProcess, process: str, form: WebForm
) -> None:
    intake = form.intake
    assert isinstance(intake, CaseIntake)
    body, victim, planted = attacker_body(form)
    response = httpx.post(f"{devhost.url}/api/{form.route}", json=body)
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]

    [request] = all_mails_to(devhost, victim)
    assert_neutral(request, planted, reference)
    others = [c["email"] for c in body.get("contacts", []) if c["email"] != victim]
    assert not [m for a in others for m in all_mails_to(devhost, a)], "the other addresses named get nothing yet"
    bits = [m for m in outbox_mails(devhost, reference) if str(m["To"]) in BITS_PEOPLE]
    assert bool(bits) == (not intake.hold_unverified), "Bits is told at once exactly where the process never waits"

    # The address's owner confirms: now, and only now, the full receipt comes.
    confirm_address(devhost, reference, victim)
    mails = all_mails_to(devhost, victim)
    assert len(mails) == 2, [str(m["Subject"]) for m in mails]
    [receipt] = [m for m in mails if m["Message-ID"] != request["Message-ID"]]
    assert "Bekreft e-postadressen" not in str(receipt["Subject"])
    assert any(text in readable(receipt) for text in planted), "the receipt shows what was sent, to its owner"
    assert "submitter_confirmed" in [e["kind"] for e in case_json(devhost, reference)["events"]]


@pytest.fixture(scope="module")
def own_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHostProcess]:
    """A dev host of this module's own, for the forged email: tests on the shared one list every emailed case."""
    host = start_devhost(tmp_path_factory.mktemp("relay"), {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string})
    load_demo_registry(host.env)
    yield host
    host.stop()


def test_a_forged_email_gets_its_claimed_sender_only_the_neutral_request(own_host: DevHostProcess) -> None:
    devhost = own_host
    victim = f"offer-{uuid.uuid4().hex[:8]}@victim.example"
    subject, text = attack(f"S{uuid.uuid4().hex[:8]}"), attack(f"B{uuid.uuid4().hex[:8]}")
    display = "Bits Support Team evil.example"
    forged = EmailMessage(policy=default)
    forged["From"] = f"{display} <{victim}>"  # anyone can write anyone's address here; no DMARC result vouches
    forged["To"] = "ssu@bits.example"
    forged["Subject"] = subject
    forged["Message-ID"] = f"<{uuid.uuid4().hex}@evil.example>"
    forged.set_content(text)
    inbox = devhost.mail_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f"forged-{uuid.uuid4().hex[:8]}.eml").write_bytes(forged.as_bytes())
    poll(devhost)
    [request] = all_mails_to(devhost, victim)
    reference = str(request["Subject"]).split("]")[0].lstrip("[")
    assert_neutral(request, [subject, text, display], reference)
    assert "e-post til Bits" in readable(request), "it says an email named the address, not a form"


def test_a_json_body_with_the_honeypot_field_is_refused_and_nothing_sent(devhost: DevHostProcess) -> None:
    victim = f"offer-{uuid.uuid4().hex[:8]}@victim.example"
    response = httpx.post(
        f"{devhost.url}/api/questions", json={**QUESTION, "email": victim, "website": "http://spam.example"}
    )
    assert response.status_code == 400 and response.json()["error"] == "rejected", response.text
    empty = httpx.post(f"{devhost.url}/api/questions", json={**QUESTION, "email": victim, "website": ""})
    assert empty.status_code == 400, "the field exists only in the HTML form: a JSON body never has it"
    assert all_mails_to(devhost, victim) == []


def test_json_nested_too_deeply_or_too_large_is_refused(devhost: DevHostProcess) -> None:
    victim = f"offer-{uuid.uuid4().hex[:8]}@victim.example"
    nested: Any = "x"
    for _ in range(9):
        nested = {"a": nested}
    deep = httpx.post(f"{devhost.url}/api/questions", json={**QUESTION, "email": victim, "extra": nested})
    assert deep.status_code == 400 and deep.json()["error"] == "too_deep", deep.text
    bomb = '{"a":' * 100_000 + "1" + "}" * 100_000  # deeper than Python's parser goes: a clear 400, not a 500
    crashed = httpx.post(f"{devhost.url}/api/questions", content=bomb, headers={"Content-Type": "application/json"})
    assert crashed.status_code in (400, 413), crashed.text
    large = httpx.post(f"{devhost.url}/api/questions", json={**QUESTION, "email": victim, "question": "x" * 2_000_000})
    assert large.status_code == 413, large.text
    assert all_mails_to(devhost, victim) == []
