"""Dates and times as people write them in mail, in Norwegian and English, read as Norwegian time.

"1. mars 2027", "01.03.2027", "2027-03-01", "29. november kl. 10.55", "i dag kl. 10:55", "29 November 2026 at
10:55", "November 29, 2026 10:55 AM", "yesterday at 22:10". A date without a year is the latest such date not after
`now`'s, or the next one for dates ahead (a deferral); a time without a date is today's.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")

_MONTHS = {
    **dict.fromkeys(("januar", "january", "jan"), 1),
    **dict.fromkeys(("februar", "february", "feb"), 2),
    **dict.fromkeys(("mars", "march", "mar"), 3),
    **dict.fromkeys(("april", "apr"), 4),
    **dict.fromkeys(("mai", "may"), 5),
    **dict.fromkeys(("juni", "june", "jun"), 6),
    **dict.fromkeys(("juli", "july", "jul"), 7),
    **dict.fromkeys(("august", "aug"), 8),
    **dict.fromkeys(("september", "sept", "sep"), 9),
    **dict.fromkeys(("oktober", "october", "okt", "oct"), 10),
    **dict.fromkeys(("november", "nov"), 11),
    **dict.fromkeys(("desember", "december", "des", "dec"), 12),
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_TIME = r"(?:\s*,?\s*(?:kl\.?|klokka|klokken|at|@)?\s*(?P<h>[01]?\d|2[0-3])[:.](?P<mi>[0-5]\d)(?:\s*(?P<ampm>am|pm))?)?"
_DATE_FORMS = (
    r"(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})(?:[T ]|\s*,?\s*(?:kl\.?|at)?\s*)?",  # 2027-03-01
    r"(?P<nd>\d{1,2})\.(?P<nm>\d{1,2})\.(?P<ny>\d{4}|\d{2})\b",  # 01.03.2027
    # 29.11 with a time after it ("29.11 kl. 10:55"), or "15.01." with its closing stop: "10.55" alone is a time
    r"(?P<pd>\d{1,2})\.(?P<pm>\d{1,2})(?:\.?(?=\s*,?\s*(?:kl\.?|klokka|at)\s*\d{1,2}[:.]\d{2})|\.(?!\d))",
    r"(?P<sd>\d{1,2})/(?P<sm>\d{1,2})/(?P<sy>\d{4})\b",  # 01/03/2027 (day first, as in Norway and the UK)
    rf"(?P<wd>\d{{1,2}})(?:\.\s*|\s+)(?P<wm>{_MONTH})\.?(?:\s+(?P<wy>\d{{4}}))?\b",  # 1. mars 2027, 15.januar
    rf"(?P<em>{_MONTH})\.?\s+(?P<ed>\d{{1,2}})(?:st|nd|rd|th)?,?(?:\s+(?P<ey>\d{{4}}))?\b",  # November 29, 2026
    r"(?P<rel>i\s+dag|i\s+går|i\s+forgårs|today|yesterday)\b",
)
_DATE = re.compile(rf"(?<![\d.])(?:{'|'.join(_DATE_FORMS)}){_TIME}", re.IGNORECASE)


def _day(match: re.Match[str], today: date, ahead: bool) -> date | None:
    g = match.groupdict()
    try:
        if g["iy"]:
            return date(int(g["iy"]), int(g["im"]), int(g["id"]))
        if g["nd"]:
            year = int(g["ny"]) + (2000 if len(g["ny"]) == 2 else 0)
            return date(year, int(g["nm"]), int(g["nd"]))
        if g["sd"]:
            return date(int(g["sy"]), int(g["sm"]), int(g["sd"]))
        if g["pd"]:
            found = date(today.year, int(g["pm"]), int(g["pd"]))
            return found.replace(
                year=found.year + (1 if ahead and found < today else -1 if not ahead and found > today else 0)
            )
        if g["rel"]:
            back = {"i dag": 0, "today": 0, "i går": 1, "yesterday": 1, "i forgårs": 2}
            return today - timedelta(days=back[" ".join(g["rel"].lower().split())])
        day, month, written = (g["wd"], g["wm"], g["wy"]) if g["wd"] else (g["ed"], g["em"], g["ey"])
        found = date(int(written) if written else today.year, _MONTHS[month.lower()], int(day))
        if not written and not ahead and found > today:
            found = found.replace(year=found.year - 1)
        if not written and ahead and found < today:
            found = found.replace(year=found.year + 1)
        return found
    except (ValueError, KeyError):
        return None


_YEARS = range(2000, 2101)  # a date people mean in this service; "01.01.0001" is none


def find_date(text: str, today: date, *, ahead: bool = True) -> date | None:
    """The first date in `text` that is to come (`ahead`: a date already past is what the text mentions, not the
    one it names); without a year, the next such date (or, not `ahead`, the last one)."""
    for match in _DATE.finditer(text):
        found = _day(match, today, ahead)
        if found is not None and found.year in _YEARS and (not ahead or found >= today):
            return found
    return None


def find_datetime(text: str, now: datetime) -> datetime | None:
    """The first date in `text` with the time written after it (midnight without one), in Norwegian time; a date
    without a year is the last one not after `now`. None when the text gives no date, or only a future one."""
    today = now.astimezone(OSLO).date()
    for match in _DATE.finditer(text):
        day = _day(match, today, ahead=False)
        if day is None or day.year not in _YEARS:
            continue
        hour = int(match["h"]) if match["h"] else 0
        if match["ampm"] and match["ampm"].lower() == "pm" and hour < 12:
            hour += 12
        if match["ampm"] and match["ampm"].lower() == "am" and hour == 12:
            hour = 0
        found = datetime.combine(day, time(hour, int(match["mi"] or 0)), OSLO)
        if found <= now + timedelta(minutes=5):
            return found
    return None
