"""Retention over the fakes: a closed case past its period is erased to its skeleton, on time and not before; open
cases are untouched; a second run changes nothing; Bits' deciders keep their names, the data subject does not."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest

from functions.cases import case_page
from functions.catalogue import CATALOGUE
from functions.core.model import CaseEvent, Channel
from functions.core.outbox import dispatch_outbox
from functions.core.retention import ERASED, ERASED_KIND, Deciders, RetentionSweepFailed, erase_event, erase_expired
from functions.core.services import Services
from functions.core.settings import Settings
from functions.core.store import ConcurrentUpdate
from functions.intake.workflow import process_message
from functions.questions.workflow import QUESTION_DECISION, RESOLVE, ask_question
from functions.registry_import import parse_registry_file
from tests.conftest import DEMO_REGISTRY
from tests.fakes import FakeAttachmentStore, FakeCaseStore, clock_of, fake_services
from tests.unit.test_process_workflows import ASKER, BITS, PROVEN_ASKER, decide, question

NAME, PHONE = "Frida Fagerli", "98765432"
SECRET_TEXT = f"Ring meg på {PHONE}, hilsen {NAME}"
FILE = b"%PDF-1.4 vedtak for en person"
FILE_HASH = hashlib.sha256(FILE).hexdigest()


async def closed_question(services: Services, subject: str = "Hvordan tolke uføregrad?") -> str:
    """A question with a personal text, a message with a stored file, answered and closed by Bits' support."""
    case = await ask_question(
        services, question(subject=subject, question=SECRET_TEXT), Channel.FORM, proof=PROVEN_ASKER
    )
    await services.blobs.put(FILE_HASH, FILE, "application/pdf")
    attachment = {"filename": "vedtak_frida.pdf", "content_type": "application/pdf", "size": len(FILE)}
    attachment |= {"sha256": FILE_HASH, "stored": True, "inline": False, "refused": False}
    message = CaseEvent(
        at=services.clock.now(),
        actor=ASKER,
        channel=Channel.EMAIL,
        kind="message",
        public=True,
        summary=f"Message by email: {NAME}",
        data={"message": SECRET_TEXT, "message_id": "<abc@demo-forsikring.example>", "attachments": [attachment]},
    )
    await services.store.append(case.reference, message)
    await decide(services, QUESTION_DECISION, case.reference, BITS, RESOLVE, f"Besvart på telefon {PHONE}.")
    stored = await services.store.load(case.reference)
    assert stored is not None and stored.case.status == "closed"
    return case.reference


def everything(dumped: Any) -> str:
    return json.dumps(dumped, default=str, ensure_ascii=False)


async def stored_text(services: Services, reference: str) -> str:
    """Every row the store holds of the case, as text (the fake's own rows, letters included)."""
    store = services.store
    assert isinstance(store, FakeCaseStore)
    loaded = await store.load(reference)
    assert loaded is not None
    rows: list[Any] = [loaded.case.model_dump(), *(e.model_dump() for e in await store.events(reference))]
    rows += [vars(s.mail) | {"error": s.last_error} for (ref, _), s in store._mails.items() if ref == reference]
    rows += [vars(p.mail) for p in store._outbox.values() if p.mail.reference == reference]
    rows += [vars(r.mail) for (ref, _), r in store._failed.items() if ref == reference]
    rows += [t.model_dump() for t in await store.tokens(reference)]
    return everything(rows)


async def sent(services: Services) -> None:
    await dispatch_outbox(services.store, services.transport, services.clock, services.retry_policy)


async def test_a_closed_question_is_erased_after_its_period_and_keeps_its_skeleton() -> None:
    services = fake_services()
    reference = await closed_question(services)
    await sent(services)
    before = await stored_text(services, reference)
    assert NAME in before and ASKER in before and PHONE in before, "the test's data is there to be erased"
    clock = clock_of(services)
    days = services.settings.retention_days["D"]

    clock.advance(days=days - 1)
    assert (await erase_expired(services)).erased == []
    assert await stored_text(services, reference) == before, "a day before the period nothing changes"
    assert FILE_HASH in blobs(services)

    clock.advance(days=1, seconds=1)
    assert (await erase_expired(services)).erased == [reference]
    after = await stored_text(services, reference)
    for personal in (NAME, ASKER, PHONE, "vedtak_frida", "uføregrad", "demo-forsikring.example"):
        assert personal not in after, personal
    assert FILE_HASH not in blobs(services), "the file's bytes are gone"

    loaded = await services.store.load(reference)
    assert loaded is not None
    case = loaded.case
    assert (case.reference, case.process.value, case.status, case.kind) == (reference, "D", "closed", "question")
    assert (case.submitter_name, case.submitter_email, case.title) == (ERASED, ERASED, ERASED)
    assert case.organisation_number == "310000019" and case.details["service"] == "ufore"
    events = await services.store.events(reference)
    assert [e.kind for e in events] == ["received", "message", "resolved", ERASED_KIND]
    received, message, resolved, erased = events
    assert received.actor == ERASED and message.actor == ERASED, "the data subject's address goes"
    [attachment] = message.data["attachments"]
    assert (attachment["filename"], attachment["sha256"], attachment["stored"]) == (ERASED, ERASED, False)
    assert attachment["refused"] == "erased" and attachment["size"] == len(FILE)
    # Who decided stays (Bits' support); what they wrote goes (it may quote the data subject).
    assert resolved.actor == BITS and resolved.data["text"] == ERASED and resolved.summary == ERASED
    assert erased.data["retention_rule"] == "D" and erased.data["retention_days"] == days and erased.at == clock.now()
    mails = await services.store.mails(reference)
    assert mails and all(m.mail.to == ERASED and m.mail.subject == ERASED for m in mails)
    assert {m.mail.purpose for m in mails} >= {"acknowledgement", "resolved"} and {m.status for m in mails} == {"sent"}
    assert await services.store.tokens(reference) == [], "no token decides anything on an erased case"

    # A second run (the next night) changes nothing.
    clock.advance(days=1)
    assert (await erase_expired(services)).erased == []
    assert await stored_text(services, reference) == after


async def test_open_cases_are_never_touched_however_old() -> None:
    services = fake_services()
    case = await ask_question(services, question(question=SECRET_TEXT), Channel.FORM, proof=PROVEN_ASKER)
    answered = await ask_question(services, question(subject="Svart, ikke lukket"), Channel.FORM, proof=PROVEN_ASKER)
    await decide(services, QUESTION_DECISION, answered.reference, BITS, None, "Svar.")
    before = {r: await stored_text(services, r) for r in (case.reference, answered.reference)}
    clock_of(services).advance(days=3650)
    assert (await erase_expired(services)).erased == []
    for reference, text in before.items():
        assert await stored_text(services, reference) == text


async def test_a_submission_never_confirmed_is_erased_after_its_own_shorter_period() -> None:
    """Anyone can type another person's name and address into a form: when nobody confirmed it, nobody can take it
    further once its link has expired, and what it says about that person goes after SSU_RETENTION_UNCONFIRMED_DAYS."""
    services = fake_services()
    victim = "ukjent@annet.example"
    unconfirmed = await ask_question(services, question(email=victim, question=SECRET_TEXT), Channel.API)
    assert unconfirmed.status == "awaiting_confirmation"
    days = services.settings.retention_unconfirmed_days
    clock_of(services).advance(days=days - 1)
    assert (await erase_expired(services)).erased == []
    clock_of(services).advance(days=1, minutes=1)
    assert (await erase_expired(services)).erased == [unconfirmed.reference]
    text = await stored_text(services, unconfirmed.reference)
    assert victim not in text and SECRET_TEXT not in text
    stored = await services.store.load(unconfirmed.reference)
    assert stored is not None and stored.case.details["retention_rule"] == "unconfirmed"


async def test_a_message_on_a_closed_case_restarts_its_period() -> None:
    services = fake_services()
    reference = await closed_question(services)
    clock = clock_of(services)
    clock.advance(days=100)
    late = CaseEvent(at=clock.now(), actor=ASKER, channel=Channel.WEB, kind="message", public=True, summary="x")
    await services.store.append(reference, late.model_copy(update={"data": {"message": SECRET_TEXT}}))
    clock.advance(days=services.settings.retention_days["D"] - 1)
    assert (await erase_expired(services)).erased == [], "the late message is kept the whole period"
    clock.advance(days=2)
    assert (await erase_expired(services)).erased == [reference]


async def test_a_file_another_case_still_lists_stays() -> None:
    services = fake_services()
    old = await closed_question(services, "Gammelt")
    clock_of(services).advance(days=services.settings.retention_days["D"] + 1)
    fresh = await closed_question(services, "Nytt, samme vedlegg")
    assert (await erase_expired(services)).erased == [old]
    assert FILE_HASH in blobs(services), f"{fresh} still lists it"
    clock_of(services).advance(days=services.settings.retention_days["D"] + 1)
    assert (await erase_expired(services)).erased == [fresh]
    assert FILE_HASH not in blobs(services)


async def test_the_period_is_per_process_and_kind() -> None:
    settings = Settings(retention_days={"A": 10, "B": 10, "C": 10, "D": 30, "E": 10})
    services = fake_services(retention_days=settings.retention_days)
    reference = await closed_question(services)
    clock_of(services).advance(days=29)
    assert (await erase_expired(services)).erased == []
    clock_of(services).advance(days=2)
    assert (await erase_expired(services)).erased == [reference]


def test_every_process_needs_a_period() -> None:
    with pytest.raises(ValueError, match="no retention period for D"):
        Settings(retention_days={"A": 10, "B": 10, "C": 10, "E": 10})
    with pytest.raises(ValueError, match="outside"):
        Settings(retention_days={"A": 0, "B": 10, "C": 10, "D": 10, "E": 10})
    with pytest.raises(ValueError, match="not a process"):
        Settings(retention_days={"A": 1, "B": 1, "C": 1, "D": 1, "E": 1, "X": 1})
    defaults = Settings().retention_days
    assert defaults["C:security_breach"] > defaults["C"] > defaults["D"], "breaches longest, questions shortest"


async def test_a_case_changed_meanwhile_is_left_for_the_next_run() -> None:
    services = fake_services()
    reference = await closed_question(services)
    clock_of(services).advance(days=services.settings.retention_days["D"] + 1)
    store = services.store
    assert isinstance(store, FakeCaseStore)
    real = store.erase_personal_data

    async def raced(*args: Any, **kwargs: Any) -> Any:
        raise ConcurrentUpdate(reference)

    store.erase_personal_data = raced  # type: ignore[method-assign]
    with pytest.raises(RetentionSweepFailed, match=reference):
        await erase_expired(services)
    store.erase_personal_data = real  # type: ignore[method-assign]
    assert NAME in await stored_text(services, reference)
    assert (await erase_expired(services)).erased == [reference]


async def test_the_fake_refuses_a_stale_etag() -> None:
    services = fake_services()
    reference = await closed_question(services)
    stale = await services.store.load(reference)
    assert stale is not None
    await services.store.transition(stale, stale.case.model_copy(update={"updated_at": stale.case.updated_at}), _note())
    with pytest.raises(ConcurrentUpdate):
        await services.store.erase_personal_data(stale, stale.case, _note(), lambda e: e, ERASED)


def test_deciders_keep_their_names_and_the_command_the_data_subject_does_not() -> None:
    deciders = Deciders.of(Settings(committee_members=["fagutvalg@nav.example"]), parse_registry_file(DEMO_REGISTRY))
    reply = {
        "command": "resolve",
        "reason": f"ring {PHONE}",
        "message_id": "<x@y>",
        "decision": "q",
        "status": "closed",
    }
    by_mail = CaseEvent(
        at=datetime(2026, 1, 1, tzinfo=UTC),
        actor="godkjenner1@bits.example",
        channel=Channel.EMAIL,
        kind="rejected",
        public=True,
        summary=f"Rejected: {NAME}",
        data={
            "by_name": "Godkjenner 1",
            "reply": reply,
            "decision": {"by": "godkjenner1@bits.example", "at": "2026-01-01"},
        },
    )
    kept = erase_event(by_mail, deciders)
    assert kept.actor == "godkjenner1@bits.example" and kept.data["by_name"] == "Godkjenner 1"
    assert kept.data["reply"] == {**reply, "reason": ERASED, "message_id": ERASED}
    assert kept.data["decision"] == {"by": "godkjenner1@bits.example", "at": "2026-01-01"}
    # Staff signed in to the workspace decide under their Entra identity, whatever the registry lists.
    in_browser = by_mail.model_copy(update={"actor": "ny.ansatt@bits.example", "channel": Channel.WEB})
    assert erase_event(in_browser, deciders).actor == "ny.ansatt@bits.example"
    # A company's signatory answering by reply is the data subject: name and address go, the command stays.
    company = by_mail.model_copy(
        update={"actor": ASKER, "data": {"by_name": NAME, "reply": reply, "decision": {"by": ASKER}}}
    )
    erased = erase_event(company, deciders)
    assert (erased.actor, erased.data["by_name"], erased.data["decision"]["by"]) == (ERASED, ERASED, ERASED)
    assert erased.data["reply"]["command"] == "resolve"
    committee = by_mail.model_copy(update={"actor": "fagutvalg@nav.example"})
    assert erase_event(committee, deciders).actor == "fagutvalg@nav.example"
    nav = by_mail.model_copy(update={"actor": "NAV", "channel": Channel.API})
    assert erase_event(nav, deciders).actor == "NAV"
    # Contacts in a case's details: every name, address and phone goes, their roles stay.
    contacts = {
        "contacts": [{"name": NAME, "email": ASKER, "phone": PHONE, "roles": ["technical"]}],
        "severity": "high",
    }
    scrubbed = erase_event(by_mail.model_copy(update={"data": contacts}), deciders).data
    assert scrubbed == {
        "contacts": [{"name": ERASED, "email": ERASED, "phone": ERASED, "roles": ["technical"]}],
        "severity": "high",
    }


def _note() -> CaseEvent:
    return CaseEvent(
        at=datetime(2026, 11, 29, tzinfo=UTC), actor="x", channel=Channel.TIMER, kind="note", public=False, summary=""
    )


def blobs(services: Services) -> dict[str, Any]:
    assert isinstance(services.blobs, FakeAttachmentStore)
    return services.blobs.blobs


async def test_a_run_out_of_time_leaves_the_rest_for_the_next_night(monkeypatch: pytest.MonkeyPatch) -> None:
    services = fake_services()
    first = await closed_question(services, "Først")
    second = await closed_question(services, "Deretter")
    clock_of(services).advance(days=services.settings.retention_days["D"] + 1)
    monkeypatch.setattr("functions.core.retention.RUN_SECONDS", -1.0)  # out of time before the first case
    sweep = await erase_expired(services)
    assert sweep.erased == [] and sweep.kept == 2
    monkeypatch.setattr("functions.core.retention.RUN_SECONDS", 240.0)
    assert sorted((await erase_expired(services)).erased) == sorted([first, second])


async def test_what_is_written_to_an_erased_case_is_never_kept_under_its_skeleton() -> None:
    """A reply to an erased case (its reference in the subject) is taken in as if it named no case: its own case
    then, with its own period; the skeleton gets nothing that would be kept for ever."""
    services = fake_services()
    reference = await closed_question(services)
    clock_of(services).advance(days=services.settings.retention_days["D"] + 1)
    assert (await erase_expired(services)).erased == [reference]
    skeleton = await stored_text(services, reference)
    raw = (
        f"From: Frida Fagerli <{ASKER}>\r\nTo: ssu@bits.example\r\nSubject: SV: [{reference}] Hvordan tolke?\r\n"
        "Message-ID: <late-reply@demo-forsikring.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Jeg har et oppfølgingsspørsmål. {SECRET_TEXT}\r\n"
    ).encode()
    outcome = await process_message(services, raw, CATALOGUE)
    assert outcome.reference != reference and outcome.status in ("new_case", "held"), outcome
    assert await stored_text(services, reference) == skeleton


async def test_the_case_page_box_of_an_erased_case_takes_nothing() -> None:
    services = fake_services()
    reference = await closed_question(services)
    clock_of(services).advance(days=services.settings.retention_days["D"] + 1)
    assert (await erase_expired(services)).erased == [reference]
    stored = await services.store.load(reference)
    assert stored is not None
    events_before = await services.store.events(reference)
    link = services.case_page_link(reference)
    query = dict(part.split("=", 1) for part in link.split("?", 1)[1].split("&"))
    request = func.HttpRequest(
        "POST",
        link,
        headers={"content-type": "application/x-www-form-urlencoded"},
        params=query,
        route_params={"reference": reference},
        body=b"message=Hei%2C+Frida+her+igjen",
    )
    answer = await case_page.add(request, services, stored.case, "nb")
    assert answer.status_code == 403 and "opplysningene i den er slettet" in answer.get_body().decode()
    assert await services.store.events(reference) == events_before


async def test_a_held_message_goes_whole_with_its_own_file_and_not_a_file_a_case_lists() -> None:
    services = fake_services()
    reference = await closed_question(services)  # lists FILE_HASH, and is not due (just closed)
    own = b"%PDF-1.4 bare i den holdte meldingen"
    own_hash = hashlib.sha256(own).hexdigest()
    await services.blobs.put(own_hash, own, "application/pdf")
    held = "SSU-HELD-0123456789abcdef"
    files = [
        {"filename": "felles.pdf", "sha256": FILE_HASH, "stored": True, "size": len(FILE)},
        {"filename": "egen.pdf", "sha256": own_hash, "stored": True, "size": len(own)},
    ]
    event = CaseEvent(
        at=services.clock.now(),
        actor=ASKER,
        channel=Channel.EMAIL,
        kind="message_held",
        public=False,
        summary=f"Held: {NAME}",
        data={"text": SECRET_TEXT, "attachments": files},
    )
    await services.store.append(held, event)
    clock_of(services).advance(days=services.settings.retention_held_days - 1)
    assert (await erase_expired(services)).held_forgotten == []
    clock_of(services).advance(days=1, minutes=1)
    sweep = await erase_expired(services)
    assert sweep.held_forgotten == [held] and await services.store.events(held) == []
    assert own_hash not in blobs(services) and FILE_HASH in blobs(services), f"{reference} still lists its file"


def test_an_unconfirmed_period_shorter_than_a_confirmation_link_is_refused() -> None:
    with pytest.raises(ValueError, match="retention_unconfirmed_days"):
        Settings(retention_unconfirmed_days=3)
    with pytest.raises(ValueError, match="SSU_RETENTION_UNCONFIRMED_DAYS"):
        Settings(retention_unconfirmed_days=9, confirmation_link_hours=24 * 10)
