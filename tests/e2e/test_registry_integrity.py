"""An anonymous registration cannot rewrite a company's registry entry nor claim a number: for a company the registry
knows, nothing in the entry changes until one of its existing contacts confirms (a signed link) or Bits accepts; for
one it does not know, nothing is written before Bits accepts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from functions.devhost.azurite import PROJECT_ROOT
from tests.conftest import DevHostProcess
from tests.e2e.helpers import (
    case_json,
    confirm_address,
    dispatch,
    in_registry,
    mails_to,
    new_organisation_number,
    organisation,
    outbox_mails,
    plain,
    reply,
)

BITS = "support@bits.example"
LINK = re.compile(r"https?://\S+/api/registry/contacts/confirm\?k=\S+")


def company(number: str, status: str, onboarding: str | None, *, signatory: bool = True) -> dict[str, Any]:
    """A company as an import file (or an earlier onboarding) left it: not connected, with its own contacts."""
    domain = f"ekte{number}.example"
    contacts = [
        {"name": "Frida Fag", "email": f"fag@{domain}", "roles": ["business"], "language": "nb"},
        {"name": "Tore Tek", "email": f"tek@{domain}", "roles": ["technical", "security"], "language": "nb"},
    ]
    if signatory:
        contacts.append({"name": "Signe Signatar", "email": f"sign@{domain}", "roles": ["signatory"], "language": "nb"})
    entry: dict[str, Any] = {
        "organisation_number": number,
        "legal_name": "Ekte Forsikring AS",
        "status": status,
        "services": ["ufore"],
        "environments": [],
        "contacts": contacts,
    }
    if onboarding:
        entry["onboarding"] = onboarding
    return entry


def import_registry(host: DevHostProcess, tmp_path: Path, *entries: dict[str, Any]) -> None:
    """`python -m functions.registry_import`, as Bits loads a registry."""
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"organisations": list(entries)}), encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "functions.registry_import", str(path)],
        cwd=PROJECT_ROOT,
        env=host.env,
        check=True,
        capture_output=True,
    )


def attacker_registration(number: str) -> dict[str, Any]:
    """What an attacker posts to take a company over: their own people in every role."""
    evil = "angriper.example"
    return {
        "organisation_number": number,
        "legal_name": "Ekte Forsikring AS (ny ledelse) - ring +47 99 99 99 99",
        "contacts": [
            {"role": "business", "name": "Eve Angriper", "email": f"eve@{evil}", "phone": "+47 99 00 00 01"},
            {"role": "technical", "name": "Eve Angriper", "email": f"eve@{evil}", "phone": "+47 99 00 00 01"},
            {"role": "security", "name": "Mallory", "email": f"mallory@{evil}", "phone": "+47 99 00 00 02"},
            {"role": "signatory", "name": "Mallory", "email": f"mallory@{evil}", "phone": "+47 99 00 00 02"},
        ],
        "services": ["ufore", "aap"],
        "finans_norge_member": True,
        "desired_go_live": "2027-03-01",
        "comments": "Klikk her: https://evil.example/login",
    }


def register(host: DevHostProcess, body: dict[str, Any]) -> str:
    response = httpx.post(f"{host.url}/api/onboarding/registration", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["reference"])


def one(host: DevHostProcess, reference: str, address: str, subject: str = "") -> EmailMessage:
    found = mails_to(host, reference, address, subject)
    assert len(found) == 1, [(str(m["To"]), str(m["Subject"])) for m in outbox_mails(host, reference)]
    return found[0]


def confirmation_link(host: DevHostProcess, reference: str, address: str) -> str:
    found = LINK.search(plain(one(host, reference, address, "Bekreft en innmelding")))
    assert found, "the mail carries the link"
    return found.group(0)


@pytest.mark.parametrize(
    ("status", "onboarding"),
    [
        ("rejected", "SSU-A-2025-0101"),
        ("withdrawn", "SSU-A-2025-0102"),
        ("offboarded", "SSU-A-2025-0103"),
        ("registered", None),  # imported without an onboarding
    ],
)
def test_a_registration_for_a_known_company_changes_nothing_until_an_existing_contact_confirms(
    devhost: DevHostProcess, tmp_path: Path, status: str, onboarding: str | None
) -> None:
    number = new_organisation_number()
    import_registry(devhost, tmp_path, company(number, status, onboarding))
    before = organisation(devhost, number)

    reference = register(devhost, attacker_registration(number))
    assert case_json(devhost, reference)["case"]["status"] == "awaiting_contact_confirmation"
    assert organisation(devhost, number) == before, "the attack reproduced: the entry is untouched"

    # The existing signatory is asked, in a neutral mail: nothing the attacker typed is relayed through Bits.
    signatory = f"sign@ekte{number}.example"
    asked = one(devhost, reference, signatory, "Bekreft en innmelding")
    text = plain(asked) + str(asked["Subject"])
    assert "Ekte Forsikring AS" in text and number in text
    for typed in ("ny ledelse", "+47 99", "evil.example", "Angriper", "Mallory", "angriper.example"):
        assert typed not in text, typed
    assert not any(LINK.search(plain(m)) for m in outbox_mails(devhost, reference) if "angriper" in str(m["To"]))
    notice = one(devhost, reference, BITS, "Ny innmelding")
    assert "finnes allerede i registeret" in plain(notice) and signatory in plain(notice)

    # The registrant proving their own address does not vouch for the company.
    confirm_address(devhost, reference, "eve@angriper.example")
    assert organisation(devhost, number) == before

    link = confirmation_link(devhost, reference, signatory)
    shown = httpx.get(link)
    assert shown.status_code == 200 and "eve@angriper.example" in shown.text and "<form" in shown.text
    assert httpx.post(link.replace("k=", "k=x")).status_code == 400, "a forged link"
    assert organisation(devhost, number) == before, "opening or forging the link changes nothing"

    confirmed = httpx.post(link)
    assert confirmed.status_code == 200 and "innmeldingen er bekreftet" in confirmed.text
    after = organisation(devhost, number)
    assert (after["status"], after["onboarding"]) == ("registered", reference)
    assert {c["email"] for c in after["contacts"]} == {"eve@angriper.example", "mallory@angriper.example"}
    assert case_json(devhost, reference)["case"]["details"]["confirmed_by"] == signatory

    replayed = httpx.post(link)
    assert replayed.status_code == 200 and "Allerede behandlet" in replayed.text
    assert organisation(devhost, number) == after, "a replayed link changes nothing more"
    kinds = [e["kind"] for e in case_json(devhost, reference)["events"]]
    assert kinds.count("registration_confirmed") == 1


def test_bits_may_accept_in_the_contacts_place_and_their_link_then_changes_nothing(
    devhost: DevHostProcess, tmp_path: Path
) -> None:
    number = new_organisation_number()
    import_registry(devhost, tmp_path, company(number, "offboarded", "SSU-A-2025-0104"))
    before = organisation(devhost, number)
    body = attacker_registration(number)
    reference = register(devhost, body)
    notice = one(devhost, reference, BITS, "Ny innmelding")
    reply(devhost, notice, "SPØRSMÅL\nHvem er dere?")  # a question decides nothing
    assert organisation(devhost, number) == before
    reply(devhost, notice, "GODKJENT")
    assert case_json(devhost, reference)["case"]["status"] == "accepted"
    accepted = organisation(devhost, number)
    assert (accepted["status"], accepted["onboarding"]) == ("accepted", reference), "Bits vouched for it"
    assert {c["email"] for c in accepted["contacts"]} == {"eve@angriper.example", "mallory@angriper.example"}

    link = confirmation_link(devhost, reference, f"sign@ekte{number}.example")
    assert "Allerede behandlet" in httpx.post(link).text
    assert organisation(devhost, number) == accepted


def test_bits_rejecting_it_leaves_the_entry_as_it_was(devhost: DevHostProcess, tmp_path: Path) -> None:
    number = new_organisation_number()
    import_registry(devhost, tmp_path, company(number, "withdrawn", "SSU-A-2025-0105"))
    before = organisation(devhost, number)
    reference = register(devhost, attacker_registration(number))
    reply(devhost, one(devhost, reference, BITS, "Ny innmelding"), "AVSLÅTT\nUkjent avsender.")
    assert case_json(devhost, reference)["case"]["status"] == "rejected"
    assert organisation(devhost, number) == before
    link = confirmation_link(devhost, reference, f"sign@ekte{number}.example")
    assert "Allerede behandlet" in httpx.post(link).text, "the company's contact comes too late: nothing changes"
    assert organisation(devhost, number) == before


def test_a_link_used_by_someone_who_is_no_longer_a_contact_changes_nothing(
    devhost: DevHostProcess, tmp_path: Path
) -> None:
    number = new_organisation_number()
    import_registry(devhost, tmp_path, company(number, "registered", None))
    reference = register(devhost, attacker_registration(number))
    link = confirmation_link(devhost, reference, f"sign@ekte{number}.example")
    import_registry(devhost, tmp_path, company(number, "registered", None, signatory=False))  # the signatory left
    before = organisation(devhost, number)
    assert httpx.get(link).status_code == 400
    refused = httpx.post(link)
    assert refused.status_code == 400 and "ikke lenger kontaktperson" in refused.text
    assert organisation(devhost, number) == before
    assert case_json(devhost, reference)["case"]["status"] == "awaiting_contact_confirmation"


def test_a_company_rejected_through_its_own_onboarding_is_not_overwritten(devhost: DevHostProcess) -> None:
    number = new_organisation_number()
    own = attacker_registration(number)
    own["legal_name"] = "Ekte Forsikring AS"
    own["contacts"] = [
        {**c, "email": c["email"].replace("angriper.example", f"ekte{number}.example")} for c in own["contacts"]
    ]
    first = register(devhost, own)
    notice = one(devhost, first, BITS, "Ny innmelding")
    reply(devhost, notice, "GODKJENT")
    reply(devhost, notice, "AVSLÅTT\nAvtalen ble ikke signert.")
    before = organisation(devhost, number)
    assert (before["status"], before["onboarding"]) == ("rejected", first)

    reference = register(devhost, attacker_registration(number))
    assert case_json(devhost, reference)["case"]["status"] == "awaiting_contact_confirmation"
    dispatch(devhost)
    assert organisation(devhost, number) == before
    assert one(devhost, reference, f"mallory@ekte{number}.example", "Bekreft en innmelding"), "the signatory is asked"


def test_squatting_a_number_writes_nothing_and_blocks_no_one(devhost: DevHostProcess) -> None:
    number = new_organisation_number()
    squatter = register(devhost, attacker_registration(number))
    assert case_json(devhost, squatter)["case"]["status"] == "registered"
    assert not in_registry(devhost, number), "a registration nobody vouched for writes nothing"
    assert "ikke i registeret" in plain(one(devhost, squatter, BITS, "Ny innmelding"))

    # The real company registers too; the squatter's pending case does not stand in its way.
    real = attacker_registration(number)
    real["legal_name"] = "Ekte Forsikring AS"
    real["contacts"] = [{**c, "email": c["email"].replace("angriper", "ekte")} for c in real["contacts"]]
    company_case = register(devhost, real)
    assert company_case != squatter and not in_registry(devhost, number)

    reply(devhost, one(devhost, company_case, BITS, "Ny innmelding"), "GODKJENT")
    entry = organisation(devhost, number)
    assert entry["onboarding"] == company_case and entry["legal_name"] == "Ekte Forsikring AS"
    # Bits approving the squatter afterwards is refused: the entry is the company's.
    reply(devhost, one(devhost, squatter, BITS, "Ny innmelding"), "GODKJENT")
    assert case_json(devhost, squatter)["case"]["status"] == "registered"
    assert organisation(devhost, number) == entry
