"""One evaluation run at D (rows -> engine -> tasks -> log), and the office's task actions: waive, acknowledge.

The run is one write transaction (SPEC §4, §6):
1. refuse a D earlier than the last run's D (time moves forward; a dry run may look at any D);
2. a `rules-loaded` entry with every rule file's text when the revision is new (kept in rule_revisions);
3. the effective rows at D through the engine: one Evaluation per rule x agency, in (rule, agency) order;
4. an `evaluation` entry only for a rule x agency whose outcome or inputs differ from its last logged
   evaluation (the fingerprint kept in evaluation_state), and always for the first, with its
   evaluation_state cell (inserted for a new pair, replaced for a changed one; the others not written);
5. one `evaluation-run` entry: D, revision, counts per outcome, the digest of all evaluations;
6. the task changes reconcile() decides, each with its audit entry and task_events line;
7. the pairs no longer evaluated leave evaluation_state, then the message hook.
The entries and cells of step 4 are inserted by a storage.bulk.Writer thread while this one computes
the next ones (JSON, hashes); it is drained before anything else touches the connection, and a write
that fails there fails the run's transaction like any other.
A repeat run at the same D with the same revision and the same digest, with no task change to make,
is a no-op: it writes nothing and returns the earlier run's result (`repeat=True`).

**Only what D changes.** When nothing but D changed since the last run (same rules revision, same
agency directory, no snapshot file ingested and no row coming into effect between the two dates), an
evaluation can differ from the last run's only where D itself enters SPEC §4: a figure turning stale
(`max_age_days`), a milestone deadline passed, an agency starting or ending. The run then evaluates
just those rule x agency pairs (and those with a waiver, the only other way a task can change) and
takes every other evaluation from evaluation_state, which holds the last run's outcome and fingerprint
of each pair: the counts, the digest, the entries and the task changes are the ones a full evaluation
would give (tests/pipeline prove it against full runs). `RunResult.details` then evaluates everything
on first use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

import compliance
from compliance.clock import Clock
from compliance.engine.base import EngineBackend
from compliance.engine.core import required_milestone
from compliance.errors import ComplianceError, NotFoundError, StateError
from compliance.gcpause import no_cyclic_gc
from compliance.loading.deployment import Deployment
from compliance.model.evaluation import Evaluation, Outcome
from compliance.model.period import Period, parse_period
from compliance.model.scope import scope_agencies
from compliance.model.task import Task, TaskChange, TaskChangeKind, TaskStatus, Waiver
from compliance.pipeline.evaluation_json import (
    EvaluationJson,
    digest_of,
    entry_json,
    evaluation_digest,
    fingerprint,
    fingerprints,
)
from compliance.storage import auditlog, bulk, runs, snapshots
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

# Part of what a run records about its inputs (runs.counts["inputs"]): bump it when a change of the
# engine's semantics must make the next run evaluate everything rather than trust evaluation_state.
_SEMANTICS = 1
_STATE_CHUNK = 5_000  # matrix cells per insert handed to the run's Writer


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
    evaluated: list[Evaluation] = field(
        default_factory=list, compare=False, repr=False
    )  # computed by this run
    partial: bool = False  # only the pairs D changes were evaluated; the others were unchanged
    everything: Callable[[], list[Evaluation]] | None = field(default=None, compare=False, repr=False)

    @property
    def details(self) -> list[Evaluation]:
        """Every evaluation of the run, in (rule, agency) order.

        After a partial run they are evaluated on first use (a dry run at the same D, which gives the
        same evaluations as long as no data was ingested since).
        """
        if not self.partial or self.everything is None:
            return self.evaluated
        found: list[Evaluation] | None = self.__dict__.get("_details")
        if found is None:
            found = self.everything()
            object.__setattr__(self, "_details", found)
        return found

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
            "evaluated": len(self.evaluated),
            "logged": self.logged,
            "digest": self.digest,
            "dry_run": self.dry_run,
            "repeat": self.repeat,
        }


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


def _state_tuple(e: Evaluation, fp: str, run_id: str, on: str) -> runs.StateTuple:
    value, target = e.value, e.target
    return (
        e.rule,
        e.agency,
        e.outcome.value,
        e.period,
        # A finite float's JSON is its repr (runs.scalar_json says the same, slower).
        float.__repr__(value) if type(value) is float and value - value == 0 else runs.scalar_json(value),
        float.__repr__(target)
        if type(target) is float and target - target == 0
        else runs.scalar_json(target),
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


def _inputs_key(deployment: Deployment) -> str:
    """What, besides the rules revision and the snapshots, decides every evaluation: the agency
    directory (scopes, the tree of rollups) and the engine's semantics."""
    h = hashlib.sha256(f"{_SEMANTICS}\n{compliance.__version__}\n".encode())
    for agency in deployment.directory:
        h.update(repr(agency).encode("utf-8"))
    return h.hexdigest()


def _frequencies(deployment: Deployment) -> dict[str, str]:
    """Indicator -> frequency, for the indicators some rule reads."""
    rulebook = deployment.rulebook
    return {
        rule.indicator: rulebook.indicators[rule.indicator].frequency
        for rule in rulebook.rules.values()
        if rule.indicator in rulebook.indicators
    }


@dataclass
class _Partial:
    """The pairs a run after an unchanged day re-evaluates, and the matrix it starts from."""

    cells: dict[tuple[str, str], tuple[str, str | None, str]]  # evaluation_state: outcome, period, fp
    scope: dict[str, list[str]]  # rule -> agencies to evaluate (for agencies_in_scope)
    moved: set[str]  # agencies whose active window starts or ends between the two dates


def _partial_plan(
    conn: Connection, deployment: Deployment, last: runs.RunRecord, on: dt.date, inputs: dict[str, Any]
) -> _Partial | None:
    """The pairs whose evaluation D can change, or None when more than D changed (evaluate everything)."""
    rulebook = deployment.rulebook
    directory = deployment.directory
    if last.rules_revision != rulebook.revision or on < last.evaluated_on:
        return None
    if last.counts.get("inputs") != inputs:
        return None
    before = last.evaluated_on
    if runs.rows_taken_between(conn, before, on):
        return None
    cells = runs.load_cells(conn)
    pairs: dict[str, set[str]] = {rule_id: set() for rule_id in rulebook.rules}
    scopes: dict[str, set[str]] = {}

    def in_scope(rule_id: str) -> set[str]:
        found = scopes.get(rule_id)
        if found is None:
            found = scopes[rule_id] = set(scope_agencies(rulebook.rules[rule_id], directory, on))
        return found

    periods: dict[str, Period] = {}
    stale_rules: dict[str, tuple[dt.date, dt.date]] = {}
    for rule_id, rule in rulebook.rules.items():
        if rule.kind == "milestone":
            if required_milestone(rule, before) != required_milestone(rule, on):
                pairs[rule_id].update(in_scope(rule_id))
        elif rule.max_age_days is not None:
            age = dt.timedelta(days=rule.max_age_days)
            stale_rules[rule_id] = (before - age, on - age)
    if stale_rules:
        # A figure turns stale when its period ends in [last D - max_age, D - max_age).
        for (rule_id, agency), (_outcome, label, _fp) in cells.items():
            window = stale_rules.get(rule_id)
            if window is None or label is None:
                continue
            period = periods.get(label)
            if period is None:
                try:
                    period = periods[label] = parse_period(label)
                except ValueError:
                    return None
            if window[0] <= period.end_on < window[1]:
                pairs[rule_id].add(agency)
    moved = {a.id for a in directory if a.active_on(before) != a.active_on(on)}
    if moved:
        for rule_id in rulebook.rules:
            pairs[rule_id].update(moved & in_scope(rule_id))
    # Waivers are the only other thing that changes tasks without changing an evaluation: a waiver that
    # ended reopens, one added meanwhile may have waived a task. Their pairs are evaluated afresh.
    for waiver in runs.list_waivers(conn):
        if waiver.rule in rulebook.rules and waiver.agency in in_scope(waiver.rule):
            pairs[waiver.rule].add(waiver.agency)
    return _Partial(cells=cells, scope={r: sorted(a) for r, a in pairs.items()}, moved=moved)


# A first run holds millions of small objects (rows, evaluations, JSON texts) and makes next to no
# reference cycles: the cyclic collector's full passes over them cost about 1 s at 10,000 agencies.
@no_cyclic_gc()
def evaluate_run(
    db: Database,
    deployment: Deployment,
    backend: EngineBackend,
    on: dt.date,
    *,
    clock: Clock,
    dry_run: bool = False,
    queue_run_messages: MessageHook | None = None,
    incremental: bool = True,
) -> RunResult:
    """Evaluate every rule x agency at D and reconcile the tasks; see the module docstring.

    `incremental=False` evaluates every pair even when only D changed (the reference the tests compare
    the incremental run with).
    """
    started = clock.now()
    at = auditlog.format_at(started)
    rulebook = deployment.rulebook
    directory = deployment.directory
    revision = rulebook.revision
    frequencies = _frequencies(deployment)
    transaction = db.read() if dry_run else db.begin()
    with transaction as conn:
        if not dry_run:
            auditlog.lock_head(conn)  # serialise whole runs, not just their appends
        last = runs.last_run(conn)
        if not dry_run:
            _refuse_going_back(last, on)
        inputs = {"key": _inputs_key(deployment), "files": runs.snapshot_watermark(conn)}
        partial = (
            _partial_plan(conn, deployment, last, on, inputs)
            if incremental and not dry_run and last is not None
            else None
        )
        if partial is None:
            rows = snapshots.EffectiveRows(conn, on, frequencies)
            evaluations = backend.evaluate(rulebook, directory, rows, on)
        else:
            rows = snapshots.EffectiveRows(conn, on, frequencies, recent=False)
            evaluations = backend.evaluate(rulebook, directory, rows, on, agencies_in_scope=partial.scope)
        del rows
        evaluations.sort(key=attrgetter("rule", "agency"))

        # Outcome counts, digest and the fingerprints to compare: of the evaluations themselves, or, after
        # an unchanged day, of the matrix with the re-evaluated pairs put in.
        removed: list[tuple[str, str]] = []
        if partial is None:
            counts = dict.fromkeys(OUTCOMES, 0)
            for e in evaluations:
                counts[e.outcome.value] += 1
            total = len(evaluations)
            digest = ""  # computed while the entries are written, unless needed before (below)
        else:
            cells = partial.cells
            fps = fingerprints(evaluations)
            evaluated_keys = {(e.rule, e.agency) for e in evaluations}
            removed = [k for k in cells if k[1] in partial.moved and k not in evaluated_keys]
            merged = {k: v[2] for k, v in cells.items()}
            outcome_of = {k: v[0] for k, v in cells.items()}
            for k in removed:
                del merged[k], outcome_of[k]
            for e, fp in zip(evaluations, fps, strict=True):
                merged[(e.rule, e.agency)] = fp
                outcome_of[(e.rule, e.agency)] = e.outcome.value
            counts = dict.fromkeys(OUTCOMES, 0)
            counts.update(Counter(outcome_of.values()))
            total = len(merged)
            digest = digest_of(merged[k] for k in sorted(merged))
            del merged, outcome_of

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
        if dry_run:
            return RunResult(
                run_id=run_id,
                at=on,
                rules_revision=revision,
                outcomes=counts,
                tasks=task_counts,
                started_at=at,
                backend=backend.name,
                evaluations=total,
                digest=digest_of(fingerprints(evaluations)),
                dry_run=True,
                changes=list(changes),
                evaluated=evaluations,
            )
        same_day = (
            last is not None and last.evaluated_on == on and last.rules_revision == revision and not changes
        )
        if same_day and not digest:
            digest = digest_of(fingerprints(evaluations))
        if same_day and last is not None and last.digest == digest:
            return _repeat_result(
                last, len(active), evaluations, partial is not None, deployment, backend, db, clock
            )

        # Read before the Writer takes the connection: the last logged fingerprint of every pair.
        previous = (
            {k: v[2] for k, v in partial.cells.items()}
            if partial is not None
            else runs.load_fingerprints(conn)
        )
        # The entries and the matrix cells of the evaluations go to a Writer: its thread inserts each
        # chunk while this one computes the next (conn is left to it until the `with` ends; after it, the
        # Writer, closed, writes inline).
        with bulk.Writer(conn) as writer:
            appender = auditlog.Appender(conn, at=at, writer=writer)
            if runs.store_rule_revision(conn, revision, rulebook.files, at=at):
                appender.add(
                    NewEntry(
                        kind="rules-loaded",
                        run_id=run_id,
                        data={"revision": revision, "files": dict(rulebook.files)},
                        rules_revision=revision,
                    )
                )
            # One canonical JSON per evaluation gives its fingerprint, the digest and, when it changed,
            # the entry's data; entries stream to the table in chunks (a first run logs every evaluation).
            new_cells: list[runs.StateTuple] = []  # pairs not in evaluation_state yet: plain inserts
            changed_cells: list[runs.StateTuple] = []
            logged = 0
            on_text = on.isoformat()
            digest_h = hashlib.sha256()
            as_json = EvaluationJson()
            add = appender.add_fields
            for e in evaluations:
                text = as_json(e)
                fp = hashlib.sha256(text.encode("utf-8")).hexdigest()
                if partial is None:
                    digest_h.update(f"{fp}\n".encode("ascii"))
                known = previous.pop((e.rule, e.agency), None)
                if known == fp:
                    continue
                logged += 1
                add(
                    "evaluation",
                    run_id,
                    e.rule,
                    e.agency,
                    e.period,
                    e.outcome.value,
                    entry_json(text, on_text),
                    revision,
                )
                if known is None:
                    new_cells.append(_state_tuple(e, fp, run_id, on_text))
                    if len(new_cells) == _STATE_CHUNK:
                        writer.submit(runs.insert_state, new_cells)
                        new_cells = []
                else:
                    changed_cells.append(_state_tuple(e, fp, run_id, on_text))
                    if len(changed_cells) == _STATE_CHUNK:
                        writer.submit(runs.upsert_state, changed_cells)
                        changed_cells = []
            if new_cells:
                writer.submit(runs.insert_state, new_cells)
            if changed_cells:
                writer.submit(runs.upsert_state, changed_cells)
            del new_cells, changed_cells
        if partial is None:
            digest = digest_h.hexdigest()
            removed = list(previous)  # pairs no longer evaluated (agency out of its window, rule gone)
        del previous
        appender.add(
            NewEntry(
                kind="evaluation-run",
                run_id=run_id,
                data={
                    "evaluated_on": on_text,
                    "rules_revision": revision,
                    "backend": backend.name,
                    "counts": counts,
                    "evaluations": total,
                    "logged": logged,
                    "digest": digest,
                    "tasks": task_counts,
                },
                rules_revision=revision,
            )
        )
        applied = task_store.apply_changes(conn, changes, at=at, on=on, run_id=run_id)
        for c in applied:
            appender.add(task_entry(c, run_id=run_id, revision=revision))
        appender.close()
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
                    "evaluations": total,
                    "logged": logged,
                    "evaluated": len(evaluations),
                    "inputs": inputs,
                },
                digest=digest,
            ),
        )
        # Rule x agency pairs no longer evaluated (agency out of its window, rule gone) leave the matrix.
        runs.upsert_state(conn, (), removed=removed)
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
            evaluations=total,
            logged=logged,
            digest=digest,
            changes=applied,
            evaluated=evaluations,
            partial=partial is not None,
            everything=_everything(db, deployment, backend, on, clock) if partial is not None else None,
        )


def _everything(
    db: Database, deployment: Deployment, backend: EngineBackend, on: dt.date, clock: Clock
) -> Callable[[], list[Evaluation]]:
    def run() -> list[Evaluation]:
        return evaluate_run(db, deployment, backend, on, clock=clock, dry_run=True).evaluated

    return run


def _repeat_result(
    last: runs.RunRecord,
    open_now: int,
    evaluations: list[Evaluation],
    partial: bool,
    deployment: Deployment,
    backend: EngineBackend,
    db: Database,
    clock: Clock,
) -> RunResult:
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
        evaluated=evaluations,
        partial=partial,
        everything=_everything(db, deployment, backend, last.evaluated_on, clock) if partial else None,
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
