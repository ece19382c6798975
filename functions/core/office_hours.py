"""Bits' office hours: working days 08:00–15:45, in summer (15 May–14 September) 08:00–15:00, Norwegian time, with
Norwegian public holidays off (the `holidays` package). Response targets count in these hours."""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta

from holidays import HolidayBase, country_holidays

from .rendering import OSLO

OPENS = time(8, 0)
CLOSES = time(15, 45)
CLOSES_IN_SUMMER = time(15, 0)


@functools.cache
def _holidays(year: int) -> HolidayBase:
    return country_holidays("NO", years=year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def opening_hours(day: date) -> tuple[datetime, datetime] | None:
    """When Bits is open on `day` (Oslo time), or None on weekends and holidays."""
    if not is_working_day(day):
        return None
    summer = date(day.year, 5, 15) <= day <= date(day.year, 9, 14)
    close = CLOSES_IN_SUMMER if summer else CLOSES
    return datetime.combine(day, OPENS, OSLO), datetime.combine(day, close, OSLO)


def office_time_between(start: datetime, end: datetime) -> timedelta:
    """How much office time lies between two moments."""
    if end <= start:
        return timedelta(0)
    total = timedelta(0)
    day = start.astimezone(OSLO).date()
    last = end.astimezone(OSLO).date()
    while day <= last:
        hours = opening_hours(day)
        if hours:
            lo, hi = max(hours[0], start), min(hours[1], end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def add_office_time(start: datetime, amount: timedelta) -> datetime:
    """The moment when `amount` of office time has passed after `start`."""
    remaining = amount
    day = start.astimezone(OSLO).date()
    for _ in range(3660):  # ten years of days: a target is never that long
        hours = opening_hours(day)
        if hours:
            lo = max(hours[0], start)
            if hours[1] > lo:
                if lo + remaining <= hours[1]:
                    return lo + remaining
                remaining -= hours[1] - lo
        day += timedelta(days=1)
    raise ValueError(f"no office time found for {amount} after {start}")
