"""The submitter's case page in words: what was sent (only the form's fields, never what the case keeps about
itself), whose move it is, and when Bits answers at the latest in office hours or that it has answered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from functions.cases.case_page import first_answer, next_step, submitted_rows
from functions.core.model import Case, CaseEvent, Channel, Process
from functions.core.targets import deadlines

MONDAY_NINE = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09.00 in Oslo


def case(**changes: object) -> Case:
    fields: dict[str, object] = {
        "reference": "SSU-D-2026-0001",
        "process": Process.QUESTION,
        "kind": "question",
        "status": "new",
        "organisation_number": "310000019",
        "submitter_name": "Frida Fagerli",
        "submitter_email": "fag@demo-forsikring.example",
        "submitter_verified": True,
        "environment": "production",
        "title": "Uføregrad mot IFU",
        "created_at": MONDAY_NINE,
        "updated_at": MONDAY_NINE,
        "details": {
            "service": "ufore",
            "category": "data_interpretation",
            "intake": "question-form",
            "submitter_token": "secret-token-value",
        },
    }
    return Case.model_validate({**fields, **changes})


def event(kind: str, at: datetime = MONDAY_NINE, actor: str = "support@bits.example", **data: object) -> CaseEvent:
    return CaseEvent(at=at, actor=actor, channel=Channel.EMAIL, kind=kind, public=True, summary=kind, data=data)


def test_what_was_sent_is_the_forms_fields_in_words_and_nothing_the_case_keeps_about_itself() -> None:
    received = {"question": "Hvilken skal vi bruke?", "verified": True, "identity_numbers_removed": 1}
    rows = {r.label: r.text for r in submitted_rows(case(), received, "Demo Forsikring ASA", "nb")}
    assert rows["Tjeneste"] == "Uføretrygd" and rows["Hva gjelder det?"] == "Tolking av data"
    assert rows["Miljø"] == "Produksjon" and rows["Spørsmål"] == "Hvilken skal vi bruke?"
    assert rows["Innsender"] == "Frida Fagerli <fag@demo-forsikring.example>"
    shown = " ".join(f"{k} {v}" for k, v in rows.items())
    for internal in ("secret-token-value", "question-form", "intake", "verified", "Fødselsnumre fjernet"):
        assert internal not in shown
    english = {r.label: r.text for r in submitted_rows(case(), received, "Demo", "en")}
    assert english["What is it about?"] == "Reading the data"


def test_the_first_answer_is_due_in_office_hours_and_then_says_bits_has_answered() -> None:
    events = [event("received", actor="fag@demo-forsikring.example")]
    found = deadlines(case(), events, (8.0, 40.0), MONDAY_NINE)
    # 8 office hours from Monday 09.00: Monday until 15.45 (6 h 45 min), then Tuesday 08.00 + 1 h 15 min.
    assert first_answer(found, events, "nb") == ("1. desember 2026 kl. 09.15", False)
    assert first_answer(found, events, "en") == ("1 December 2026, 09:15", False)
    answered = [*events, event("answered", MONDAY_NINE + timedelta(hours=1), text="Bruk IFU.")]
    found = deadlines(case(status="answered"), answered, (8.0, 40.0), MONDAY_NINE)
    assert first_answer(found, answered, "nb") == ("Bits har svart", True)
    # Closed, no clock at all: still answered once Bits has, and nothing at all before.
    assert first_answer(None, answered, "en") == ("Bits has answered", True)
    assert first_answer(None, events, "nb") == (None, False)


def test_the_next_step_says_whose_move_it_is() -> None:
    events = [event("received")]
    assert next_step(case(), events, None, "nb").startswith("Bits sin tur")
    waiting = case(status="answered")
    found = deadlines(waiting, [*events, event("answered")], (8.0, 40.0), MONDAY_NINE)
    assert next_step(waiting, events, found, "nb").startswith("Din tur")
    assert next_step(case(status="awaiting_confirmation"), events, None, "en").startswith("Your move: open the link")
    assert next_step(case(status="closed"), events, None, "nb").startswith("Saken er avsluttet")
    onboarding = case(process=Process.ONBOARDING, kind="registration", status="accepted")
    assert "signerer tilknytningsavtalen" in next_step(onboarding, events, None, "nb")
    breach = case(process=Process.ERROR_REPORT, kind="security_breach", status="new")
    assert "fortløpende" in next_step(breach, events, None, "nb")
