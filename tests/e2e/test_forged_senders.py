"""Forged senders over the dev host with DMARC required (as in Azure): forged terms, forged decisions, spoofed
follow-ups and new cases, and forged delivery reports - each attack reproduced as an attacker would write it, and
shown to do no harm, beside the genuine message that still works."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.header import Header
from email.message import EmailMessage
from email.policy import default
from typing import Any

import httpx
import pytest

from functions.devhost.azurite import Azurite
from tests.conftest import DevHostProcess, load_demo_registry, start_devhost
from tests.e2e.helpers import (
    MAINTENANCE,
    case_json,
    cases_by_message,
    dispatch,
    drop,
    mails_to,
    outbox_mails,
    plain,
    poll,
    post,
    reply,
    sign_in,
)

BITS = "support@bits.example"
ADMIN = "admin@bits.example"  # only Bits' admins may publish terms, by email too
ASKER = "fag@demo-forsikring.example"
TECHNICAL = "teknisk@demo-forsikring.example"
ATTACKER = "attacker@evil.example"


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHostProcess]:
    """A dev host of its own that requires a proven sender, as Azure does (its suppression list is ours alone)."""
    started = start_devhost(
        tmp_path_factory.mktemp("forged"),
        {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string, "SSU_REQUIRE_DMARC": "true"},
    )
    load_demo_registry(started.env)
    yield started
    started.stop()


# -- what Exchange Online stamps, and messages as a sender writes them -----------------------------------------------


def eop_pass(domain: str) -> str:
    """The Authentication-Results Exchange Online Protection prepends (its form has no authserv-id) for a message
    that passed DMARC for `domain`."""
    return (
        f"spf=pass (sender IP is 192.0.2.25) smtp.mailfrom={domain}; dkim=pass (signature was verified) "
        f"header.d={domain};dmarc=pass action=none header.from={domain};compauth=pass reason=100"
    )


def eop_fail(domain: str) -> str:
    """EOP's verdict on a message whose From names `domain` but that came from elsewhere, unsigned."""
    return (
        f"spf=fail (sender IP is 203.0.113.66) smtp.mailfrom={domain}; dkim=none (message not signed) "
        f"header.d=none;dmarc=fail action=oreject header.from={domain};compauth=fail reason=000"
    )


def send(
    host: DevHostProcess,
    *,
    sender: str,
    subject: str,
    body: str,
    results: tuple[str, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    to: str = "ssu@bits.example",
) -> tuple[str, str]:
    """A message as its sender wrote it, with the Authentication-Results headers above it in the order given (the
    first is the topmost, our receiving server's), dropped in the inbox and taken in. Returns (file, Message-ID)."""
    name = f"sent-{uuid.uuid4().hex[:10]}.eml"
    domain = sender.rsplit("@", 1)[-1].rstrip(">")
    message_id = f"<{uuid.uuid4().hex}@{domain}>"
    encoded = subject if subject.isascii() else Header(subject, "utf-8").encode(linesep="\r\n")
    lines = [
        *(f"Authentication-Results: {value}" for value in results),
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {encoded}",
        "Date: Sun, 29 Nov 2026 10:00:00 +0100",
        f"Message-ID: {message_id}",
        *(f"{key}: {value}" for key, value in headers),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body,
    ]
    inbox = host.mail_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_bytes("\r\n".join(lines).encode())
    poll(host)
    return name, message_id


def all_mails(host: DevHostProcess) -> dict[str, EmailMessage]:
    """Everything the outbox holds after a dispatch, by file name."""
    dispatch(host)
    folder = host.mail_dir / "outbox"
    return {p.name: message_from_bytes(p.read_bytes(), policy=default) for p in sorted(folder.glob("*.eml"))}


def texts(mail: EmailMessage) -> str:
    """What a reader of the mail sees: subject, text and HTML."""
    parts = [str(mail["Subject"]), plain(mail)]
    html = mail.get_body(("html",))
    if html is not None:
        parts.append(str(html.get_content()))
    return "\n".join(parts)


def failed_reason(host: DevHostProcess, name: str) -> str:
    reason = host.mail_dir / "failed" / f"{name}.reason.txt"
    return reason.read_text(encoding="utf-8") if reason.exists() else ""


def opened_by(host: DevHostProcess, message_id: str) -> dict[str, Any]:
    return cases_by_message(host)[message_id]


def ask_by_email(host: DevHostProcess) -> tuple[str, EmailMessage]:
    """A proven registered contact asks by email: a verified question; returns it and Bits' notice with the token."""
    _, message_id = send(
        host,
        sender=f"Frida Fagerli <{ASKER}>",
        subject=f"Hvordan tolke uføregrad mot IFU? {uuid.uuid4().hex[:6]}",
        body="Vi ser uføregrad 50 og IFU i samme svar. Hvilken skal vi bruke?\n\nFrida",
        results=(eop_pass("demo-forsikring.example"),),
    )
    stored = opened_by(host, message_id)["case"]
    assert stored["status"] == "new" and stored["submitter_verified"] is True, "a proven contact is verified at once"
    [notice] = [m for m in mails_to(host, stored["reference"], BITS) if m["Reply-To"]]
    assert re.fullmatch(r"ssu\+[a-z2-9]{12}@bits\.example", str(notice["Reply-To"]))
    return stored["reference"], notice


# -- 1. terms published by a forged "Bits" -----------------------------------------------------------------------


def terms_cases(host: DevHostProcess) -> list[dict[str, Any]]:
    found = httpx.get(f"{host.url}/api/cases", params={"process": "E"}, headers=sign_in(host)).json()["cases"]
    return [c for c in found if c["kind"] == "terms"]


def effective() -> str:
    return (datetime.now(UTC) + timedelta(days=45)).strftime("%d.%m.%Y")


def terms_body(version: str, link: str) -> str:
    return (
        f"versjon: {version}\ntittel: Vilkår for Syke- og uføreopplysninger fra NAV\ngjelder fra: {effective()}\n"
        f"lenke: {link}\n\nNytt punkt 9 om lagringstid.\n\nHilsen\nBits brukerstøtte"
    )


def test_forged_terms_publish_nothing_and_bits_own_terms_still_do(host: DevHostProcess) -> None:
    before = set(all_mails(host))
    # The encoded-word trick: a reader that decodes the whole header first sees admin@bits.example; mail servers
    # and DMARC see attacker@evil.example, whose own domain it passed DMARC for.
    trick = drop(host, "forged_terms_encoded_from.eml.tmpl", ID=uuid.uuid4().hex, VERSION="9.0", EFFECTIVE=effective())
    poll(host)
    # Bits' address in plain sight, and every verdict that does not prove it.
    forged = [
        (eop_fail("bits.example"),),  # the honest verdict on a forgery: DMARC fail
        (eop_pass("evil.example"),),  # a pass, but for the attacker's domain
        (),  # no verdict at all
        (eop_fail("bits.example"), eop_pass("bits.example")),  # the sender's own "pass" below our server's fail
        ("mx.evil.example; dmarc=pass action=none header.from=bits.example",),  # a server we do not trust
        # A verdict of "pass" inside a comment of our server's header is no verdict.
        ("dmarc=fail (dmarc=pass header.from=bits.example) action=oreject header.from=bits.example",),
    ]
    held = [
        send(
            host,
            sender=f"Bits administrator <{ADMIN}>",
            subject="VILKÅR 9.0",
            body=terms_body("9.0", "https://evil.example/terms.pdf"),
            results=results,
        )[0]
        for results in forged
    ]

    assert [c for c in terms_cases(host) if c["status"] == "published"] == [], "no terms version published"
    for name in held:
        assert "not proven" in failed_reason(host, name), name
    # The trick is read as the address it really came from: an ordinary question from outside, not yet confirmed.
    assert (host.mail_dir / "processed" / trick).exists()
    [trick_case] = [c["case"] for m, c in cases_by_message(host).items() if m.startswith("<forged-terms-")]
    assert trick_case["submitter_email"] == ATTACKER and trick_case["kind"] == "question"
    assert trick_case["status"] == "awaiting_confirmation" and trick_case["submitter_verified"] is False
    new = {name: mail for name, mail in all_mails(host).items() if name not in before}
    assert {str(m["To"]) for m in new.values()} <= {ATTACKER}, "no mail to any company, nor to Bits as if from Bits"
    for mail in new.values():
        assert "evil.example" not in texts(mail), "nothing the attacker wrote is relayed"

    # Bits' own VILKÅR, proven by EOP's aligned pass, publishes the same version number as a case of its own.
    send(
        host,
        sender=f"Bits administrator <{ADMIN}>",
        subject="VILKÅR 9.0",
        body=terms_body("9.0", "https://bits.example/vilkar-9.0.pdf"),
        results=(eop_pass("bits.example"),),
    )
    [published] = [c for c in terms_cases(host) if c["status"] == "published"]
    assert published["details"]["version"] == "9.0"
    assert published["details"]["document_url"] == "https://bits.example/vilkar-9.0.pdf"
    assert published["submitter_email"] == ADMIN
    told = mails_to(host, published["reference"], "signatar@demo-forsikring.example")
    assert told and "https://bits.example/vilkar-9.0.pdf" in plain(told[0])
    for mail in all_mails(host).values():
        assert "evil.example" not in texts(mail)


# -- 2. a forged decision by reply ---------------------------------------------------------------------------------


def test_forged_decisions_are_refused_and_bits_is_warned_once(host: DevHostProcess) -> None:
    reference, notice = ask_by_email(host)
    forged_text = "LØST\nSvaret finner dere på https://evil.example/nav-svar (logg inn med BankID)."
    trick_sender = "=?utf-8?b?IkJpdHMiIDxzdXBwb3J0QGJpdHMuZXhhbXBsZT4gKA==?= <attacker@evil.example> (=?utf-8?q?=29?=)"
    forgeries: list[dict[str, Any]] = [
        {"extra_headers": {"Authentication-Results": eop_fail("bits.example")}},
        {"extra_headers": {"Authentication-Results": eop_pass("evil.example")}},
        {},  # no Authentication-Results at all
        {"sender": trick_sender, "extra_headers": {"Authentication-Results": eop_pass("evil.example")}},
    ]
    for forgery in forgeries:
        reply(host, notice, forged_text, **forgery)

    stored = case_json(host, reference)
    assert stored["case"]["status"] == "new", "the question stays open"
    refused = [e for e in stored["events"] if e["kind"] == "decision_refused"]
    assert len(refused) == len(forgeries) and not any(e["public"] for e in refused)
    reasons = [e["data"]["reason"] for e in refused]
    assert "DMARC fail" in reasons[0]
    assert "DMARC passed for evil.example, not for bits.example" in reasons[1]
    assert "no authentication result" in reasons[2]
    assert "not the person the token was issued to" in reasons[3], "the trick is read as the attacker's address"
    assert refused[3]["actor"] == ATTACKER

    asked = mails_to(host, reference, ASKER)
    assert len(asked) == 1 and "mottatt" in str(asked[0]["Subject"]), "the asker got only the acknowledgement"
    warnings = [m for m in mails_to(host, reference, BITS) if "Avvist svar" in str(m["Subject"])]
    assert len(warnings) == 1, "one warning for a day's forgeries claiming one address, not one per forgery"
    assert BITS in plain(warnings[0]) and "DMARC fail" in plain(warnings[0])
    dispatch(host)
    for mail in outbox_mails(host, reference):
        assert str(mail["To"]) != ATTACKER and "evil.example/nav-svar" not in texts(mail)

    # Bits' own LØST, with EOP's aligned pass, closes the question.
    reply(
        host, notice, "LØST\nSpørsmålet er besvart.", extra_headers={"Authentication-Results": eop_pass("bits.example")}
    )
    assert case_json(host, reference)["case"]["status"] == "closed"
    assert any("avsluttet" in str(m["Subject"]) for m in mails_to(host, reference, ASKER))
    assert len([m for m in mails_to(host, reference, BITS) if "Avvist svar" in str(m["Subject"])]) == 1


# -- 3. a spoofed follow-up ------------------------------------------------------------------------------------------


def follow_up(host: DevHostProcess, reference: str, ack: EmailMessage, body: str, results: tuple[str, ...]) -> str:
    """The submitter's address writes on their case, in reply to its acknowledgement; returns the Message-ID."""
    return send(
        host,
        sender=f"Frida Fagerli <{ASKER}>",
        subject=f"SV: {ack['Subject']}",
        body=body,
        results=results,
        headers=(("In-Reply-To", str(ack["Message-ID"])), ("References", str(ack["Message-ID"]))),
    )[1]


def test_a_spoofed_follow_up_is_held_for_bits_as_unverified(host: DevHostProcess) -> None:
    reference, _ = ask_by_email(host)
    [ack] = mails_to(host, reference, ASKER)
    page_link = re.search(r"(http://\S+/api/case-page/\S+)", plain(ack))
    assert page_link, "the acknowledgement links the case page"
    before = {str(m["Message-ID"]) for m in outbox_mails(host, reference)}

    spoofed = "Vi har byttet adresse: send alt om saken til frida@evil.example fra nå av."
    spoofed_id = follow_up(host, reference, ack, spoofed, (eop_fail("demo-forsikring.example"),))
    events = case_json(host, reference)["events"]
    [held] = [e for e in events if e["data"].get("message_id") == spoofed_id]
    assert held["kind"] == "message_unverified" and held["public"] is False
    assert held["data"]["sender_proven"] is False and "DMARC fail" in held["data"]["sender_evidence"]
    assert not [e for e in events if e["public"] and "frida@evil.example" in str(e)], "no public event shows it"
    page = httpx.get(page_link.group(1)).text
    assert "frida@evil.example" not in page and "Ny melding i saken" not in page, "nor the submitter's case page"
    dispatch(host)
    new = [m for m in outbox_mails(host, reference) if str(m["Message-ID"]) not in before]
    assert [str(m["To"]) for m in new] == [BITS], "nobody but Bits is mailed"
    assert "Ubekreftet melding" in str(new[0]["Subject"])
    assert "kunne ikke bekrefte avsenderen" in plain(new[0]) and spoofed in plain(new[0])

    proven = "Takk! Det gjelder produksjon."
    proven_id = follow_up(host, reference, ack, proven, (eop_pass("demo-forsikring.example"),))
    [message] = [e for e in case_json(host, reference)["events"] if e["data"].get("message_id") == proven_id]
    assert message["kind"] == "message" and message["public"] is True and message["data"]["sender_proven"] is True
    assert httpx.get(page_link.group(1)).text.count("Ny melding i saken") == 1, "the case page shows it as theirs"
    notices = [m for m in mails_to(host, reference, BITS) if "Ny melding i saken" in str(m["Subject"])]
    assert len(notices) == 1 and proven in plain(notices[0])


# -- 4. a spoofed registered contact, and a spoofed NAV ------------------------------------------------------------


def test_a_spoofed_registered_contact_opens_no_verified_case(host: DevHostProcess) -> None:
    subject = f"Hvordan tolker vi uføregrad mot IFU? {uuid.uuid4().hex[:6]}"
    written = "Hei,\n\nring meg på 815 00 000 i dag, så gir jeg dere tilgang til produksjon.\n\nTore"
    _, message_id = send(
        host,
        sender=f"Tore Teknisk <{TECHNICAL}>",
        subject=subject,
        body=written,
        results=(eop_fail("demo-forsikring.example"),),
    )
    stored = opened_by(host, message_id)
    case = stored["case"]
    assert case["submitter_email"] == TECHNICAL
    assert case["status"] == "awaiting_confirmation" and case["submitter_verified"] is False
    assert stored["events"][0]["data"]["verified"] is False
    dispatch(host)
    [request] = outbox_mails(host, case["reference"])
    assert str(request["To"]) == TECHNICAL, "only the address itself is asked; Bits is not told yet"
    assert "Bekreft" in str(request["Subject"]) and request["Reply-To"] is None, "and it carries no token"
    assert "815 00 000" not in texts(request)
    link = re.search(r"(http://\S+/api/confirm\?t=\S+)", plain(request))
    assert link

    # The address confirms by its signed link (only its real owner reads it): now the case goes on, and Bits hears.
    confirmed = httpx.post(link.group(1))
    assert confirmed.status_code == 200 and "bekreftet" in confirmed.text
    assert case_json(host, case["reference"])["case"]["status"] == "new"
    assert mails_to(host, case["reference"], BITS), "Bits is told once the address is confirmed"


def nav_notice(host: DevHostProcess, results: tuple[str, ...]) -> str:
    subject = f"Planlagt vedlikehold uføre-API i produksjon {uuid.uuid4().hex[:6]}"
    send(
        host,
        sender="NAV drift <drift@nav.example>",
        subject=subject,
        body="Hei,\n\nuføre-API-et i produksjon er nede for vedlikehold natt til fredag 22:00–02:00.\n\nNAV drift",
        results=results,
    )
    return subject


def cases_titled(host: DevHostProcess, title: str) -> list[dict[str, Any]]:
    found = []
    for process in "ABCDE":
        listed = httpx.get(f"{host.url}/api/cases", params={"process": process}, headers=sign_in(host)).json()
        found += [c for c in listed["cases"] if c["title"] == title]
    return found


def test_a_spoofed_nav_notice_makes_no_draft_alert(host: DevHostProcess) -> None:
    spoofed = nav_notice(host, (eop_fail("nav.example"),))
    found = cases_titled(host, spoofed)
    assert found, "the mail is kept as a case"
    for listed in found:
        assert not listed["details"].get("draft"), "no draft alert"
        assert listed["submitter_verified"] is False
        dispatch(host)
        recipients = {str(m["To"]) for m in outbox_mails(host, listed["reference"])}
        assert not [m for m in outbox_mails(host, listed["reference"]) if "Utkast til varsel" in str(m["Subject"])]
        assert recipients <= {"drift@nav.example", BITS}, "no company is mailed"

    genuine = nav_notice(host, (eop_pass("nav.example"),))
    [draft] = cases_titled(host, genuine)
    assert draft["details"].get("draft") is True and draft["details"]["source"] == "NAV"


# -- 5. forged delivery reports ------------------------------------------------------------------------------------


def forged_bounce(host: DevHostProcess, reference: str, recipient: str, original_id: str | None) -> str:
    """A delivery report as anyone can write one: from the attacker's own postmaster (DMARC passes for its domain),
    naming a public alert reference and a recipient, and maybe a Message-ID."""
    original = [f"Message-ID: {original_id}"] if original_id else []
    body = [
        "--REPORT",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Delivery has failed to these recipients or groups:",
        "",
        "--REPORT",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.evil.example",
        "",
        f"Final-Recipient: rfc822; {recipient}",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
        "",
        "--REPORT",
        "Content-Type: text/rfc822-headers",
        "",
        "From: Bits SSU <ssu@bits.example>",
        f"To: {recipient}",
        f"Subject: [{reference}] Planlagt vedlikehold",
        *original,
        "",
        "--REPORT--",
    ]
    name = f"forged-bounce-{uuid.uuid4().hex[:8]}.eml"
    lines = [
        f"Authentication-Results: {eop_pass('evil.example')}",
        "From: Mail Delivery System <postmaster@evil.example>",
        "To: ssu@bits.example",
        f"Subject: Undeliverable: [{reference}] Planlagt vedlikehold",
        "Date: Sun, 29 Nov 2026 17:00:00 +0100",
        f"Message-ID: <{uuid.uuid4().hex}@evil.example>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="REPORT"',
        "",
        *body,
    ]
    (host.mail_dir / "inbox").mkdir(parents=True, exist_ok=True)
    (host.mail_dir / "inbox" / name).write_bytes("\r\n".join(lines).encode())
    return name


def suppressions(host: DevHostProcess) -> list[dict[str, Any]]:
    response = httpx.get(f"{host.url}/api/mail/suppressions", headers=sign_in(host))
    assert response.status_code == 200, response.text
    return list(response.json()["addresses"])


def bounce_warnings(host: DevHostProcess, reference: str) -> list[EmailMessage]:
    return [m for m in mails_to(host, reference, BITS) if "kom ikke fram" in str(m["Subject"])]


def test_forged_bounces_silence_no_one_and_a_real_one_counts_once(host: DevHostProcess) -> None:
    response = post(host, {**MAINTENANCE, "source_alert_id": f"NAV-{uuid.uuid4().hex[:6]}"})
    assert response.status_code == 201, response.text
    alert = response.json()["id"]
    dispatch(host)
    by_recipient = {str(m["To"]): m for m in outbox_mails(host, alert)}
    assert TECHNICAL in by_recipient and "api@fjordtrygd.example" in by_recipient
    # The Message-ID we used to send: the hash of purpose and recipient, which anyone could compute.
    old_tag = hashlib.sha256(f"alert-r1\n{TECHNICAL}".encode()).hexdigest()[:24]
    guessable = f"<{alert}.{old_tag}@bits.example>"
    for original in (None, guessable, str(by_recipient["api@fjordtrygd.example"]["Message-ID"])):
        forged_bounce(host, alert, TECHNICAL, original)
    poll(host)

    assert suppressions(host) == [], "no forged report counts"
    assert not [e for e in case_json(host, alert)["events"] if e["kind"] == "mail_bounced"]
    assert bounce_warnings(host, alert) == []
    critical = {
        **MAINTENANCE,
        "source_alert_id": f"NAV-INC-{uuid.uuid4().hex[:6]}",
        "kind": "incident",
        "severity": "critical",
        "ends_at": None,
    }
    response = post(host, critical)
    assert response.status_code == 201, response.text
    dispatch(host)
    assert [str(m["To"]) for m in outbox_mails(host, response.json()["id"])].count(TECHNICAL) == 1
    ledger = httpx.get(f"{host.url}/api/alerts/{response.json()['id']}", headers={"X-Api-Key": "nav-key-one"})
    assert {r["recipient"]: r["state"] for r in ledger.json()["ledger"]}[TECHNICAL] == "sent"

    # The mail system's real report, naming the real Message-ID of the mail to that contact, counts - once, though
    # it is seen twice - and Bits is warned before the security or technical contact is ever suppressed.
    for copy in ("real-bounce.eml", "real-bounce-again.eml"):
        drop(
            host,
            "bounce.eml.tmpl",
            as_name=copy,
            REF=alert,
            MSGID=str(by_recipient[TECHNICAL]["Message-ID"]),
            RCPT=TECHNICAL,
        )
        poll(host)
    [counted] = suppressions(host)
    assert counted["address"] == TECHNICAL and counted["permanent_bounces"] == 1 and counted["suppressed"] is False
    bounced = [e for e in case_json(host, alert)["events"] if e["kind"] == "mail_bounced"]
    assert len(bounced) == 1 and bounced[0]["data"]["recipients"] == [TECHNICAL]
    [warning] = bounce_warnings(host, alert)
    assert TECHNICAL in plain(warning) and "teknisk" in plain(warning)
