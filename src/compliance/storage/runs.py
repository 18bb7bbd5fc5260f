"""Run repository: evaluation runs, the current state of every rule x agency, rule revisions, waivers."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, insert, select, tuple_, update

from compliance.audit import canonical_json
from compliance.model.task import Waiver
from compliance.storage.schema import audit_log, evaluation_state, rule_revisions, runs, waivers

__all__ = [
    "RunRecord",
    "StateRow",
    "add_waiver",
    "get_rule_revision",
    "get_run",
    "insert_run",
    "last_run",
    "list_waivers",
    "load_fingerprints",
    "read_state",
    "row_sources",
    "rule_revision_exists",
    "store_rule_revision",
    "write_state",
]

Key = tuple[str, str]
_CHUNK = 5000  # keys per statement when deleting by (rule, agency): stays under every bind-parameter limit


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
    """
    row = conn.execute(
        select(runs)
        .join(
            audit_log,
            and_(audit_log.c.run_id == runs.c.id, audit_log.c.kind == "evaluation-run"),
            isouter=True,
        )
        .order_by(runs.c.evaluated_on.desc(), audit_log.c.seq.desc(), runs.c.started_at.desc())
        .limit(1)
    ).first()
    return _run_from_row(row) if row is not None else None


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
    """(rule, agency) -> fingerprint of its last logged evaluation."""
    rows = conn.execute(
        select(evaluation_state.c.rule, evaluation_state.c.agency, evaluation_state.c.fingerprint)
    )
    return {(r.rule, r.agency): r.fingerprint for r in rows}


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


def _state_params(row: StateRow) -> dict[str, Any]:
    return {
        "rule": row.rule,
        "agency": row.agency,
        "outcome": row.outcome,
        "period": row.period,
        "value": None if row.value is None else json.dumps(row.value, ensure_ascii=False),
        "target": None if row.target is None else json.dumps(row.target, ensure_ascii=False),
        "streak": row.streak,
        "fingerprint": row.fingerprint,
        "run_id": row.run_id,
        "evaluated_on": row.evaluated_on,
    }


def write_state(
    conn: Connection,
    *,
    inserted: Sequence[StateRow],
    changed: Sequence[StateRow],
    removed: Iterable[Key],
) -> None:
    """Bring the matrix up to date, touching only what changed (bulk insert, executemany update, delete)."""
    if inserted:
        conn.execute(insert(evaluation_state), [_state_params(r) for r in inserted])
    if changed:
        columns = [c for c in _state_params(changed[0]) if c not in ("rule", "agency")]
        conn.execute(
            update(evaluation_state)
            .where(
                and_(
                    evaluation_state.c.rule == bindparam("k_rule"),
                    evaluation_state.c.agency == bindparam("k_agency"),
                )
            )
            .values({c: bindparam(c) for c in columns}),
            [
                {
                    "k_rule": r.rule,
                    "k_agency": r.agency,
                    **{c: v for c, v in _state_params(r).items() if c in columns},
                }
                for r in changed
            ],
        )
    gone = list(removed)
    for start in range(0, len(gone), _CHUNK):
        chunk = gone[start : start + _CHUNK]
        conn.execute(
            delete(evaluation_state).where(
                tuple_(evaluation_state.c.rule, evaluation_state.c.agency).in_(chunk)
            )
        )


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
