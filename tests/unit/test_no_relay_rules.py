"""The pure parts of "no relay": which client address counts (never a client's own claim), the sliding window's
arithmetic, and the rule that an unproven submitter's address gets only neutral mail - also from later steps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from functions.catalogue import CATALOGUE
from functions.core.cases import confirm_submitter, submitter_proven, tell_submitter
from functions.core.model import Case, Channel
from functions.core.rate_limits import EMPTY, WINDOW, Counts, RateLimit, decide, retry_after
from functions.core.services import Services
from functions.incidents import security
from functions.incidents.models import SecurityBreach
from functions.onboarding import workflow as onboarding
from functions.onboarding.models import Registration
from functions.web.rate_limit import UNKNOWN, client_network, parse_address
from tests.fakes import GO_LIVE, clock_of, fake_services

HOUR = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


# -- the client's address --------------------------------------------------------------------------------------------


def test_forged_left_entries_of_x_forwarded_for_are_ignored() -> None:
    # The client wrote the first two; App Service's front end appended the address it accepted the connection from.
    assert client_network({"x-forwarded-for": "10.0.0.1, 198.51.100.1, 203.0.113.9:52311"}) == "203.0.113.9"
    assert client_network({"x-forwarded-for": "1.2.3.4"}) == "1.2.3.4", "alone, the entry is the front end's"


def test_the_platforms_client_ip_header_wins_over_x_forwarded_for() -> None:
    headers = {"client-ip": "203.0.113.9:52311", "x-forwarded-for": "198.51.100.1, 192.0.2.1"}
    assert client_network(headers) == "203.0.113.9"
    assert client_network({"client-ip": "not an address", "x-forwarded-for": "192.0.2.1:1"}) == "192.0.2.1"


def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert parse_address("[2001:db8:1:2:aaaa::1]:443") == "2001:db8:1:2::/64"
    assert parse_address("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64", "another host of the same network"
    assert parse_address("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert parse_address("::ffff:198.51.100.1") == "198.51.100.1"
    assert parse_address("fe80::1%eth0") == "fe80::/64"


def test_no_usable_address_is_one_shared_bucket() -> None:
    assert client_network({}) == UNKNOWN
    assert client_network({"x-forwarded-for": "unknown, <script>"}) == UNKNOWN
    assert parse_address("[2001:db8::1") is None and parse_address("") is None


# -- the window ------------------------------------------------------------------------------------------------------


def test_the_limit_holds_and_a_refusal_counts_nothing() -> None:
    limit = RateLimit("ip:192.0.2.1", 3)
    counts = EMPTY
    for _ in range(3):
        wait, after = decide([(limit, counts)], HOUR, WINDOW)
        assert wait is None
        counts = after[0]
    wait, after = decide([(limit, counts)], HOUR, WINDOW)
    assert wait is not None and after == []


def test_a_burst_across_the_window_boundary_does_not_get_twice_the_limit() -> None:
    full = Counts(window=int(HOUR.timestamp() // 3600) - 1, current=3, previous=0)  # three at 09:59
    assert retry_after(full, 3, HOUR + timedelta(minutes=1), WINDOW) is not None, "at 10:01 the last hour has three"
    wait = retry_after(full, 3, HOUR + timedelta(minutes=1), WINDOW)
    assert wait is not None
    later = HOUR + timedelta(minutes=1, seconds=wait)
    assert retry_after(full, 3, later, WINDOW) is None, "Retry-After is honest: allowed when it says"
    assert retry_after(full, 3, later - timedelta(seconds=2), WINDOW) is not None


def test_one_refusing_counter_refuses_the_hit_for_all() -> None:
    spent = (RateLimit("to:victim@example.org", 1), Counts(int(HOUR.timestamp() // 3600), 1, 0))
    fresh = (RateLimit("ip:192.0.2.1", 30), EMPTY)
    wait, after = decide([fresh, spent], HOUR, WINDOW)
    assert wait is not None and after == []


# -- neutral mail to unproven addresses ------------------------------------------------------------------------------


def registration() -> Registration:
    return Registration.model_validate(
        {
            "organisation_number": "310000078",
            "legal_name": "Vinn en iPhone på evil.example",
            "contacts": [
                {"role": role, "name": "Offer Offersen", "email": f"{role}@victim.example", "phone": "+47 22 00 00 01"}
                for role in ("business", "technical", "security", "signatory")
            ],
            "services": ["ufore"],
            "finans_norge_member": True,
            "desired_go_live": GO_LIVE,
        }
    )


async def confirm_link(services: Services, reference: str, to: str) -> str:
    due = await services.store.due_mails(services.clock.now() + timedelta(days=1), 1000)
    [request] = [r.mail for r in due if r.mail.reference == reference and r.mail.purpose == "confirm-submitter"]
    assert request.to == to
    link = re.search(r"/api/confirm\?t=(\S+)", request.text)
    assert link
    return link.group(1)


async def test_what_bits_writes_later_reaches_an_unproven_registrant_only_as_the_neutral_request() -> None:
    services = fake_services()
    case = await onboarding.register(services, registration(), Channel.API)
    assert not submitter_proven(case)
    question = tell_submitter(
        services,
        case,
        purpose="question-1",
        template="onboarding_update",
        update="question",
        text="Hvem er dere?",
        next_step="bits_accepts",
    )
    seen = question.subject + question.text + question.html
    assert "evil.example" not in seen and "Offersen" not in seen and "Hvem er dere" not in seen
    assert "/api/confirm?t=" in question.text and question.purpose == "question-1"

    result = await confirm_submitter(
        services, await confirm_link(services, case.reference, case.submitter_email), CATALOGUE.intakes
    )
    assert result.outcome == "confirmed" and result.case is not None and submitter_proven(result.case)
    after = tell_submitter(
        services,
        result.case,
        purpose="question-2",
        template="onboarding_update",
        update="question",
        text="Hvem er dere?",
        next_step="bits_accepts",
    )
    assert "Hvem er dere?" in after.text, "once proven, the address gets what Bits writes"
    again = await confirm_submitter(
        services, await confirm_link(services, case.reference, case.submitter_email), CATALOGUE.intakes
    )
    assert again.outcome == "already"


def breach(services: Services, email: str) -> SecurityBreach:
    discovered = services.clock.now() - timedelta(minutes=10)
    return SecurityBreach(
        organisation_number="310000019",
        name="Vinn en iPhone",
        email=email,
        phone="+47 22 33 44 55",
        occurred_at=discovered - timedelta(hours=2),
        discovered_at=discovered,
        breach_type=["confidentiality"],
        data_categories="Uføregrad",
        persons_affected=40,
        description="Privat nøkkel lagt i et offentlig repo.",
        containment="Nøkkelen er rotert.",
    )


async def gdpr_reminders(services: Services, case: Case) -> list[str]:
    return [r.mail.to for r in await services.store.mails(case.reference) if r.mail.purpose == "gdpr-reminder"]


async def test_an_unproven_breach_reporter_gets_no_deadline_reminder_until_confirmed() -> None:
    services = fake_services()
    clock = clock_of(services)
    case = await security.report_breach(services, breach(services, "offer@victim.example"), Channel.API)
    clock.at = datetime.fromisoformat(case.details["gdpr_deadline"]) - timedelta(hours=11)
    await security.check_breach_deadlines(services)
    assert await gdpr_reminders(services, case) == [], "the reminder carries the reporter's name: it waits"

    link = await confirm_link(services, case.reference, "offer@victim.example")
    assert (await confirm_submitter(services, link, CATALOGUE.intakes)).outcome == "confirmed"
    await security.check_breach_deadlines(services)
    assert await gdpr_reminders(services, case) == ["offer@victim.example"]
