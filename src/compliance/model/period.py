"""Reporting periods: `2023-06` (month), `2023-Q2`, `2023-H1`, `2023`, with their end dates."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["FREQUENCIES", "Frequency", "Period", "parse_period"]

Frequency = Literal["month", "quarter", "half", "year"]
FREQUENCIES: tuple[Frequency, ...] = ("month", "quarter", "half", "year")
_MONTHS_PER: dict[str, int] = {"month": 1, "quarter": 3, "half": 6, "year": 12}
_PATTERNS: list[tuple[Frequency, re.Pattern[str]]] = [
    ("month", re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")),
    ("quarter", re.compile(r"^(\d{4})-Q([1-4])$")),
    ("half", re.compile(r"^(\d{4})-H([12])$")),
    ("year", re.compile(r"^(\d{4})$")),
]


@dataclass(frozen=True, order=True)
class Period:
    """A period; ordering is by end date (then frequency), so `max()` gives the latest."""

    end_on: dt.date
    frequency: Frequency
    label: str

    @property
    def start_on(self) -> dt.date:
        months = _MONTHS_PER[self.frequency]
        month = self.end_on.month - months + 1
        return dt.date(self.end_on.year, month, 1)

    def previous(self) -> Period:
        start = self.start_on
        prev_end = start - dt.timedelta(days=1)
        return _make(self.frequency, prev_end.year, prev_end.month)

    def __str__(self) -> str:
        return self.label


def _make(frequency: Frequency, year: int, end_month: int) -> Period:
    end_on = dt.date(year, end_month, calendar.monthrange(year, end_month)[1])
    if frequency == "month":
        label = f"{year:04d}-{end_month:02d}"
    elif frequency == "quarter":
        label = f"{year:04d}-Q{end_month // 3}"
    elif frequency == "half":
        label = f"{year:04d}-H{end_month // 6}"
    else:
        label = f"{year:04d}"
    return Period(end_on, frequency, label)


def parse_period(text: str) -> Period:
    """Parse a period label; raises ValueError with a message fit for users."""
    s = text.strip()
    for frequency, pattern in _PATTERNS:
        m = pattern.match(s)
        if m:
            year = int(m.group(1))
            if year < 1900 or year > 2200:
                break
            index = int(m.group(2)) if frequency != "year" else 1
            return _make(frequency, year, index * _MONTHS_PER[frequency])
    raise ValueError(f"'{text}' is not a period: use 2023-06 (month), 2023-Q2, 2023-H1 or 2023")
