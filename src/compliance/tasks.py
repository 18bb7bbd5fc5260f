"""Task reconciliation: evaluations at D + active tasks + waivers -> the task changes of one run (pure).

SPEC §4 "Tasks". Identity is (rule, agency); at most one task per identity is active (open or
acknowledged). Nothing here reads storage or the clock: D, the active tasks, the last closed task of each
identity and the waivers come in as arguments, so every semantic is testable in microseconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from compliance.model.agency import AgencyDirectory
from compliance.model.evaluation import Evaluation, Outcome
from compliance.model.rules import Rulebook
from compliance.model.task import Task, TaskChange, TaskChangeKind, TaskStatus, Waiver

__all__ = ["Key", "reconcile", "waiver_for"]

Key = tuple[str, str]

# Outcomes that carry a decision about the figure; the others leave every task as it is unless the
# rule says missing data is itself a violation (then the engine marks the evaluation `failing`).
_DECISIVE = (Outcome.PASS, Outcome.FAIL)


def waiver_for(waivers: Iterable[Waiver], rule: str, agency: str, on: dt.date) -> Waiver | None:
    """The waiver covering (rule, agency) at D that lasts longest, or None."""
    best: Waiver | None = None
    for waiver in waivers:
        if waiver.covers(rule, agency, on) and (best is None or waiver.until > best.until):
            best = waiver
    return best


def _index_waivers(waivers: Sequence[Waiver], on: dt.date) -> dict[Key, Waiver]:
    index: dict[Key, Waiver] = {}
    for waiver in waivers:
        if not waiver.covers(waiver.rule, waiver.agency, on):
            continue
        key = (waiver.rule, waiver.agency)
        current = index.get(key)
        if current is None or waiver.until > current.until:
            index[key] = waiver
    return index


def _facts(task: Task) -> dict[str, Any]:
    return {
        "last_period": task.last_period,
        "value": task.value,
        "target": task.target,
        "streak": task.streak,
    }


def _opened(
    evaluation: Evaluation,
    rulebook: Rulebook,
    directory: AgencyDirectory,
    on: dt.date,
    default_due_days: int,
    run_id: str,
    previous: Task | None,
) -> TaskChange:
    rule = rulebook.rules[evaluation.rule]
    agency = directory.get(evaluation.agency)
    due_days = rule.due_days if rule.due_days is not None else default_due_days
    task = Task(
        id=None,
        rule=evaluation.rule,
        agency=evaluation.agency,
        status=TaskStatus.OPEN,
        opened_on=on,
        due_on=on + dt.timedelta(days=due_days),
        period=evaluation.period,
        last_period=evaluation.period,
        value=evaluation.value,
        target=evaluation.target,
        assignee=agency.head_email if agency is not None else "",
        assignee_name=agency.head_name if agency is not None else "",
        streak=evaluation.streak,
        previous_task_id=previous.id if previous is not None else None,
        opened_run_id=run_id,
    )
    data: dict[str, Any] = {
        "outcome": str(evaluation.outcome),
        "period": task.period,
        "value": task.value,
        "target": task.target,
        "streak": task.streak,
        "for": rule.for_,
        "opened_on": on.isoformat(),
        "due_on": task.due_on.isoformat(),
        "assignee": task.assignee,
        "assignee_name": task.assignee_name,
        "severity": rule.severity,
        "previous_task_id": task.previous_task_id,
    }
    return TaskChange(TaskChangeKind.OPENED, task, data)


def _reconcile_active(
    task: Task, evaluation: Evaluation | None, waiver: Waiver | None, on: dt.date
) -> TaskChange | None:
    if waiver is not None:
        waived = task.with_(status=TaskStatus.WAIVED, waived_on=on)
        return TaskChange(
            TaskChangeKind.WAIVED,
            waived,
            {
                "waiver_id": waiver.id,
                "until": waiver.until.isoformat(),
                "reason": waiver.reason,
                "by": waiver.by,
                "waived_on": on.isoformat(),
            },
        )
    if evaluation is None:
        return None
    return _follow(task, evaluation, on)


def _follow(task: Task, evaluation: Evaluation, on: dt.date) -> TaskChange | None:
    decisive = evaluation.outcome in _DECISIVE
    if decisive and evaluation.meets_resolve:
        resolved = task.with_(
            status=TaskStatus.RESOLVED,
            resolved_on=on,
            last_period=evaluation.period,
            value=evaluation.value,
            target=evaluation.target,
            streak=evaluation.streak,
        )
        return TaskChange(
            TaskChangeKind.RESOLVED,
            resolved,
            {
                "outcome": str(evaluation.outcome),
                "period": evaluation.period,
                "value": evaluation.value,
                "target": evaluation.target,
                "resolved_on": on.isoformat(),
            },
        )
    if not (decisive or evaluation.failing):
        return None  # insufficient, no_data, stale, not_applicable: no task changes
    updated = task.with_(
        last_period=evaluation.period if evaluation.period is not None else task.last_period,
        value=evaluation.value if evaluation.period is not None else task.value,
        target=evaluation.target if evaluation.period is not None else task.target,
        streak=evaluation.streak,
    )
    before, after = _facts(task), _facts(updated)
    if before == after:
        return None
    return TaskChange(
        TaskChangeKind.UPDATED,
        updated,
        {"outcome": str(evaluation.outcome), "updated_on": on.isoformat(), "from": before, "to": after},
    )


def reconcile(
    evaluations: Iterable[Evaluation],
    active: Mapping[Key, Task],
    waivers: Sequence[Waiver],
    rulebook: Rulebook,
    directory: AgencyDirectory,
    on: dt.date,
    default_due_days: int,
    run_id: str,
    last_tasks: Mapping[Key, Task] | None = None,
) -> list[TaskChange]:
    """The task changes that the evaluations at D call for, in (rule, agency) order.

    - failing, streak >= `for`, no active task, no waiver covering D -> task-opened (linked to the last
      resolved or waived task of the identity, from `last_tasks`);
    - an active task under a waiver covering D -> task-waived;
    - a pass or fail that meets `resolve` -> task-resolved (a pass below `resolve` keeps it open:
      hysteresis);
    - otherwise a pass/fail (or a failing no_data/stale) whose period, value, target or streak differ from
      the task's -> task-updated; nothing different -> no change;
    - insufficient, no_data, stale (not failing) and not_applicable -> no change.
    Active tasks without an evaluation at D (agency inactive, rule gone) change only under a waiver.
    """
    last = last_tasks or {}
    waived = _index_waivers(waivers, on)
    changes: list[TaskChange] = []
    seen: set[Key] = set()
    for evaluation in evaluations:
        key = (evaluation.rule, evaluation.agency)
        seen.add(key)
        task = active.get(key)
        waiver = waived.get(key)
        if task is not None:
            change = _reconcile_active(task, evaluation, waiver, on)
            if change is not None:
                changes.append(change)
            continue
        if waiver is not None or not evaluation.failing:
            continue
        rule = rulebook.rules.get(evaluation.rule)
        if rule is None:
            continue
        # A failing evaluation is at least one failure, whatever the count-back says (no_data has no
        # period to count; a failing milestone has streak 1).
        if max(evaluation.streak, 1) < rule.for_:
            continue
        changes.append(_opened(evaluation, rulebook, directory, on, default_due_days, run_id, last.get(key)))
    for key, task in active.items():
        if key in seen or key not in waived:
            continue
        change = _reconcile_active(task, None, waived[key], on)
        if change is not None:
            changes.append(change)
    changes.sort(key=lambda c: (c.task.rule, c.task.agency))
    return changes
