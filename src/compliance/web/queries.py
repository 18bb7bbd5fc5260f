"""Reads the pages need that the storage repositories do not offer: series, timelines, audit pages."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Select, and_, case, func, or_, select

from compliance.audit import AuditEntry
from compliance.model.task import Task
from compliance.storage.runs import StateRow
from compliance.storage.schema import (
    audit_log,
    evaluation_state,
    rule_revisions,
    runs,
    snapshot_rows,
    tasks,
)
from compliance.storage.tasks import task_from_row

__all__ = [
    "AuditFilters",
    "active_task_counts",
    "active_tasks_of",
    "matrix_cells",
    "matrix_counts",
    "matrix_rules",
    "PeriodFigure",
    "RevisionRow",
    "audit_page",
    "indicator_series",
    "revisions",
    "run_ids",
    "task_audit_entries",
]


_IN_CHUNK = 500  # ids per IN (...) list


@dataclass(frozen=True)
class PeriodFigure:
    """One period's effective figure for an agency (or the sums over its subtree, for a rollup)."""

    period: str
    period_end: dt.date
    numerator: int | None = None
    denominator: int | None = None
    value: str | None = None  # exact decimal text (value indicators)
    status: str | None = None  # milestone stage
    agencies: int = 1  # how many units' rows were summed


def indicator_series(
    conn: Connection, agencies: Sequence[str], indicator: str, *, on: dt.date, rollup: bool = False
) -> list[PeriodFigure]:
    """Each period's effective figure at `on` (SPEC §3.4: greatest as_of <= on, a tie to the later file).

    `agencies` is the unit itself first; with `rollup`, numerators and denominators are summed over all
    of them that have a row for the period (ratio of sums), otherwise only the first is read.
    """
    wanted = list(agencies) if rollup else list(agencies[:1])
    if not wanted:
        return []
    rows = conn.execute(
        select(
            snapshot_rows.c.agency,
            snapshot_rows.c.period,
            snapshot_rows.c.period_end,
            snapshot_rows.c.numerator,
            snapshot_rows.c.denominator,
            snapshot_rows.c.value,
            snapshot_rows.c.status,
        )
        .where(
            snapshot_rows.c.indicator == indicator,
            snapshot_rows.c.agency.in_(wanted),
            snapshot_rows.c.as_of <= on,
        )
        .order_by(snapshot_rows.c.period_end, snapshot_rows.c.as_of, snapshot_rows.c.id)
    ).all()
    effective: dict[tuple[str, str], Any] = {}
    for r in rows:  # ordered by as_of then id: the last one seen for a key is the effective row
        effective[(r.agency, r.period)] = r
    by_period: dict[str, list[Any]] = {}
    for (_agency, period), r in effective.items():
        by_period.setdefault(period, []).append(r)
    out: list[PeriodFigure] = []
    for period, group in by_period.items():
        first = group[0]
        if rollup and len(group) > 1:
            nums = [g.numerator for g in group if g.numerator is not None]
            dens = [g.denominator for g in group if g.denominator is not None]
            out.append(
                PeriodFigure(
                    period,
                    first.period_end,
                    sum(nums) if nums else None,
                    sum(dens) if dens else None,
                    None,
                    None,
                    len(group),
                )
            )
        else:
            out.append(
                PeriodFigure(
                    period, first.period_end, first.numerator, first.denominator, first.value, first.status
                )
            )
    out.sort(key=lambda f: f.period_end)
    return out


def _entry(r: Any) -> AuditEntry:
    return AuditEntry(
        seq=int(r.seq),
        at=r.at,
        kind=r.kind,
        run_id=r.run_id,
        rule=r.rule,
        agency=r.agency,
        period=r.period,
        outcome=r.outcome,
        data=json.loads(r.data),
        rules_revision=r.rules_revision,
        prev_hash=r.prev_hash,
        hash=r.hash,
    )


def _mentions_task(entry: AuditEntry, task_id: int) -> bool:
    data = entry.data
    if data.get("task_id") == task_id:
        return True
    ids = data.get("task_ids")
    return isinstance(ids, list) and task_id in ids


def task_audit_entries(
    conn: Connection, task_id: int, rule: str, agency: str, *, notification_ids: Iterable[int] = ()
) -> list[AuditEntry]:
    """The log entries about one task: its task-* entries, the waiver-added entry of the waiver that
    waived it, and the notification entries that named it."""
    wanted_notes = set(notification_ids)
    query = (
        select(audit_log)
        .where(
            or_(
                and_(
                    audit_log.c.rule == rule,
                    audit_log.c.agency == agency,
                    or_(audit_log.c.kind.like("task-%"), audit_log.c.kind == "waiver-added"),
                ),
                audit_log.c.kind.in_(("notification-sent", "notification-failed")),
            )
        )
        .order_by(audit_log.c.seq)
    )
    out: list[AuditEntry] = []
    waivers: dict[object, AuditEntry] = {}  # waiver id -> its waiver-added entry (it comes first)
    for r in conn.execute(query):
        entry = _entry(r)
        if entry.kind == "waiver-added":
            waivers[entry.data.get("waiver_id")] = entry
        elif entry.kind.startswith("task-"):
            if _mentions_task(entry, task_id):
                added = waivers.get(entry.data.get("waiver_id")) if entry.kind == "task-waived" else None
                if added is not None:
                    out.append(added)
                out.append(entry)
        elif _mentions_task(entry, task_id) or entry.data.get("notification_id") in wanted_notes:
            out.append(entry)
    return out


@dataclass(frozen=True)
class AuditFilters:
    """The filters of `compliance audit list` (since/until are local dates, both inclusive)."""

    rule: str | None = None
    agency: str | None = None
    kind: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    run_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def query_args(self) -> dict[str, str]:
        out = {
            "rule": self.rule or "",
            "agency": self.agency or "",
            "kind": self.kind or "",
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "run": self.run_id or "",
        }
        return {k: v for k, v in out.items() if v}


def _local_day_start(day: dt.date, tz: ZoneInfo) -> str:
    # The same bound as storage.auditlog.iter_entries: the UTC instant local `day` starts, no suffix.
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    return start.strftime("%Y-%m-%dT%H:%M:%S")


def _filtered(query: Select[Any], f: AuditFilters, tz: ZoneInfo) -> Select[Any]:
    if f.rule:
        query = query.where(audit_log.c.rule == f.rule)
    if f.agency:
        query = query.where(audit_log.c.agency == f.agency)
    if f.kind:
        query = query.where(audit_log.c.kind == f.kind)
    if f.run_id:
        query = query.where(audit_log.c.run_id == f.run_id)
    if f.since:
        query = query.where(audit_log.c.at >= _local_day_start(f.since, tz))
    if f.until:
        query = query.where(audit_log.c.at < _local_day_start(f.until + dt.timedelta(days=1), tz))
    return query


def audit_page(
    conn: Connection, f: AuditFilters, *, tz: ZoneInfo, before: int | None, limit: int
) -> tuple[list[AuditEntry], int]:
    """One page of matching entries, newest first, below seq `before`; and the number matching in all."""
    total = int(conn.execute(_filtered(select(func.count()).select_from(audit_log), f, tz)).scalar_one())
    query = _filtered(select(audit_log), f, tz)
    if before is not None:
        query = query.where(audit_log.c.seq < before)
    rows = conn.execute(query.order_by(audit_log.c.seq.desc()).limit(limit)).all()
    return [_entry(r) for r in rows], total


@dataclass(frozen=True)
class RevisionRow:
    revision: str
    loaded_at: str
    files: dict[str, str]
    runs: int
    last_evaluated_on: dt.date | None


def revisions(conn: Connection) -> list[RevisionRow]:
    """Every stored rule revision, newest first, with how many runs used it and the last D it served."""
    usage = {
        r.rules_revision: (int(r.n), r.last)
        for r in conn.execute(
            select(
                runs.c.rules_revision, func.count().label("n"), func.max(runs.c.evaluated_on).label("last")
            ).group_by(runs.c.rules_revision)
        )
    }
    out: list[RevisionRow] = []
    for r in conn.execute(select(rule_revisions).order_by(rule_revisions.c.loaded_at.desc())):
        n, last = usage.get(r.revision, (0, None))
        if isinstance(last, str):
            last = dt.date.fromisoformat(last)
        out.append(RevisionRow(r.revision, r.loaded_at, dict(json.loads(r.files)), n, last))
    return out


def run_ids(conn: Connection, limit: int = 50) -> list[tuple[str, dt.date]]:
    """The latest runs (id, D), newest first: the choices of the audit page's run filter."""
    rows = conn.execute(
        select(runs.c.id, runs.c.evaluated_on)
        .order_by(runs.c.evaluated_on.desc(), runs.c.started_at.desc())
        .limit(limit)
    )
    return [(r.id, r.evaluated_on) for r in rows]


# --- the compliance matrix, a page at a time (a country has 10,000 agencies x 40 rules) ---------------


def matrix_counts(conn: Connection, *, rule: str | None, outcome: str | None) -> dict[str, dict[str, int]]:
    """agency -> outcome -> number of cells, for the matrix's filters other than level."""
    query = select(evaluation_state.c.agency, evaluation_state.c.outcome, func.count().label("n")).group_by(
        evaluation_state.c.agency, evaluation_state.c.outcome
    )
    if rule:
        query = query.where(evaluation_state.c.rule == rule)
    if outcome:
        query = query.where(evaluation_state.c.outcome == outcome)
    out: dict[str, dict[str, int]] = {}
    for r in conn.execute(query):
        out.setdefault(r.agency, {})[r.outcome] = int(r.n)
    return out


def matrix_rules(
    conn: Connection, agencies: Sequence[str] | None, *, rule: str | None, outcome: str | None
) -> set[str]:
    """The rules that have a cell under the filters (all agencies when `agencies` is None)."""
    query = select(evaluation_state.c.rule).distinct()
    if rule:
        query = query.where(evaluation_state.c.rule == rule)
    if outcome:
        query = query.where(evaluation_state.c.outcome == outcome)
    if agencies is None:
        return {str(r[0]) for r in conn.execute(query)}
    found: set[str] = set()
    for start in range(0, len(agencies), _IN_CHUNK):
        chunk = list(agencies[start : start + _IN_CHUNK])
        found |= {str(r[0]) for r in conn.execute(query.where(evaluation_state.c.agency.in_(chunk)))}
    return found


def _scalar(text: str | None) -> float | str | None:
    if text is None:
        return None
    value = json.loads(text)
    return value if isinstance(value, int | float | str) and not isinstance(value, bool) else None


def matrix_cells(
    conn: Connection, agencies: Sequence[str], *, rule: str | None, outcome: str | None
) -> list[StateRow]:
    """The cells of the agencies on one page of the matrix (one query: the table has no agency index)."""
    if not agencies:
        return []
    query = select(evaluation_state).where(evaluation_state.c.agency.in_(list(agencies)))
    if rule:
        query = query.where(evaluation_state.c.rule == rule)
    if outcome:
        query = query.where(evaluation_state.c.outcome == outcome)
    return [
        StateRow(
            r.rule,
            r.agency,
            r.outcome,
            r.period,
            _scalar(r.value),
            _scalar(r.target),
            r.streak,
            r.fingerprint,
            r.run_id,
            r.evaluated_on,
        )
        for r in conn.execute(query)
    ]


def active_tasks_of(conn: Connection, agencies: Sequence[str]) -> dict[tuple[str, str], Task]:
    """(rule, agency) -> the open or acknowledged task, for the given agencies."""
    out: dict[tuple[str, str], Task] = {}
    for start in range(0, len(agencies), _IN_CHUNK):
        chunk = list(agencies[start : start + _IN_CHUNK])
        rows = conn.execute(
            select(tasks).where(tasks.c.agency.in_(chunk), tasks.c.status.in_(("open", "acknowledged")))
        )
        for t in map(task_from_row, rows):
            out[(t.rule, t.agency)] = t
    return out


def active_task_counts(conn: Connection, *, today: dt.date, rule: str | None) -> dict[str, tuple[int, int]]:
    """agency -> (active tasks, overdue among them)."""
    overdue = func.sum(case((tasks.c.due_on < today, 1), else_=0))
    query = (
        select(tasks.c.agency, func.count().label("n"), overdue.label("late"))
        .where(tasks.c.status.in_(("open", "acknowledged")))
        .group_by(tasks.c.agency)
    )
    if rule:
        query = query.where(tasks.c.rule == rule)
    return {r.agency: (int(r.n), int(r.late or 0)) for r in conn.execute(query)}
