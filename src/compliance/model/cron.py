"""Crontab expressions (5 fields, crontab numbering: weekday 0 and 7 = Sunday), parsed without I/O.

`check` validates `[schedule]` with `parse_cron`; the digest planner asks `cron_matches_day`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["CronSpec", "cron_matches_day", "parse_cron"]

_DOW_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_MONTH_NAMES = {
    name: i + 1
    for i, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_FIELDS = ("minute", "hour", "day of month", "month", "weekday")


@dataclass(frozen=True)
class CronSpec:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool


def _field(spec: str, low: int, high: int, names: Mapping[str, int], what: str) -> frozenset[int]:
    values: set[int] = set()

    def number(text: str) -> int:
        t = text.strip().lower()
        if t in names:
            return names[t]
        if not t.isdigit():
            raise ValueError(f"{what}: '{text}' is not a number" + (" or a name" if names else ""))
        return int(t)

    for part in spec.split(","):
        rng, _, step_text = part.partition("/")
        if step_text and not step_text.isdigit():
            raise ValueError(f"{what}: step '{step_text}' is not a number")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"{what}: step must be at least 1 in '{part}'")
        if rng in ("*", "?"):
            start, end = low, high
        elif "-" in rng:
            a, b = rng.split("-", 1)
            start, end = number(a), number(b)
        else:
            start = number(rng)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ValueError(f"{what}: '{part}' is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_cron(expr: str) -> CronSpec:
    """Parse `minute hour day month weekday`; ValueError names the field that is wrong."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"'{expr}' is not a cron expression of 5 fields (minute hour day month weekday)")
    minute, hour, dom, month, dow = fields
    return CronSpec(
        _field(minute, 0, 59, {}, _FIELDS[0]),
        _field(hour, 0, 23, {}, _FIELDS[1]),
        _field(dom, 1, 31, {}, _FIELDS[2]),
        _field(month, 1, 12, _MONTH_NAMES, _FIELDS[3]),
        frozenset(d % 7 for d in _field(dow, 0, 7, _DOW_NAMES, _FIELDS[4])),
        not dom.startswith("*"),
        not dow.startswith("*"),
    )


def cron_matches_day(expr: str, day: dt.date) -> bool:
    """Whether the expression fires at some time on `day`.

    As in Vixie cron, when both day-of-month and weekday are restricted a day matching either fires.
    """
    spec = parse_cron(expr)
    if day.month not in spec.months:
        return False
    dom_ok = day.day in spec.days
    dow_ok = (day.isoweekday() % 7) in spec.weekdays
    if spec.days_restricted and spec.weekdays_restricted:
        return dom_ok or dow_ok
    return dom_ok and dow_ok
