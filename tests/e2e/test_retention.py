"""Retention through the dev host and its clock: a question closed by Bits keeps its personal data until its period
has passed (a day before, the nightly timer changes nothing), and after it the case page and the JSON export show the
skeleton - reference, process, dates, states and the staff member who decided - and no name, address, phone or text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from functions.core.settings import Settings
from functions.devhost.azurite import Azurite
from tests.conftest import DevHostProcess, load_demo_registry, start_devhost
from tests.e2e.helpers import QUESTION, as_contact, case_json, dispatch, mails_to, reply, sign_in
from tests.e2e.test_workspace_case import text_of

BITS = "support@bits.example"
PHONE = "41234567"
DAYS = Settings().retention_days["D"]


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHostProcess]:
    """A dev host of its own: this test moves its clock."""
    started = start_devhost(
        tmp_path_factory.mktemp("retention"), {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string}
    )
    load_demo_registry(started.env)
    yield started
    started.stop()


def export(host: DevHostProcess, reference: str) -> httpx.Response:
    return httpx.get(f"{host.url}/api/bits/cases/{reference}/export", headers=sign_in(host, BITS))


def sweep(host: DevHostProcess) -> None:
    response = httpx.post(f"{host.url}/admin/functions/retention_sweep", json={"input": ""}, timeout=120)
    assert response.status_code == 202, response.text


def page(host: DevHostProcess, reference: str) -> str:
    response = httpx.get(f"{host.url}/api/bits/cases/{reference}", headers=sign_in(host, BITS))
    assert response.status_code == 200, response.text
    return text_of(response.text)


def test_a_closed_question_is_erased_after_its_period_and_not_a_day_before(host: DevHostProcess) -> None:
    subject = f"Uføregrad og IFU {uuid.uuid4().hex[:6]}"
    text = f"Ring meg gjerne på {PHONE} om dette, hilsen {QUESTION['name']}."
    reference = as_contact(host, "questions", {**QUESTION, "subject": subject, "question": text})
    [notice] = mails_to(host, reference, BITS, "Nytt spørsmål")
    reply(host, notice, "LØST\nBesvart på telefon.")
    assert case_json(host, reference)["case"]["status"] == "closed"
    dispatch(host)  # the closing mail goes, as the outbox timer sends it
    personal = (QUESTION["name"], QUESTION["email"], PHONE, subject, "Besvart på telefon")

    kept = export(host, reference)
    assert kept.status_code == 200 and kept.headers["content-type"].startswith("application/json")
    assert kept.headers["content-disposition"] == f'attachment; filename="{reference}.json"'
    assert all(p in kept.text for p in personal), "before: the export has everything"
    token = re.search(r"ssu\+(\w+)@", str(notice["Reply-To"]))
    assert token and token.group(1) not in kept.text, "a decision token is a credential: never exported"
    assert (
        f'href="/api/bits/cases/{reference}/export"'
        in httpx.get(f"{host.url}/api/bits/cases/{reference}", headers=sign_in(host, BITS)).text
    ), "the case page links to its export"

    try:
        httpx.post(f"{host.url}/admin/clock", json={"advance_days": DAYS - 1})
        sweep(host)
        assert all(p in export(host, reference).text for p in personal), "a day before the period: nothing erased"

        httpx.post(f"{host.url}/admin/clock", json={"advance_days": 2})
        sweep(host)
        erased = export(host, reference)
        assert erased.status_code == 200
        body = erased.json()
        seen = page(host, reference)
        for p in personal:
            assert p not in erased.text, p
            assert p not in seen, p
        case = body["case"]
        assert (case["reference"], case["process"], case["status"]) == (reference, "D", "closed")
        assert case["created_at"] and case["updated_at"] and case["details"]["personal_data_erased_at"]
        kinds = [e["kind"] for e in body["events"]]
        assert kinds[0] == "received" and "resolved" in kinds and kinds[-1] == "personal_data_erased"
        [resolved] = [e for e in body["events"] if e["kind"] == "resolved"]
        assert resolved["actor"] == BITS and resolved["data"]["reply"]["command"] == "resolve", "who decided stays"
        assert {m["to"] for m in body["mails"]} == {"[slettet]"} and {m["status"] for m in body["mails"]} == {"sent"}
        assert reference in seen and "Bits brukerstøtte" in seen and "avsluttet" in seen.lower()

        httpx.post(f"{host.url}/admin/clock", json={"advance_days": 1})
        sweep(host)
        again = export(host, reference).json()
        assert (again["case"], again["events"]) == (body["case"], body["events"]), "the next night changes nothing"
    finally:
        httpx.post(f"{host.url}/admin/clock", json={"reset": True})


def test_the_export_is_for_signed_in_staff_only(host: DevHostProcess) -> None:
    anonymous = httpx.get(f"{host.url}/api/bits/cases/SSU-D-2026-0001/export")
    assert anonymous.status_code == 401
    missing = httpx.get(f"{host.url}/api/bits/cases/SSU-D-2026-9999/export", headers=sign_in(host, BITS))
    assert missing.status_code == 404
