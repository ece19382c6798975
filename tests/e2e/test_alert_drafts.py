"""Alerts that do not come through the API: a notice NAV emails, and Bits' VARSEL on an error report, become drafts
that Bits publishes (PUBLISER, with corrections under it) or discards (FORKAST) by replying."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from typing import Any

import httpx

from tests.conftest import DevHostProcess
from tests.e2e.helpers import (
    REPORT,
    as_contact,
    case_json,
    dispatch,
    kinds,
    mails_to,
    outbox_mails,
    plain,
    poll,
    post,
    reply,
    sign_in,
)

BITS = "support@bits.example"


def nav_emails(host: DevHostProcess, subject: str, body: str) -> str:
    """NAV's operations contact writes to the shared mailbox from Outlook; returns the draft's reference."""
    lines = [
        "From: NAV drift <drift@nav.example>",
        "To: ssu@bits.example",
        f"Subject: {subject}",
        f"Message-ID: <{uuid.uuid4().hex}@nav.example>",
        "Date: Sun, 29 Nov 2026 09:00:00 +0100",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body,
        "",
        "Med vennlig hilsen",
        "NAV drift",
    ]
    inbox = host.mail_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f"nav-{uuid.uuid4().hex[:8]}.eml").write_bytes("\r\n".join(lines).encode())
    poll(host)
    [draft] = [c for c in cases(host) if c["title"] == subject]
    return str(draft["reference"])


def cases(host: DevHostProcess) -> list[dict[str, Any]]:
    return list(httpx.get(f"{host.url}/api/cases", params={"process": "B"}, headers=sign_in(host)).json()["cases"])


def draft_notice(host: DevHostProcess, reference: str) -> EmailMessage:
    [notice] = [m for m in mails_to(host, reference, BITS) if "Utkast til varsel" in str(m["Subject"])]
    return notice


def alert_mails(host: DevHostProcess, reference: str) -> list[EmailMessage]:
    dispatch(host)
    return [m for m in outbox_mails(host, reference) if "] Planlagt vedlikehold (" in str(m["Subject"])]


def test_an_emailed_maintenance_notice_is_published_by_bits_reply(devhost: DevHostProcess) -> None:
    subject = f"Planlagt vedlikehold uføre-API i produksjon {uuid.uuid4().hex[:4]}"
    reference = nav_emails(
        devhost, subject, "Hei,\n\nuføre-API-et i produksjon er nede for vedlikehold natt til fredag 22:00–02:00."
    )
    stored = case_json(devhost, reference)["case"]
    assert stored["status"] == "new" and stored["details"]["source"] == "NAV"
    assert stored["details"]["proposal"]["kind"] == "maintenance"
    assert stored["details"]["proposal"]["environments"] == ["production"]
    assert stored["details"]["proposal"]["components"] == ["ufore-api"]
    [receipt] = mails_to(devhost, reference, "drift@nav.example")
    assert "Varselet er mottatt" in str(receipt["Subject"])
    notice = draft_notice(devhost, reference)
    text = plain(notice)
    assert "PUBLISER" in text and "FORKAST" in text and "natt til fredag" in text and "Med vennlig hilsen" not in text
    assert alert_mails(devhost, reference) == [], "a draft goes to no company"

    # Maintenance without an end cannot be published: Bits is told what is missing, and nothing goes out.
    reply(devhost, notice, "PUBLISER")
    assert case_json(devhost, reference)["case"]["status"] == "new"
    [refused] = [m for m in mails_to(devhost, reference, BITS) if "ikke publisert" in str(m["Subject"])]
    assert "  Slutter: " in plain(refused) and "ends_at" not in plain(refused), "the field by its name, not its code"
    assert alert_mails(devhost, reference) == []

    reply(devhost, notice, "PUBLISER\nslutt: 4.12.2026 02:00\nstart: 3.12.2026 22:00\nalvorlighet: høy")
    published = case_json(devhost, reference)["case"]
    assert published["status"] == "published" and published["details"]["severity"] == "high"
    assert published["details"]["ends_at"] == "2026-12-04T02:00:00+01:00"
    recipients = sorted(str(m["To"]) for m in alert_mails(devhost, reference))
    assert recipients == ["api@fjordtrygd.example", BITS, "teknisk@demo-forsikring.example"]
    status = httpx.get(f"{devhost.url}/api/status").text
    assert subject in status

    reply(devhost, notice, "FORKAST")  # too late: published is published
    assert case_json(devhost, reference)["case"]["status"] == "published"
    assert len(alert_mails(devhost, reference)) == 3


def test_a_discarded_draft_goes_to_no_one(devhost: DevHostProcess) -> None:
    subject = f"Endring i samtykketekst {uuid.uuid4().hex[:4]}"
    reference = nav_emails(devhost, subject, "Vi endrer samtykketeksten i test fra 1. januar.")
    proposal = case_json(devhost, reference)["case"]["details"]["proposal"]
    assert proposal["kind"] == "change" and proposal["environments"] == ["test"]
    reply(devhost, draft_notice(devhost, reference), "FORKAST\nDette var en intern melding.")
    assert case_json(devhost, reference)["case"]["status"] == "discarded"
    dispatch(devhost)
    assert {str(m["To"]) for m in outbox_mails(devhost, reference)} == {"drift@nav.example", BITS}
    assert subject not in httpx.get(f"{devhost.url}/api/status").text


def test_varsel_on_an_error_report_makes_a_draft_for_bits(devhost: DevHostProcess) -> None:
    title = f"Tidsavbrudd fra Maskinporten {uuid.uuid4().hex[:4]}"
    report = {**REPORT, "component": "maskinporten", "title": title, "severity": "critical"}
    reference = as_contact(devhost, "incidents", report)
    [notice] = mails_to(devhost, reference, BITS)
    assert "VARSEL" in plain(notice)
    reply(devhost, notice, "VARSEL")
    reply(devhost, notice, "VARSEL")  # the same command twice: still one draft
    drafted = [e for e in case_json(devhost, reference)["events"] if e["kind"] == "alert_drafted"]
    assert len(drafted) == 2 and drafted[0]["data"]["draft"] == drafted[1]["data"]["draft"]
    assert kinds(devhost, reference).count("alert_requested") == 2
    draft = drafted[0]["data"]["draft"]
    stored = case_json(devhost, draft)["case"]
    assert stored["details"]["source"] == "DIGDIR" and stored["details"]["linked_from"] == reference
    assert stored["details"]["proposal"]["components"] == ["maskinporten"]
    assert stored["details"]["proposal"]["severity"] == "critical"
    text = plain(draft_notice(devhost, draft))
    assert REPORT["email"] not in text and "Tore Teknisk" not in text, "the reporter stays out of the draft"
    reply(devhost, draft_notice(devhost, draft), "PUBLISER")
    assert case_json(devhost, draft)["case"]["status"] == "published"
    dispatch(devhost)
    got = {str(m["To"]) for m in outbox_mails(devhost, draft) if title in str(m["Subject"])}
    # Maskinporten in production: every production company's technical and (critical) business contacts.
    assert {"teknisk@demo-forsikring.example", "fag@demo-forsikring.example", BITS} <= got
    assert post(devhost, {}).status_code == 422  # the API is unaffected
