"""A strict reading of an iCalendar feed's times (RFC 5545): every DTSTART, DTEND and DTSTAMP resolved to an instant,
or an AssertionError saying which one a calendar could not place (a floating time, or a TZID no VTIMEZONE defines)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CONTENT_LINE = re.compile(
    r'^(?P<name>[A-Za-z0-9-]+)(?P<params>(?:;[A-Za-z0-9-]+=(?:"[^"]*"|[^;:,"]*)(?:,(?:"[^"]*"|[^;:,"]*))*)*):(?P<value>.*)$'
)
PARAM = re.compile(r';([A-Za-z0-9-]+)=("[^"]*"|[^;:"]*)')
DATE_TIME = re.compile(r"^(\d{8}T\d{6})(Z?)$")


def content_lines(ics: bytes) -> list[tuple[str, dict[str, str], str]]:
    """The feed's content lines, unfolded: (NAME, {PARAM: value}, value). CRLF line ends, as the RFC requires."""
    text = ics.decode("utf-8")
    assert text.endswith("\r\n"), "the feed does not end with CRLF"
    assert "\n" not in text.replace("\r\n", ""), "a line ends with a bare LF"
    unfolded: list[str] = []
    for line in text.split("\r\n")[:-1]:
        if line[:1] in (" ", "\t"):
            assert unfolded, "the feed starts with a continuation line"
            unfolded[-1] += line[1:]
        else:
            unfolded.append(line)
    parsed = []
    for line in unfolded:
        match = CONTENT_LINE.match(line)
        assert match, f"not a content line: {line!r}"
        params = {k.upper(): v.strip('"') for k, v in PARAM.findall(match["params"])}
        parsed.append((match["name"].upper(), params, match["value"]))
    return parsed


def event_times(ics: bytes) -> dict[str, dict[str, datetime]]:
    """Each VEVENT's UID with its DTSTART, DTEND and DTSTAMP as aware datetimes; fails on any time a calendar would
    have to guess."""
    lines = content_lines(ics)
    zones = set()
    stack: list[str] = []
    for name, _, value in lines:
        if name == "BEGIN":
            stack.append(value.upper())
        elif name == "END":
            assert stack and stack.pop() == value.upper(), f"END:{value} does not close what was opened"
        elif name == "TZID" and stack[-1:] == ["VTIMEZONE"]:
            zones.add(value)
    assert not stack, f"unclosed components: {stack}"
    events: dict[str, dict[str, datetime]] = {}
    current: dict[str, datetime] | None = None
    uid = ""
    for name, params, value in lines:
        if name == "BEGIN" and value.upper() == "VEVENT":
            current, uid = {}, ""
        elif name == "END" and value.upper() == "VEVENT":
            assert current is not None and uid, "a VEVENT without a UID"
            assert "DTSTART" in current, f"{uid} has no DTSTART"
            events[uid] = current
            current = None
        elif current is not None and name == "UID":
            uid = value
        elif current is not None and name in ("DTSTART", "DTEND", "DTSTAMP"):
            current[name] = resolve(name, params, value, zones)
    return events


def resolve(name: str, params: dict[str, str], value: str, zones: set[str]) -> datetime:
    """One DATE-TIME property as an instant: UTC (…Z), or local time in a zone the calendar defines."""
    assert params.get("VALUE", "DATE-TIME").upper() == "DATE-TIME", f"{name} is not a time: {value}"
    match = DATE_TIME.match(value)
    assert match, f"{name} is no DATE-TIME: {value!r}"
    moment = datetime.strptime(match[1], "%Y%m%dT%H%M%S")
    zone = params.get("TZID")
    if match[2]:
        assert zone is None, f"{name} is UTC and names a zone too: {zone}"
        return moment.replace(tzinfo=UTC)
    assert name != "DTSTAMP", "DTSTAMP must be in UTC (RFC 5545 3.8.7.2)"
    assert zone is not None, f"{name}:{value} is a floating time: no zone, no Z"
    assert zone in zones, f'{name} names TZID="{zone}", which no VTIMEZONE in the feed defines'
    try:
        return moment.replace(tzinfo=ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise AssertionError(f"{name}: the VTIMEZONE {zone!r} is not a zone we can resolve") from exc
