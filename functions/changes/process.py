"""Process E, change requests, at a glance (the terms are `functions/terms`)."""

from __future__ import annotations

from ..core.model import Process
from ..core.processes import DeadlineJob, ProcessDeclaration
from .workflow import (
    ASSESS_DECISION,
    CHANGE_REQUEST_FORM,
    DECIDE_DECISION,
    EMAILED_CHANGE_REQUESTS,
    FOLLOW_UP_DECISION,
    HANDLE_DECISION,
    check_change_requests,
)

PROCESS = ProcessDeclaration(
    process=Process.CHANGE_REQUEST,
    name="changes",
    summary="An insurer or NAV submits a change request; Bits handles it, the expert committee recommends, the "
    "approvers decide (first reply wins), NAV plans and implements; a deferred request comes back on its date.",
    forms=(CHANGE_REQUEST_FORM,),
    intakes=(EMAILED_CHANGE_REQUESTS,),
    decisions=(HANDLE_DECISION, ASSESS_DECISION, DECIDE_DECISION, FOLLOW_UP_DECISION),
    deadline_jobs=(DeadlineJob("change_requests", check_change_requests),),
)
