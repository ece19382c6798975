"""The refusals of a production request, in words: for every place an onboarding can stand (and a company with no
onboarding here), nb and en say where it stands and what to do next, with no status code and never "none"."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from functions.core.model import Case, Organisation, Process
from functions.onboarding.entry import AWAITING_CONTACT
from functions.onboarding.workflow import CLOSED, STEPS, _not_yet
from tests.fakes import fake_services

STATUSES = sorted({AWAITING_CONTACT, *STEPS, *CLOSED} - {"test_access"})  # test_access may ask
CODE = re.compile(r"\b[a-z]+_[a-z_]+\b|\bnone\b")  # a code as stored (agreement_signed), or the old "none"
NEXT = ("gjenstår", "e-post", "meld", "skriv til Bits", "trenger ikke")  # a next step, in the Norwegian words
NEXT_EN = ("remains", "email", "register", "write to Bits", "no need")


def company(status: str, environments: list[str]) -> Organisation:
    return Organisation.model_validate(
        {
            "organisation_number": "310000027",
            "legal_name": "Test Pensjon AS",
            "status": status,
            "environments": environments,
        }
    )


def onboarding(status: str) -> Case:
    now = datetime(2026, 11, 30, 8, 15, tzinfo=UTC)
    return Case(
        reference="SSU-A-2026-0001",
        process=Process.ONBOARDING,
        kind="registration",
        status=status,
        organisation_number="310000027",
        submitter_name="Tom Tekniker",
        submitter_email="tek@test-pensjon.example",
        submitter_verified=True,
        title="Test Pensjon AS",
        created_at=now,
        updated_at=now,
    )


@pytest.mark.parametrize("status", STATUSES)
def test_every_onboarding_status_is_told_in_words_with_the_next_step(status: str) -> None:
    environments = ["test", "production"] if status == "in_production" else []
    nb, en = _not_yet(fake_services(), company(status, environments), onboarding(status))
    for text, steps in ((nb, NEXT), (en, NEXT_EN)):
        assert "Test Pensjon AS" in text
        assert not CODE.search(text.replace("ssu@bits.example", "")), text
        assert any(step in text for step in steps), text


@pytest.mark.parametrize(
    ("status", "environments", "expected"),
    [
        ("test_access", ["test"], "Send bestillingen på e-post til Bits på ssu@bits.example"),
        ("production_requested", ["test"], "allerede bestilt"),
        ("in_production", ["test", "production"], "allerede koblet til produksjon"),
    ],
)
def test_a_company_with_no_onboarding_here_is_told_what_to_do(
    status: str, environments: list[str], expected: str
) -> None:
    nb, en = _not_yet(fake_services(), company(status, environments), None)
    assert expected in nb, nb
    assert "none" not in nb and "none" not in en and not CODE.search(en.replace("ssu@bits.example", "")), en


def test_before_test_access_it_says_what_remains() -> None:
    nb, en = _not_yet(fake_services(), company("accepted", []), onboarding("accepted"))
    assert "Innmeldingen står nå på «godkjent – venter på signert avtale»" in nb
    assert "det som gjenstår nå, er at signataren signerer tilknytningsavtalen" in nb
    assert "what remains now is the signatory signing the connection agreement" in en
