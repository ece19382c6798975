"""The process catalogue: the one module that imports every process. Intake, the submitter's confirmation and the
deadline timer read their lists from `CATALOGUE`; a new process adds its `PROCESS` here and nowhere else. (The
OpenAPI document still names the processes' models itself.)"""

from __future__ import annotations

from .alerts.process import PROCESS as NOTICES
from .changes.process import PROCESS as CHANGE_REQUESTS
from .core.deadlines import check_response_targets
from .core.processes import Catalogue, DeadlineJob
from .incidents.process import PROCESS as ERROR_REPORTS
from .onboarding.process import PROCESS as ONBOARDING
from .questions.process import PROCESS as QUESTIONS
from .terms.process import PROCESS as TERMS

CATALOGUE = Catalogue(
    # The order is the order inbound-mail handlers are asked in (terms by email before a source's notice) and
    # deadline jobs run in (security breaches first).
    processes=(ERROR_REPORTS, TERMS, NOTICES, QUESTIONS, CHANGE_REQUESTS, ONBOARDING),
    common_jobs=(DeadlineJob("response_targets", check_response_targets),),
)
