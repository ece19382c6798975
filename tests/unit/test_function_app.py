"""Importing the function app registers exactly the functions we expect, without side effects or heavy imports."""

from __future__ import annotations

import functools
import subprocess
import sys
from typing import Any

from functions.devhost.azurite import PROJECT_ROOT

EXPECTED = {
    "health": ("httpTrigger", "health"),
    "openapi": ("httpTrigger", "openapi.json"),
    "outbox_dispatch": ("timerTrigger", None),
    "outbox_wake": ("queueTrigger", None),
    "mail_suppressions": ("httpTrigger", "mail/suppressions"),
    "mail_suppression_lift": ("httpTrigger", "mail/suppressions/{address}"),
    "mailbox_poll": ("timerTrigger", None),
    "mailbox_notifications": ("httpTrigger", "mailbox/notifications"),
    "mailbox_subscription_renew": ("timerTrigger", None),
    "questions": ("httpTrigger", "questions"),
    "incidents": ("httpTrigger", "incidents"),
    "change_requests": ("httpTrigger", "change-requests"),
    "terms_publish": ("httpTrigger", "terms"),
    "terms_acceptances": ("httpTrigger", "terms/{reference}"),
    "terms_accept": ("httpTrigger", "terms-accept"),
    "terms_document": ("httpTrigger", "terms-document/{sha256}"),
    "onboarding_registration": ("httpTrigger", "onboarding/registration"),
    "onboarding_production": ("httpTrigger", "onboarding/production"),
    "onboarding_production_confirm": ("httpTrigger", "onboarding/production/confirm"),
    "registry_organisation": ("httpTrigger", "registry/organisations/{number}"),
    "registry_contacts": ("httpTrigger", "registry/contacts"),
    "registry_contacts_confirm": ("httpTrigger", "registry/contacts/confirm"),
    "alerts": ("httpTrigger", "alerts"),
    "alert": ("httpTrigger", "alerts/{reference}"),
    "alert_resolve": ("httpTrigger", "alerts/{reference}/resolve"),
    "status_page": ("httpTrigger", "status"),
    "status_feed": ("httpTrigger", "status/feed.atom"),
    "status_calendar": ("httpTrigger", "status/maintenance.ics"),
    "security_breaches": ("httpTrigger", "incidents/security"),
    "deadlines_check": ("timerTrigger", None),
    "retention_sweep": ("timerTrigger", None),
    "overview": ("httpTrigger", "overview"),
    "bits_queue": ("httpTrigger", "bits"),
    "bits_case": ("httpTrigger", "bits/cases/{reference}"),
    "bits_case_attachment": ("httpTrigger", "bits/cases/{reference}/attachments/{sha256}"),
    "bits_case_action": ("httpTrigger", "bits/cases/{reference}/actions"),
    "bits_case_export": ("httpTrigger", "bits/cases/{reference}/export"),
    "bits_registry": ("httpTrigger", "bits/registry"),
    "bits_registry_company": ("httpTrigger", "bits/registry/{organisation_number}"),
    "bits_registry_change": ("httpTrigger", "bits/registry/{organisation_number}/changes"),
    "bits_mail": ("httpTrigger", "bits/mail"),
    "bits_mail_lift": ("httpTrigger", "bits/mail/lift"),
    "bits_mail_resend": ("httpTrigger", "bits/mail/resend"),
    "bits_held": ("httpTrigger", "bits/held"),
    "bits_held_action": ("httpTrigger", "bits/held/{key}/actions"),
    "bits_publishing": ("httpTrigger", "bits/publishing"),
    "bits_publishing_draft": ("httpTrigger", "bits/publishing/drafts/{reference}"),
    "bits_publishing_terms": ("httpTrigger", "bits/publishing/terms"),
    "start_page": ("httpTrigger", "start"),
    "case_page": ("httpTrigger", "case-page/{reference}"),
    "confirm_submitter": ("httpTrigger", "confirm"),
    "cases_get": ("httpTrigger", "cases/{reference}"),
    "cases_list": ("httpTrigger", "cases"),
}


@functools.cache
def registered() -> list[Any]:
    # The SDK validates names on every get_functions() call and fails on the second: ask once.
    from function_app import app

    return list(app.get_functions())


def test_exact_set_of_registered_functions() -> None:
    found = {
        f.get_function_name(): (f.get_trigger().get_binding_name(), getattr(f.get_trigger(), "route", None))
        for f in registered()
    }
    assert found == EXPECTED


def test_timer_schedule_comes_from_a_setting() -> None:
    [timer] = [f for f in registered() if f.get_function_name() == "outbox_dispatch"]
    assert timer.get_trigger().schedule == "%SSU_OUTBOX_SCHEDULE%"


def test_import_needs_no_configuration_and_does_not_load_msgraph() -> None:
    code = "import sys, function_app; assert 'msgraph' not in sys.modules, 'msgraph imported'; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, env={"PATH": "/usr/bin"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_every_form_in_the_catalogue_is_served_at_its_route() -> None:
    from functions.catalogue import CATALOGUE

    routes = {getattr(f.get_trigger(), "route", None) for f in registered()}
    forms = CATALOGUE.forms
    assert len(forms) >= 8, (
        "questions, error reports, breaches, change requests, terms, registration, production, contacts"
    )
    missing = [form.route for _, form in forms if form.route not in routes]
    assert not missing, f"forms whose route no trigger serves: {missing}"
