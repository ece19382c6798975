"""An alert revised or closed while its fan-out is unfinished: everyone ends with the current revision (or the closing)
exactly once, nobody is queued an old revision after the new one, and a retried POST never resumes a stale fan-out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from functions.alerts.workflow import close_alert, publish_alert, remind_alerts, revise_alert
from functions.core.cases import FAN_OUT_CHUNK
from functions.core.model import CaseEvent, Channel, Process
from functions.core.services import Services
from functions.core.store import StorageUnavailable
from tests.integration.test_fanout_resume import (
    FailAfter,
    addresses,
    alert,
    everyone_now,
    interrupted_alert,
    many_companies,
)


class WriteOrder:
    """A store's `append` that records, in the order they were written, the purposes of the mails each call wrote;
    `pause` seconds after each write let another request run in between."""

    def __init__(self, services: Services, pause: float = 0.0) -> None:
        self.real: Callable[..., Awaitable[None]] = services.store.append
        self.pause = pause
        self.written: list[str] = []
        self.first = asyncio.Event()

    async def __call__(self, reference: str, event: CaseEvent, mails: Any = (), *args: Any, **kwargs: Any) -> None:
        await self.real(reference, event, mails, *args, **kwargs)
        self.written += [m.purpose for m in mails]
        self.first.set()
        await asyncio.sleep(self.pause)


def old_after_new(written: list[str], old: str, new: str) -> int:
    """How many mails of `old` were written after the first of `new`."""
    return written[written.index(new) :].count(old) if new in written else 0


async def test_a_closing_finishes_an_interrupted_fan_out_first_and_a_retried_post_sends_nothing_stale(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = await interrupted_alert(services, monkeypatch, "NAV-RACE-CLOSE")
    order = WriteOrder(services)
    monkeypatch.setattr(services.store, "append", order)
    stored = await services.store.load(case.reference)
    assert stored is not None
    await close_alert(services, stored, "resolved", "Vedlikeholdet er ferdig.")
    closed = await addresses(services, case.reference, "alert-closed")
    everyone = await everyone_now(services, case)
    assert set(closed) == everyone and set(closed.values()) == {1}, "the closing to everyone, once each"

    again, created = await publish_alert(services, "NAV", alert("NAV-RACE-CLOSE"))  # the source retries its POST
    await remind_alerts(services)  # and the timer that mends fan-outs
    assert (again.status, created) == ("closed", False)
    first = await addresses(services, case.reference, "alert-r1")
    assert set(first) == everyone and set(first.values()) == {1}
    assert await addresses(services, case.reference, "alert-closed") == closed, "nothing more after the closing"
    assert order.written.count("alert-r1") == len(everyone) - FAN_OUT_CHUNK
    assert old_after_new(order.written, "alert-r1", "alert-closed") == 0, "no alert queued after its closing"


async def test_a_revision_finishes_an_interrupted_fan_out_first_and_a_retried_post_resumes_no_old_revision(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = await interrupted_alert(services, monkeypatch, "NAV-RACE-REVISE")
    order = WriteOrder(services)
    monkeypatch.setattr(services.store, "append", order)
    stored = await services.store.load(case.reference)
    assert stored is not None
    later = (services.clock.now() + timedelta(days=20)).isoformat()
    await revise_alert(services, stored, {"starts_at": later})
    await publish_alert(services, "NAV", alert("NAV-RACE-REVISE"))
    await remind_alerts(services)

    everyone = await everyone_now(services, case)
    second = await addresses(services, case.reference, "alert-r2")
    assert set(second) == everyone and set(second.values()) == {1}, "the new times to everyone, once each"
    assert set((await addresses(services, case.reference, "alert-r1")).values()) == {1}
    assert old_after_new(order.written, "alert-r1", "alert-r2") == 0, "no old revision queued after the new one"


async def test_a_revision_while_the_first_fan_out_is_still_writing_reaches_everyone(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await many_companies(services)
    order = WriteOrder(services, pause=0.3)
    monkeypatch.setattr(services.store, "append", order)
    post = asyncio.create_task(publish_alert(services, "NAV", alert("NAV-RACE-CONC")))
    await order.first.wait()  # the POST has written its first chunk and is about to write the next
    case = next(c for c in await services.store.cases(Process.NOTIFICATION) if "NAV-RACE-CONC" in str(c.details))
    order.pause = 0.0
    stored = await services.store.load(case.reference)
    assert stored is not None
    await revise_alert(services, stored, {"starts_at": (services.clock.now() + timedelta(days=30)).isoformat()})
    await post

    everyone = await everyone_now(services, case)
    first = await addresses(services, case.reference, "alert-r1")
    second = await addresses(services, case.reference, "alert-r2")
    assert set(first) == everyone and set(first.values()) == {1}
    assert set(second) == everyone and set(second.values()) == {1}, "nobody left with only the old times"
    assert old_after_new(order.written, "alert-r1", "alert-r2") == 0


async def test_a_retried_post_on_an_alert_closed_with_its_fan_out_unfinished_sends_the_closing_not_the_alert(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An alert closed while its first fan-out stayed unfinished (stored so before closings finished it first).
    case = await interrupted_alert(services, monkeypatch, "NAV-RACE-OLD")
    stored = await services.store.load(case.reference)
    assert stored is not None
    now = services.clock.now()
    closed = case.model_copy(update={"status": "closed", "details": {**case.details, "outcome": "cancelled"}})
    event = CaseEvent(
        at=now, actor="NAV", channel=Channel.API, kind="cancelled", public=True, summary="Alert cancelled",
        data={"text": "Vedlikeholdet er avlyst."},
    )  # fmt: skip
    await services.store.transition(stored, closed, event)

    await publish_alert(services, "NAV", alert("NAV-RACE-OLD"))
    everyone = await everyone_now(services, case)
    assert sum((await addresses(services, case.reference, "alert-r1")).values()) == FAN_OUT_CHUNK, "no stale alert"
    closing = await addresses(services, case.reference, "alert-closed")
    assert set(closing) == everyone and set(closing.values()) == {1}


async def test_closing_a_closed_alert_again_finishes_a_closing_that_was_cut_short(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await many_companies(services)
    case, _ = await publish_alert(services, "NAV", alert("NAV-RACE-RECLOSE"))
    everyone = await everyone_now(services, case)
    stored = await services.store.load(case.reference)
    assert stored is not None
    failing = FailAfter(services, calls=1)
    monkeypatch.setattr(services.store, "append", failing)
    with pytest.raises(StorageUnavailable):
        await close_alert(services, stored, "resolved", "Ferdig.")
    monkeypatch.setattr(services.store, "append", failing.real)
    assert sum((await addresses(services, case.reference, "alert-closed")).values()) == FAN_OUT_CHUNK, "cut short"

    again = await services.store.load(case.reference)
    assert again is not None and again.case.status == "closed"
    await close_alert(services, again, "resolved", "Ferdig.")  # the source sends its resolve again
    closed = await addresses(services, case.reference, "alert-closed")
    assert set(closed) == everyone and set(closed.values()) == {1}, "the closing to everyone, once each"
    kinds = [e.kind for e in await services.store.events(case.reference)]
    assert kinds.count("resolved") == 1, "closing twice is closing once"
