"""Process E, the terms: versions, acceptance and reminders, at a glance."""

from __future__ import annotations

from ..core.model import Process
from ..core.processes import DeadlineJob, ProcessDeclaration
from .by_email import terms_by_email
from .views import TERMS_FORM
from .workflow import ACCEPT_DECISION, remind_terms

PROCESS = ProcessDeclaration(
    process=Process.CHANGE_REQUEST,
    name="terms",
    summary="Bits publishes a terms version (form, JSON or a VILKÅR email); signatories accept by reply or signed "
    "link; the rest are reminded before it takes effect.",
    forms=(TERMS_FORM,),
    decisions=(ACCEPT_DECISION,),
    inbound=(terms_by_email,),
    deadline_jobs=(DeadlineJob("terms_reminders", remind_terms),),
)
