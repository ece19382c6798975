"""Finding 4 of issue #13 for contact changes: anyone may ask to change a company's contacts, and the company's existing
contacts are asked to confirm. That mail used to carry the requester's text (their name, the new contacts' names,
addresses and phones) from Bits' mailbox to the company's real people; now it is neutral - the registry's name of the
company, its number, the reference and the signed link - and the requested change is shown, escaped, behind the link."""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import DevHostProcess
from tests.e2e.helpers import case_json, mails_to, new_organisation_number, organisation, outbox_mails, plain
from tests.e2e.test_registry_integrity import company, import_registry

LINK = re.compile(r"https?://\S+/api/registry/contacts/confirm\?k=[^\s\"<>]+")
ROLES = ("business", "technical", "security", "signatory")


def html(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None
    return str(body.get_content())


def attacker_request(number: str) -> tuple[dict[str, Any], list[str]]:
    """A request with the attacker's text in every free-text field (the requester's name and address, each new
    contact's name, address and phone); returns the body and the strings planted."""
    tag = uuid.uuid4().hex[:8]
    name = f"Kontoen din er sperret {tag} <script>alert(1)</script> logg inn på bits-support.evil.example"
    email = f"sperret-{tag}@bits-support.evil.example"
    contacts = [
        {
            "role": role,
            "name": f"<b>Ring {role} {tag}</b> bits-support.evil.example",
            "email": f"{role}-{tag}@angriper.example",
            "phone": f"+47 9{index} {str(uuid.uuid4().int)[:6]}",
        }
        for index, role in enumerate(ROLES)
    ]
    body = {"organisation_number": number, "name": name, "email": email, "contacts": contacts}
    planted = [name, email, tag, "evil.example", "angriper.example", "<script>", "Ring "]
    planted += [c["email"] for c in contacts] + [c["name"] for c in contacts] + [c["phone"] for c in contacts]
    return body, planted


def test_the_existing_contacts_are_asked_in_a_neutral_mail_and_the_change_is_shown_behind_the_link(
    devhost: DevHostProcess, tmp_path: Path
) -> None:
    number = new_organisation_number()
    entry = company(number, "registered", None)
    # A second signatory who reads English: both languages of the mail are checked.
    entry["contacts"].append(
        {"name": "Sigurd Signer", "email": f"signer@ekte{number}.example", "roles": ["signatory"], "language": "en"}
    )
    import_registry(devhost, tmp_path, entry)
    before = organisation(devhost, number)

    body, planted = attacker_request(number)
    response = httpx.post(f"{devhost.url}/api/registry/contacts", json=body)
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]
    assert organisation(devhost, number) == before, "nothing changes before the confirmation"

    # The attack reproduced: every mail goes to the company's existing signatories, and none carries the requester's
    # text - only the registry's name of the company, its number, the reference and the link.
    asked = {
        f"sign@ekte{number}.example": "Bekreft nye kontaktpersoner",
        f"signer@ekte{number}.example": "Confirm new contacts",
    }
    mails = {address: mails_to(devhost, reference, address, subject) for address, subject in asked.items()}
    assert all(len(found) == 1 for found in mails.values()), mails
    assert {str(m["To"]) for m in outbox_mails(devhost, reference)} == set(asked), "nobody else is mailed"
    for [mail] in mails.values():
        for part, text in (("subject", str(mail["Subject"])), ("text", plain(mail)), ("html", html(mail))):
            assert "Ekte Forsikring AS" in text, part
            for typed in planted:
                assert typed not in text, (part, typed)
        assert number in plain(mail) and reference in plain(mail) and number in html(mail)
        assert LINK.search(plain(mail)) and LINK.search(html(mail))

    # The link's page shows the requested change, escaped; opening it changes nothing.
    [nb_mail] = mails[f"sign@ekte{number}.example"]
    found = LINK.search(plain(nb_mail))
    assert found
    link = found.group(0)
    page = httpx.get(link)
    assert page.status_code == 200 and "<form" in page.text
    for contact in body["contacts"]:
        assert contact["email"] in page.text and contact["phone"] in page.text
    assert "<script>" not in page.text and "<b>Ring" not in page.text, "the requester's markup is not rendered"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "&lt;b&gt;Ring signatory" in page.text
    assert body["email"] in page.text, "the confirmer sees who asked"
    assert organisation(devhost, number) == before, "opening the link changes nothing"

    # Confirming still applies it, once.
    confirmed = httpx.post(link)
    assert confirmed.status_code == 200 and "kontaktpersonene er endret" in confirmed.text
    after = organisation(devhost, number)
    assert {c["email"] for c in after["contacts"]} == {c["email"] for c in body["contacts"]}
    assert case_json(devhost, reference)["case"]["status"] == "closed"
    assert "Allerede behandlet" in httpx.post(link).text
    assert organisation(devhost, number) == after
