"""One evaluation run at D (rows -> engine -> tasks -> log), and the office's task actions: waive, acknowledge.

The run is one write transaction (SPEC §4, §6):
1. refuse a D earlier than the last run's D (time moves forward; a dry run may look at any D);
2. a `rules-loaded` entry with every rule file's text when the revision is new (kept in rule_revisions);
3. the effective rows at D through the engine: one Evaluation per rule x agency, in (rule, agency) order;
4. an `evaluation` entry only for a rule x agency whose outcome or inputs differ from its last logged
   evaluation (the fingerprint kept in evaluation_state), and always for the first;
5. one `evaluation-run` entry: D, revision, counts per outcome, the digest of all evaluations;
6. the task changes reconcile() decides, each with its audit entry and task_events line;
7. evaluation_state brought up to date (only changed rows written), then the message hook.
A repeat run at the same D with the same revision and the same digest, with no task change to make,
is a no-op: it writes nothing and returns the earlier run's result (`repeat=True`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from compliance.audit import canonical_json
from compliance.clock import Clock
from compliance.engine.base import EngineBackend
from compliance.errors import ComplianceError, NotFoundError, StateError
from compliance.loading.deployment import Deployment
from compliance.model.evaluation import Evaluation, Outcome
from compliance.model.task import Task, TaskChange, TaskChangeKind, TaskStatus, Waiver
from compliance.storage import auditlog, runs, snapshots
from compliance.storage import tasks as task_store
from compliance.storage.auditlog import NewEntry
from compliance.storage.db import Database
from compliance.tasks import reconcile

__all__ = [
    "OUTCOMES",
    "MessageHook",
    "RunResult",
    "acknowledge_task",
    "add_waiver",
    "evaluate_run",
    "evaluation_digest",
    "explanation",
    "fingerprint",
    "task_entry",
]

OUTCOMES = tuple(o.value for o in Outcome)

# Called after the task changes are applied, in the run's transaction: the notifications pipeline
# queues the task-opened / task-resolved emails of the run (one per recipient) from it.
MessageHook = Callable[[Connection, Sequence[TaskChange], str, dt.date], object]


@dataclass(frozen=True)
class RunResult:
    """What `compliance evaluate --json` prints (SPEC §7), plus a few extra fields."""

    run_id: str
    at: dt.date  # D, the evaluation date
    rules_revision: str
    outcomes: dict[str, int]
    tasks: dict[str, int]
    started_at: str = ""
    backend: str = ""
    evaluations: int = 0
    logged: int = 0  # `evaluation` entries written (changed or first evaluations)
    digest: str = ""
    dry_run: bool = False
    repeat: bool = False
    changes: list[TaskChange] = field(default_factory=list, compare=False, repr=False)
    details: list[Evaluation] = field(default_factory=list, compare=False, repr=False)  # every evaluation

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "at": self.at.isoformat(),
            "rules_revision": self.rules_revision,
            "outcomes": dict(self.outcomes),
            "tasks": dict(self.tasks),
            "started_at": self.started_at,
            "backend": self.backend,
            "evaluations": self.evaluations,
            "logged": self.logged,
            "digest": self.digest,
            "dry_run": self.dry_run,
            "repeat": self.repeat,
        }


# canonical_json's exact settings in one reusable encoder: json.dumps builds an encoder per call, which
# doubles the cost of 400,000 evaluations. test_a_first_run_logs_the_rules_every_evaluation_and_the_run
# checks the run's digest against evaluation_digest(), which uses canonical_json itself.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _eval_json(evaluation: Evaluation) -> str:
    return _CANONICAL.encode(evaluation.as_dict())


def fingerprint(evaluation: Evaluation) -> str:
    """sha256 of the evaluation's canonical JSON: outcome, figures, rows and inputs."""
    return hashlib.sha256(canonical_json(evaluation.as_dict()).encode("utf-8")).hexdigest()


def evaluation_digest(evaluations: Sequence[Evaluation]) -> str:
    """sha256 over each evaluation's canonical JSON followed by a newline, in (rule, agency) order."""
    h = hashlib.sha256()
    for e in sorted(evaluations, key=lambda e: (e.rule, e.agency)):
        h.update(canonical_json(e.as_dict()).encode("utf-8") + b"\n")
    return h.hexdigest()


def _new_run_id(on: dt.date) -> str:
    return f"run-{on:%Y%m%d}-{uuid.uuid4().hex[:12]}"


def task_entry(change: TaskChange, *, run_id: str | None, revision: str | None) -> NewEntry:
    """The audit entry of one task change: kind, identity, period, outcome and the change's data."""
    task = change.task
    outcome = change.data.get("outcome")
    return NewEntry(
        kind=change.kind.value,
        run_id=run_id,
        rule=task.rule,
        agency=task.agency,
        period=task.last_period if task.last_period is not None else task.period,
        outcome=outcome if isinstance(outcome, str) else None,
        data={**change.data, "task_id": task.id},
        rules_revision=revision,
    )


def _task_counts(changes: Sequence[TaskChange], open_before: int) -> dict[str, int]:
    kinds = Counter(c.kind for c in changes)
    opened = kinds[TaskChangeKind.OPENED]
    closed = kinds[TaskChangeKind.RESOLVED] + kinds[TaskChangeKind.WAIVED]
    return {
        "opened": opened,
        "resolved": kinds[TaskChangeKind.RESOLVED],
        "waived": kinds[TaskChangeKind.WAIVED],
        "updated": kinds[TaskChangeKind.UPDATED],
        "open": open_before + opened - closed,
    }


def _state_tuple(e: Evaluation, fp: str, run_id: str, on: dt.date) -> runs.StateTuple:
    scalar = runs.scalar_json
    return (
        e.rule,
        e.agency,
        e.outcome.value,
        e.period,
        scalar(e.value),
        scalar(e.target),
        e.streak,
        fp,
        run_id,
        on,
    )


def _refuse_going_back(last: runs.RunRecord | None, on: dt.date) -> None:
    if last is not None and on < last.evaluated_on:
        raise StateError(
            f"không thể đánh giá tại ngày {on:%d/%m/%Y}: lần đánh giá gần nhất ({last.id}) đã đánh giá "
            f"tại ngày {last.evaluated_on:%d/%m/%Y} và thời gian chỉ đi tới "
            f"(dùng --dry-run để xem kết quả tại một ngày trước đó mà không ghi gì)"
        )


def evaluate_run(
    db: Database,
    deployment: Deployment,
    backend: EngineBackend,
    on: dt.date,
    *,
    clock: Clock,
    dry_run: bool = False,
    queue_run_messages: MessageHook | None = None,
) -> RunResult:
    """Evaluate every rule x agency at D and reconcile the tasks; see the module docstring."""
    started = clock.now()
    at = auditlog.format_at(started)
    rulebook = deployment.rulebook
    directory = deployment.directory
    revision = rulebook.revision
    transaction = db.read() if dry_run else db.begin()
    with transaction as conn:
        if not dry_run:
            auditlog.lock_head(conn)  # serialise whole runs, not just their appends
        last = runs.last_run(conn)
        if not dry_run:
            _refuse_going_back(last, on)
        rows = snapshots.effective_rows(conn, on)
        evaluations = backend.evaluate(rulebook, directory, rows, on)
        evaluations.sort(key=lambda e: (e.rule, e.agency))
        # One serialisation per evaluation feeds both the run's digest and each pair's fingerprint.
        digest_h = hashlib.sha256()
        fingerprints: list[str] = []
        sha256 = hashlib.sha256
        for e in evaluations:
            raw = _eval_json(e).encode("utf-8")
            digest_h.update(raw + b"\n")
            fingerprints.append(sha256(raw).hexdigest())
        digest = digest_h.hexdigest()
        counts = dict.fromkeys(OUTCOMES, 0)
        for e in evaluations:
            counts[e.outcome.value] += 1

        active = task_store.active_tasks(conn)
        closed = task_store.last_closed_tasks(conn)
        waivers = runs.list_waivers(conn, active_on=on)
        run_id = _new_run_id(on)
        changes = reconcile(
            evaluations,
            active,
            waivers,
            rulebook,
            directory,
            on,
            deployment.config.tasks.default_due_days,
            run_id,
            closed,
        )
        task_counts = _task_counts(changes, len(active))
        result = RunResult(
            run_id=run_id,
            at=on,
            rules_revision=revision,
            outcomes=counts,
            tasks=task_counts,
            started_at=at,
            backend=backend.name,
            evaluations=len(evaluations),
            digest=digest,
            dry_run=dry_run,
            changes=list(changes),
            details=evaluations,
        )
        if dry_run:
            return result
        if (
            last is not None
            and last.evaluated_on == on
            and last.rules_revision == revision
            and last.digest == digest
            and not changes
        ):
            return _repeat_result(last, len(active), evaluations)

        entries: list[NewEntry] = []
        if runs.store_rule_revision(conn, revision, rulebook.files, at=at):
            entries.append(
                NewEntry(
                    kind="rules-loaded",
                    run_id=run_id,
                    data={"revision": revision, "files": dict(rulebook.files)},
                    rules_revision=revision,
                )
            )
        previous = runs.load_fingerprints(conn)
        changed_cells: list[runs.StateTuple] = []
        on_text = on.isoformat()
        for e, fp in zip(evaluations, fingerprints, strict=True):
            if previous.pop((e.rule, e.agency), None) == fp:
                continue
            changed_cells.append(_state_tuple(e, fp, run_id, on))
            data = e.as_dict()
            data["evaluated_on"] = on_text
            entries.append(
                NewEntry(
                    kind="evaluation",
                    run_id=run_id,
                    rule=e.rule,
                    agency=e.agency,
                    period=e.period,
                    outcome=e.outcome.value,
                    data=data,
                    rules_revision=revision,
                )
            )
        logged = len(changed_cells)
        entries.append(
            NewEntry(
                kind="evaluation-run",
                run_id=run_id,
                data={
                    "evaluated_on": on_text,
                    "rules_revision": revision,
                    "backend": backend.name,
                    "counts": counts,
                    "evaluations": len(evaluations),
                    "logged": logged,
                    "digest": digest,
                    "tasks": task_counts,
                },
                rules_revision=revision,
            )
        )
        applied = task_store.apply_changes(conn, changes, at=at, on=on, run_id=run_id)
        entries.extend(task_entry(c, run_id=run_id, revision=revision) for c in applied)
        auditlog.append(conn, entries, at=at)
        runs.insert_run(
            conn,
            runs.RunRecord(
                id=run_id,
                evaluated_on=on,
                started_at=at,
                finished_at=auditlog.format_at(clock.now()),
                rules_revision=revision,
                backend=backend.name,
                counts={
                    "outcomes": counts,
                    "tasks": task_counts,
                    "evaluations": len(evaluations),
                    "logged": logged,
                },
                digest=digest,
            ),
        )
        # Rule x agency pairs no longer evaluated (agency out of its window, rule gone) leave the matrix.
        runs.upsert_state(conn, changed_cells, removed=list(previous))
        if queue_run_messages is not None:
            queue_run_messages(conn, applied, run_id, on)
        return RunResult(
            run_id=run_id,
            at=on,
            rules_revision=revision,
            outcomes=counts,
            tasks=task_counts,
            started_at=at,
            backend=backend.name,
            evaluations=len(evaluations),
            logged=logged,
            digest=digest,
            changes=applied,
            details=evaluations,
        )


def _repeat_result(last: runs.RunRecord, open_now: int, evaluations: list[Evaluation]) -> RunResult:
    stored = last.counts
    tasks = dict(stored.get("tasks", {}))
    tasks["open"] = open_now
    return RunResult(
        run_id=last.id,
        at=last.evaluated_on,
        rules_revision=last.rules_revision,
        outcomes=dict(stored.get("outcomes", {})),
        tasks=tasks,
        started_at=last.started_at,
        backend=last.backend,
        evaluations=int(stored.get("evaluations", 0)),
        logged=0,
        digest=last.digest or "",
        repeat=True,
        details=evaluations,
    )


# --- the office's actions on tasks ----------------------------------------------------------------


def add_waiver(
    db: Database, deployment: Deployment, waiver: Waiver, *, on: dt.date, clock: Clock
) -> tuple[Waiver, TaskChange | None]:
    """Record a waiver (rule and agency must exist, `until` >= D); an active task of it is waived at once."""
    rule = deployment.rulebook.rules.get(waiver.rule)
    if rule is None:
        raise NotFoundError(_unknown("quy tắc đánh giá", waiver.rule, deployment.rulebook.rules))
    if waiver.agency not in deployment.directory:
        raise NotFoundError(_unknown("cơ quan, đơn vị", waiver.agency, deployment.directory.agencies))
    waiver = replace(waiver, by=_valid_email(waiver.by))
    if waiver.until < on:
        raise StateError(
            f"thời hạn tạm miễn ({waiver.until:%d/%m/%Y}) đã qua: phải từ ngày {on:%d/%m/%Y} trở đi"
        )
    at = auditlog.format_at(clock.now())
    with db.begin() as conn:
        auditlog.lock_head(conn)
        stored = runs.add_waiver(conn, waiver, at=at)
        revision = _current_revision(conn)
        entries = [
            NewEntry(
                kind="waiver-added",
                rule=stored.rule,
                agency=stored.agency,
                data={
                    "waiver_id": stored.id,
                    "until": stored.until.isoformat(),
                    "reason": stored.reason,
                    "by": stored.by,
                    "added_on": on.isoformat(),
                },
                rules_revision=revision,
            )
        ]
        change: TaskChange | None = None
        task = task_store.active_task_for(conn, stored.rule, stored.agency)
        if task is not None:
            waived = task.with_(status=TaskStatus.WAIVED, waived_on=on)
            data = {
                "waiver_id": stored.id,
                "until": stored.until.isoformat(),
                "reason": stored.reason,
                "by": stored.by,
                "waived_on": on.isoformat(),
            }
            [change] = task_store.apply_changes(
                conn, [TaskChange(TaskChangeKind.WAIVED, waived, data)], at=at, on=on, run_id=None
            )
            entries.append(task_entry(change, run_id=None, revision=revision))
        auditlog.append(conn, entries, at=at)
    return stored, change


def acknowledge_task(
    db: Database, task_id: int, *, by: str, note: str | None, on: dt.date, clock: Clock
) -> Task:
    """The head has seen the task: record who, when and the note; it stays open for every other purpose."""
    by = _valid_email(by)
    at = auditlog.format_at(clock.now())
    with db.begin() as conn:
        auditlog.lock_head(conn)
        change = task_store.acknowledge(conn, task_id, by=by, note=note, on=on, at=at)
        auditlog.append(conn, [task_entry(change, run_id=None, revision=_current_revision(conn))], at=at)
    return change.task


def _valid_email(text: str) -> str:
    from pydantic import validate_email
    from pydantic_core import PydanticCustomError

    try:
        _, address = validate_email(text.strip())
    except PydanticCustomError as exc:
        raise ComplianceError(f"'{text}' không phải là địa chỉ email hợp lệ") from exc
    return address


def _current_revision(conn: Connection) -> str | None:
    last = runs.last_run(conn)
    return last.rules_revision if last is not None else None


def _unknown(what: str, name: str, known: Any) -> str:
    from compliance.loading.suggest import did_you_mean

    hint = did_you_mean(name, list(known))
    return f"không có {what} '{name}'" + (f"\n  hint: {hint}" if hint else "")


# --- explanations ---------------------------------------------------------------------------------


def explanation(
    conn: Connection,
    task_id: int,
    *,
    agency_names: Mapping[str, str] | None = None,
    tz: ZoneInfo | None = None,
) -> list[str]:
    """`audit explain TASK_ID`: the paragraphs of compliance.explain, from the log entries about the task."""
    from compliance.explain import DEFAULT_TZ, explain_task

    task = task_store.get_task(conn, task_id)
    entries = list(auditlog.iter_entries(conn, rule=task.rule, agency=task.agency))
    for kind in ("notification-sent", "notification-failed"):
        entries.extend(auditlog.iter_entries(conn, agency=task.agency, kind=kind))
    opened = next((e for e in entries if e.kind == "task-opened" and e.data.get("task_id") == task_id), None)
    if opened is not None:
        entries.extend(
            e
            for e in auditlog.iter_entries(conn, kind="rules-loaded")
            if e.rules_revision == opened.rules_revision
        )
    row_ids = [
        r["id"]
        for e in entries
        if e.kind == "evaluation"
        for r in e.data.get("inputs", {}).get("rows", [])
        if isinstance(r, Mapping) and isinstance(r.get("id"), int)
    ]
    return explain_task(
        task,
        entries,
        agency_names=agency_names,
        row_files=runs.row_sources(conn, row_ids),
        tz=tz or DEFAULT_TZ,
    )
