"""Crontab expressions as APScheduler 3 triggers, in the deployment's time zone, with crontab's weekdays.

APScheduler 3's `CronTrigger.from_crontab` counts weekday 0 as Monday (its issue #286), so crontab's
`30 7 * * 1-5` (Monday to Friday) would run Tuesday to Saturday; and a trigger built without `timezone=`
uses the machine's zone. `crontab_trigger` translates the weekday field into day names and always passes
the zone.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

__all__ = ["crontab_trigger", "fire_key", "latest_fire_time"]

_CRON_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]  # crontab numbering: 0 = Sunday
_APS_ORDER = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _weekday_number(token: str, expr: str) -> int:
    token = token.strip().lower()
    if token in _CRON_DAYS:
        return _CRON_DAYS.index(token)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7
    raise ValueError(f"'{expr}': weekday '{token}' is not 0-7 or sun..sat")


def _crontab_weekdays(field_: str) -> str:
    """A crontab weekday field (0/7 = Sunday) -> APScheduler day names, e.g. '1-5' -> 'mon,tue,wed,thu,fri'."""
    if field_ == "*":
        return "*"
    days: set[int] = set()
    for part in field_.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if not step_text.isdigit() and step_text:
            raise ValueError(f"'{field_}': step '{step_text}' is not a number")
        if step < 1:
            raise ValueError(f"'{field_}': step must be at least 1")
        if body == "*":
            first, last = 0, 6
        elif "-" in body:
            a, b = body.split("-", 1)
            first, last = _weekday_number(a, field_), _weekday_number(b, field_)
            if b.strip() == "7":
                last = 7  # '5-7' is Friday to Sunday
            if last < first:
                raise ValueError(f"'{field_}': range '{body}' goes backwards")
        else:
            first = _weekday_number(body, field_)
            last = 6 if step_text else first  # '1/2' is cron for '1-6/2'
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(name for name in _APS_ORDER if _CRON_DAYS.index(name) in days)


def crontab_trigger(expr: str, tz: ZoneInfo) -> CronTrigger:
    """A 5-field crontab expression as an APScheduler CronTrigger in `tz` (never the machine's zone)."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"'{expr}' is not a cron expression of 5 fields (minute hour day month weekday)")
    fields[4] = _crontab_weekdays(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=tz)


def latest_fire_time(trigger: CronTrigger, now: dt.datetime) -> dt.datetime | None:
    """The last time at or before `now` the trigger fired (None if not within eight years)."""
    for window in (
        dt.timedelta(hours=1),
        dt.timedelta(days=1, hours=1),
        dt.timedelta(days=8),
        dt.timedelta(days=32),
        dt.timedelta(days=367),
        dt.timedelta(days=8 * 366),
    ):
        found: dt.datetime | None = None
        candidate = trigger.get_next_fire_time(None, now - window)
        while candidate is not None and candidate <= now:
            found = candidate
            candidate = trigger.get_next_fire_time(candidate, candidate + dt.timedelta(seconds=1))
        if found is not None:
            return found
    return None


def fire_key(fire: dt.datetime, tz: ZoneInfo) -> str:
    """A fire time as stored in job_runs: local ISO to the minute, e.g. 2023-02-01T07:00+07:00."""
    return fire.astimezone(tz).isoformat(timespec="minutes")
