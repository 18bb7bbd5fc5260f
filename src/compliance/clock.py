"""Clock: the only place where "now" and "today" come from, so everything else takes D as an argument."""

from __future__ import annotations

import datetime as dt
from typing import Protocol
from zoneinfo import ZoneInfo

__all__ = ["Clock", "FixedClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """An aware UTC instant."""
        ...

    def today(self, tz: ZoneInfo) -> dt.date:
        """The local date in the deployment's time zone."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self, tz: ZoneInfo) -> dt.date:
        return self.now().astimezone(tz).date()


class FixedClock:
    """A clock that says what it is told; `--at D` and tests use it."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.at = at

    def now(self) -> dt.datetime:
        return self.at.astimezone(dt.UTC)

    def today(self, tz: ZoneInfo) -> dt.date:
        return self.at.astimezone(tz).date()
