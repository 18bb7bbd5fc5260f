"""Run repository: evaluation runs, the current state of every rule x agency, rule revisions, waivers."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select

from compliance.audit import canonical_json
from compliance.model.task import Waiver
from compliance.storage.bulk import bulk_insert, driver_rows, pg_copy, sqlite_insert
from compliance.storage.schema import audit_log, evaluation_state, rule_revisions, runs, waivers

__all__ = [
    "RunRecord",
    "StateRow",
    "StateTuple",
    "add_waiver",
    "copy_to_temp",
    "get_rule_revision",
    "get_run",
    "insert_run",
    "insert_state",
    "last_run",
    "list_waivers",
    "load_cells",
    "load_fingerprints",
    "snapshot_watermark",
    "rows_taken_between",
    "read_state",
    "row_sources",
    "rule_revision_exists",
    "scalar_json",
    "state_tuple",
    "store_rule_revision",
    "upsert_state",
    "write_state",
]

Key = tuple[str, str]
_CHUNK = 5000  # ids per IN (…): stays under every bind-parameter limit


@dataclass(frozen=True)
class RunRecord:
    """One evaluation run as stored: D, the rule revision, the counts and the digest of its evaluations."""

    id: str
    evaluated_on: dt.date
    started_at: str
    finished_at: str | None
    rules_revision: str
    backend: str
    counts: dict[str, Any] = field(default_factory=dict)
    digest: str | None = None


@dataclass(frozen=True)
class StateRow:
    """The current outcome of one rule x agency (a cell of the compliance matrix)."""

    rule: str
    agency: str
    outcome: str
    period: str | None
    value: float | str | None
    target: float | str | None
    streak: int
    fingerprint: str
    run_id: str
    evaluated_on: dt.date


def _run_from_row(row: Row[Any]) -> RunRecord:
    m = row._mapping
    return RunRecord(
        id=m["id"],
        evaluated_on=m["evaluated_on"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        rules_revision=m["rules_revision"],
        backend=m["backend"],
        counts=json.loads(m["counts"]) if m["counts"] else {},
        digest=m["digest"],
    )


def insert_run(conn: Connection, run: RunRecord) -> None:
    conn.execute(
        insert(runs).values(
            id=run.id,
            evaluated_on=run.evaluated_on,
            started_at=run.started_at,
            finished_at=run.finished_at,
            rules_revision=run.rules_revision,
            backend=run.backend,
            counts=canonical_json(run.counts),
            digest=run.digest,
        )
    )


def last_run(conn: Connection) -> RunRecord | None:
    """The run with the latest D; of several at that D, the one logged last (its `evaluation-run` seq).

    Start instants can tie (two runs in the same second, or under a fixed clock); the log's seq cannot.
    Two small reads: the runs at the latest D, and the `evaluation-run` entries (one per run, found
    through ix_audit_kind) — not a join that would walk every entry of those runs.
    """
    top = conn.execute(select(func.max(runs.c.evaluated_on))).scalar()
    if top is None:
        return None
    candidates = list(conn.execute(select(runs).where(runs.c.evaluated_on == top)))
    if len(candidates) > 1:
        ids = {r.id for r in candidates}
        seq_of = {
            run_id: seq
            for run_id, seq in conn.execute(
                select(audit_log.c.run_id, audit_log.c.seq).where(audit_log.c.kind == "evaluation-run")
            )
            if run_id in ids
        }
        candidates.sort(key=lambda r: (seq_of.get(r.id, 0), r.started_at), reverse=True)
    return _run_from_row(candidates[0])


def get_run(conn: Connection, run_id: str) -> RunRecord | None:
    row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    return _run_from_row(row) if row is not None else None


# --- rule revisions -------------------------------------------------------------------------------


def rule_revision_exists(conn: Connection, revision: str) -> bool:
    return (
        conn.execute(select(rule_revisions.c.revision).where(rule_revisions.c.revision == revision)).first()
        is not None
    )


def store_rule_revision(conn: Connection, revision: str, files: Mapping[str, str], *, at: str) -> bool:
    """Keep the text of every rule file of a revision; False when it was already stored."""
    if rule_revision_exists(conn, revision):
        return False
    conn.execute(
        insert(rule_revisions).values(revision=revision, loaded_at=at, files=canonical_json(dict(files)))
    )
    return True


def get_rule_revision(conn: Connection, revision: str) -> dict[str, str] | None:
    row = conn.execute(select(rule_revisions.c.files).where(rule_revisions.c.revision == revision)).first()
    if row is None:
        return None
    files: dict[str, str] = json.loads(row.files)
    return files


# --- evaluation state -----------------------------------------------------------------------------


def _json_scalar(text: str | None) -> float | str | None:
    if text is None:
        return None
    value = json.loads(text)
    return value if isinstance(value, int | float | str) and not isinstance(value, bool) else None


def load_fingerprints(conn: Connection) -> dict[Key, str]:
    """(rule, agency) -> fingerprint of its last logged evaluation (400,000 rows: storage.bulk.driver_rows)."""
    rows = driver_rows(conn, "SELECT rule, agency, fingerprint FROM evaluation_state")
    return {(r[0], r[1]): r[2] for r in rows}


def load_cells(conn: Connection) -> dict[Key, tuple[str, str | None, str]]:
    """(rule, agency) -> (outcome, period, fingerprint) of every matrix cell (storage.bulk.driver_rows)."""
    rows = driver_rows(conn, "SELECT rule, agency, outcome, period, fingerprint FROM evaluation_state")
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


def snapshot_watermark(conn: Connection) -> int:
    """The id of the last snapshot file stored (0 for none): a later ingest moves it."""
    return int(conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM snapshot_files").scalar_one())


def rows_taken_between(conn: Connection, after: dt.date, until: dt.date) -> bool:
    """Whether any snapshot row has after < as_of <= until (rows that come into effect between two dates)."""
    if until <= after:
        return False
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    params = (after.isoformat(), until.isoformat()) if sqlite else (after, until)
    found = conn.exec_driver_sql(
        f"SELECT 1 FROM snapshot_rows WHERE as_of > {mark} AND as_of <= {mark} LIMIT 1", params
    ).first()
    return found is not None


def read_state(conn: Connection, *, rule: str | None = None, agency: str | None = None) -> list[StateRow]:
    """The compliance matrix in (rule, agency) order, optionally for one rule and/or one agency."""
    query = select(evaluation_state).order_by(evaluation_state.c.rule, evaluation_state.c.agency)
    if rule is not None:
        query = query.where(evaluation_state.c.rule == rule)
    if agency is not None:
        query = query.where(evaluation_state.c.agency == agency)
    return [
        StateRow(
            rule=r.rule,
            agency=r.agency,
            outcome=r.outcome,
            period=r.period,
            value=_json_scalar(r.value),
            target=_json_scalar(r.target),
            streak=r.streak,
            fingerprint=r.fingerprint,
            run_id=r.run_id,
            evaluated_on=r.evaluated_on,
        )
        for r in conn.execute(query)
    ]


def scalar_json(value: float | str | None) -> str | None:
    """A matrix cell's value or target as the JSON text the table keeps (None stays NULL)."""
    if value is None:
        return None
    if isinstance(value, float) and value == value and value not in (float("inf"), float("-inf")):
        return repr(value)  # a finite float's repr is its JSON, and ~10x faster than json.dumps
    return json.dumps(value, ensure_ascii=False)


# (rule, agency, outcome, period, value JSON, target JSON, streak, fingerprint, run_id, evaluated_on ISO)
StateTuple = tuple[str, str, str, str | None, str | None, str | None, int, str, str, str]
_STATE_COLUMNS = (
    "rule", "agency", "outcome", "period", "value", "target", "streak", "fingerprint", "run_id", "evaluated_on",
)  # fmt: skip
_PG_TYPES = ("text", "text", "text", "text", "text", "text", "int", "text", "text", "date")


def state_tuple(row: StateRow) -> StateTuple:
    return (
        row.rule,
        row.agency,
        row.outcome,
        row.period,
        scalar_json(row.value),
        scalar_json(row.target),
        row.streak,
        row.fingerprint,
        row.run_id,
        row.evaluated_on.isoformat(),
    )


def copy_to_temp(
    conn: Connection, name: str, columns: Sequence[tuple[str, str]], rows: Iterable[tuple[Any, ...]]
) -> None:
    """PostgreSQL: a temporary table `name` (dropped at commit) filled by COPY, for set-based updates."""
    definition = ", ".join(f"{c} {t}" for c, t in columns)
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ({definition}) ON COMMIT DROP")
    pg_copy(conn, name, [c for c, _ in columns], rows)


def insert_state(conn: Connection, rows: Sequence[StateTuple]) -> None:
    """Insert matrix cells that are not in the table yet (a first evaluation: every cell), in bulk."""
    bulk_insert(conn, evaluation_state, _STATE_COLUMNS, rows)


def upsert_state(conn: Connection, rows: Sequence[StateTuple], removed: Iterable[Key] = ()) -> None:
    """Insert or replace the given matrix cells and delete the removed ones, set-based.

    SQLite: multi-row INSERT … ON CONFLICT DO UPDATE statements; PostgreSQL: COPY into a temporary
    table, then one INSERT … SELECT … ON CONFLICT DO UPDATE. 400,000 cells take seconds, not minutes.
    """
    columns = ", ".join(_STATE_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _STATE_COLUMNS[2:])
    gone = list(removed)
    if conn.dialect.name == "postgresql":
        if rows:
            copy_to_temp(
                conn, "tmp_evaluation_state", list(zip(_STATE_COLUMNS, _PG_TYPES, strict=True)), rows
            )
            conn.exec_driver_sql(
                f"INSERT INTO evaluation_state ({columns}) SELECT {columns} FROM tmp_evaluation_state "
                f"ON CONFLICT (rule, agency) DO UPDATE SET {updates}"
            )
            conn.exec_driver_sql("DROP TABLE tmp_evaluation_state")
        if gone:
            copy_to_temp(conn, "tmp_evaluation_gone", [("rule", "text"), ("agency", "text")], gone)
            conn.exec_driver_sql(
                "DELETE FROM evaluation_state s USING tmp_evaluation_gone g WHERE s.rule = g.rule AND s.agency = g.agency"
            )
            conn.exec_driver_sql("DROP TABLE tmp_evaluation_gone")
        return
    sqlite_insert(
        conn, evaluation_state, _STATE_COLUMNS, rows, f"ON CONFLICT (rule, agency) DO UPDATE SET {updates}"
    )
    if gone:
        conn.exec_driver_sql("DELETE FROM evaluation_state WHERE rule = ? AND agency = ?", gone)


def write_state(
    conn: Connection,
    *,
    inserted: Sequence[StateRow],
    changed: Sequence[StateRow],
    removed: Iterable[Key],
) -> None:
    """Bring the matrix up to date from StateRow objects (see upsert_state)."""
    upsert_state(conn, [state_tuple(r) for r in (*inserted, *changed)], removed)


# --- waivers --------------------------------------------------------------------------------------


def _waiver_from_row(row: Row[Any]) -> Waiver:
    m = row._mapping
    return Waiver(
        rule=m["rule"],
        agency=m["agency"],
        until=m["until_on"],
        reason=m["reason"],
        by=m["by"],
        id=m["id"],
        created_at=dt.datetime.fromisoformat(m["created_at"].replace("Z", "+00:00")),
    )


def add_waiver(conn: Connection, waiver: Waiver, *, at: str) -> Waiver:
    """Store a waiver; returns it with its id and creation instant."""
    result = conn.execute(
        insert(waivers)
        .values(
            rule=waiver.rule,
            agency=waiver.agency,
            until_on=waiver.until,
            reason=waiver.reason,
            by=waiver.by,
            created_at=at,
        )
        .returning(waivers.c.id)
    )
    new_id = int(result.scalar_one())
    row = conn.execute(select(waivers).where(waivers.c.id == new_id)).one()
    return _waiver_from_row(row)


def list_waivers(conn: Connection, *, active_on: dt.date | None = None) -> list[Waiver]:
    """All waivers by id; with `active_on`, only those still covering that date."""
    query = select(waivers).order_by(waivers.c.id)
    if active_on is not None:
        query = query.where(waivers.c.until_on >= active_on)
    return [_waiver_from_row(r) for r in conn.execute(query)]


# --- where snapshot rows came from (for explanations) ---------------------------------------------


def row_sources(conn: Connection, row_ids: Iterable[int]) -> dict[int, str]:
    """Row id -> 'file name, dòng N' (the spreadsheet row of the file it was ingested from)."""
    from compliance.storage.schema import snapshot_files, snapshot_rows

    ids = sorted(set(row_ids))
    out: dict[int, str] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        query = (
            select(snapshot_rows.c.id, snapshot_rows.c.row_no, snapshot_files.c.name)
            .join(snapshot_files, snapshot_files.c.id == snapshot_rows.c.file_id)
            .where(snapshot_rows.c.id.in_(chunk))
        )
        for r in conn.execute(query):
            out[int(r.id)] = f"{r.name}, dòng {r.row_no}"
    return out
