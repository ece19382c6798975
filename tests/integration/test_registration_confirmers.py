"""Registrations cannot make a company's existing contacts a mail target (over a real Azurite): each contact asked to
confirm counts against the per-recipient limit (over it: the case is stored, that mail withheld, Bits' notice says
so), and while one registration for a company waits for its contacts, another is answered with its reference and
mails nobody."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from functions.composition import build_services
from functions.core.forms import Refusal, SubmissionRefused
from functions.core.model import Channel, Contact, Organisation, Process
from functions.core.services import Services
from functions.core.settings import Settings
from functions.onboarding.entry import AWAITING_CONTACT, CONFIRM_DAYS
from functions.onboarding.models import Registration
from functions.onboarding.workflow import register
from functions.registry_import import parse_registry_file
from tests.conftest import DEMO_REGISTRY, FakeClock
from tests.e2e.helpers import new_organisation_number
from tests.fakes import GO_LIVE

LIMIT = 2


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[Services]:
    built = build_services(settings.model_copy(update={"rate_limit_per_recipient": LIMIT}))
    built.clock = FakeClock()
    await built.registry_store.save_registry(parse_registry_file(DEMO_REGISTRY))
    yield built
    await built.close()


async def known_company(services: Services, signatory: str) -> str:
    """A company the registry knows (imported, no onboarding), whose signatory is `signatory`."""
    number = new_organisation_number()
    contacts = [
        Contact(name="Frida Fag", email=f"fag@ekte{number}.example", roles=["business"]),
        Contact(name="Signe Signatar", email=signatory, roles=["signatory"]),
    ]
    entry = Organisation(organisation_number=number, legal_name="Ekte Forsikring AS", contacts=contacts)
    await services.registry_store.put_organisation(entry)
    services.registry_cache.invalidate()
    return number


def attack(number: str, **changes: Any) -> Registration:
    evil = f"angriper-{uuid.uuid4().hex[:6]}.example"
    body: dict[str, Any] = {
        "organisation_number": number,
        "legal_name": "Ekte Forsikring AS",
        "contacts": [
            {"role": role, "name": "Eve Angriper", "email": f"{role}@{evil}", "phone": "+47 99 00 00 01"}
            for role in ("business", "technical", "security", "signatory")
        ],
        "services": ["ufore"],
        "finans_norge_member": True,
        "desired_go_live": GO_LIVE,
        **changes,
    }
    return Registration.model_validate(body)


async def asked(services: Services, reference: str, address: str) -> bool:
    return any(
        m.mail.to == address and m.mail.purpose == "confirm-registration" for m in await services.store.mails(reference)
    )


async def test_a_contact_of_many_companies_gets_at_most_the_limit_of_confirmation_links(limited: Services) -> None:
    services = limited
    signatory = f"signe-{uuid.uuid4().hex[:6]}@konsulent.example"  # signs for several companies
    numbers = [await known_company(services, signatory) for _ in range(LIMIT + 2)]
    cases = [await register(services, attack(number), Channel.API) for number in numbers]
    assert all(c.status == AWAITING_CONTACT for c in cases), "every registration is stored"
    assert [await asked(services, c.reference, signatory) for c in cases] == [True] * LIMIT + [False] * 2

    over = cases[LIMIT]
    assert over.details["confirmation_withheld_for"] == [signatory] and over.details["confirmation_sent_to"] == []
    due = await services.store.due_mails(services.clock.now(), 5000)
    [notice] = [m.mail for m in due if m.mail.reference == over.reference and m.mail.to == "support@bits.example"]
    assert f"Lenken er ikke sendt til {signatory}" in notice.text, "Bits is told, in the one notice of the case"
    assert "confirmation_withheld_for" not in cases[0].details

    clock = services.clock
    assert isinstance(clock, FakeClock)
    clock.at += timedelta(hours=2)  # the next hour: the signatory may be asked again
    fresh = await known_company(services, signatory)
    assert await asked(services, (await register(services, attack(fresh), Channel.API)).reference, signatory)


async def test_one_waiting_confirmation_per_company_and_the_second_registration_mails_nobody(
    limited: Services,
) -> None:
    services = limited
    signatory = f"signe-{uuid.uuid4().hex[:6]}@ekte.example"
    number = await known_company(services, signatory)
    first = await register(services, attack(number), Channel.API)
    assert await asked(services, first.reference, signatory)
    mails_before = len(await services.store.due_mails(services.clock.now() + timedelta(days=30), 5000))

    # The attack: another registration for the same company, with other contacts, while the first waits.
    with pytest.raises(SubmissionRefused) as refused:
        await register(services, attack(number, legal_name="Ekte Forsikring AS (ny ledelse)"), Channel.API)
    assert refused.value.why is Refusal.CONFLICT and refused.value.reference == first.reference
    assert first.reference in refused.value.nb and first.reference in refused.value.en
    waiting = [c for c in await services.store.cases(Process.ONBOARDING) if c.organisation_number == number]
    assert [c.reference for c in waiting] == [first.reference], "no second case"
    assert len(await services.store.due_mails(services.clock.now() + timedelta(days=30), 5000)) == mails_before

    # Once the first one's links have expired, the company's contacts may be asked again.
    clock = services.clock
    assert isinstance(clock, FakeClock)
    clock.at += timedelta(days=CONFIRM_DAYS, hours=1)
    later = await register(services, attack(number), Channel.API)
    assert later.reference != first.reference and await asked(services, later.reference, signatory)
