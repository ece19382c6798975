"""The mail corpus (tests/fixtures/mail/corpus/): realistic messages as the clients people use write them, each run
through the real intake and catalogue on Azurite, and held to what it must become - the command and the exact
reason, the route, the environment and component, the attachments, and who is mailed because of it.

Each message's expectations are in `replies.toml` (replies to our notices: a scenario sets up the case and the
notice, whose reference, Message-ID and Reply-To the message's placeholders take) or `messages.toml` (new cases,
follow-ups, broken and automatic mail). One test per message.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from email.utils import parseaddr
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest

from functions.catalogue import CATALOGUE
from functions.changes.workflow import CHANGE_REQUEST_FORM
from functions.composition import build_services
from functions.core.cases import AddressProof, confirm_submitter
from functions.core.forms import WebForm
from functions.core.inbound import Outcome
from functions.core.mail import OutgoingMail
from functions.core.model import Case, CaseEvent, Channel, held_reference
from functions.core.services import Services
from functions.core.settings import Settings
from functions.devhost.azurite import Azurite
from functions.incidents.security import SECURITY_BREACH_FORM
from functions.incidents.workflow import ERROR_REPORT_FORM
from functions.intake.workflow import process_message
from functions.onboarding.workflow import REGISTRATION_FORM
from functions.questions.workflow import QUESTION_FORM
from functions.registry_import import parse_registry_file
from tests.conftest import DEMO_REGISTRY, TEST_RATE_LIMIT, FakeClock, unique_prefix

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "mail" / "corpus"
SUPPORT = "support@bits.example"
SECURITY = "sikkerhet@bits.example"
APPROVER = "godkjenner1@bits.example"
COMMITTEE = "ingrid@nordlys-forsikring.example"
NOW = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)  # Sunday 29 November 2026, 18:00 in Oslo: when the corpus is read


def _entries() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for manifest in ("replies.toml", "messages.toml"):
        path = CORPUS / manifest
        if path.exists():
            entries += tomllib.loads(path.read_text(encoding="utf-8"))["message"]
    return entries


ENTRIES = _entries()


def test_every_message_in_the_corpus_has_an_entry_and_every_entry_a_message() -> None:
    files = {p.name for p in CORPUS.glob("*.eml")}
    listed = [e["file"] for e in ENTRIES]
    assert sorted(listed) == sorted(set(listed)), "a message is listed twice"
    assert set(listed) == files
    assert len(files) >= 60


@pytest.fixture
async def corpus_services(azurite: Azurite, tmp_path: Path) -> AsyncIterator[Services]:
    settings = Settings(
        storage_connection_string=azurite.connection_string,
        table_prefix=unique_prefix(),
        mail_local_dir=tmp_path / "mail",
        outbox_retry_base_seconds=0,
        rate_limit_per_ip=TEST_RATE_LIMIT,
        rate_limit_per_recipient=TEST_RATE_LIMIT,
        rate_limit_per_organisation=TEST_RATE_LIMIT,
        require_dmarc=True,  # as in Azure: a sender is proven by Exchange's verdict, or not at all
        committee_members=[COMMITTEE],
    )
    clock = FakeClock()
    clock.at = NOW
    services = build_services(settings, clock=clock)
    await services.registry_store.save_registry(parse_registry_file(DEMO_REGISTRY))
    yield services
    await services.close()


# -- setting up the case a reply answers -----------------------------------------------------------------------------


def _auth_header(address: str) -> str:
    domain = address.rsplit("@", 1)[1]
    if domain == "bits.example":
        return "X-MS-Exchange-Organization-AuthAs: Internal"
    return f"Authentication-Results: dmarc=pass action=none header.from={domain};compauth=pass reason=100"


async def _from_form(services: Services, form: WebForm, **changes: Any) -> str:
    """A case opened through a form by a browser that confirmed the submitter's address, as people do."""
    body = {**(form.example or {}), **changes}
    model = form.model.model_validate(body)
    email = str(body.get("email") or body["contacts"][0]["email"])
    case: Case = await form.submit(services, model, Channel.FORM, proof=AddressProof(email))
    if case.status == "awaiting_confirmation":
        [ask] = [m for m in await _pending(services, case.reference) if m.to == email]
        link = re.search(r"/api/confirm\?t=(\S+)", ask.text)
        assert link is not None
        await confirm_submitter(services, link.group(1), CATALOGUE.intakes)
    return case.reference


async def _pending(services: Services, reference: str) -> list[OutgoingMail]:
    """The case's mails whole (nothing is sent in these tests: every mail waits in the outbox), oldest first."""
    due = await services.store.due_mails(NOW + timedelta(days=400), 10_000)
    return sorted((r.mail for r in due if r.mail.reference == reference), key=lambda m: m.created_at)


async def _notice(services: Services, reference: str, person: str) -> OutgoingMail:
    """The latest mail on the case to `person` that asks them to act by replying."""
    asking = [m for m in await _pending(services, reference) if m.to == person and m.reply_to]
    assert asking, f"no notice to {person} on {reference}"
    return asking[-1]


async def _canned(services: Services, reference: str, person: str, body: str) -> None:
    """A plain reply from `person` to their notice, to move the case on to the next scenario's notice."""
    notice = await _notice(services, reference, person)
    raw = (
        f"{_auth_header(person)}\r\nFrom: {person}\r\nTo: {notice.reply_to}\r\nSubject: SV: {notice.subject}\r\n"
        f"Message-ID: <canned-{reference}-{person}@setup.example>\r\nIn-Reply-To: {notice.message_id}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()
    outcome = await process_message(services, raw, CATALOGUE)
    assert outcome.status == "decided", outcome


async def _question(services: Services) -> tuple[str, str]:
    return await _from_form(services, QUESTION_FORM), SUPPORT


async def _error_report(services: Services) -> tuple[str, str]:
    return await _from_form(services, ERROR_REPORT_FORM), SUPPORT


async def _change_request(services: Services) -> tuple[str, str]:
    return await _from_form(services, CHANGE_REQUEST_FORM), SUPPORT


async def _assessment(services: Services) -> tuple[str, str]:
    reference, _ = await _change_request(services)
    await _canned(services, reference, SUPPORT, "KOMPLETT")
    return reference, COMMITTEE


async def _decision(services: Services) -> tuple[str, str]:
    reference, _ = await _assessment(services)
    await _canned(services, reference, COMMITTEE, "ANBEFALER")
    return reference, APPROVER


async def _breach(services: Services) -> tuple[str, str]:
    return await _from_form(services, SECURITY_BREACH_FORM), SECURITY


async def _registration(services: Services) -> tuple[str, str]:
    return await _from_form(services, REGISTRATION_FORM), SUPPORT


async def _accepted_registration(services: Services) -> tuple[str, str]:
    reference, _ = await _registration(services)
    await _canned(services, reference, SUPPORT, "GODKJENT")
    return reference, SUPPORT


async def _draft(services: Services) -> tuple[str, str]:
    raw = (
        f"{_auth_header('drift@nav.example')}\r\nFrom: NAV drift <drift@nav.example>\r\nTo: ssu@bits.example\r\n"
        "Subject: Planlagt vedlikehold av uføre-API i produksjon 3. desember\r\n"
        "Message-ID: <nav-maintenance-setup@nav.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Uføre-API-et i produksjon er utilgjengelig torsdag 3. desember 2026 kl. 22:00 til 02:00.\r\n"
    ).encode()
    outcome = await process_message(services, raw, CATALOGUE)
    assert outcome.reference is not None, outcome
    return outcome.reference, SUPPORT


SCENARIOS: dict[str, Callable[[Services], Awaitable[tuple[str, str]]]] = {
    "question.bits": _question,
    "error_report.triage": _error_report,
    "change_request.handle": _change_request,
    "change_request.assess": _assessment,
    "change_request.decide": _decision,
    "security.acknowledge": _breach,
    "onboarding.bits": _registration,
    "onboarding.accepted": _accepted_registration,
    "alert.draft": _draft,
}


async def _follow_up(services: Services, sender: str, process: str) -> tuple[str, str]:
    """An open case of `sender`'s, and the Message-ID of the receipt they answer."""
    registry = await services.registry()
    [organisation] = registry.organisations_of_contact(sender)[:1]
    contact = next(c for c in organisation.contacts if c.email == sender)
    form = {"C": ERROR_REPORT_FORM, "D": QUESTION_FORM}[process]
    reference = await _from_form(
        services, form, email=sender, name=contact.name, organisation_number=organisation.organisation_number
    )
    receipt = [r.mail for r in await services.store.mails(reference) if r.mail.to == sender]
    return reference, receipt[0].message_id


# -- reading what became of a message ---------------------------------------------------------------------------------


# Mails that answer the message itself (a clarification, "already decided", a refusal): to its sender, as such.
_ANSWERS = ("clarify-", "already-", "refused", "draft-refused")


def _roles(services: Services, registry: Any, case: Case | None, sender: str, mails: list[OutgoingMail]) -> set[str]:
    bits = {c.email: c for c in (registry.bits.contacts if registry.bits else [])}
    sources = {c.email for s in registry.sources.values() for c in s.contacts}
    roles = set()
    for mail in mails:
        to = mail.to.casefold()
        if case is not None and to == case.submitter_email.casefold():
            roles.add("submitter")
        elif to == sender and mail.purpose.startswith(_ANSWERS):
            roles.add("sender")
        elif to in {m.casefold() for m in services.settings.committee_members} and mail.purpose.startswith("assess"):
            roles.add("committee")
        elif to in bits and bits[to].has_role("approver"):
            roles.add("approvers")
        elif to in bits:
            roles.add("bits")
        elif to in sources:
            roles.add("source")
        else:
            roles.add("companies")
    return roles


async def _everything_queued(services: Services) -> dict[tuple[str, str], OutgoingMail]:
    """Every mail waiting in the outbox, on any case: a decision may open another case or fan out."""
    due = await services.store.due_mails(NOW + timedelta(days=400), 10_000)
    return {(r.mail.reference, r.mail.mail_id): r.mail for r in due}


def _last(events: list[CaseEvent], test: Callable[[CaseEvent], bool]) -> CaseEvent:
    found = [e for e in events if test(e)]
    assert found, [e.kind for e in events]
    return found[-1]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
async def test_the_message_becomes_what_it_should(corpus_services: Services, entry: dict[str, Any]) -> None:
    services = corpus_services
    raw = (CORPUS / entry["file"]).read_bytes()
    sender = parseaddr(str(message_from_bytes(raw).get("from", "")))[1].casefold()
    scenario = entry["scenario"]
    reference: str | None = None
    if scenario in SCENARIOS:
        reference, person = await SCENARIOS[scenario](services)
        notice = await _notice(services, reference, person)
        assert notice.reply_to is not None
        token = notice.reply_to.split("+", 1)[1].split("@", 1)[0]
        subs = {"REF": reference, "MSGID": notice.message_id, "REPLY_TO": notice.reply_to, "TOKEN": token}
    elif scenario == "follow_up":
        reference, receipt = await _follow_up(services, sender, entry["process"])
        subs = {"REF": reference, "MSGID": receipt, "REPLY_TO": "ssu@bits.example", "TOKEN": ""}
    else:
        assert scenario == "new", scenario
        subs = {}
    for key, value in subs.items():
        raw = raw.replace(b"{" + key.encode() + b"}", value.encode())
    before = await _everything_queued(services)

    outcome: Outcome = await process_message(services, raw, CATALOGUE)
    again = await process_message(services, raw, CATALOGUE)  # a redelivery changes nothing
    assert outcome.status == entry["outcome"], outcome
    assert again.status in ("duplicate", outcome.status), again

    registry = await services.registry()
    message_id = str(message_from_bytes(raw).get("message-id", "")).strip()
    if outcome.status == "ignored":
        assert outcome.reference is None and entry.get("sent_to", []) == []
        assert not [k for k in await _everything_queued(services) if k not in before]
        return
    if outcome.status == "quarantined":
        held = held_reference(services.settings.reference_prefix, sha256(message_id.encode()).hexdigest())
        mails = [r.mail for r in await services.store.mails(held)]
        assert _roles(services, registry, None, sender, mails) == set(entry.get("sent_to", [])), mails
        [event] = await services.store.events(held)
        assert event.kind == "message_set_aside"
        return
    reference = reference or outcome.reference
    assert reference is not None, outcome
    stored = await services.store.load(reference)
    assert stored is not None
    case = stored.case
    events = await services.store.events(reference)
    new_mails = [m for key, m in (await _everything_queued(services)).items() if key not in before]
    expected_roles = set(entry.get("sent_to", []))
    assert _roles(services, registry, case, sender, new_mails) == expected_roles, [(m.to, m.purpose) for m in new_mails]

    if outcome.status == "decided":
        decided = _last(events, lambda e: e.data.get("reply", {}).get("message_id") == message_id)
        assert decided.data["reply"]["command"] == entry["command"]
        assert decided.data["reply"]["reason"] == entry["reason"]
        # The decision records who took it by name (as decoded from the From header), beside the address.
        shown = message_from_bytes(raw, policy=default)["from"].addresses[0].display_name
        assert decided.data["by_name"] == shown and decided.actor == sender
        if entry.get("note"):
            assert (decided.kind, decided.public) == ("note", False), decided
        if "defer_until" in entry:
            assert case.details["defer_until"] == entry["defer_until"]
    elif outcome.status == "unclear":
        unclear = _last(events, lambda e: e.kind == "decision_unclear")
        assert unclear.data["problem"] == entry["problem"]
    elif outcome.status == "new_case":
        assert (case.process.value, case.kind) == (entry["process"], entry["kind"])
        assert case.environment == entry.get("environment")
        if case.process.value == "B":  # a notice NAV emailed is a draft: its components are the draft's proposal
            assert case.details["proposal"]["components"][0] == entry.get("component")
        else:
            assert case.details.get("component") == entry.get("component")
        assert case.details.get("services") == entry.get("services")
        assert case.details.get("discovered_at") == entry.get("discovered_at")
        if "confirmation" in entry:
            # An unproven or unknown sender gets the signed link to confirm, by email as by the forms; no receipt.
            assert (not case.submitter_verified) == entry["confirmation"]
            to_sender = {m.purpose for m in new_mails if m.to.casefold() == sender}
            assert ("confirm-submitter" in to_sender) == entry["confirmation"], to_sender
            assert ("acknowledgement" in to_sender) != entry["confirmation"], to_sender
        received = _last(events, lambda e: e.kind == "received")
        _check_text(str(received.data.get("message", received.data.get("description", ""))), entry)
        _check_attachments(received.data.get("attachments", []), entry)
        _told_what_was_not_kept(await _pending(services, reference), sender, entry)
    elif outcome.status == "appended":
        appended = _last(events, lambda e: e.data.get("message_id") == message_id)
        _check_text(str(appended.data.get("message", "")), entry)
        _check_attachments(appended.data.get("attachments", []), entry)
        _told_what_was_not_kept(await _pending(services, reference), sender, entry)


def _told_what_was_not_kept(mails: list[OutgoingMail], sender: str, entry: dict[str, Any]) -> None:
    """A proven sender's receipt (or, on a case, a note of its own) names each attachment not kept; a sender who
    must confirm first gets the neutral link, which names nothing they sent."""
    if not entry.get("not_kept"):
        return
    to_sender = [m for m in mails if m.to.casefold() == sender]
    told = [m for m in to_sender if m.purpose == "acknowledgement" or m.purpose.startswith("attachments-")]
    if entry.get("confirmation"):
        assert not told and all(name not in m.text for m in to_sender for name in entry["not_kept"])
        return
    assert told, [m.purpose for m in to_sender]
    for name in entry["not_kept"]:
        assert any(name in m.text for m in told), name


def _check_text(text: str, entry: dict[str, Any]) -> None:
    for phrase in entry.get("text_has", []):
        assert phrase in text, (phrase, text)
    for phrase in entry.get("text_lacks", []):
        assert phrase not in text, (phrase, text)


def _check_attachments(attachments: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    if not any(k in entry for k in ("kept", "not_kept", "inline")):
        return
    inline = sorted(a["filename"] for a in attachments if a.get("inline"))
    files = [a for a in attachments if not a.get("inline")]
    assert sorted(a["filename"] for a in files if a["stored"]) == sorted(entry.get("kept", []))
    assert sorted(a["filename"] for a in files if not a["stored"]) == sorted(entry.get("not_kept", []))
    assert inline == sorted(entry.get("inline", []))
