"""Bad input gets a clear error in the user's language and changes nothing; faults give 503 and nothing half-written."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from functions.devhost.azurite import Azurite, start_azurite
from tests.conftest import DevHostProcess, load_demo_registry, start_devhost
from tests.e2e.helpers import QUESTION, form_token, sign_in


def case_count(host: DevHostProcess) -> int:
    return len(httpx.get(f"{host.url}/api/cases", params={"process": "D"}, headers=sign_in(host)).json()["cases"])


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"organisation_number": "123456789"}, "organisation_number", "kontrollsiffer"),
        ({"email": "not-an-address"}, "email", "gyldig e-postadresse"),
        ({"service": "sykepenger"}, "service", "Velg et av alternativene"),
        ({"subject": "Hei\r\nBcc: victim@example.com"}, "subject", "én linje"),
        ({"question": "x" * 10_001}, "question", "høyst 10000 tegn"),
        ({"unexpected": "field"}, "unexpected", "Ukjent felt"),
    ],
)
def test_wrong_json_fields_get_422_with_a_message_per_field(
    devhost: DevHostProcess, change: dict[str, str], field: str, message: str
) -> None:
    before = case_count(devhost)
    response = httpx.post(f"{devhost.url}/api/questions", json={**QUESTION, **change})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert message in errors[field]
    assert case_count(devhost) == before


def test_missing_fields_are_named_in_english_on_request(devhost: DevHostProcess) -> None:
    response = httpx.post(f"{devhost.url}/api/questions", json={"language": "en", "name": "A"})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors["email"] == "Please fill in this field."
    assert {"organisation_number", "subject", "question", "service", "environment", "category"} <= set(errors)


def test_broken_bodies(devhost: DevHostProcess) -> None:
    before = case_count(devhost)
    url = f"{devhost.url}/api/questions"
    headers = {"content-type": "application/json"}
    assert httpx.post(url, content=b"{not json", headers=headers).status_code == 400
    assert httpx.post(url, content=b"[1, 2]", headers=headers).status_code == 400
    assert httpx.post(url, content=b"\xff\xfe", headers=headers).status_code == 400
    assert httpx.post(url, content=b"<q/>", headers={"content-type": "application/xml"}).status_code == 415
    assert httpx.post(url, content=b"a=b").status_code == 415  # no content type at all
    too_big = httpx.post(url, json={**QUESTION, "question": "x" * 1_100_000})
    assert too_big.status_code == 413 and "for stort" in too_big.json()["message"]
    broken_multipart = httpx.post(
        url, content=b"--x\r\nContent-Disposition: form-da", headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert broken_multipart.status_code in (400, 403)
    assert case_count(devhost) == before


def test_browser_post_without_csrf_token_is_refused_and_keeps_values(devhost: DevHostProcess) -> None:
    before = case_count(devhost)
    response = httpx.post(f"{devhost.url}/api/questions", data=QUESTION)
    assert response.status_code == 403
    assert "utløpt" in response.text
    assert 'value="Frida Fagerli"' in response.text, "what the person typed is kept"
    assert case_count(devhost) == before


def test_honeypot_filled_in_is_rejected(devhost: DevHostProcess) -> None:
    before = case_count(devhost)
    with httpx.Client() as client:
        token = form_token(client, devhost.url)
        response = client.post(
            f"{devhost.url}/api/questions", data={**QUESTION, "csrf_token": token, "website": "http://spam.example"}
        )
    assert response.status_code == 400
    assert case_count(devhost) == before


def test_form_errors_stand_next_to_their_fields(devhost: DevHostProcess) -> None:
    with httpx.Client() as client:
        token = form_token(client, devhost.url)
        response = client.post(
            f"{devhost.url}/api/questions",
            data={**QUESTION, "organisation_number": "310000018", "csrf_token": token, "website": ""},
        )
    assert response.status_code == 422
    html = response.text
    # The message after its hidden "Feil:" (read out with it), in the element the field's aria-describedby names.
    assert re.search(
        r'id="organisation_number-error">(<span class="visually-hidden">Feil: </span>)?[^<]*kontrollsiffer', html
    )
    assert 'aria-invalid="true"' in html and 'value="310000018"' in html


def test_script_in_text_is_stored_as_text_and_escaped_on_pages(devhost: DevHostProcess) -> None:
    hostile = {**QUESTION, "subject": "<script>alert(1)</script> hjelp", "question": "<img src=x onerror=alert(1)>"}
    response = httpx.post(f"{devhost.url}/api/questions", json=hostile)
    assert response.status_code == 201
    page = httpx.get(response.json()["case_url"])
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; hjelp" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


@pytest.fixture
def fragile_storage(tmp_path: Path) -> Azurite:
    """An Azurite of its own, with data on disk, that a test may stop and start again."""
    return start_azurite(location=tmp_path / "azurite")


def test_storage_unreachable_gives_503_and_nothing_half_written(fragile_storage: Azurite, tmp_path: Path) -> None:
    host = start_devhost(tmp_path, {"SSU_STORAGE_CONNECTION_STRING": fragile_storage.connection_string})
    try:
        load_demo_registry(host.env)
        first = httpx.post(f"{host.url}/api/questions", json=QUESTION, timeout=60)
        assert first.status_code == 201
        fragile_storage.stop()
        down = httpx.post(f"{host.url}/api/questions", json=QUESTION, timeout=60)
        assert down.status_code == 503
        assert down.headers["retry-after"] == "30"
        # Never "nothing was stored": a write that timed out may commit later (tests/reliability/).
        assert "Vi fikk ikke bekreftet at saken ble lagret" in down.json()["message"]
        assert httpx.get(f"{host.url}/api/health", timeout=60).status_code == 503
        with httpx.Client(timeout=60) as client:
            form_down = client.post(f"{host.url}/api/questions", data=QUESTION)
        assert form_down.status_code in (403, 503)
        restarted = start_azurite(
            location=tmp_path / "azurite", table_port=fragile_storage.table_port, blob_port=fragile_storage.blob_port
        )
        try:
            cases = httpx.get(
                f"{host.url}/api/cases", params={"process": "D"}, headers=sign_in(host), timeout=60
            ).json()["cases"]
            assert [c["reference"] for c in cases] == [first.json()["reference"]]
            again = httpx.post(f"{host.url}/api/questions", json=QUESTION, timeout=60)
            assert again.status_code == 201
            # The failed submission used no number: references stay gapless.
            assert int(again.json()["reference"][-4:]) == int(first.json()["reference"][-4:]) + 1
        finally:
            restarted.stop()
    finally:
        host.stop()
        fragile_storage.stop()
