"""The Clock port: workflows ask it for the time so that tests can control it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetClock:
    """The system clock moved by a fixed offset: time still passes, from another starting point (dev host only)."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    @classmethod
    def at(cls, moment: datetime) -> OffsetClock:
        if moment.tzinfo is None:
            raise ValueError("the time needs a zone")
        return cls(moment - datetime.now(UTC))

    def advanced(self, by: timedelta) -> OffsetClock:
        return OffsetClock(self.offset + by)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset
