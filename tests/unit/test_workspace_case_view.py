"""The case view's parts over the in-memory store: a mail's state (queued, sent, failed, bounced, suppressed), the
tokens still outstanding (and only the case's own), and values in words."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from functions.core.glossary import long_date, long_time
from functions.core.mail import MailRecord, OutgoingMail
from functions.core.model import Case, CaseEvent, Channel, DecisionToken, Process
from functions.workspace.case_view import build, value_text
from tests.fakes import fake_services

NOW = datetime(2026, 11, 30, 8, 15, tzinfo=UTC)


def case(title: str = "Feil i test") -> Case:
    return Case(
        process=Process.ERROR_REPORT,
        kind="error_report",
        status="new",
        organisation_number="310000019",
        submitter_name="Tore Teknisk",
        submitter_email="teknisk@demo-forsikring.example",
        submitter_verified=True,
        environment="test",
        title=title,
        created_at=NOW,
        updated_at=NOW,
        details={"component": "aap-api", "severity": "critical", "duplicate_of": "SSU-C-2026-0007"},
    )


def received() -> CaseEvent:
    return CaseEvent(
        at=NOW,
        actor="teknisk@demo-forsikring.example",
        channel=Channel.FORM,
        kind="received",
        public=True,
        summary="Error report received",
        data={"description": "Alt feiler."},
    )


def token(person: str, *, days: int = 5, used: bool = False, single_use: bool = True) -> DecisionToken:
    return DecisionToken(
        token=f"tok{person[:4]}{days}{int(used)}{int(single_use)}",
        person=person,
        decision="error_report.triage",
        expires_at=NOW + timedelta(days=days),
        single_use=single_use,
        used_at=NOW if used else None,
    )


def record(to: str, status: str, purpose: str = "acknowledgement", error: str = "") -> MailRecord:
    mail = OutgoingMail(
        "SSU-C-2026-0001", purpose, to, "[SSU-C-2026-0001] Hei #abcdefghjk23", f"<{to}>", "", "", "", "", NOW
    )
    return MailRecord(mail=mail, status=status, due_at=NOW, sent_at=NOW if status == "sent" else None, last_error=error)


async def test_tokens_lists_the_cases_own_and_the_view_keeps_the_outstanding_ones() -> None:
    services = fake_services()
    tokens = [
        token("support@bits.example"),
        token("gone@bits.example", days=-1),
        token("once@bits.example", used=True),
        token("again@bits.example", used=True, single_use=False),
    ]
    first = await services.store.create_case(case(), received(), lambda c: [], tokens=tokens)
    other = await services.store.create_case(
        case("En annen"), received(), lambda c: [], tokens=[token("x@bits.example")]
    )
    assert first.reference.split("-")[:3] == other.reference.split("-")[:3], "the same partition"
    stored = await services.store.tokens(first.reference)
    assert sorted(t.person for t in stored) == sorted(t.person for t in tokens)
    assert [t.person for t in await services.store.tokens(other.reference)] == ["x@bits.example"]

    view = build(first, [received()], [], stored, set(), await services.registry(), NOW, "nb")
    # Unexpired, and unused or reusable; soonest expiry first, then by address.
    assert [t.person for t in view.tokens] == ["again@bits.example", "support@bits.example"]
    assert view.tokens[1].name == "Bits brukerstøtte" and view.tokens[1].decision == "behandle feilmeldingen"
    assert view.tokens[0].reusable is True and view.tokens[1].reusable is False


async def test_each_mail_reads_with_its_state_and_never_its_token() -> None:
    services = fake_services()
    bounced = CaseEvent(
        at=NOW,
        actor="mail-system",
        channel=Channel.EMAIL,
        kind="mail_bounced",
        public=False,
        summary="Delivery failed",
        data={"recipients": ["b@x.example"], "status": "5.1.1", "permanent": True, "message_id": "<b@x.example>"},
    )
    mails = [
        record("q@x.example", "pending"),
        record("s@x.example", "sent"),
        record("f@x.example", "failed", error="550 refused"),
        record("b@x.example", "sent"),
        record("blocked@x.example", "pending", purpose="notify-support"),
    ]
    registry = await services.registry()
    view = build(case(), [received(), bounced], mails, [], {"Blocked@x.example"}, registry, NOW, "en")
    assert [(m.to, m.state, m.state_words) for m in view.mails] == [
        ("q@x.example", "pending", "Queued"),
        ("s@x.example", "sent", "Sent"),
        ("f@x.example", "failed", "Failed"),
        ("b@x.example", "bounced", "Bounced"),
        ("blocked@x.example", "suppressed", "Stopped: the address is suppressed"),
    ]
    assert view.mails[2].error == "550 refused" and view.mails[4].purpose == "Notice of the new case to Bits"
    assert all(m.subject == "[SSU-C-2026-0001] Hei" for m in view.mails), "the subject's token is cut"


async def test_values_read_as_words_and_linked_cases_as_links() -> None:
    services = fake_services()
    view = build(case(), [received()], [], [], set(), await services.registry(), NOW, "nb")
    submitted = {f.label: f for f in view.submitted}
    assert submitted["Komponent"].text == "AAP-API-et" and submitted["Alvorlighet"].text == "Kritisk"
    assert submitted["Duplikat av"].href == "/api/bits/cases/SSU-C-2026-0007"
    assert submitted["Beskrivelse"].long and submitted["Beskrivelse"].text == "Alt feiler."
    assert [(c.reference, c.how) for c in view.linked] == [("SSU-C-2026-0007", "Duplikat av")]
    assert long_time(NOW, "nb") == "30. november 2026 kl. 09.15"
    assert long_time(NOW, "en") == "30 November 2026, 09:15"
    assert long_date(date(2027, 3, 1), "nb") == "1. mars 2027"
    assert value_text("persons_affected", "unknown", "nb") == "Ukjent"
    assert value_text("breach_type", ["integrity", "availability"], "en").startswith("Integrity")
    assert value_text("finans_norge_member", False, "nb") == "Nei"
    assert value_text("datatilsynet_notified_at", None, "en") == "Not given"
    assert value_text("gdpr_deadline", "2026-12-03T10:55:00+01:00", "nb") == "3. desember 2026 kl. 10.55"
