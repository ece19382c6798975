"""Process D through the dev host: forms and JSON in, a case in Azurite, emails out through the outbox."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx

from tests.conftest import DevHostProcess
from tests.e2e.helpers import (
    QUESTION,
    as_contact,
    case_json,
    confirm_address,
    dispatch,
    form_token,
    outbox_mails,
    remembered,
    sign_in,
)


def assert_acknowledged(host: DevHostProcess, reference: str, submitter: str) -> None:
    dispatch(host)
    mails = outbox_mails(host, reference)
    by_recipient = {str(m["To"]): m for m in mails}
    assert set(by_recipient) == {submitter, "support@bits.example"}
    ack = by_recipient[submitter]
    assert f"[{reference}]" in str(ack["Subject"])
    assert ack["Message-ID"].startswith(f"<{reference}.")
    assert ack["Auto-Submitted"] == "auto-generated"
    assert ack["X-Auto-Response-Suppress"] == "All"
    assert "spørsmålet" in str(ack["Subject"])
    bits = by_recipient["support@bits.example"]
    assert f"[{reference}]" in str(bits["Subject"]) and "Nytt spørsmål" in str(bits["Subject"])
    body = bits.get_body(("plain",))
    assert body is not None and QUESTION["question"] in body.get_content()
    states = {m["to"]: m["status"] for m in case_json(host, reference)["mails"]}
    assert states == {submitter: "sent", "support@bits.example": "sent"}


def test_question_as_form_gives_case_event_and_emails(devhost: DevHostProcess) -> None:
    with httpx.Client() as client:
        token = form_token(client, devhost.url)
        # The asker confirmed her address from this browser before: her question goes on at once, as hers.
        client.cookies.set("ssu_address", remembered(devhost, QUESTION["email"]))
        response = client.post(f"{devhost.url}/api/questions", data={**QUESTION, "csrf_token": token, "website": ""})
        assert response.status_code == 303
        receipt = client.get(response.headers["location"])
    assert receipt.status_code == 200
    reference = re.search(r'<span id="reference">([^<]+)</span>', receipt.text)
    assert reference, receipt.text
    ref = reference.group(1)
    assert re.fullmatch(r"SSU-D-\d{4}-\d{4}", ref)
    stored = case_json(devhost, ref)
    assert stored["case"]["status"] == "new" and stored["case"]["submitter_verified"] is True
    assert [e["kind"] for e in stored["events"]] == ["received"]
    assert stored["events"][0]["channel"] == "form"
    assert stored["events"][0]["data"]["question"] == QUESTION["question"]
    assert_acknowledged(devhost, ref, QUESTION["email"])


def test_question_as_json_gives_201_and_emails(devhost: DevHostProcess) -> None:
    response = httpx.post(f"{devhost.url}/api/questions", json={**QUESTION, "language": "en"})
    assert response.status_code == 201, response.text
    body = response.json()
    ref = body["reference"]
    # A JSON client has no remembered address: even a registered contact's confirms by the link first.
    assert body["status"] == "awaiting_confirmation" and response.headers["location"] == body["case_url"]
    stored = case_json(devhost, ref)
    assert stored["events"][0]["channel"] == "api" and stored["case"]["language"] == "en"
    confirm_address(devhost, ref, QUESTION["email"], "confirm your email address")
    assert case_json(devhost, ref)["case"]["status"] == "new"
    dispatch(devhost)
    ack = next(
        m for m in outbox_mails(devhost, ref) if str(m["To"]) == QUESTION["email"] and "received" in str(m["Subject"])
    )
    assert "We have received your question" in str(ack["Subject"])


def test_fifty_parallel_submissions_get_fifty_references(devhost: DevHostProcess) -> None:
    async def submit_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            posts = [
                client.post(f"{devhost.url}/api/questions", json={**QUESTION, "subject": f"Parallell {i:02d}"})
                for i in range(50)
            ]
            return await asyncio.gather(*posts)

    responses = asyncio.run(submit_all())
    assert [r.status_code for r in responses] == [201] * 50
    references = {r.json()["reference"] for r in responses}
    assert len(references) == 50
    listed = httpx.get(f"{devhost.url}/api/cases", params={"process": "D"}, headers=sign_in(devhost)).json()["cases"]
    assert references <= {c["reference"] for c in listed}
    dispatch(devhost)
    acks = [m for ref in references for m in outbox_mails(devhost, ref) if str(m["To"]) == QUESTION["email"]]
    assert len(acks) == 50


def test_unknown_submitter_must_confirm_before_bits_hears(devhost: DevHostProcess) -> None:
    stranger = {**QUESTION, "email": "ukjent@annet-selskap.example", "name": "Ukjent Person"}
    response = httpx.post(f"{devhost.url}/api/questions", json=stranger)
    assert response.status_code == 201
    ref = response.json()["reference"]
    assert response.json()["status"] == "awaiting_confirmation"
    dispatch(devhost)
    mails = outbox_mails(devhost, ref)
    assert [str(m["To"]) for m in mails] == [stranger["email"]], "only the confirmation request, Bits not yet"
    body = mails[0].get_body(("plain",))
    assert body is not None
    link = re.search(r"(http://\S+/api/confirm\?t=\S+)", body.get_content())
    assert link
    with httpx.Client() as client:
        page = client.get(link.group(1))
        assert page.status_code == 200 and '<form method="post"' in page.text
        assert case_json(devhost, ref)["case"]["status"] == "awaiting_confirmation", "a GET changes nothing"
        confirmed = client.post(link.group(1))
        assert confirmed.status_code == 200 and "bekreftet" in confirmed.text
        again = client.post(link.group(1))
        assert again.status_code == 200 and "allerede bekreftet" in again.text
        forged = client.post(link.group(1)[:-3] + "abc")
        assert forged.status_code == 400
    stored = case_json(devhost, ref)
    assert stored["case"]["status"] == "new"
    assert [e["kind"] for e in stored["events"]] == ["received", "submitter_confirmed"]
    dispatch(devhost)
    recipients = sorted(str(m["To"]) for m in outbox_mails(devhost, ref))
    assert recipients == sorted([stranger["email"], stranger["email"], "support@bits.example"])


def test_case_page_needs_the_signed_link(devhost: DevHostProcess) -> None:
    ref = httpx.post(f"{devhost.url}/api/questions", json=QUESTION).json()["reference"]
    assert httpx.get(f"{devhost.url}/api/case-page/{ref}").status_code == 404
    assert httpx.get(f"{devhost.url}/api/case-page/{ref}?k=forged.token").status_code == 404


def test_health_reports_storage_and_transport(devhost: DevHostProcess) -> None:
    response = httpx.get(f"{devhost.url}/api/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["storage"], body["mail_transport"], body["failing"]) == ("ok", "ok", "local", [])
    assert body["checks"]["mail_transport"] == {"status": "ok", "name": "local"}
    assert body["checks"]["mailbox_poll"] == {"status": "ok", "last_success": "not used (SSU_MAILBOX=local)"}


def test_cases_api_filters_and_rejects_bad_filters(devhost: DevHostProcess) -> None:
    ref = as_contact(devhost, "questions", QUESTION)
    staff = httpx.Client(base_url=devhost.url, headers=sign_in(devhost))
    new = staff.get("/api/cases", params={"process": "D", "status": "new"}).json()["cases"]
    assert ref in {c["reference"] for c in new}
    closed = staff.get("/api/cases", params={"process": "D", "status": "closed"}).json()["cases"]
    assert ref not in {c["reference"] for c in closed}
    assert staff.get("/api/cases", params={"process": "X"}).status_code == 400
    assert staff.get("/api/cases", params={"status": "x' or 1 eq 1"}).status_code == 400
    assert staff.get("/api/cases/SSU-D-1999-9999").status_code == 404
    assert staff.get("/api/cases/not-a-reference").status_code == 404


def test_admin_run_of_unknown_function_is_404(devhost: DevHostProcess) -> None:
    assert httpx.post(f"{devhost.url}/admin/functions/nope").status_code == 404
    assert httpx.post(f"{devhost.url}/admin/functions/questions").status_code == 404


def outbox_files(host: DevHostProcess) -> set[Path]:
    folder = host.mail_dir / "outbox"
    return set(folder.glob("*.eml")) if folder.exists() else set()


def test_question_as_multipart_form_data(devhost: DevHostProcess) -> None:
    with httpx.Client() as client:
        token = form_token(client, devhost.url)
        fields = {**QUESTION, "csrf_token": token, "website": ""}
        # A file part forces multipart/form-data, as a browser sends a form with an upload field.
        response = client.post(
            f"{devhost.url}/api/questions", data=fields, files={"vedlegg": ("logg.txt", b"ingen", "text/plain")}
        )
    assert response.status_code == 303
    reference = response.headers["location"].split("/api/case-page/")[1].split("?")[0]
    assert case_json(devhost, reference)["case"]["title"] == QUESTION["subject"]


def test_identity_number_is_masked_in_the_case_and_every_email(devhost: DevHostProcess) -> None:
    fnr = "17050544052"
    response = httpx.post(
        f"{devhost.url}/api/questions", json={**QUESTION, "question": f"Kunden {fnr} får feil uføregrad."}
    )
    assert response.status_code == 201 and response.json()["identity_numbers_removed"] == 1
    ref = response.json()["reference"]
    assert fnr not in str(case_json(devhost, ref))
    confirm_address(devhost, ref, QUESTION["email"])  # a JSON client confirms by the link
    dispatch(devhost)
    mails = outbox_mails(devhost, ref)
    assert len(mails) == 3, "the confirmation request, the receipt, Bits' notice"
    for mail in mails:
        assert fnr not in mail.as_string() and fnr not in str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    ack = next(m for m in mails if str(m["To"]) == QUESTION["email"] and "mottatt" in str(m["Subject"]))
    assert "fjernet 1 fødselsnummer" in ack.get_body(("plain",)).get_content()  # type: ignore[union-attr]
