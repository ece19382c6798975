"""The work queue's pure parts: whose move each open status is, the company named from the registry, what counts as
open, the query read into filters, and cells a spreadsheet would run as formulas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.core.deadlines import OpenCase, whose_move
from functions.core.model import Bits, Case, CaseEvent, Channel, Contact, DataSource, Organisation, Process
from functions.core.registry import Registry
from functions.core.targets import Deadlines, is_open
from functions.workspace.queue import QueueFilters, company_name, queue_row, row_words, spreadsheet_safe

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def case(process: Process, status: str, kind: str = "question", details: dict[str, object] | None = None) -> Case:
    return Case(
        reference=f"SSU-{process.value}-2026-0001",
        process=process,
        kind=kind,
        status=status,
        organisation_number="310000019",
        submitter_name="Frida",
        submitter_email="fag@demo-forsikring.example",
        submitter_verified=True,
        title="Et spørsmål",
        created_at=NOW,
        updated_at=NOW,
        details=dict(details or {}),
    )


@pytest.mark.parametrize(
    ("process", "status", "details", "expected"),
    [
        (Process.QUESTION, "new", {}, "bits"),
        (Process.QUESTION, "answered", {}, "insurer"),
        (Process.QUESTION, "awaiting_confirmation", {}, "insurer"),
        (Process.ERROR_REPORT, "forwarded", {}, "sources"),
        (Process.ERROR_REPORT, "waiting_for_reporter", {}, "insurer"),
        (Process.CHANGE_REQUEST, "in_assessment", {}, "committee"),
        (Process.CHANGE_REQUEST, "awaiting_decision", {}, "approver"),
        (Process.CHANGE_REQUEST, "deferred", {}, "approver"),
        (Process.CHANGE_REQUEST, "approved", {}, "sources"),
        (Process.NOTIFICATION, "published", {}, "sources"),
        (Process.NOTIFICATION, "new", {"draft": True}, "bits"),
        (Process.ONBOARDING, "registered", {}, "bits"),
        (Process.ONBOARDING, "awaiting_contact_confirmation", {}, "insurer"),
        (Process.ONBOARDING, "agreement_signed", {}, "sources"),
        (Process.ONBOARDING, "production_requested", {}, "bits"),
        (Process.ONBOARDING, "production_requested", {"production_approved": "2026-12-01"}, "sources"),
    ],
)
def test_whose_move_follows_process_and_status(
    process: Process, status: str, details: dict[str, object], expected: str
) -> None:
    assert whose_move(case(process, status, details=details), (), None) == expected


def test_the_clock_waiting_for_the_submitter_and_a_signatorys_word_change_whose_move() -> None:
    waiting = Deadlines(None, None, waiting_for_submitter=True)
    assert whose_move(case(Process.CHANGE_REQUEST, "new"), (), waiting) == "insurer"
    signed = CaseEvent(at=NOW, actor="x", channel=Channel.EMAIL, kind="signatory_signed", public=True, summary="")
    assert whose_move(case(Process.ONBOARDING, "accepted"), (), None) == "insurer"
    assert whose_move(case(Process.ONBOARDING, "accepted"), (signed,), None) == "bits", "Bits confirms it"


def test_open_means_someone_must_still_act() -> None:
    assert is_open(case(Process.NOTIFICATION, "published", kind="maintenance"))
    assert not is_open(case(Process.CHANGE_REQUEST, "published", kind="terms"))
    for done in ("closed", "discarded", "rejected", "withdrawn", "offboarded", "in_production"):
        assert not is_open(case(Process.ONBOARDING, done))


def test_the_company_is_the_registrys_name_else_the_number_else_unknown() -> None:
    registry = Registry.of(
        [Organisation(organisation_number="310000019", legal_name="Demo Forsikring ASA")],
        [DataSource(key="NAV", name="NAV", organisation_number="889640782", contacts=[])],
        Bits(shared_mailbox="ssu@bits.example", contacts=[Contact(email="s@bits.example", roles=["support"])]),
    )
    assert company_name(registry, "310000019") == "Demo Forsikring ASA"
    assert company_name(registry, "889640782") == "NAV"
    assert company_name(registry, "916960190") == "Bits"
    assert company_name(registry, "310000027") == "310000027"
    nameless = case(Process.QUESTION, "new").model_copy(update={"organisation_number": ""})
    row = queue_row(OpenCase(nameless, (), None, "bits", False), registry)
    assert row_words(row, "nb")["company"] == "ukjent" and row_words(row, "en")["company"] == "unknown"


def test_the_query_becomes_filters_and_a_bad_value_is_dropped() -> None:
    filters = QueueFilters.from_query(
        {"process": "d", "company": "310 000 019", "status": "new", "move": "approver", "overdue": "1", "q": " a  b "}
    )
    assert filters == QueueFilters(Process.QUESTION, "310000019", "new", "approver", True, "", "a b")
    assert filters.query(lang="en") == "process=D&company=310000019&status=new&move=approver&overdue=1&q=a+b&lang=en"
    dropped = QueueFilters.from_query(
        {"process": "Z", "company": "31000001", "status": "<b>", "move": "me", "environment": "x", "overdue": "0"}
    )
    assert dropped == QueueFilters() and not dropped.any
    assert len(QueueFilters.from_query({"q": "x" * 5000}).q) == 200


@pytest.mark.parametrize("cell", ["=1+2", "+47 22", "-2+3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("a")'])
def test_a_cell_a_spreadsheet_would_run_is_text(cell: str) -> None:
    assert spreadsheet_safe(cell) == "'" + cell


def test_other_cells_are_left_as_they_are() -> None:
    assert spreadsheet_safe("Demo Forsikring ASA") == "Demo Forsikring ASA"
    assert spreadsheet_safe("") == ""
    assert spreadsheet_safe("a=b") == "a=b"
