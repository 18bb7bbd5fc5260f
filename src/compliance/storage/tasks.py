"""Task repository: the tasks table and each task's history (task_events), read and written in bulk."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, func, select, update

from compliance.audit import CANONICAL_ENCODER
from compliance.errors import NotFoundError, StateError
from compliance.model.task import Task, TaskChange, TaskChangeKind, TaskStatus
from compliance.storage.bulk import bulk_insert, cell
from compliance.storage.schema import task_events, tasks

__all__ = [
    "TaskEvent",
    "acknowledge",
    "active_task_for",
    "active_tasks",
    "apply_changes",
    "count_active",
    "get_task",
    "last_closed_tasks",
    "list_tasks",
    "record_events",
    "task_from_row",
    "task_history",
]

Key = tuple[str, str]
_ACTIVE = (TaskStatus.OPEN.value, TaskStatus.ACKNOWLEDGED.value)
_CLOSED = (TaskStatus.RESOLVED.value, TaskStatus.WAIVED.value)


@dataclass(frozen=True)
class TaskEvent:
    """One line of a task's history: what happened, on which local date, in which run."""

    id: int
    task_id: int
    at: str
    on: dt.date
    kind: str
    run_id: str | None
    data: dict[str, Any] = field(default_factory=dict)


_PLAIN = json.JSONEncoder(ensure_ascii=False)  # json.dumps(value, ensure_ascii=False)


def _scalar_out(value: float | str | None) -> str | None:
    return None if value is None else _PLAIN.encode(value)


def _scalar_in(text: str | None) -> float | str | None:
    if text is None:
        return None
    value = json.loads(text)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a scalar: {text!r}")
    return value


def task_from_row(row: Row[Any]) -> Task:
    m = row._mapping
    return Task(
        id=m["id"],
        rule=m["rule"],
        agency=m["agency"],
        status=TaskStatus(m["status"]),
        opened_on=m["opened_on"],
        due_on=m["due_on"],
        period=m["period"],
        last_period=m["last_period"],
        value=_scalar_in(m["value"]),
        target=_scalar_in(m["target"]),
        assignee=m["assignee"],
        assignee_name=m["assignee_name"],
        streak=m["streak"],
        resolved_on=m["resolved_on"],
        escalated_on=m["escalated_on"],
        acknowledged_on=m["acknowledged_on"],
        acknowledged_by=m["acknowledged_by"],
        note=m["note"],
        waived_on=m["waived_on"],
        previous_task_id=m["previous_task_id"],
        opened_run_id=m["opened_run_id"],
    )


def _columns(task: Task) -> dict[str, Any]:
    return {
        "rule": task.rule,
        "agency": task.agency,
        "status": task.status.value,
        "opened_on": task.opened_on,
        "due_on": task.due_on,
        "resolved_on": task.resolved_on,
        "period": task.period,
        "last_period": task.last_period,
        "value": _scalar_out(task.value),
        "target": _scalar_out(task.target),
        "streak": task.streak,
        "assignee": task.assignee,
        "assignee_name": task.assignee_name,
        "escalated_on": task.escalated_on,
        "acknowledged_on": task.acknowledged_on,
        "acknowledged_by": task.acknowledged_by,
        "note": task.note,
        "waived_on": task.waived_on,
        "previous_task_id": task.previous_task_id,
        "opened_run_id": task.opened_run_id,
    }


def active_tasks(conn: Connection) -> dict[Key, Task]:
    """Every open or acknowledged task by identity (the unique index keeps it one per identity)."""
    rows = conn.execute(select(tasks).where(tasks.c.status.in_(_ACTIVE)))
    return {(t.rule, t.agency): t for t in map(task_from_row, rows)}


def active_task_for(conn: Connection, rule: str, agency: str) -> Task | None:
    """The open or acknowledged task of one identity, if any."""
    row = conn.execute(
        select(tasks).where(tasks.c.rule == rule, tasks.c.agency == agency, tasks.c.status.in_(_ACTIVE))
    ).first()
    return task_from_row(row) if row is not None else None


def count_active(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).where(tasks.c.status.in_(_ACTIVE))).scalar_one())


def last_closed_tasks(conn: Connection) -> dict[Key, Task]:
    """The most recent resolved or waived task of each identity: a new task links to it."""
    latest = (
        select(func.max(tasks.c.id).label("id"))
        .where(tasks.c.status.in_(_CLOSED))
        .group_by(tasks.c.rule, tasks.c.agency)
        .subquery()
    )
    rows = conn.execute(select(tasks).join(latest, latest.c.id == tasks.c.id))
    return {(t.rule, t.agency): t for t in map(task_from_row, rows)}


def get_task(conn: Connection, task_id: int) -> Task:
    row = conn.execute(select(tasks).where(tasks.c.id == task_id)).first()
    if row is None:
        raise NotFoundError(f"không có nhiệm vụ số {task_id}")
    return task_from_row(row)


def list_tasks(
    conn: Connection,
    *,
    agency: str | None = None,
    rule: str | None = None,
    status: str | None = None,
) -> list[Task]:
    """Tasks matching the filters, by id."""
    query = select(tasks).order_by(tasks.c.id)
    if agency is not None:
        query = query.where(tasks.c.agency == agency)
    if rule is not None:
        query = query.where(tasks.c.rule == rule)
    if status is not None:
        query = query.where(tasks.c.status == status)
    return [task_from_row(r) for r in conn.execute(query)]


def task_history(conn: Connection, task_id: int) -> list[TaskEvent]:
    rows = conn.execute(
        select(task_events).where(task_events.c.task_id == task_id).order_by(task_events.c.id)
    )
    return [TaskEvent(r.id, r.task_id, r.at, r.on_date, r.kind, r.run_id, json.loads(r.data)) for r in rows]


def record_events(
    conn: Connection,
    events: Iterable[tuple[int, str, dict[str, Any]]],
    *,
    at: str,
    on: dt.date,
    run_id: str | None,
) -> None:
    """Append (task_id, kind, data) lines to the tasks' histories."""
    day = on.isoformat()
    encode = CANONICAL_ENCODER.encode
    rows = [(tid, at, day, kind, run_id, encode(data)) for tid, kind, data in events]
    bulk_insert(conn, task_events, ("task_id", "at", "on_date", "kind", "run_id", "data"), rows)


def apply_changes(
    conn: Connection, changes: Sequence[TaskChange], *, at: str, on: dt.date, run_id: str | None
) -> list[TaskChange]:
    """Write reconcile's changes (new tasks inserted, others updated) and their history lines.

    Returns the changes with every task's id filled in, in the same order. Set-based: one
    multi-row insert for the new tasks, one executemany update for the rest.
    """
    new = [c for c in changes if c.task.id is None]
    ids = _new_ids(conn, len(new))
    if new:
        names = ("id", *_columns(new[0].task))
        date = dt.date
        rows = [
            (i, *[v.isoformat() if isinstance(v, date) else v for v in _columns(c.task).values()])
            for i, c in zip(ids, new, strict=True)
        ]
        bulk_insert(conn, tasks, names, rows)
    id_iter = iter(ids)
    out: list[TaskChange] = []
    for change in changes:
        if change.task.id is None:
            task = change.task.with_(id=next(id_iter))
            out.append(TaskChange(change.kind, task, {**change.data, "task_id": task.id}))
        else:
            out.append(TaskChange(change.kind, change.task, {**change.data, "task_id": change.task.id}))
    _update_tasks(conn, [c.task for c in out if c.kind is not TaskChangeKind.OPENED])
    record_events(
        conn,
        ((c.task.id, c.kind.value, c.data) for c in out if c.task.id is not None),
        at=at,
        on=on,
        run_id=run_id,
    )
    return out


def _new_ids(conn: Connection, count: int) -> list[int]:
    """Ids for `count` new tasks, taken up front so that they can be inserted in bulk."""
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        result = conn.exec_driver_sql(
            "SELECT nextval(pg_get_serial_sequence('tasks', 'id')) FROM generate_series(1, %(n)s)",
            {"n": count},
        )
        return sorted(int(r[0]) for r in result)
    # SQLite: the write lock is held (Database.begin), so nobody else can take these ids meanwhile.
    top = int(conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM tasks").scalar_one())
    return list(range(top + 1, top + 1 + count))


def _update_tasks(conn: Connection, changed: Sequence[Task]) -> None:
    """Write every column of the given (existing) tasks, set-based (thousands in one statement)."""
    if not changed:
        return
    names = [n for n in _columns(changed[0]) if n not in ("rule", "agency")]
    rows = [(t.id, *(cell(v) for n, v in _columns(t).items() if n in names)) for t in changed]
    if conn.dialect.name == "postgresql":
        from compliance.storage.runs import copy_to_temp

        types = [("id", "integer")] + [(n, tasks.c[n].type.compile(dialect=conn.dialect)) for n in names]
        copy_to_temp(conn, "tmp_tasks", types, rows)
        sets = ", ".join(f"{n} = tmp_tasks.{n}" for n in names)
        conn.exec_driver_sql(f"UPDATE tasks SET {sets} FROM tmp_tasks WHERE tasks.id = tmp_tasks.id")
        conn.exec_driver_sql("DROP TABLE tmp_tasks")
        return
    sets = ", ".join(f"{n} = ?" for n in names)
    conn.exec_driver_sql(f"UPDATE tasks SET {sets} WHERE id = ?", [(*r[1:], r[0]) for r in rows])


def acknowledge(
    conn: Connection, task_id: int, *, by: str, note: str | None, on: dt.date, at: str
) -> TaskChange:
    """Mark an open task as seen by the head; it stays active for every other purpose."""
    task = get_task(conn, task_id)
    if task.status is not TaskStatus.OPEN:
        raise StateError(
            f"nhiệm vụ số {task_id} đang ở trạng thái '{task.status.value}': "
            "chỉ xác nhận được nhiệm vụ đang mở (open)"
        )
    acked = task.with_(status=TaskStatus.ACKNOWLEDGED, acknowledged_on=on, acknowledged_by=by, note=note)
    conn.execute(
        update(tasks)
        .where(tasks.c.id == task_id, tasks.c.status == TaskStatus.OPEN.value)
        .values(status=acked.status.value, acknowledged_on=on, acknowledged_by=by, note=note)
    )
    data = {"task_id": task_id, "by": by, "note": note, "acknowledged_on": on.isoformat()}
    record_events(conn, [(task_id, TaskChangeKind.ACKNOWLEDGED.value, data)], at=at, on=on, run_id=None)
    return TaskChange(TaskChangeKind.ACKNOWLEDGED, acked, data)
