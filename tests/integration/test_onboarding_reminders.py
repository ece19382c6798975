"""Onboarding reminders with a controllable clock: a step that waits five working days reminds whoever it waits
for, ten working days Bits, each once, and never over a weekend's or a holiday's count."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.core.model import CaseEvent, Channel
from functions.core.services import Services
from functions.onboarding.models import Registration
from functions.onboarding.workflow import register, remind_onboarding
from tests.conftest import FakeClock
from tests.fakes import GO_LIVE


def registration() -> Registration:
    return Registration.model_validate(
        {
            "organisation_number": "310000078",
            "legal_name": "Påminnelse Forsikring AS",
            "contacts": [
                {"role": "business", "name": "Berit", "email": "berit@paminnelse.example", "phone": "+4722000001"},
                {"role": "technical", "name": "Tom", "email": "tom@paminnelse.example", "phone": "+4722000002"},
                {"role": "security", "name": "Siv", "email": "siv@paminnelse.example", "phone": "+4722000003"},
                {"role": "signatory", "name": "Sam", "email": "sam@paminnelse.example", "phone": "+4722000004"},
            ],
            "services": ["aap"],
            "finans_norge_member": False,
            "desired_go_live": GO_LIVE,
        }
    )


async def test_waiting_steps_remind_the_one_waited_for_then_bits(services: Services) -> None:
    clock = services.clock = FakeClock()
    clock.at = datetime(2026, 12, 17, 9, 0, tzinfo=UTC)  # Thursday before Christmas
    case = await register(services, registration(), Channel.API)
    stored = await services.store.load(case.reference)
    assert stored is not None
    accepted = stored.case.model_copy(update={"status": "accepted", "updated_at": clock.now()})
    event = CaseEvent(at=clock.now(), actor="t", channel=Channel.EMAIL, kind="accepted", public=True, summary="x")
    await services.store.transition(stored, accepted, event)

    # Five working days from Thursday 17 December (10:00 in Oslo): 18, 21, 22, 23 and 24 December (Christmas Eve is
    # a working day with short hours; 25-27 December are not), so the reminder is due on the 24th at 10:00.
    clock.at = datetime(2026, 12, 24, 8, 0, tzinfo=UTC)
    assert await remind_onboarding(services) == 0
    clock.at = datetime(2026, 12, 24, 9, 30, tzinfo=UTC)
    assert await remind_onboarding(services) == 1
    assert await remind_onboarding(services) == 0, "once"
    mails = await services.store.mails(case.reference)
    assert [m.mail.to for m in mails if m.mail.purpose.startswith("reminder-")] == ["sam@paminnelse.example"]
    # Ten working days: 28-31 December and Monday 4 January (New Year's Day and the weekend do not count).
    clock.at = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
    assert await remind_onboarding(services) == 0
    clock.at = datetime(2027, 1, 4, 9, 30, tzinfo=UTC)
    assert await remind_onboarding(services) == 1
    escalations = [
        m.mail.to for m in await services.store.mails(case.reference) if m.mail.purpose.startswith("escalation-")
    ]
    assert escalations == ["support@bits.example"]
