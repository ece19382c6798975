"""Driven by the process catalogue: every public form that opens a case, sent by someone who is no registered
contact of the company, reaches Bits - at once when the process never holds a case back (breaches, registrations),
else only once the sender has followed the confirmation link. A new process's form is covered without a new test."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from functions.catalogue import CATALOGUE
from functions.core.cases import CaseIntake
from functions.core.forms import WebForm
from functions.core.model import CaseStatus
from tests.conftest import DevHostProcess
from tests.e2e.helpers import case_json, dispatch, new_organisation_number, outbox_mails

PUBLIC_FORMS = [(declared.name, form) for declared, form in CATALOGUE.forms if form.intake is not None]
BITS_PEOPLE = {"support@bits.example", "sikkerhet@bits.example"}


def stranger_body(form: WebForm) -> tuple[dict[str, Any], str]:
    """The form's example, sent from an address no registry knows (a new company for a registration)."""
    assert form.example is not None, f"the {form.template} form declares no example body"
    address = f"ukjent-{uuid.uuid4().hex[:8]}@annen-leverandor.example"
    body = {**form.example, "email": address}
    if "contacts" in body:  # a registration: a company and people nobody knows yet; its first contact submits
        number = new_organisation_number()
        body = {**form.example, "organisation_number": number}
        body["contacts"] = [{**c, "email": f"{c['role']}-{number}@annen-leverandor.example"} for c in body["contacts"]]
        address = body["contacts"][0]["email"]
    return body, address


def notices_to_bits(host: DevHostProcess, reference: str) -> list[str]:
    dispatch(host)
    return [str(m["To"]) for m in outbox_mails(host, reference) if str(m["To"]) in BITS_PEOPLE]


def test_every_process_with_a_public_form_is_covered() -> None:
    covered = {name for name, _ in PUBLIC_FORMS}
    assert {"questions", "incidents", "changes", "onboarding"} <= covered, covered


@pytest.mark.parametrize(("process", "form"), PUBLIC_FORMS, ids=[f"{n}-{f.template}" for n, f in PUBLIC_FORMS])
def test_an_unregistered_sender_reaches_bits(devhost: DevHostProcess, process: str, form: WebForm) -> None:
    intake = form.intake
    assert isinstance(intake, CaseIntake)
    body, address = stranger_body(form)
    response = httpx.post(f"{devhost.url}/api/{form.route}", json=body)
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]
    case = case_json(devhost, reference)["case"]
    assert case["submitter_verified"] is False

    if not intake.hold_unverified:
        assert case["status"] == intake.initial_status
        assert notices_to_bits(devhost, reference), "Bits is told at once"
        return

    assert case["status"] == CaseStatus.AWAITING_CONFIRMATION
    dispatch(devhost)
    [request] = [m for m in outbox_mails(devhost, reference) if str(m["To"]) == address]
    assert not notices_to_bits(devhost, reference), "nothing reaches Bits before the sender has confirmed"
    text = request.get_body(("plain",))
    assert text is not None
    link = re.search(r"(http://\S+/api/confirm\?t=[\w.\-~%]+)", text.get_content())
    assert link, text.get_content()
    shown = httpx.get(link.group(1))
    assert shown.status_code == 200 and "<form" in shown.text, (
        "GET only shows the button (link previews confirm nothing)"
    )
    assert case_json(devhost, reference)["case"]["status"] == CaseStatus.AWAITING_CONFIRMATION
    confirmed = httpx.post(link.group(1))
    assert confirmed.status_code == 200, confirmed.text
    assert reference in confirmed.text
    after = case_json(devhost, reference)
    assert after["case"]["status"] == intake.initial_status
    assert "submitter_confirmed" in [e["kind"] for e in after["events"]]
    assert notices_to_bits(devhost, reference), "the case reached Bits once confirmed"
    receipts = [m for m in outbox_mails(devhost, reference) if str(m["To"]) == address]
    assert len(receipts) == 2, "the confirmation request, then the receipt"
