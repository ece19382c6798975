"""Process A, onboarding a data consumer, at a glance."""

from __future__ import annotations

from ..core.model import Process
from ..core.processes import DeadlineJob, ProcessDeclaration
from .contacts import CONTACTS_FORM
from .workflow import (
    BITS_DECISION,
    COMPANY_DECISION,
    EMAILED_REGISTRATIONS,
    KNOWN_REGISTRATIONS,
    PRODUCTION_FORM,
    REGISTRATION_FORM,
    SOURCE_PRODUCTION_DECISION,
    SOURCE_TEST_DECISION,
    remind_onboarding,
)

PROCESS = ProcessDeclaration(
    process=Process.ONBOARDING,
    name="onboarding",
    summary="A company registers; Bits accepts, the agreement is signed, NAV and Altinn give test access, the "
    "company asks for production and NAV opens it. The registry follows every step once the registration is "
    "vouched for (Bits' acceptance, or an existing contact's confirmation for a company it knows); contacts change "
    "by a confirmed form.",
    forms=(REGISTRATION_FORM, PRODUCTION_FORM, CONTACTS_FORM),
    intakes=(EMAILED_REGISTRATIONS, KNOWN_REGISTRATIONS),
    decisions=(BITS_DECISION, SOURCE_TEST_DECISION, SOURCE_PRODUCTION_DECISION, COMPANY_DECISION),
    deadline_jobs=(DeadlineJob("onboarding_reminders", remind_onboarding),),
)
