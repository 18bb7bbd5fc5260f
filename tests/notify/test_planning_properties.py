"""Properties of reminder planning over random tasks and random days on which notify did not run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.notify.conftest import config, directory, task

from compliance.model.calendar import WorkCalendar
from compliance.model.task import TaskStatus
from compliance.notify.planning import NotifyPolicy, plan_due
from compliance.pipeline.notify import work_calendar

START = dt.date(2023, 1, 2)
CALENDAR: WorkCalendar = work_calendar(config(Path(".")), [2022, 2023, 2024])


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, int, bool, tuple[int, ...], int, frozenset[int]]:
    opened = draw(st.integers(0, 60))
    due_days = draw(st.integers(1, 40))
    acknowledged = draw(st.booleans())
    before = tuple(sorted(set(draw(st.lists(st.integers(1, 10), max_size=3))), reverse=True))
    every = draw(st.integers(1, 10))
    down = draw(st.frozensets(st.integers(0, 150), max_size=60))
    return opened, due_days, acknowledged, before, every, down


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_every_reminder_day_is_served_once_on_the_first_run_after_it(
    scenario: tuple[int, int, bool, tuple[int, ...], int, frozenset[int]],
) -> None:
    opened_i, due_days, acknowledged, before, every, down = scenario
    opened_on = START + dt.timedelta(days=opened_i)
    status = TaskStatus.ACKNOWLEDGED if acknowledged else TaskStatus.OPEN
    t = task(1, opened_on=opened_on, due_on=opened_on + dt.timedelta(days=due_days), status=status)
    policy = NotifyPolicy(
        remind_before_due=before,
        overdue_every_days=every,
        escalate_after_days=5,
        digest_schedule="0 7 31 2 *",
    )
    run_days = [START + dt.timedelta(days=i) for i in range(151) if i not in down]
    history: dict[int, dt.date] = {}
    reminders: list[dt.date] = []
    escalations: list[dt.date] = []
    current = t
    for day in run_days:
        for m in plan_due([current], history, CALENDAR, policy, directory(), day):
            assert CALENDAR.is_working_day(day)
            if m.kind == "reminder":
                reminders.append(day)
                history[1] = day
            elif m.kind == "escalation":
                escalations.append(day)
                current = current.with_(escalated_on=day)
    assert len(escalations) <= 1
    assert reminders == sorted(set(reminders))  # never twice a day

    # The reminder days, as planning defines them, moved to working days.
    slots = [] if acknowledged else [t.due_on - dt.timedelta(days=k) for k in before]
    overdue = t.due_on + dt.timedelta(days=1)
    while overdue <= run_days[-1]:
        slots.append(overdue)
        overdue += dt.timedelta(days=every)
    first_mail = CALENDAR.next_working_day(opened_on)
    effective = sorted({CALENDAR.next_working_day(s) for s in slots if opened_on < s <= run_days[-1]})
    effective = [e for e in effective if e > first_mail]
    working_runs = [d for d in run_days if CALENDAR.is_working_day(d)]
    # Each reminder day is served by the first working run on or after it …
    expected = sorted({next(r for r in working_runs if r >= e) for e in effective if working_runs[-1] >= e})
    # … and a run that serves several missed days sends one reminder.
    assert reminders == expected
