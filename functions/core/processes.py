"""What a governance process declares about itself, and the catalogue that gathers the declarations.

Each process package holds one `PROCESS = ProcessDeclaration(...)` (in its `process.py`): the forms and intakes that
open its cases, the decisions people take by replying, what it does with inbound mail that is not a reply, and its
deadline jobs. `functions/catalogue.py` is the one module that imports every process; intake, the submitter's
confirmation and the deadline timer get their lists from the `Catalogue` it builds, never from a process directly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from .cases import CaseIntake
from .commands import Decision
from .forms import WebForm
from .inbound import InboundMessage, Outcome, Route
from .model import Process
from .services import Services

log = logging.getLogger(__name__)

# A process's handler of inbound mail that belongs to no case (terms by email, a notice from a source): it answers
# None when the message is not its to take, so that intake tries the next one and then routes it as a new case.
InboundHandler = Callable[[Services, InboundMessage, Route], Awaitable[Outcome | None]]


@dataclass(frozen=True)
class DeadlineJob:
    """Work the `deadlines_check` timer does for a process (reminders, escalations, dates that come)."""

    name: str
    run: Callable[[Services], Awaitable[object]]


@dataclass(frozen=True)
class ProcessDeclaration:
    process: Process  # the letter: A–E
    name: str  # the package, e.g. "questions"
    summary: str  # in words, for people reading the code and the docs
    forms: tuple[WebForm, ...] = ()
    intakes: tuple[CaseIntake, ...] = ()  # every way its cases open (forms, email, other processes), by name
    decisions: tuple[Decision, ...] = ()
    inbound: tuple[InboundHandler, ...] = ()
    deadline_jobs: tuple[DeadlineJob, ...] = ()


@dataclass(frozen=True)
class Catalogue:
    """The processes' declarations, read as the lists the rest of the app needs."""

    processes: tuple[ProcessDeclaration, ...]
    common_jobs: tuple[DeadlineJob, ...] = ()  # deadline work across every process (response targets)
    intakes: dict[str, CaseIntake] = field(init=False)
    email_intakes: dict[str, CaseIntake] = field(init=False)
    decisions: dict[str, Decision] = field(init=False)

    def __post_init__(self) -> None:
        intakes: dict[str, CaseIntake] = {}
        decisions: dict[str, Decision] = {}
        email: dict[str, CaseIntake] = {}
        for declared in self.processes:
            for intake in (*declared.intakes, *(f.intake for f in declared.forms if f.intake)):
                if intakes.setdefault(intake.name, intake) is not intake:
                    raise ValueError(f"two intakes are named {intake.name}")
                if intake.email_route is not None and email.setdefault(intake.email_route, intake) is not intake:
                    raise ValueError(f"two intakes take the email route {intake.email_route}")
            for decision in declared.decisions:
                if decisions.setdefault(decision.name, decision) is not decision:
                    raise ValueError(f"two decisions are named {decision.name}")
        object.__setattr__(self, "intakes", intakes)
        object.__setattr__(self, "email_intakes", email)
        object.__setattr__(self, "decisions", decisions)

    @property
    def forms(self) -> list[tuple[ProcessDeclaration, WebForm]]:
        return [(declared, form) for declared in self.processes for form in declared.forms]

    @property
    def inbound(self) -> list[InboundHandler]:
        return [handler for declared in self.processes for handler in declared.inbound]

    @property
    def deadline_jobs(self) -> list[DeadlineJob]:
        return [*(job for declared in self.processes for job in declared.deadline_jobs), *self.common_jobs]


DEADLINE_RUNS = "deadline-jobs"  # the state record of the jobs' last runs


class DeadlineJobsFailed(Exception):
    """Raised after every job has run when one or more failed, so that the timer's run counts as failed (the host's
    failure count and alerts see it), while the other jobs still did their work."""

    def __init__(self, outcomes: dict[str, str]) -> None:
        failed = sorted(name for name, outcome in outcomes.items() if outcome != "ok")
        super().__init__(f"deadline jobs failed: {', '.join(failed)}")
        self.outcomes = outcomes


async def run_deadline_jobs(services: Services, jobs: Sequence[DeadlineJob]) -> dict[str, str]:
    """Run every job, each on its own: one that fails is logged and recorded and never stops the others; then
    DeadlineJobsFailed is raised if any failed."""
    outcomes: dict[str, str] = {}
    for job in jobs:
        try:
            await job.run(services)
            outcomes[job.name] = "ok"
        except Exception as exc:
            log.exception("deadlines: the job %s failed", job.name)
            outcomes[job.name] = f"failed: {type(exc).__name__}"
    try:
        runs = await services.state.get(DEADLINE_RUNS) or {}
        at = services.clock.now().isoformat()
        for name, outcome in outcomes.items():
            last_ok = at if outcome == "ok" else runs.get(name, {}).get("last_ok")
            runs[name] = {"at": at, "outcome": outcome, "last_ok": last_ok}
        await services.state.put(DEADLINE_RUNS, runs)
    except Exception:
        log.exception("deadlines: the jobs' outcomes could not be recorded")
    if any(outcome != "ok" for outcome in outcomes.values()):
        raise DeadlineJobsFailed(outcomes)
    return outcomes
