"""What the retention sweep must not leave behind or let back in, over the fakes: registry edits and held messages on
erased cases, erased submissions in the work queue, the scrubber's time, the sweep's reads."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from unittest.mock import AsyncMock

import azure.functions as func
import pytest

from functions.adapters.telemetry import scrub
from functions.catalogue import CATALOGUE
from functions.core.deadlines import open_cases
from functions.core.model import CaseEvent, Channel
from functions.core.retention import ERASED, erase_expired
from functions.onboarding.contacts import confirm_page, request_update
from functions.onboarding.models import ROLES, ContactUpdate
from functions.questions.workflow import ask_question
from functions.workspace.held import Held, _choice, follow_through
from tests.fakes import clock_of, fake_services
from tests.unit.test_process_workflows import ASKER, question
from tests.unit.test_retention import NAME, SECRET_TEXT, closed_question, stored_text

ORG = "310000019"


async def test_an_erased_contact_update_writes_no_erased_contacts_to_the_registry() -> None:
    """Were a waiting contact update erased while its link still lived (the settings now refuse a period under 8
    days; this sets one past that check), the link must not apply the skeleton to the registry."""
    services = fake_services()
    services.settings = services.settings.model_copy(update={"retention_unconfirmed_days": 3})
    contacts = [
        {"role": r, "name": "Nina Ny", "email": "nina@demo-forsikring.example", "phone": "+4791234567"} for r in ROLES
    ]
    update = ContactUpdate.model_validate(
        {"organisation_number": ORG, "name": "Nina Ny", "email": "nina@demo-forsikring.example", "contacts": contacts}
    )
    case = await request_update(services, update, Channel.FORM)
    [mail] = [m for m in services.store._outbox.values() if m.mail.reference == case.reference][:1]  # type: ignore[attr-defined]
    link = mail.mail.text.split("registry/contacts/confirm?k=", 1)[1].split()[0]
    clock_of(services).advance(days=4)
    assert (await erase_expired(services)).erased == [case.reference]
    request = func.HttpRequest("POST", "/registry/contacts/confirm", params={"k": link}, body=b"")
    await confirm_page(request, services)
    organisation = await services.registry_store.get_organisation(ORG)
    assert organisation is not None
    assert all(c.email != ERASED for c in organisation.contacts), [c.email for c in organisation.contacts]


def test_the_scrubber_takes_linear_time_on_a_long_run_without_an_address() -> None:
    """A long hash, base64 blob or quoted body in an exception's text: the address pattern tried from every character
    of the run was quadratic (160 000 characters took over 30 seconds)."""
    started = time.perf_counter()
    scrub("a" * 200_000)
    scrub("1" * 200_000)
    assert time.perf_counter() - started < 1.0


async def test_an_erased_unconfirmed_submission_leaves_bits_work_queue() -> None:
    """An unconfirmed submission is erased as over for good, but keeps its status `awaiting_confirmation`, which
    `is_open` counts as open: every one ever made would stay in Bits' open cases (and be read each time) for ever."""
    services = fake_services()
    unconfirmed = await ask_question(services, question(email="ukjent@annet.example"), Channel.API)
    assert unconfirmed.status == "awaiting_confirmation"
    clock_of(services).advance(days=services.settings.retention_unconfirmed_days + 1)
    assert (await erase_expired(services)).erased == [unconfirmed.reference]
    queue = await open_cases(services, services.clock.now())
    assert unconfirmed.reference not in [row.case.reference for row in queue]


async def test_a_held_message_attached_to_an_erased_case_is_not_kept_under_its_skeleton() -> None:
    """Bits attaches a held message to a case (by default the one it names): the attach path checks only that the
    case exists, so an erased case gets the message's text and sender under its skeleton, which no sweep reads."""
    services = fake_services()
    reference = await closed_question(services)
    clock_of(services).advance(days=services.settings.retention_days["D"] + 1)
    assert (await erase_expired(services)).erased == [reference]
    skeleton = await stored_text(services, reference)
    now = services.clock.now()
    message = CaseEvent(
        at=now,
        actor="intake",
        channel=Channel.EMAIL,
        kind="held",
        public=False,
        summary="held",
        data={"text": SECRET_TEXT, "sender_address": ASKER, "sender_name": NAME, "case": reference},
    )
    handled = CaseEvent(
        at=now,
        actor="support@bits.example",
        channel=Channel.WEB,
        kind="held_handled",
        public=False,
        summary="attached",
        data={"action": "attach", "reference": reference},
    )
    held = Held("abc", "SSU-HELD-abc", message, handled)
    registry = await services.registry()
    assert await _choice(services, held, registry, "attach", {}) == ("erased_case", {"reference": reference})
    await follow_through(services, CATALOGUE, held)  # a choice recorded before the case was erased
    assert await stored_text(services, reference) == skeleton


async def test_the_files_in_use_are_read_before_the_budget_without_one_case_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Listing the files in use reads every live case's events, before the run's budget is looked at: read one by one
    (as it was), a store of thousands of cases takes the whole five minutes night after night and nothing is erased."""
    services = fake_services()
    reference = await closed_question(services)
    clock_of(services).advance(days=services.settings.retention_days["D"] + 1)
    store = services.store
    [case] = await store.cases()
    others = [case.model_copy(update={"reference": f"SSU-D-2020-{i:04d}", "status": "new"}) for i in range(400)]
    events = store.events

    async def slow_events(ref: str) -> Any:
        await asyncio.sleep(0.01)  # one storage query
        return await events(ref)

    monkeypatch.setattr(store, "cases", AsyncMock(return_value=[case, *others]))
    monkeypatch.setattr(store, "events", slow_events)
    started = time.perf_counter()
    assert (await erase_expired(services)).erased == [reference]
    assert time.perf_counter() - started < 1.5, "400 reads of 10 ms one after another"
