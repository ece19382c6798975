"""Process B, notices from NAV, Altinn and Digdir, at a glance. The alert API itself is in `api.py`."""

from __future__ import annotations

from ..core.model import Process
from ..core.processes import DeadlineJob, ProcessDeclaration
from .drafts import DRAFT_DECISION, EMAILED_DRAFTS, EMAILED_NOTICES, REPORT_DRAFTS, draft_from_source_mail
from .workflow import remind_alerts

PROCESS = ProcessDeclaration(
    process=Process.NOTIFICATION,
    name="alerts",
    summary="NAV, Altinn and Digdir publish, revise and close alerts through the API; a notice they email is a "
    "draft Bits publishes by replying. One mail per affected contact, reminders, a status page and feeds.",
    intakes=(EMAILED_DRAFTS, REPORT_DRAFTS, EMAILED_NOTICES),
    decisions=(DRAFT_DECISION,),
    inbound=(draft_from_source_mail,),
    deadline_jobs=(DeadlineJob("alert_reminders", remind_alerts),),
)
