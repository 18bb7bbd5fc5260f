"""reconcile(): every task semantic of SPEC §4, on plain data (no storage, no clock)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.model.agency import Agency, AgencyDirectory
from compliance.model.evaluation import Evaluation, Outcome
from compliance.model.rules import Indicator, Rule, Rulebook
from compliance.model.task import Task, TaskChange, TaskChangeKind, TaskStatus, Waiver
from compliance.tasks import Key, reconcile

D = dt.date(2023, 7, 15)

RULEBOOK = Rulebook(
    indicators={"pay": Indicator(id="pay", name="Thanh toán", kind="ratio")},
    rules={
        "pay-30": Rule.model_validate(
            {
                "id": "pay-30",
                "title": "Thanh toán trực tuyến ≥ 30%",
                "indicator": "pay",
                "target": {"op": ">=", "value": "30%"},
                "resolve": {"op": ">=", "value": "32%"},
                "for": 2,
                "due_days": 30,
            }
        ),
        "pay-once": Rule.model_validate(
            {"id": "pay-once", "title": "Một lần", "indicator": "pay", "target": {"op": ">=", "value": "30%"}}
        ),
    },
    files={},
    revision="r1",
)
DIRECTORY = AgencyDirectory.of(
    [
        Agency("a", "Sở A", "department", None, "Nguyễn Văn A", "Giám đốc Sở A", "head.a@example.gov.vn"),
        Agency("b", "Sở B", "department", None, "Trần Thị B", "Giám đốc Sở B", "head.b@example.gov.vn"),
    ]
)


def ev(
    outcome: Outcome,
    *,
    rule: str = "pay-30",
    agency: str = "a",
    period: str | None = "2023-06",
    value: float | str | None = 0.25,
    streak: int = 0,
    failing: bool | None = None,
    meets_resolve: bool = False,
) -> Evaluation:
    return Evaluation(
        rule=rule,
        agency=agency,
        outcome=outcome,
        period=period,
        value=value,
        target=0.3,
        streak=streak,
        failing=(outcome is Outcome.FAIL) if failing is None else failing,
        meets_resolve=meets_resolve,
    )


OPEN_TASK = Task(
    id=7,
    rule="pay-30",
    agency="a",
    status=TaskStatus.OPEN,
    opened_on=dt.date(2023, 6, 15),
    due_on=dt.date(2023, 7, 15),
    period="2023-05",
    last_period="2023-05",
    value=0.25,
    target=0.3,
    assignee="head.a@example.gov.vn",
    streak=2,
)


def open_task(**kw: Any) -> Task:
    return OPEN_TASK.with_(**kw)


def run(
    evaluations: Sequence[Evaluation],
    active: Mapping[Key, Task] | None = None,
    waivers: Sequence[Waiver] = (),
    last: Mapping[Key, Task] | None = None,
    on: dt.date = D,
) -> list[TaskChange]:
    return reconcile(evaluations, active or {}, waivers, RULEBOOK, DIRECTORY, on, 14, "run-1", last)


def test_a_task_opens_after_for_consecutive_failures() -> None:
    assert run([ev(Outcome.FAIL, streak=1)]) == []
    [change] = run([ev(Outcome.FAIL, streak=2)])
    assert change.kind is TaskChangeKind.OPENED
    task = change.task
    assert (task.id, task.status, task.opened_on, task.due_on) == (
        None,
        TaskStatus.OPEN,
        D,
        dt.date(2023, 8, 14),
    )
    assert (task.period, task.last_period, task.value, task.target, task.streak) == (
        "2023-06",
        "2023-06",
        0.25,
        0.3,
        2,
    )
    assert (task.assignee, task.assignee_name, task.opened_run_id) == (
        "head.a@example.gov.vn",
        "Nguyễn Văn A",
        "run-1",
    )
    assert change.data["due_on"] == "2023-08-14"
    assert change.data["previous_task_id"] is None


def test_due_on_uses_the_default_when_the_rule_has_no_due_days() -> None:
    [change] = run([ev(Outcome.FAIL, rule="pay-once", streak=1)])
    assert change.task.due_on == D + dt.timedelta(days=14)


def test_one_active_task_per_identity_no_second_opening() -> None:
    task = open_task(last_period="2023-06", streak=3, value=0.25)
    assert run([ev(Outcome.FAIL, streak=3)], {("pay-30", "a"): task}) == []


def test_an_open_task_is_updated_with_the_new_period_and_value() -> None:
    task = open_task()
    [change] = run([ev(Outcome.FAIL, period="2023-06", value=0.27, streak=3)], {("pay-30", "a"): task})
    assert change.kind is TaskChangeKind.UPDATED
    assert (change.task.status, change.task.period, change.task.last_period) == (
        TaskStatus.OPEN,
        "2023-05",
        "2023-06",
    )
    assert (change.task.value, change.task.streak) == (0.27, 3)
    assert change.data["updated_on"] == "2023-07-15"
    assert change.data["from"] == {"last_period": "2023-05", "value": 0.25, "target": 0.3, "streak": 2}
    assert change.data["to"] == {"last_period": "2023-06", "value": 0.27, "target": 0.3, "streak": 3}


def test_hysteresis_a_pass_below_resolve_keeps_the_task_open() -> None:
    task = open_task()
    [change] = run([ev(Outcome.PASS, value=0.31, meets_resolve=False)], {("pay-30", "a"): task})
    assert change.kind is TaskChangeKind.UPDATED
    assert change.task.status is TaskStatus.OPEN
    assert (change.task.value, change.task.streak) == (0.31, 0)


def test_meeting_resolve_resolves_the_task_on_d() -> None:
    task = open_task(status=TaskStatus.ACKNOWLEDGED)
    [change] = run([ev(Outcome.PASS, value=0.33, meets_resolve=True)], {("pay-30", "a"): task})
    assert change.kind is TaskChangeKind.RESOLVED
    assert (change.task.status, change.task.resolved_on, change.task.value) == (TaskStatus.RESOLVED, D, 0.33)
    assert change.data["resolved_on"] == "2023-07-15"


def test_a_new_failure_after_resolution_opens_a_new_task_linked_to_the_previous() -> None:
    previous = open_task(id=7, status=TaskStatus.RESOLVED, resolved_on=dt.date(2023, 7, 1))
    [change] = run([ev(Outcome.FAIL, streak=2)], last={("pay-30", "a"): previous})
    assert change.kind is TaskChangeKind.OPENED
    assert change.task.previous_task_id == 7
    assert change.data["previous_task_id"] == 7


def test_non_decisive_outcomes_change_no_task() -> None:
    task = open_task()
    active = {("pay-30", "a"): task}
    for outcome in (Outcome.INSUFFICIENT, Outcome.NO_DATA, Outcome.STALE, Outcome.NOT_APPLICABLE):
        assert run([ev(outcome, value=0.5, streak=5, failing=False, meets_resolve=True)], active) == []
        assert run([ev(outcome, value=0.1, streak=5, failing=False)]) == []


def test_missing_is_violation_opens_a_task_for_no_data_and_stale() -> None:
    [change] = run([ev(Outcome.NO_DATA, rule="pay-once", period=None, value=None, streak=0, failing=True)])
    assert change.kind is TaskChangeKind.OPENED
    assert change.task.period is None
    [change] = run([ev(Outcome.STALE, rule="pay-once", streak=1, failing=True)])
    assert change.kind is TaskChangeKind.OPENED


def test_a_failing_no_data_does_not_wipe_the_tasks_last_figures() -> None:
    task = open_task(rule="pay-once", last_period="2023-05", value=0.25, streak=1)
    out = run(
        [ev(Outcome.NO_DATA, rule="pay-once", period=None, value=None, streak=1, failing=True)],
        {("pay-once", "a"): task},
    )
    assert out == []


def test_a_waiver_waives_the_active_task_and_stops_new_ones_until_it_ends() -> None:
    waiver = Waiver("pay-30", "a", dt.date(2023, 7, 31), "Đang nâng cấp hệ thống", "vp@example.gov.vn", id=3)
    [change] = run([ev(Outcome.FAIL, streak=3)], {("pay-30", "a"): open_task()}, [waiver])
    assert change.kind is TaskChangeKind.WAIVED
    assert (change.task.status, change.task.waived_on) == (TaskStatus.WAIVED, D)
    assert change.data == {
        "waiver_id": 3,
        "until": "2023-07-31",
        "reason": "Đang nâng cấp hệ thống",
        "by": "vp@example.gov.vn",
        "waived_on": "2023-07-15",
    }
    assert run([ev(Outcome.FAIL, streak=3)], waivers=[waiver]) == []
    assert run([ev(Outcome.FAIL, streak=3)], waivers=[waiver], on=dt.date(2023, 7, 31)) == []
    waived = change.task
    [after] = run(
        [ev(Outcome.FAIL, streak=3)], waivers=[waiver], on=dt.date(2023, 8, 1), last={("pay-30", "a"): waived}
    )
    assert after.kind is TaskChangeKind.OPENED
    assert after.task.previous_task_id == 7


def test_a_waiver_for_another_identity_changes_nothing() -> None:
    waiver = Waiver("pay-30", "b", dt.date(2023, 7, 31), "lý do", "vp@example.gov.vn")
    [change] = run([ev(Outcome.FAIL, streak=2)], waivers=[waiver])
    assert change.kind is TaskChangeKind.OPENED


def test_a_waived_active_task_without_evaluation_is_still_waived() -> None:
    waiver = Waiver("pay-30", "a", dt.date(2023, 7, 31), "lý do", "vp@example.gov.vn")
    [change] = run([], {("pay-30", "a"): open_task()}, [waiver])
    assert change.kind is TaskChangeKind.WAIVED


def test_an_active_task_without_evaluation_is_left_alone() -> None:
    assert run([], {("pay-30", "a"): open_task()}) == []


def test_changes_come_in_rule_agency_order() -> None:
    out = run(
        [
            ev(Outcome.FAIL, rule="pay-once", agency="b", streak=1),
            ev(Outcome.FAIL, agency="b", streak=2),
            ev(Outcome.FAIL, rule="pay-once", agency="a", streak=1),
        ]
    )
    assert [(c.task.rule, c.task.agency) for c in out] == [
        ("pay-30", "b"),
        ("pay-once", "a"),
        ("pay-once", "b"),
    ]


# --- properties: evaluating twice changes nothing; never two active tasks per identity -------------


def apply(
    active: dict[Key, Task], last: dict[Key, Task], changes: Sequence[TaskChange], next_id: list[int]
) -> None:
    for change in changes:
        task = change.task
        if task.id is None:
            task = task.with_(id=next_id[0])
            next_id[0] += 1
        key = (task.rule, task.agency)
        if task.status.is_active:
            assert change.kind is not TaskChangeKind.OPENED or key not in active
            active[key] = task
        else:
            active.pop(key, None)
            last[key] = task


outcomes = st.sampled_from(list(Outcome))


@st.composite
def evaluation_days(draw: st.DrawFn) -> list[list[Evaluation]]:
    days = []
    for _ in range(draw(st.integers(1, 6))):
        day = []
        for rule in ("pay-30", "pay-once"):
            for agency in ("a", "b"):
                if draw(st.booleans()):
                    outcome = draw(outcomes)
                    value = draw(st.sampled_from([0.1, 0.29, 0.3, 0.31, 0.32, 0.5]))
                    day.append(
                        ev(
                            outcome,
                            rule=rule,
                            agency=agency,
                            value=value,
                            period=draw(st.sampled_from(["2023-05", "2023-06"])),
                            streak=draw(st.integers(0, 4)) if outcome is Outcome.FAIL else 0,
                            failing=outcome is Outcome.FAIL
                            or (outcome in (Outcome.NO_DATA, Outcome.STALE) and draw(st.booleans())),
                            meets_resolve=outcome is Outcome.PASS and value >= 0.32,
                        )
                    )
        days.append(day)
    return days


waiver_lists = st.lists(
    st.builds(
        Waiver,
        st.sampled_from(["pay-30", "pay-once"]),
        st.sampled_from(["a", "b"]),
        st.dates(dt.date(2023, 7, 1), dt.date(2023, 8, 31)),
        st.just("lý do"),
        st.just("vp@example.gov.vn"),
    ),
    max_size=2,
)


@settings(max_examples=300, deadline=None)
@given(evaluation_days(), waiver_lists)
def test_reconciling_the_same_evaluations_twice_changes_nothing(
    days: list[list[Evaluation]], waivers: list[Waiver]
) -> None:
    active: dict[Key, Task] = {}
    last: dict[Key, Task] = {}
    next_id = [1]
    for offset, day in enumerate(days):
        on = D + dt.timedelta(days=10 * offset)
        changes = run(day, active, waivers, last, on=on)
        apply(active, last, changes, next_id)
        assert run(day, active, waivers, last, on=on) == []
        for key, task in active.items():
            assert task.status.is_active and (task.rule, task.agency) == key
