"""Each timer's last run (start, finish, outcome) in the state store, written by one wrapper round every timer body."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from . import telemetry
from .services import Services

log = logging.getLogger(__name__)
T = TypeVar("T")

# The timers whose runs are recorded, by function name: /api/health reads these records.
TIMERS = ("outbox_dispatch", "mailbox_poll", "mailbox_subscription_renew", "deadlines_check", "retention_sweep")


def run_state(name: str) -> str:
    """The state record of one timer's last run: one record per timer, so that timers never overwrite each other."""
    return f"timer-run-{name}"


async def timed_run(services: Services, name: str, body: Callable[[], Awaitable[T]]) -> T:
    """Run a timer's body in a `timer run` span, recording when it started, when it finished and how (ok, or the
    exception's type only: a message may hold personal data), and counting the run by outcome (the alerts read
    it). The body's exception is raised again, so the host counts the run as failed; a failure to record is logged
    and never fails the run."""
    started = services.clock.now().isoformat()
    with telemetry.operation("timer run", timer=name) as run:
        await _record(services, name, {"started_at": started, "finished_at": None, "outcome": "running"})
        try:
            result = await body()
        except Exception as exc:
            await _record(services, name, _finished(services, started, f"failed: {type(exc).__name__}"))
            run.note(outcome="failed")
            telemetry.count("ssu.timer.runs", timer=name, outcome="failed")
            raise
        await _record(services, name, _finished(services, started, "ok"))
        run.note(outcome="ok")
        telemetry.count("ssu.timer.runs", timer=name, outcome="ok")
        return result


def _finished(services: Services, started: str, outcome: str) -> dict[str, Any]:
    return {"started_at": started, "finished_at": services.clock.now().isoformat(), "outcome": outcome}


async def _record(services: Services, name: str, run: dict[str, Any]) -> None:
    try:
        previous = await services.state.get(run_state(name)) or {}
        last_ok = run["finished_at"] if run["outcome"] == "ok" else previous.get("last_ok_at")
        await services.state.put(run_state(name), {**run, "last_ok_at": last_ok})
    except Exception:
        log.exception("timers: the run of %s could not be recorded", name)
