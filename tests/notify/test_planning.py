"""Planning (pure): which emails are due on which day — reminders, escalations, digests, run messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import pytest
from tests.notify.conftest import config, directory, task

from compliance.model.agency import Agency, AgencyDirectory
from compliance.model.calendar import WorkCalendar
from compliance.model.task import Task, TaskChange, TaskChangeKind, TaskStatus
from compliance.notify.planning import (
    NotifyPolicy,
    cron_matches_day,
    digest_day,
    idempotency_key,
    plan_due,
    plan_run,
)
from compliance.pipeline.notify import work_calendar

D = dt.date
NEVER = "0 7 31 2 *"  # a digest schedule that never fires, for tests about other kinds
POLICY = NotifyPolicy(
    remind_before_due=(3, 1),
    overdue_every_days=7,
    escalate_after_days=7,
    escalation_default_to="vanphong@example.gov.vn",
    digest_schedule=NEVER,
)


@pytest.fixture(scope="module")
def vn() -> WorkCalendar:
    """Mon–Fri, Vietnam's public holidays (Tết 2023: 20–26/01) and the extra day off 2023-01-02."""
    return work_calendar(config(Path(".")), range(2022, 2025))


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def simulate(
    tasks: Iterable[Task],
    calendar: WorkCalendar,
    start: dt.date,
    end: dt.date,
    *,
    policy: NotifyPolicy = POLICY,
    dirx: AgencyDirectory | None = None,
    skip: Iterable[dt.date] = (),
) -> list[tuple[dt.date, str, tuple[int, ...]]]:
    """Plan every day from start to end as `notify` would, feeding back what it queued."""
    by_id = {t.id: t for t in tasks}
    history: dict[int, dt.date] = {}
    skipped = set(skip)
    out: list[tuple[dt.date, str, tuple[int, ...]]] = []
    for day in days(start, end):
        if day in skipped:
            continue
        for m in plan_due(by_id.values(), history, calendar, policy, dirx or directory(), day):
            out.append((day, m.kind, m.task_ids))
            if m.kind == "reminder":
                history.update(dict.fromkeys(m.task_ids, day))
            if m.kind == "escalation":
                for t in m.tasks:
                    by_id[t.id] = t.with_(escalated_on=day)
    return out


def sent_on(plan: list[tuple[dt.date, str, tuple[int, ...]]], kind: str) -> list[dt.date]:
    return [day for day, k, _ in plan if k == kind]


def test_reminders_before_due_then_overdue_every_n_days(vn: WorkCalendar) -> None:
    # Due Monday 17/07; 3 days before = Fri 14/07; 1 day before = Sun 16/07 -> Mon 17/07.
    plan = simulate([task(1)], vn, D(2023, 7, 3), D(2023, 8, 8))
    assert sent_on(plan, "reminder") == [
        D(2023, 7, 14),
        D(2023, 7, 17),
        D(2023, 7, 18),
        D(2023, 7, 25),
        D(2023, 8, 1),
        D(2023, 8, 8),
    ]


def test_acknowledged_task_skips_reminders_before_due_but_not_overdue(vn: WorkCalendar) -> None:
    acked = task(1, status=TaskStatus.ACKNOWLEDGED, acknowledged_by="giamdoc.sotnmt@example.gov.vn")
    plan = simulate([acked], vn, D(2023, 7, 3), D(2023, 8, 1))
    assert sent_on(plan, "reminder") == [D(2023, 7, 18), D(2023, 7, 25), D(2023, 8, 1)]


def test_overdue_reminders_follow_overdue_every_days(vn: WorkCalendar) -> None:
    policy = NotifyPolicy(
        remind_before_due=(), overdue_every_days=3, escalate_after_days=30, digest_schedule=NEVER
    )
    plan = simulate([task(1)], vn, D(2023, 7, 3), D(2023, 8, 2), policy=policy)
    # 18, 21, 24, 27, 30 (a Sunday: Monday 31), 02/08.
    assert sent_on(plan, "reminder") == [
        D(2023, 7, 18),
        D(2023, 7, 21),
        D(2023, 7, 24),
        D(2023, 7, 27),
        D(2023, 7, 31),
        D(2023, 8, 2),
    ]


def test_resolved_and_waived_tasks_get_nothing(vn: WorkCalendar) -> None:
    done = task(1, status=TaskStatus.RESOLVED, resolved_on=D(2023, 7, 10))
    waived = task(2, status=TaskStatus.WAIVED, waived_on=D(2023, 7, 10))
    policy = NotifyPolicy(digest_schedule="0 7 * * 1")
    assert simulate([done, waived], vn, D(2023, 7, 3), D(2023, 8, 31), policy=policy) == []


def test_tet_2023_holidays_move_three_reminder_days_into_one_on_27_january(vn: WorkCalendar) -> None:
    # Due Tue 24/01 (Tết): 21/01, 23/01 and the first overdue day 25/01 are all days off (20–26/01).
    t = task(1, opened_on=D(2023, 1, 10), due_on=D(2023, 1, 24))
    plan = simulate([t], vn, D(2023, 1, 10), D(2023, 2, 1))
    assert sent_on(plan, "reminder") == [D(2023, 1, 27), D(2023, 2, 1)]
    assert sent_on(plan, "escalation") == [D(2023, 1, 31)]
    assert not any(D(2023, 1, 20) <= day <= D(2023, 1, 26) for day, _, _ in plan)


def test_extra_holiday_2023_01_02_from_the_config_moves_a_reminder_to_the_next_day(tmp_path: Path) -> None:
    t = task(1, opened_on=D(2022, 12, 20), due_on=D(2023, 1, 5))  # 3 days before = Monday 02/01
    with_extra = work_calendar(config(tmp_path, notify={"holiday_calendar": None}), [2022, 2023])
    without = work_calendar(config(tmp_path, notify={"holiday_calendar": None, "holidays": []}), [2022, 2023])
    assert sent_on(simulate([t], with_extra, D(2022, 12, 26), D(2023, 1, 4)), "reminder") == [
        D(2023, 1, 3),
        D(2023, 1, 4),
    ]
    assert sent_on(simulate([t], without, D(2022, 12, 26), D(2023, 1, 4)), "reminder") == [
        D(2023, 1, 2),
        D(2023, 1, 4),
    ]


def test_a_working_saturday_is_a_working_day(tmp_path: Path) -> None:
    t = task(1, due_on=D(2023, 7, 16))  # due Sunday: 1 day before is Saturday 15/07
    policy = NotifyPolicy(
        remind_before_due=(1,), overdue_every_days=7, escalate_after_days=30, digest_schedule=NEVER
    )
    make_up = work_calendar(config(tmp_path, notify={"working_saturdays": ["2023-07-15"]}), [2023])
    plain = work_calendar(config(tmp_path), [2023])
    assert sent_on(simulate([t], make_up, D(2023, 7, 10), D(2023, 7, 17), policy=policy), "reminder") == [
        D(2023, 7, 15),
        D(2023, 7, 17),
    ]
    # Without the make-up day, Saturday's reminder and the first overdue one meet on Monday: one email.
    assert sent_on(simulate([t], plain, D(2023, 7, 10), D(2023, 7, 17), policy=policy), "reminder") == [
        D(2023, 7, 17)
    ]


def test_after_missed_days_a_task_gets_one_catch_up_reminder_not_one_per_day(vn: WorkCalendar) -> None:
    # notify did not run from 10/07 to 20/07: reminder days 14/07, 16/07 and 18/07 were missed.
    plan = simulate([task(1)], vn, D(2023, 7, 3), D(2023, 7, 26), skip=days(D(2023, 7, 10), D(2023, 7, 20)))
    assert sent_on(plan, "reminder") == [D(2023, 7, 21), D(2023, 7, 25)]


def test_nothing_is_planned_on_a_day_off(vn: WorkCalendar) -> None:
    t = task(1, due_on=D(2023, 7, 10), escalated_on=None)
    for day in (D(2023, 7, 15), D(2023, 7, 16), D(2023, 9, 1)):  # Saturday, Sunday, National Day
        assert plan_due([t], {}, vn, NotifyPolicy(digest_schedule="* * * * *"), directory(), day) == []


def test_escalation_once_to_the_parent_head_with_the_head_in_cc(vn: WorkCalendar) -> None:
    plan = simulate([task(1)], vn, D(2023, 7, 3), D(2023, 8, 31))
    assert sent_on(plan, "escalation") == [D(2023, 7, 24)]  # due 17/07 + 7
    m = next(
        m for m in plan_due([task(1)], {}, vn, POLICY, directory(), D(2023, 7, 24)) if m.kind == "escalation"
    )
    assert m.to.email == "chutich@example.gov.vn"
    assert [c.email for c in m.cc] == ["giamdoc.sotnmt@example.gov.vn", "vanthu.sotnmt@example.gov.vn"]
    assert m.about == "so-tnmt"
    assert m.key == "escalation:2023-07-24:1"


def test_escalation_goes_to_escalation_default_to_for_a_unit_without_parent(vn: WorkCalendar) -> None:
    top = task(7, agency="ubnd-tinh")
    m = next(
        m for m in plan_due([top], {}, vn, POLICY, directory(), D(2023, 7, 24)) if m.kind == "escalation"
    )
    assert m.to.email == "vanphong@example.gov.vn"
    assert [c.email for c in m.cc] == ["chutich@example.gov.vn"]  # the head; vanphong (the unit's cc) is `to`


def test_escalation_is_not_planned_again_once_escalated(vn: WorkCalendar) -> None:
    done = task(1, escalated_on=D(2023, 7, 24))
    assert [m.kind for m in plan_due([done], {}, vn, POLICY, directory(), D(2023, 7, 31))] == ["reminder"]


def test_escalation_on_a_holiday_goes_out_the_next_working_day(vn: WorkCalendar) -> None:
    t = task(1, opened_on=D(2023, 8, 1), due_on=D(2023, 8, 25))  # +7 = Friday 01/09, National Day
    plan = simulate([t], vn, D(2023, 8, 1), D(2023, 9, 8))
    assert sent_on(plan, "escalation") == [D(2023, 9, 5)]  # 1/9 and 4/9 (observed) off, 2–3/9 weekend


def test_digest_one_per_head_ordered_by_due_date_and_none_for_a_head_without_tasks(vn: WorkCalendar) -> None:
    tasks = [
        task(1, due_on=D(2023, 8, 1)),
        task(2, rule="on-time-95", due_on=D(2023, 7, 20)),
        task(3, rule="db-land-shared", due_on=D(2023, 7, 28), status=TaskStatus.ACKNOWLEDGED),
        task(4, agency="so-noivu", due_on=D(2023, 7, 31)),
        task(5, agency="h-caibe", status=TaskStatus.RESOLVED),
    ]
    policy = NotifyPolicy(digest_schedule="0 7 * * 1", escalate_after_days=60, remind_before_due=())
    monday = D(2023, 7, 24)
    digests = [m for m in plan_due(tasks, {}, vn, policy, directory(), monday) if m.kind == "digest"]
    assert [(m.to.email, [t.id for t in m.tasks]) for m in digests] == [
        ("giamdoc.sonoivu@example.gov.vn", [4]),
        ("giamdoc.sotnmt@example.gov.vn", [2, 3, 1]),
    ]
    assert digests[1].key == "digest:2023-07-24:giamdoc.sotnmt@example.gov.vn:1,2,3"
    tuesday = D(2023, 7, 25)
    assert [m for m in plan_due(tasks, {}, vn, policy, directory(), tuesday) if m.kind == "digest"] == []


def test_digest_moves_off_a_holiday_monday(vn: WorkCalendar) -> None:
    assert digest_day("0 7 * * 1", vn, D(2023, 1, 2)) is None  # Monday, day off
    assert digest_day("0 7 * * 1", vn, D(2023, 1, 3)) == D(2023, 1, 2)
    assert digest_day("0 7 * * 1", vn, D(2023, 1, 27)) == D(2023, 1, 23)  # Tết week: Friday
    assert digest_day("0 7 * * 1", vn, D(2023, 1, 4)) is None


def test_run_messages_are_grouped_per_recipient_and_go_out_on_the_next_working_day(vn: WorkCalendar) -> None:
    changes = [
        TaskChange(TaskChangeKind.OPENED, task(1)),
        TaskChange(TaskChangeKind.OPENED, task(2, rule="on-time-95")),
        TaskChange(TaskChangeKind.OPENED, task(3, agency="so-noivu")),
        TaskChange(TaskChangeKind.RESOLVED, task(4, status=TaskStatus.RESOLVED)),
        TaskChange(TaskChangeKind.UPDATED, task(5)),
    ]
    saturday = D(2023, 7, 8)
    plan = plan_run(changes, directory(), vn, POLICY, saturday)
    assert [(m.kind, m.to.email, m.task_ids, m.send_on) for m in plan] == [
        ("task-opened", "giamdoc.sotnmt@example.gov.vn", (1, 2), D(2023, 7, 10)),
        ("task-opened", "giamdoc.sonoivu@example.gov.vn", (3,), D(2023, 7, 10)),
        ("task-resolved", "giamdoc.sotnmt@example.gov.vn", (4,), D(2023, 7, 10)),
    ]
    assert plan[0].key == "task-opened:2023-07-08:1,2"
    assert [c.email for c in plan[0].cc] == ["vanthu.sotnmt@example.gov.vn"]


def test_one_head_of_two_units_gets_one_task_opened_email(vn: WorkCalendar) -> None:
    shared = Agency(
        "so-noivu",
        "Sở Nội vụ",
        "department",
        "ubnd-tinh",
        "Nguyễn Thanh Hải",
        "Giám đốc",
        "giamdoc.sotnmt@example.gov.vn",
    )
    changes = [
        TaskChange(TaskChangeKind.OPENED, task(1)),
        TaskChange(TaskChangeKind.OPENED, task(3, agency="so-noivu")),
    ]
    plan = plan_run(changes, directory(**{"so-noivu": shared}), vn, POLICY, D(2023, 7, 10))
    assert [(m.kind, m.task_ids, m.agencies) for m in plan] == [
        ("task-opened", (1, 3), ("so-noivu", "so-tnmt"))
    ]


def test_recipient_is_the_head_in_the_directory_at_sending_time(vn: WorkCalendar) -> None:
    new_head = Agency(
        "so-tnmt",
        "Sở Tài nguyên và Môi trường",
        "department",
        "ubnd-tinh",
        "Võ Văn Mới",
        "Giám đốc",
        "giamdoc.moi@example.gov.vn",
    )
    t = task(1)  # opened for giamdoc.sotnmt@
    m = plan_due([t], {}, vn, POLICY, directory(**{"so-tnmt": new_head}), D(2023, 7, 14))[0]
    assert (m.kind, m.to.email, m.to.name) == ("reminder", "giamdoc.moi@example.gov.vn", "Võ Văn Mới")


def test_config_cc_is_always_copied_once_and_never_the_recipient(vn: WorkCalendar) -> None:
    policy = NotifyPolicy(
        cc=("vanphong@example.gov.vn", "vanthu.sotnmt@example.gov.vn", "giamdoc.sotnmt@example.gov.vn"),
        digest_schedule=NEVER,
    )
    m = plan_due([task(1)], {}, vn, policy, directory(), D(2023, 7, 14))[0]
    assert [c.email for c in m.cc] == ["vanthu.sotnmt@example.gov.vn", "vanphong@example.gov.vn"]


def test_reminders_of_one_head_on_one_day_are_one_email(vn: WorkCalendar) -> None:
    ts = [task(1), task(2, rule="on-time-95", due_on=D(2023, 7, 10))]
    plan = plan_due(ts, {}, vn, POLICY, directory(), D(2023, 7, 14))
    assert [(m.kind, m.task_ids) for m in plan] == [("reminder", (1, 2))]
    assert [t.id for t in plan[0].tasks] == [2, 1]  # by due date


def test_idempotency_key_is_kind_date_sorted_ids_and_recipient_for_digests() -> None:
    assert idempotency_key("reminder", [12, 3, 7], D(2023, 7, 5)) == "reminder:2023-07-05:3,7,12"
    assert idempotency_key("digest", [2, 1], D(2023, 7, 3), "A@X.VN") == "digest:2023-07-03:a@x.vn:1,2"
    long = idempotency_key("digest", range(1000, 1200), D(2023, 7, 3), "a@x.vn")
    assert long.startswith("digest:2023-07-03:a@x.vn:sha256=") and len(long) <= 400


@pytest.mark.parametrize(
    ("expr", "day", "expected"),
    [
        ("0 7 * * 1", D(2023, 7, 24), True),  # Monday
        ("0 7 * * 1", D(2023, 7, 25), False),
        ("30 7 * * 1-5", D(2023, 7, 29), False),  # Saturday
        ("30 7 * * mon-fri", D(2023, 7, 28), True),
        ("0 7 * * 0", D(2023, 7, 30), True),  # Sunday is 0 …
        ("0 7 * * 7", D(2023, 7, 30), True),  # … and 7
        ("0 7 1 * *", D(2023, 8, 1), True),
        ("0 7 1 * 1", D(2023, 7, 24), True),  # both restricted: either matches (Vixie cron)
        ("0 7 1 * 1", D(2023, 7, 25), False),
        ("0 7 */2 * *", D(2023, 7, 3), True),
        ("0 7 */2 * *", D(2023, 7, 4), False),
        ("0 7 * jan,jul *", D(2023, 7, 4), True),
        ("0 7 * 2 *", D(2023, 7, 4), False),
    ],
)
def test_cron_day_matching(expr: str, day: dt.date, expected: bool) -> None:
    assert cron_matches_day(expr, day) is expected


def test_cron_rejects_what_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="not a cron expression of 5 fields"):
        cron_matches_day("0 7 * *", D(2023, 7, 3))
    with pytest.raises(ValueError, match="outside 0-7"):
        cron_matches_day("0 7 * * 9", D(2023, 7, 3))
