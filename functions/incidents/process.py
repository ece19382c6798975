"""Process C, error reports and security breaches, at a glance."""

from __future__ import annotations

from ..core.model import Process
from ..core.processes import DeadlineJob, ProcessDeclaration
from .security import (
    ACKNOWLEDGE_DECISION,
    EMAILED_BREACHES,
    REPORTED_DECISION,
    SECURITY_BREACH_FORM,
    check_breach_deadlines,
)
from .workflow import EMAILED_ERROR_REPORTS, ERROR_REPORT_FORM, TRIAGE_DECISION

PROCESS = ProcessDeclaration(
    process=Process.ERROR_REPORT,
    name="incidents",
    summary="An insurer reports an error (Bits triages: forward, ask, resolve, make an alert) or a security breach "
    "(Bits' and NAV's security contacts at once, escalation until acknowledged, the reporter's 72-hour clock).",
    forms=(ERROR_REPORT_FORM, SECURITY_BREACH_FORM),
    intakes=(EMAILED_ERROR_REPORTS, EMAILED_BREACHES),
    decisions=(TRIAGE_DECISION, ACKNOWLEDGE_DECISION, REPORTED_DECISION),
    deadline_jobs=(DeadlineJob("security_breaches", check_breach_deadlines),),
)
