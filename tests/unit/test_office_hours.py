"""Office hours across weekends, Norwegian public holidays and summer hours."""

from __future__ import annotations

from datetime import datetime, timedelta

from functions.core.office_hours import add_office_time, office_time_between
from functions.core.rendering import OSLO


def oslo(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=OSLO)


def test_a_friday_afternoon_target_lands_on_monday() -> None:
    # Friday 27 Nov 2026 15:00 + 2 office hours: 45 minutes on Friday, then Monday 08:00 + 1:15.
    assert add_office_time(oslo(2026, 11, 27, 15, 0), timedelta(hours=2)) == oslo(2026, 11, 30, 9, 15)


def test_the_17th_of_may_and_ascension_day_are_not_counted() -> None:
    # Wednesday 13 May 2026 15:00; Thursday 14 May is Ascension Day; Friday 15 May is summer time (closes 15:00).
    assert add_office_time(oslo(2026, 5, 13, 15, 0), timedelta(hours=4)) == oslo(2026, 5, 15, 11, 15)
    # Sunday 17 May 2026 is a Sunday anyway; Monday 18 May is a working day.
    assert office_time_between(oslo(2026, 5, 16, 0, 0), oslo(2026, 5, 18, 9, 0)) == timedelta(hours=1)


def test_summer_hours() -> None:
    # 1 July 2026 (Wednesday) is open 08:00–15:00: 7 hours.
    assert office_time_between(oslo(2026, 7, 1, 0, 0), oslo(2026, 7, 2, 0, 0)) == timedelta(hours=7)
    assert office_time_between(oslo(2026, 11, 25, 0, 0), oslo(2026, 11, 26, 0, 0)) == timedelta(hours=7, minutes=45)


def test_outside_office_hours_nothing_passes() -> None:
    assert office_time_between(oslo(2026, 11, 27, 16, 0), oslo(2026, 11, 30, 7, 59)) == timedelta(0)
    assert add_office_time(oslo(2026, 12, 24, 12, 0), timedelta(hours=1)) == oslo(2026, 12, 24, 13, 0)
    assert add_office_time(oslo(2026, 12, 24, 15, 30), timedelta(hours=1)) == oslo(2026, 12, 28, 8, 45)


def test_targets_count_from_the_submitters_confirmation() -> None:
    from functions.core.model import Case, CaseEvent, Channel, Process
    from functions.core.targets import deadlines

    created = oslo(2026, 11, 27, 15, 0)  # Friday afternoon; the submitter confirms on Monday 10:00
    case = Case(
        reference="SSU-D-2026-0009",
        process=Process.QUESTION,
        kind="question",
        status="new",
        organisation_number="310000019",
        submitter_name="Ukjent",
        submitter_email="ukjent@example.com",
        submitter_verified=False,
        title="Spørsmål",
        created_at=created,
        updated_at=created,
    )
    confirmed = CaseEvent(
        at=oslo(2026, 11, 30, 10, 0),
        actor="ukjent@example.com",
        channel=Channel.FORM,
        kind="submitter_confirmed",
        public=True,
        summary="confirmed",
    )
    plain = deadlines(case, [], (4.0, 16.0), created)
    assert plain.first_response_due == oslo(2026, 11, 30, 11, 15)
    late = deadlines(case, [confirmed], (4.0, 16.0), created)
    assert late.first_response_due == oslo(2026, 11, 30, 14, 0), "counted from Monday 10:00, not Friday"
