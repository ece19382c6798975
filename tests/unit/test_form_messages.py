"""Form errors in words for every rule: a choice left open is told to choose, an item of a list is told at the
field that holds the list, an http:// redirect domain says it must be https, and dates that make no sense refused."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from pydantic import ValidationError

from functions.core.rendering import OSLO
from functions.onboarding.models import ProductionRequest, Registration
from functions.questions.models import Question
from functions.web.forms import at_fields, field_errors


def errors_of(
    model: type[Registration] | type[ProductionRequest] | type[Question], body: dict[str, object]
) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body)
    return field_errors(raised.value, "nb", model)


def test_a_dropdown_left_open_is_told_to_choose() -> None:
    errors = errors_of(Question, {})
    assert errors["service"] == "Velg et av alternativene."
    assert errors["subject"] == "Fyll ut dette feltet."
    assert errors_of(Registration, {})["services"] == "Velg minst ett alternativ."


def test_an_http_redirect_domain_is_told_at_the_field_that_it_must_be_https() -> None:
    with pytest.raises(ValidationError) as raised:
        ProductionRequest.model_validate({"production_redirect_domains": ["https://ok.example", "http://old.example"]})
    precise = field_errors(raised.value, "en")
    assert precise["production_redirect_domains.1"].startswith('"http://old.example" starts with http://.')
    shown = at_fields(field_errors(raised.value, "nb"))
    assert "Redirect-domener må bruke https" in shown["production_redirect_domains"]
    assert "production_redirect_domains.1" not in shown
    assert at_fields({"contacts.0.email": "x", "services.1": "y"}) == {"contacts.0.email": "x", "services": "y"}
    path = errors_of(ProductionRequest, {"production_redirect_domains": ["https://app.example/login"]})
    assert "«https://app.example/login» er ikke en gyldig adresse" in path["production_redirect_domains.0"]


def test_dates_that_make_no_sense_are_refused() -> None:
    today = datetime.now(OSLO).date()
    past = errors_of(Registration, {"desired_go_live": (today - timedelta(days=1)).isoformat()})
    assert past["desired_go_live"] == "Datoen har allerede vært. Velg i dag eller en dato fram i tid."
    assert "desired_go_live" not in errors_of(Registration, {"desired_go_live": today.isoformat()})
    ahead = errors_of(ProductionRequest, {"integration_tests_passed_on": (today + timedelta(days=1)).isoformat()})
    assert ahead["integration_tests_passed_on"].startswith("Datoen er fram i tid.")
    assert "integration_tests_passed_on" not in errors_of(
        ProductionRequest, {"integration_tests_passed_on": str(date(2026, 1, 5))}
    )


def test_half_a_supplier_is_told_at_the_supplier_field() -> None:
    assert errors_of(Registration, {"supplier_name": "Lev AS"})["supplier_name"].startswith("Oppgi både")
    assert "supplier_name" not in errors_of(
        Registration, {"supplier_name": "Lev AS", "supplier_organisation_number": "310000027"}
    )
    assert "supplier_name" not in errors_of(Registration, {})
