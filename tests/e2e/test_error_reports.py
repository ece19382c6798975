"""Process C, error reports, through the dev host: report, triage by Bits' reply, the source's answer, resolution."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import DevHostProcess
from tests.e2e.helpers import (
    REPORT,
    REPORTER,
    as_contact,
    case_json,
    dispatch,
    drop,
    kinds,
    mails_to,
    outbox_mails,
    plain,
    poll,
    reply,
    sign_in,
)


def test_report_forward_answer_and_resolve(devhost: DevHostProcess) -> None:
    reference = as_contact(devhost, "incidents", REPORT)  # from a browser that has confirmed the address before
    assert reference.startswith("SSU-C-")
    [ack] = mails_to(devhost, reference, REPORTER)
    assert "Vi har mottatt feilmeldingen din" in str(ack["Subject"])
    [notice] = mails_to(devhost, reference, "support@bits.example")
    assert "VIDERESEND NAV" in plain(notice)

    reply(devhost, notice, "VIDERESEND NAV\nHaster: produksjon.")
    assert case_json(devhost, reference)["case"]["status"] == "forwarded"
    [forward] = mails_to(devhost, reference, "drift@nav.example")
    body = plain(forward)
    assert "Siden 09:40 svarer alle kall med 500." in body and "7f3c2a10" in body and "Haster: produksjon." in body
    assert "Tore Teknisk" not in forward.as_string() and REPORTER not in forward.as_string()
    told = mails_to(devhost, reference, REPORTER)
    assert any("sendt videre" in str(m["Subject"]) for m in told)

    reply(
        devhost,
        forward,
        "Vi har rullet tilbake versjonen. Feilen skal være borte.",
        sender="NAV drift <drift@nav.example>",
    )
    events = case_json(devhost, reference)["events"]
    assert events[-1]["kind"] == "message" and events[-1]["actor"] == "drift@nav.example"
    assert any("Ny melding i saken" in str(m["Subject"]) for m in mails_to(devhost, reference, "support@bits.example"))

    reply(devhost, notice, "SPØRSMÅL\nSer dere fortsatt feilen?")
    assert case_json(devhost, reference)["case"]["status"] == "waiting_for_reporter"
    assert any("Spørsmål fra Bits" in str(m["Subject"]) for m in mails_to(devhost, reference, REPORTER))

    reply(devhost, notice, "Notat: NAV bekreftet på telefon.")
    assert kinds(devhost, reference)[-1] == "note"

    reply(devhost, notice, "LØST\nNAV har rettet feilen.")
    stored = case_json(devhost, reference)
    assert stored["case"]["status"] == "closed"
    assert next(e for e in stored["events"] if e["kind"] == "note")["public"] is False
    resolved = [m for m in mails_to(devhost, reference, REPORTER) if "Feilen er løst" in str(m["Subject"])]
    assert len(resolved) == 1 and "NAV har rettet feilen." in plain(resolved[0])


def test_bad_error_reports_get_clear_errors_and_change_nothing(devhost: DevHostProcess) -> None:
    before = len(
        httpx.get(f"{devhost.url}/api/cases", params={"process": "C"}, headers=sign_in(devhost)).json()["cases"]
    )
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"occurred_at": "2099-01-01T10:00:00+01:00"}, "occurred_at", "frem i tid"),
        ({"component": "sykepenger-api"}, "component", "Velg et av alternativene"),
        ({"description": "x" * 20_000}, "description", "høyst 10000 tegn"),
        ({"http_status": 999}, "http_status", "høyst 599"),
        ({"correlation_id": "<script>"}, "correlation_id", "Ugyldige tegn"),
    ]
    for change, field, message in cases:
        response = httpx.post(f"{devhost.url}/api/incidents", json={**REPORT, **change})
        assert response.status_code == 422, response.text
        assert message in response.json()["errors"][field]
    assert (
        len(httpx.get(f"{devhost.url}/api/cases", params={"process": "C"}, headers=sign_in(devhost)).json()["cases"])
        == before
    )


def test_identity_number_in_a_report_is_masked(devhost: DevHostProcess) -> None:
    response = httpx.post(f"{devhost.url}/api/incidents", json={**REPORT, "description": "Kunde 17050544052 feiler."})
    assert response.status_code == 201 and response.json()["identity_numbers_removed"] == 1
    reference = response.json()["reference"]
    assert "17050544052" not in str(case_json(devhost, reference))
    dispatch(devhost)
    assert all("17050544052" not in m.as_string() for m in outbox_mails(devhost, reference))


def test_the_error_report_form_renders_in_both_languages(devhost: DevHostProcess) -> None:
    nb = httpx.get(f"{devhost.url}/api/incidents")
    assert nb.status_code == 200 and "Meld en feil til Bits" in nb.text and 'type="datetime-local"' in nb.text
    assert "Report an error to Bits" in httpx.get(f"{devhost.url}/api/incidents?lang=en").text


def test_an_emailed_report_is_forwarded_without_the_reporters_name(devhost: DevHostProcess) -> None:
    from tests.e2e.helpers import cases_by_message

    raw_name = drop(devhost, "gmail_en_error.eml", as_name="forward-me.eml")
    raw = (devhost.mail_dir / "inbox" / raw_name).read_bytes().replace(b"<CAF=3Dk2xYt7q@", b"<forward-me@")
    (devhost.mail_dir / "inbox" / raw_name).write_bytes(raw)
    poll(devhost)
    reference = cases_by_message(devhost)["<forward-me@mail.gmail.com>"]["case"]["reference"]
    [notice] = mails_to(devhost, reference, "support@bits.example")
    reply(devhost, notice, "FORWARD NAV")
    [forward] = mails_to(devhost, reference, "drift@nav.example")
    text = plain(forward)
    assert "HTTP 500" in text and "7f3c2a10" in text
    assert "Tess" not in forward.as_string() and "teknisk@test-pensjon.example" not in forward.as_string()
