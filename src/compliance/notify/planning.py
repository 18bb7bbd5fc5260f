"""Which emails are due on day D: pure planning from tasks, their reminder history, the calendar (SPEC §5).

Nothing here reads storage or the clock. The pipeline passes D, the active tasks, the day each task was
last reminded (from the outbox), the work calendar and the directory; planning returns messages with
their idempotency keys, and the outbox's unique key makes queueing them twice harmless.

Decisions the spec leaves open (also in docs/notifications.md):
- Reminders, escalations and digests are planned only on working days. A slot that falls on a day off
  goes out on the next working day; after missed days a task gets one catch-up reminder, because a
  reminder is due when the latest slot's working day is after the day it was last reminded.
- Emails are grouped per recipient: one task-opened / task-resolved email per head per run, one
  reminder email per head per day listing every task that reached a reminder day, one escalation per
  (parent head, agency) per day, one digest per head per digest day.
- task-opened / task-resolved go out on the next working day after the run (the same day if it is one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from compliance.model.agency import AgencyDirectory
from compliance.model.calendar import WorkCalendar
from compliance.model.config import Config
from compliance.model.cron import cron_matches_day
from compliance.model.task import Task, TaskChange, TaskChangeKind, TaskStatus

__all__ = [
    "KINDS",
    "NotifyPolicy",
    "PlannedMessage",
    "Recipient",
    "cron_matches_day",
    "digest_day",
    "escalation_day",
    "head_of",
    "idempotency_key",
    "plan_due",
    "plan_run",
    "reminder_due",
]

KINDS = ("task-opened", "reminder", "escalation", "task-resolved", "digest")
_KEY_LIMIT = 400  # the outbox's key column


@dataclass(frozen=True)
class Recipient:
    """An address, and for a head the name and title the greeting needs."""

    email: str
    name: str = ""
    title: str = ""
    agency: str | None = None


@dataclass(frozen=True)
class PlannedMessage:
    kind: str
    key: str
    send_on: dt.date
    to: Recipient
    cc: tuple[Recipient, ...]
    tasks: tuple[Task, ...]
    # For an escalation: the agency whose head did not act (its head is in cc).
    about: str | None = None

    @property
    def task_ids(self) -> tuple[int, ...]:
        return tuple(sorted(t.id for t in self.tasks if t.id is not None))

    @property
    def agencies(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.agency for t in self.tasks))


@dataclass(frozen=True)
class NotifyPolicy:
    """The parts of config.toml that decide what is due."""

    remind_before_due: tuple[int, ...] = (3, 1)
    overdue_every_days: int = 7
    escalate_after_days: int = 7
    escalation_default_to: str | None = None
    digest_schedule: str = "0 7 * * 1"
    cc: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_config(cls, config: Config) -> NotifyPolicy:
        n = config.notify
        return cls(
            remind_before_due=tuple(n.remind_before_due),
            overdue_every_days=n.overdue_every_days,
            escalate_after_days=n.escalate_after_days,
            escalation_default_to=str(n.escalation_default_to) if n.escalation_default_to else None,
            digest_schedule=config.schedule.digest,
            cc=tuple(str(a) for a in config.email.cc),
        )


def idempotency_key(kind: str, task_ids: Iterable[int], on: dt.date, recipient: str | None = None) -> str:
    """kind + date (+ recipient) + sorted task ids; very long id lists are replaced by their sha256."""
    ids = ",".join(str(i) for i in sorted(set(task_ids)))
    head = f"{kind}:{on.isoformat()}"
    if recipient is not None:
        head += f":{recipient.lower()}"
    key = f"{head}:{ids}"
    if len(key) > _KEY_LIMIT:
        key = f"{head}:sha256={hashlib.sha256(ids.encode('ascii')).hexdigest()}"
    if len(key) > _KEY_LIMIT:  # an absurdly long recipient address
        key = f"{kind}:{on.isoformat()}:sha256={hashlib.sha256(key.encode('utf-8')).hexdigest()}"
    return key


# --- recipients ---------------------------------------------------------------------------------


def head_of(agency_id: str, directory: AgencyDirectory, task: Task | None = None) -> Recipient:
    """The head in the directory now; a unit that left the directory keeps the head its task recorded."""
    agency = directory.get(agency_id)
    if agency is not None:
        return Recipient(agency.head_email, agency.head_name, agency.head_title, agency.id)
    if task is not None:
        return Recipient(task.assignee, task.assignee_name, "", agency_id)
    raise KeyError(agency_id)


def _named(email: str, directory: AgencyDirectory) -> Recipient:
    """An address from the config; if it is some unit's head, greet that head by name."""
    for agency in directory:
        if agency.head_email.lower() == email.lower():
            return Recipient(agency.head_email, agency.head_name, agency.head_title, agency.id)
    return Recipient(email)


def _cc(
    to: Recipient,
    agencies: Iterable[str],
    directory: AgencyDirectory,
    policy: NotifyPolicy,
    first: Sequence[Recipient] = (),
) -> tuple[Recipient, ...]:
    """`first`, then each agency's own cc, then the deployment's cc; each address once, never `to`."""
    out: list[Recipient] = []
    seen = {to.email.lower()}

    def add(r: Recipient) -> None:
        if r.email and r.email.lower() not in seen:
            seen.add(r.email.lower())
            out.append(r)

    for r in first:
        add(r)
    for agency_id in agencies:
        agency = directory.get(agency_id)
        for address in agency.cc if agency is not None else ():
            add(Recipient(address))
    for address in policy.cc:
        add(Recipient(address))
    return tuple(out)


def _by_recipient(
    tasks: Iterable[Task], directory: AgencyDirectory
) -> dict[str, tuple[Recipient, list[Task]]]:
    groups: dict[str, tuple[Recipient, list[Task]]] = {}
    for task in tasks:
        head = head_of(task.agency, directory, task)
        groups.setdefault(head.email.lower(), (head, []))[1].append(task)
    return groups


# --- the run's messages: task-opened, task-resolved -------------------------------------------------


def plan_run(
    changes: Sequence[TaskChange],
    directory: AgencyDirectory,
    calendar: WorkCalendar,
    policy: NotifyPolicy,
    on: dt.date,
) -> list[PlannedMessage]:
    """One task-opened and one task-resolved email per recipient for an evaluation run at D."""
    send_on = calendar.next_working_day(on)
    out: list[PlannedMessage] = []
    for kind, change_kind in (
        ("task-opened", TaskChangeKind.OPENED),
        ("task-resolved", TaskChangeKind.RESOLVED),
    ):
        tasks = [c.task for c in changes if c.kind is change_kind and c.task.id is not None]
        for head, group in _by_recipient(tasks, directory).values():
            group.sort(key=lambda t: (t.agency, t.due_on, t.id or 0))
            key = idempotency_key(kind, (t.id for t in group if t.id is not None), on)
            cc = _cc(head, dict.fromkeys(t.agency for t in group), directory, policy)
            out.append(PlannedMessage(kind, key, send_on, head, cc, tuple(group)))
    return sorted(out, key=lambda m: m.key)


# --- what is due on D: reminders, escalations, digests ------------------------------------------------


def _slots(task: Task, policy: NotifyPolicy, until: dt.date) -> list[dt.date]:
    """The task's reminder days up to `until`: before due_on (not once acknowledged), then the last
    overdue day (due_on + 1 + k * overdue_every_days) not after `until`."""
    slots: list[dt.date] = []
    if task.status is not TaskStatus.ACKNOWLEDGED:
        slots.extend(task.due_on - dt.timedelta(days=k) for k in policy.remind_before_due)
    first_overdue = task.due_on + dt.timedelta(days=1)
    if until >= first_overdue:
        periods = (until - first_overdue).days // policy.overdue_every_days
        slots.append(first_overdue + dt.timedelta(days=periods * policy.overdue_every_days))
    return [s for s in slots if task.opened_on < s <= until]


def reminder_due(
    task: Task, last_reminded_on: dt.date | None, calendar: WorkCalendar, policy: NotifyPolicy, on: dt.date
) -> dt.date | None:
    """The reminder day this task is reminded for at D, or None.

    Due when the latest reminder day not after D falls (moved to a working day) after the day the task
    was last reminded; several missed days therefore give one reminder. Before the first reminder the
    task-opened email counts as one, sent on the first working day from opened_on.
    """
    if not task.status.is_active or not calendar.is_working_day(on):
        return None
    slots = _slots(task, policy, on)
    if not slots:
        return None
    latest = max(slots)
    covered = last_reminded_on if last_reminded_on is not None else calendar.next_working_day(task.opened_on)
    if calendar.next_working_day(latest) > covered:
        return latest
    return None


def escalation_day(task: Task, calendar: WorkCalendar, policy: NotifyPolicy) -> dt.date:
    """The working day the escalation goes out: due_on + escalate_after_days, moved off days off."""
    return calendar.next_working_day(task.due_on + dt.timedelta(days=policy.escalate_after_days))


def digest_day(schedule: str, calendar: WorkCalendar, on: dt.date) -> dt.date | None:
    """The scheduled digest day whose email goes out on D (itself, or one moved from days off before D)."""
    if not calendar.is_working_day(on):
        return None
    day = on
    for _ in range(366):
        if cron_matches_day(schedule, day):
            return day
        day -= dt.timedelta(days=1)
        if calendar.is_working_day(day):  # an earlier schedule day had its own working day
            return None
    return None


def plan_due(
    tasks: Iterable[Task],
    last_reminded: Mapping[int, dt.date],
    calendar: WorkCalendar,
    policy: NotifyPolicy,
    directory: AgencyDirectory,
    on: dt.date,
) -> list[PlannedMessage]:
    """Reminders, escalations and digests due at D for the active tasks, sorted by key."""
    active = [t for t in tasks if t.id is not None and t.status.is_active]
    out: list[PlannedMessage] = []
    if not calendar.is_working_day(on):
        return out

    reminded = [t for t in active if reminder_due(t, last_reminded.get(t.id or 0), calendar, policy, on)]
    for head, group in _by_recipient(reminded, directory).values():
        group.sort(key=lambda t: (t.due_on, t.agency, t.id or 0))
        key = idempotency_key("reminder", (t.id for t in group if t.id is not None), on)
        cc = _cc(head, dict.fromkeys(t.agency for t in group), directory, policy)
        out.append(PlannedMessage("reminder", key, on, head, cc, tuple(group)))

    escalating = [t for t in active if t.escalated_on is None and escalation_day(t, calendar, policy) <= on]
    by_target: dict[tuple[str, str], tuple[Recipient, Recipient, list[Task]]] = {}
    found: dict[str, Recipient] = {}

    def named(email: str, directory: AgencyDirectory) -> Recipient:
        # A search of the whole directory, for the same one or two addresses each time: once each.
        if email not in found:
            found[email] = _named(email, directory)
        return found[email]

    for task in escalating:
        head = head_of(task.agency, directory, task)
        parent = directory.parent_of(task.agency)
        if parent is not None:
            to = Recipient(parent.head_email, parent.head_name, parent.head_title, parent.id)
        elif policy.escalation_default_to:
            to = named(policy.escalation_default_to, directory)
        else:  # nobody above: the deployment's cc, else the head themself, so nothing is dropped
            to = named(policy.cc[0], directory) if policy.cc else head
        by_target.setdefault((to.email.lower(), task.agency), (to, head, []))[2].append(task)
    for (_, agency_id), (to, head, group) in by_target.items():
        group.sort(key=lambda t: (t.due_on, t.id or 0))
        key = idempotency_key("escalation", (t.id for t in group if t.id is not None), on)
        cc = _cc(to, [agency_id], directory, policy, first=[head])
        out.append(PlannedMessage("escalation", key, on, to, cc, tuple(group), about=agency_id))

    if digest_day(policy.digest_schedule, calendar, on) is not None:
        for head, group in _by_recipient(active, directory).values():
            group.sort(key=lambda t: (t.due_on, t.id or 0))
            key = idempotency_key("digest", (t.id for t in group if t.id is not None), on, head.email)
            cc = _cc(head, dict.fromkeys(t.agency for t in group), directory, policy)
            out.append(PlannedMessage("digest", key, on, head, cc, tuple(group)))
    return sorted(out, key=lambda m: (KINDS.index(m.kind), m.key))
