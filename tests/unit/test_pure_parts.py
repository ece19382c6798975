"""Pure parts: identifiers, signed tokens, MIME building, templates, the registry's lookups, retry backoff."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from functions.core.identifiers import is_valid_organisation_number
from functions.core.mail import Letter, compose_mail
from functions.core.model import Case, Process, format_reference, parse_reference
from functions.core.outbox import RetryPolicy
from functions.core.rendering import TEMPLATES_DIR, Renderer
from functions.core.signing import sign, verify
from functions.registry_import import RegistryFileError, parse_registry_file
from tests.conftest import DEMO_REGISTRY

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("number", ["310000019", "916960190", "889640782", "991825827"])
def test_valid_organisation_numbers(number: str) -> None:
    assert is_valid_organisation_number(number)


@pytest.mark.parametrize("number", ["310000018", "12345678", "1234567890", "31000001a", "", "３１００００019"])
def test_invalid_organisation_numbers(number: str) -> None:
    assert not is_valid_organisation_number(number)


def test_references_round_trip() -> None:
    ref = format_reference("SSU", Process.CHANGE_REQUEST, 2026, 7)
    assert ref == "SSU-E-2026-0007"
    assert parse_reference(ref) == (Process.CHANGE_REQUEST, 2026, 7)
    assert parse_reference("SSU-F-2026-0001") is None and parse_reference("SSU-E-2026-7") is None


def test_signed_tokens_refuse_tampering_expiry_and_other_purposes() -> None:
    token = sign(b"key", "confirm", {"r": "SSU-D-2026-0001"}, NOW + timedelta(hours=1))
    assert verify(b"key", "confirm", token, NOW) == {"r": "SSU-D-2026-0001"}
    assert verify(b"key", "confirm", token, NOW + timedelta(hours=2)) is None
    assert verify(b"key", "case-page", token, NOW) is None
    assert verify(b"other", "confirm", token, NOW) is None
    body, mac = token.split(".")
    assert verify(b"key", "confirm", body[:-2] + "AA." + mac, NOW) is None
    assert verify(b"key", "confirm", "garbage", NOW) is None


def test_mime_has_our_headers_and_no_injected_ones() -> None:
    arguments: dict[str, Any] = {
        "reference": "SSU-D-2026-0001",
        "purpose": "acknowledgement",
        "sender_name": "Bits SSU",
        "sender": "ssu@bits.example",
        "to": "a@b.example",
        "letter": Letter("[SSU-D-2026-0001] Hei\r\nBcc: victim@evil.example", "tekst æøå", "<p>tekst</p>"),
        "created_at": NOW,
        "domain": "bits.example",
        "key": b"key",
        "in_reply_to": "<orig@x>",
    }
    mail = compose_mail(**arguments)
    message = email.message_from_bytes(mail.mime(), policy=default)
    assert message["Bcc"] is None
    assert str(message["Subject"]) == "[SSU-D-2026-0001] Hei Bcc: victim@evil.example"
    assert message["Message-ID"] == mail.message_id
    assert re.fullmatch(r"<SSU-D-2026-0001\.[0-9a-f]{32}@bits\.example>", mail.message_id)
    other_key = compose_mail(**{**arguments, "key": b"another key"})
    assert other_key.message_id != mail.message_id, "unguessable without our key"
    assert message["In-Reply-To"] == "<orig@x>" and message["References"] == "<orig@x>"
    assert message["Auto-Submitted"] == "auto-generated"
    plain = message.get_body(("plain",))
    assert plain is not None and plain.get_content().strip() == "tekst æøå"
    with pytest.raises(ValueError):
        compose_mail(
            reference="SSU-D-2026-0001",
            purpose="x",
            sender_name="Bits",
            sender="ssu@bits.example",
            to="a@b.example\r\nBcc: victim@evil.example",
            letter=Letter("s", "t", "h"),
            created_at=NOW,
            domain="bits.example",
            key=b"key",
        )


def sample_case() -> Case:
    return Case(
        reference="SSU-D-2026-0042",
        process=Process.QUESTION,
        kind="question",
        status="new",
        organisation_number="310000019",
        submitter_name="<b>Frida</b>",
        submitter_email="fag@demo-forsikring.example",
        submitter_verified=True,
        environment="test",
        title="<script>alert(1)</script>",
        created_at=NOW,
        updated_at=NOW,
        details={
            "service": "ufore",
            "category": "consent",
            "component": "ufore-api",
            "severity": "high",
            "occurred_at": "2026-11-29T09:40:00+01:00",
            "http_status": 500,
            "correlation_id": "abc-123",
            "endpoint": "/api/v1/uforegrad",
            "customers_affected": 3,
            "phone": "+47 99 99 99 99",
            "discovered_at": "2026-11-29T10:00:00+01:00",
            "breach_type": ["confidentiality"],
            "data_categories": "<b>uføregrad</b>",
            "persons_affected": "unknown",
            "datatilsynet_notified_at": None,
            "gdpr_deadline": "2026-12-02T10:00:00+01:00",
            "dora_initial_deadline": "2026-11-30T10:00:00+01:00",
            "dora_intermediate_deadline": "2026-12-02T10:00:00+01:00",
            "dora_final_deadline": "2026-12-29T10:00:00+01:00",
            "source": "NAV",
            "version": "2.0",
            "legal_name": "<b>Demo</b> Forsikring ASA",
            "services": ["ufore"],
            "desired_go_live": "2027-01-01",
            "finans_norge_member": True,
            "supplier_name": None,
            "contacts": [{"role": "technical", "name": "<b>Tore</b>", "email": "t@x.example", "phone": "+47 1"}],
            "production": {
                "integration_tests_passed_on": "2026-11-20",
                "test_report_reference": "<b>R-1</b>",
                "maskinporten_client_id": "abc",
                "production_redirect_domains": ["https://app.example"],
                "consent_text_confirmed": True,
                "notices_subscribed": True,
                "email": "t@x.example",
            },
            "effective_date": "2027-01-01",
            "document_url": "https://bits.example/vilkar-2.0.pdf",
            "proposal": {
                "kind": "maintenance",
                "environments": ["production"],
                "components": ["ufore-api"],
                "severity": "medium",
                "starts_at": "2026-12-01T22:00:00+01:00",
            },
        },
    )


@pytest.mark.parametrize("language", ["nb", "en"])
@pytest.mark.parametrize("name", sorted(p.stem for p in (TEMPLATES_DIR / "emails" / "nb").glob("*.txt")))
def test_every_email_renders_with_reference_in_subject_and_escaped_html(name: str, language: str) -> None:
    context = {
        "case": sample_case(),
        "text": {
            "question": "<img src=x>",
            "message": "<img src=x>",
            "description": "<img src=x>",
            "containment": "<img src=x>",
            "attachments": [
                {"filename": "a.pdf", "size": 3},
                {"filename": "<b>x</b>.exe", "size": 3, "refused": "type"},
                {"filename": "logo.png", "size": 3, "inline": True},
            ],
        },
        "update": "question",
        "outcome": "completed",
        "alert": {
            "environments": ["production"],
            "components": ["ufore-api"],
            "severity": "high",
            "starts_at": "2026-12-01T22:00:00+01:00",
            "ends_at": "2026-12-02T02:00:00+01:00",
            "action_required": "<b>Bytt nøkkel</b>",
            "action_deadline": "2026-12-05T12:00:00+01:00",
            "link": "https://nav.example/x?a=<script>",
            "outcome": "completed",
        },
        "target": "first_response",
        "stage": "overdue",
        "due": NOW,
        "source": "NAV",
        "set_aside_for": "no_text",
        "person": "<b>Frida</b>",
        "claimed_subject": "<b>Hjelp</b>",
        "claimed_sender": "<b>Frida</b> <f@x.example>",
        "received_at": NOW,
        "folder": "SSU avvist",
        "question": "<img src=x>",
        "comment": "<i>haster</i>",
        "description": "<img src=x>",
        "sender": "<b>Frida</b>",
        "replies_decide": True,
        "answer": "<i>svar</i>",
        "problem": "negated",
        "errors": {"ends_at": "<b>mangler</b>"},
        "recommendations": {"fag@demo-forsikring.example": {"verdict": "not_recommended", "comment": "<b>nei</b>"}},
        "committee": ["fag@demo-forsikring.example", "kari.nordmann@fjordtrygd.example"],
        "why": "assessment_deadline",
        "reason": "<i>fordi</i>",
        "summary": "<b>Nytt punkt 4</b>",
        "reminder": False,
        "accept_link": "http://localhost/terms-accept?k=x",
        "companies": [{"legal_name": "<b>Demo</b> Forsikring ASA", "recipients": 2}],
        "recipient_count": 2,
        "acceptances_link": "http://localhost/api/terms/SSU-D-2026-0042",
        "next_step": "agreement_signed",
        "contacts": [{"role": "technical", "name": "<b>Tore</b>", "email": "t@x.example", "phone": "+47 1"}],
        "environment": "production",
        "agreement_url": "https://bits.example/avtale.pdf",
        "dpa_url": "https://bits.example/dba.pdf",
        "terms": {"version": "1.0", "url": "https://bits.example/vilkar.pdf"},
        "commands": [("LØST", "RESOLVED")],
        "decided_by": "godkjenner1@bits.example",
        "decided_at": "29.11.2026 10:00",
        "case_link": "http://localhost/case",
        "workspace_link": "http://localhost/api/bits/cases/SSU-D-2026-000123",
        "confirm_link": "http://localhost/confirm",
        "organisation_name": "Demo Forsikring ASA",
        "hours": 72,
        "identity_numbers_removed": 1,
        "claimed": "<b>support@bits.example</b>",
        "evidence": "<i>DMARC fail</i>",
        "recipients": ["<b>t@x.example</b>"],
        "roles": ["security"],
        "status": "5.1.1",
        "suppress_after": 3,
        "unverified": True,
        "legal_name": "<b>Frida</b> Forsikring ASA",
        "organisation_number": "310000019",
        "days": 7,
        "by_name": "<b>Frida</b>",
        "by_email": "admin@bits.example",
        "when": "1. desember 2026 kl. 10.00",
        "changes": ["Lagt til: <b>Frida</b> <f@x.example> som Teknisk kontakt"],
        "shared_mailbox": "ssu@bits.example",
    }
    letter = Renderer().letter(name, language, "SSU-D-2026-0042", **context)
    assert letter.subject.startswith("[SSU-D-2026-0042] ")
    assert "\n" not in letter.subject
    assert "<script>" not in letter.html and "<img src=x>" not in letter.html and "<b>Frida" not in letter.html
    assert "SSU-D-2026-0042" in letter.text and "SSU-D-2026-0042" in letter.html


def test_every_email_exists_in_both_languages_and_both_formats() -> None:
    names = {(p.parent.name, p.name) for p in (TEMPLATES_DIR / "emails").glob("*/*")}
    stems = {name.rsplit(".", 1)[0] for _, name in names}
    assert names == {(lang, f"{stem}.{ext}") for lang in ("nb", "en") for stem in stems for ext in ("txt", "html")}


def test_registry_lookups() -> None:
    registry = parse_registry_file(DEMO_REGISTRY)
    assert registry.is_contact_of("Fag@Demo-Forsikring.example", "310000019")
    assert not registry.is_contact_of("fag@demo-forsikring.example", "310000027")
    assert [o.legal_name for o in registry.organisations_of_domain("test-pensjon.example")] == ["Test Pensjon AS"]
    assert [o.organisation_number for o in registry.organisations_of_contact("teknisk@test-pensjon.example")] == [
        "310000027"
    ]
    production_ufore = registry.who_must_hear("production", "ufore", ["technical"])
    assert "teknisk@demo-forsikring.example" in {r.contact.email for r in production_ufore}
    assert "teknisk@test-pensjon.example" not in {r.contact.email for r in production_ufore}, "test only"
    test_ufore = {r.contact.email for r in registry.who_must_hear("test", "ufore", ["technical"])}
    assert "teknisk@test-pensjon.example" in test_ufore
    assert [c.email for c in registry.bits_contacts("approver")] == [
        "godkjenner1@bits.example",
        "godkjenner2@bits.example",
    ]
    assert set(registry.sources) == {"NAV", "ALTINN", "DIGDIR"}


def test_registry_csv_import(tmp_path: Path) -> None:
    path = tmp_path / "companies.csv"
    path.write_text(
        "organisation_number,legal_name,status,services,environments,contact_name,contact_email,contact_roles,contact_language\n"
        "310000094,Ny Forsikring AS,in_production,ufore|aap,test|production,Ola,ola@ny.example,technical|security,nb\n"
        "310000094,Ny Forsikring AS,in_production,ufore|aap,test|production,Kari,kari@ny.example,business,en\n",
        encoding="utf-8",
    )
    registry = parse_registry_file(path)
    org = registry.organisation("310000094")
    assert org is not None and [c.email for c in org.contacts] == ["ola@ny.example", "kari@ny.example"]
    assert org.environments == ["test", "production"] and org.contacts[1].language == "en"
    path.write_text("organisation_number,legal_name\n310000018,Feil AS\n", encoding="utf-8")
    with pytest.raises(RegistryFileError, match="310000018"):
        parse_registry_file(path)


def test_backoff_doubles_with_full_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=5, base_seconds=30, max_seconds=600)
    assert [policy.ceiling(n) for n in range(6)] == [30, 60, 120, 240, 480, 600]
    assert [policy.delay(n, None, rand=lambda: 1.0) for n in range(6)] == [30, 60, 120, 240, 480, 600]
    assert policy.delay(3, None, rand=lambda: 0.0) == 0, "full jitter: anywhere from nothing to the ceiling"
    waits = {round(policy.delay(3, None), 3) for _ in range(50)}
    assert len(waits) > 40 and all(0 <= w <= 240 for w in waits), "mails that failed together spread out"
    assert policy.delay(0, 120, rand=lambda: 0.0) == 120 and policy.delay(0, 120, rand=lambda: 1.0) == 132
