"""Fan-outs resume whatever changed: interrupted after some chunks, the registry changed, run again - every current
recipient has the mail exactly once, nothing escapes, and the deadline jobs go on past one that fails."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from functions.alerts.models import AlertIn
from functions.alerts.workflow import publish_alert, recipients
from functions.catalogue import CATALOGUE
from functions.changes.workflow import check_change_requests, notify_companies
from functions.core.cases import FAN_OUT_CHUNK, fanned_out
from functions.core.identifiers import is_valid_organisation_number
from functions.core.model import Case, CaseEvent, Channel, Contact, Organisation, Process
from functions.core.processes import DEADLINE_RUNS, DeadlineJob, DeadlineJobsFailed, run_deadline_jobs
from functions.core.registry import Registry
from functions.core.services import Services
from functions.core.store import AlreadyQueued, StorageUnavailable
from tests.conftest import FakeClock

COMPANIES = 100  # with the demo registry's: three chunks of an alert, three of a change notice


def organisation_numbers(start: int, count: int) -> list[str]:
    """`count` valid organisation numbers from `start` up, the same every run."""
    found: list[str] = []
    number = start
    while len(found) < count:
        if is_valid_organisation_number(str(number)):
            found.append(str(number))
        number += 1
    return found


def company(number: str, *, connected: bool = True) -> Organisation:
    """A company in production on uføre with a technical and a business contact (disconnected: in no environment)."""
    return Organisation(
        organisation_number=number,
        legal_name=f"Selskap {number} AS",
        status="in_production",
        services=["ufore"],
        environments=["production"] if connected else [],
        contacts=[
            Contact(name="Tekniker", email=f"teknisk@s{number}.example", roles=["technical"]),
            Contact(name="Fagperson", email=f"fag@s{number}.example", roles=["business"], language="en"),
        ],
    )


MANY = [company(n) for n in organisation_numbers(320_000_000, COMPANIES)]
# They sort before every other company: had chunks been kept by position, every later mail would move.
JOINING = [company(n) for n in organisation_numbers(300_000_000, 2)]


class FailAfter:
    """A store's `append` that lets `calls` transactions through and then finds storage gone (once or for good)."""

    def __init__(self, services: Services, calls: int) -> None:
        self.real: Callable[..., Awaitable[None]] = services.store.append
        self.left = calls

    async def __call__(self, *args: Any, **kwargs: Any) -> None:
        if self.left <= 0:
            raise StorageUnavailable("storage went away mid fan-out (injected)")
        self.left -= 1
        await self.real(*args, **kwargs)


def alert(source_alert_id: str) -> AlertIn:
    return AlertIn(
        source_alert_id=source_alert_id,
        kind="maintenance",
        environments=["production"],
        components=["ufore-api"],
        severity="medium",
        title="Vedlikehold av uføre-API",
        description="API-et er utilgjengelig i vedlikeholdsvinduet.",
        starts_at=FakeClock().now() + timedelta(days=10),
        ends_at=FakeClock().now() + timedelta(days=10, hours=2),
    )


async def many_companies(services: Services) -> None:
    services.clock = FakeClock()
    await services.registry_store.save_registry(Registry.of(MANY, [], None))
    services.registry_cache.invalidate()


async def change_registry(services: Services, queued: set[str]) -> tuple[str, str]:
    """Two companies join; one company whose mail is queued leaves, and one whose mail is not. Returns the two
    leavers' technical addresses (queued, not queued)."""
    gone_queued = next(o for o in MANY if f"teknisk@s{o.organisation_number}.example" in queued)
    gone_waiting = next(o for o in reversed(MANY) if f"teknisk@s{o.organisation_number}.example" not in queued)
    for organisation in [*JOINING, company(gone_queued.organisation_number, connected=False)]:
        await services.registry_store.put_organisation(organisation)
    await services.registry_store.put_organisation(company(gone_waiting.organisation_number, connected=False))
    services.registry_cache.invalidate()
    return gone_queued.contacts[0].email, gone_waiting.contacts[0].email


async def addresses(services: Services, reference: str, purpose: str) -> Counter[str]:
    return Counter(m.mail.to for m in await services.store.mails(reference) if m.mail.purpose == purpose)


async def interrupted_alert(services: Services, monkeypatch: pytest.MonkeyPatch, source_alert_id: str) -> Case:
    """An alert whose fan-out stopped after its first chunk (storage went away): the POST failed."""
    await many_companies(services)
    failing = FailAfter(services, calls=1)
    monkeypatch.setattr(services.store, "append", failing)
    with pytest.raises(StorageUnavailable):
        await publish_alert(services, "NAV", alert(source_alert_id))
    monkeypatch.setattr(services.store, "append", failing.real)
    case = next(c for c in await services.store.cases(Process.NOTIFICATION) if source_alert_id in str(c.details))
    assert sum((await addresses(services, case.reference, "alert-r1")).values()) == FAN_OUT_CHUNK, "one of three"
    return case


async def everyone_now(services: Services, case: Case) -> set[str]:
    registry = await services.registry()
    return {c.email for c in [*recipients(registry, case.details), *registry.bits_contacts("support")]}


async def test_an_alert_posted_again_resumes_its_fan_out_whatever_changed(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = await interrupted_alert(services, monkeypatch, "NAV-FANOUT-1")
    queued = set(await addresses(services, case.reference, "alert-r1"))
    gone_queued, gone_waiting = await change_registry(services, queued)

    again, created = await publish_alert(services, "NAV", alert("NAV-FANOUT-1"))  # no AlreadyQueued escapes
    assert (again.reference, created) == (case.reference, False)
    sent = await addresses(services, case.reference, "alert-r1")
    assert set(sent.values()) == {1}, "nobody twice"
    # Everyone it concerns now, the two that joined meanwhile too; the one who left after their mail was queued
    # keeps it (it was due when the alert went out); the one who left before is not written to.
    joined = {o.contacts[0].email for o in JOINING}
    assert set(sent) == await everyone_now(services, case) | {gone_queued}
    assert joined <= set(sent) and gone_waiting not in sent
    assert len(sent) == 3 + COMPANIES + len(JOINING) - 1  # the demo's two and Bits, ours, joined, one left first
    assert await fanned_out(services, case.reference, f"fanout-{case.reference}-alert-r1")

    # Finished is finished: a company that joins later is not written to by the same alert posted once more.
    late = company(organisation_numbers(300_100_000, 1)[0])
    await services.registry_store.put_organisation(late)
    services.registry_cache.invalidate()
    await publish_alert(services, "NAV", alert("NAV-FANOUT-1"))
    assert await addresses(services, case.reference, "alert-r1") == sent


async def test_two_runs_resuming_one_fan_out_at_once_queue_each_mail_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = await interrupted_alert(services, monkeypatch, "NAV-FANOUT-2")
    await change_registry(services, set(await addresses(services, case.reference, "alert-r1")))
    real = services.store.append
    rivals: list[str] = []

    async def rival_first(*args: Any, **kwargs: Any) -> None:
        # Between this run's reading which mails the case has and its first write, a second run (the same alert
        # posted again at the same moment) does the whole fan-out: this run's chunk is refused as a whole.
        if not rivals:
            rivals.append("ran")
            await publish_alert(services, "NAV", alert("NAV-FANOUT-2"))
        await real(*args, **kwargs)

    monkeypatch.setattr(services.store, "append", rival_first)
    await publish_alert(services, "NAV", alert("NAV-FANOUT-2"))
    sent = await addresses(services, case.reference, "alert-r1")
    assert rivals and set(sent.values()) == {1}
    assert set(sent) >= await everyone_now(services, case)


async def approved_change(services: Services) -> Case:
    now = services.clock.now()
    case = Case(
        process=Process.CHANGE_REQUEST,
        kind="change",
        status="approved",
        organisation_number="310000019",
        submitter_name="Frida Fagerli",
        submitter_email="fag@demo-forsikring.example",
        submitter_verified=True,
        title="Nytt felt for uføregrad",
        created_at=now,
        updated_at=now,
        details={"decision": {"outcome": "approved", "reason": "Nyttig for alle."}},
    )
    event = CaseEvent(
        at=now,
        actor=case.submitter_email,
        channel=Channel.FORM,
        kind="received",
        public=True,
        summary="Change request received",
        data={"description": "Vi trenger uføregraden i svaret."},
    )
    return await services.store.create_case(case, event, lambda c: [])


async def test_a_change_notice_interrupted_is_finished_by_the_timer_whatever_changed(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await many_companies(services)
    case = await approved_change(services)
    failing = FailAfter(services, calls=1)
    monkeypatch.setattr(services.store, "append", failing)
    with pytest.raises(StorageUnavailable):
        await notify_companies(services, case)  # what follows the approval, cut off after the first chunk
    monkeypatch.setattr(services.store, "append", failing.real)
    queued = await addresses(services, case.reference, "change-notice")
    assert sum(queued.values()) == FAN_OUT_CHUNK
    for organisation in [*JOINING, company(MANY[-1].organisation_number, connected=False)]:
        await services.registry_store.put_organisation(organisation)
    services.registry_cache.invalidate()

    await check_change_requests(services)  # the timer mends it
    sent = await addresses(services, case.reference, "change-notice")
    registry = await services.registry()
    business = {
        c.email for o in registry.organisations.values() if o.environments for c in o.contacts if c.has_role("business")
    }
    assert set(sent.values()) == {1}, "nobody twice"
    assert set(sent) == business | (set(queued) - business), "the joined reached; a leaver's queued notice stays"
    assert {o.contacts[1].email for o in JOINING} <= set(sent) and MANY[-1].contacts[1].email not in sent
    await check_change_requests(services)
    assert await addresses(services, case.reference, "change-notice") == sent, "once done, never again"


async def test_the_deadline_timer_finishes_a_stuck_fan_out_and_goes_on_past_a_failing_job(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = await interrupted_alert(services, monkeypatch, "NAV-FANOUT-3")
    await change_registry(services, set(await addresses(services, case.reference, "alert-r1")))
    ran: list[str] = []

    def recorded(job: DeadlineJob) -> DeadlineJob:
        async def run(services: Services) -> object:
            result = await job.run(services)
            ran.append(job.name)
            return result

        return DeadlineJob(job.name, run)

    async def stuck(_: Services) -> None:
        raise AlreadyQueued(case.reference)  # how a stuck fan-out used to end every run

    jobs = [DeadlineJob("stuck", stuck), *map(recorded, CATALOGUE.deadline_jobs)]
    with pytest.raises(DeadlineJobsFailed) as failed:
        await run_deadline_jobs(services, jobs)
    assert failed.value.outcomes == {
        "stuck": "failed: AlreadyQueued",
        **{j.name: "ok" for j in CATALOGUE.deadline_jobs},
    }
    assert ran == [j.name for j in CATALOGUE.deadline_jobs], "every job after the failing one ran"
    runs = await services.state.get(DEADLINE_RUNS)
    assert runs is not None and runs["stuck"]["outcome"] == "failed: AlreadyQueued" and runs["stuck"]["last_ok"] is None

    # The alert job (among those after it) resumed the stuck fan-out: everyone has it once.
    sent = await addresses(services, case.reference, "alert-r1")
    assert set(sent.values()) == {1} and set(sent) >= await everyone_now(services, case)
    assert await run_deadline_jobs(services, CATALOGUE.deadline_jobs) == {j.name: "ok" for j in CATALOGUE.deadline_jobs}
