"""Tasks (one per rule x agency while open), their changes, and waivers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

__all__ = ["Task", "TaskChange", "TaskChangeKind", "TaskStatus", "Waiver"]


class TaskStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    WAIVED = "waived"

    @property
    def is_active(self) -> bool:
        """Open for every purpose of the rules (acknowledged stays open)."""
        return self in (TaskStatus.OPEN, TaskStatus.ACKNOWLEDGED)


class TaskChangeKind(StrEnum):
    OPENED = "task-opened"
    UPDATED = "task-updated"
    RESOLVED = "task-resolved"
    WAIVED = "task-waived"
    ACKNOWLEDGED = "task-acknowledged"
    ESCALATED = "task-escalated"


@dataclass(frozen=True, slots=True)
class Task:
    id: int | None
    rule: str
    agency: str
    status: TaskStatus
    opened_on: dt.date
    due_on: dt.date
    period: str | None
    last_period: str | None
    value: float | str | None
    target: float | str | None
    assignee: str
    assignee_name: str = ""
    streak: int = 0
    resolved_on: dt.date | None = None
    escalated_on: dt.date | None = None
    acknowledged_on: dt.date | None = None
    acknowledged_by: str | None = None
    note: str | None = None
    waived_on: dt.date | None = None
    previous_task_id: int | None = None
    opened_run_id: str | None = None

    def with_(self, **changes: Any) -> Task:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class TaskChange:
    """What reconcile decided for one task; `task` is the task after the change."""

    kind: TaskChangeKind
    task: Task
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Waiver:
    rule: str
    agency: str
    until: dt.date
    reason: str
    by: str
    id: int | None = None
    created_at: dt.datetime | None = None

    def covers(self, rule: str, agency: str, day: dt.date) -> bool:
        return self.rule == rule and self.agency == agency and day <= self.until
