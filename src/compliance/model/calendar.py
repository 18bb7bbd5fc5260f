"""Working days: weekdays, the public-holiday calendar, extra days off and make-up Saturdays (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["WorkCalendar", "parse_weekdays"]

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def parse_weekdays(spec: str) -> frozenset[int]:
    """'mon-fri' or 'mon,tue,thu' or 'mon-fri,sat' -> weekday numbers (Monday = 0)."""
    days: set[int] = set()
    for part in spec.lower().replace(" ", "").split(","):
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            if a not in _DAYS or b not in _DAYS:
                raise ValueError(f"'{spec}' is not a list of days like 'mon-fri'")
            i, j = _DAYS.index(a), _DAYS.index(b)
            if i > j:
                raise ValueError(f"'{part}' goes backwards; write days from Monday to Sunday")
            days.update(range(i, j + 1))
        elif part in _DAYS:
            days.add(_DAYS.index(part))
        else:
            raise ValueError(f"'{spec}' is not a list of days like 'mon-fri'")
    if not days:
        raise ValueError("working_days names no day")
    return frozenset(days)


@dataclass(frozen=True)
class WorkCalendar:
    weekdays: frozenset[int] = frozenset(range(5))
    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    extra_working: frozenset[dt.date] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls,
        working_days: str,
        holiday_dates: Iterable[dt.date],
        working_saturdays: Iterable[dt.date] = (),
    ) -> WorkCalendar:
        return cls(parse_weekdays(working_days), frozenset(holiday_dates), frozenset(working_saturdays))

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.extra_working:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def next_working_day(self, day: dt.date) -> dt.date:
        """`day` itself if it is a working day, else the next one."""
        current = day
        for _ in range(366):
            if self.is_working_day(current):
                return current
            current += dt.timedelta(days=1)
        raise ValueError("no working day within a year")
