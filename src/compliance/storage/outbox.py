"""The outbox: every email as a row, written with its idempotency key before any attempt to send it.

A row is queued either rendered (subject and bodies) or with its facts (what the email will state, as
JSON, `notify.facts`) and an empty subject and body; then, before it is first claimed, its text is
rendered and stored in their place and the facts cleared (`store_rendered`): every attempt sends the
stored text. A row is `rendered` when it has no facts. `claim_rows` never claims a row without its
text.

States: queued -> sending -> sent | failed, and sending -> queued after a temporary failure. A row is
claimed (status `sending`, attempts + 1) and committed *before* the backend is called, so a process that
dies mid-send leaves a `sending` row behind; the next run sends it again marked `possible_duplicate`.
Nothing is ever deleted: `notifications list` shows every row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Row, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import sqlite

from compliance.model.task import TaskChangeKind
from compliance.storage.auditlog import format_at
from compliance.storage.bulk import cell, sqlite_insert
from compliance.storage.schema import notifications, tasks
from compliance.storage.tasks import record_events

__all__ = [
    "STATUSES",
    "NewNotification",
    "NotificationRow",
    "claim",
    "claim_rows",
    "count_by_status",
    "deliverable_ids",
    "exhausted",
    "fail_unrendered",
    "get_notification",
    "last_reminded",
    "list_notifications",
    "mark_escalated",
    "mark_failed",
    "mark_retry",
    "mark_sent",
    "mark_sent_many",
    "notifications_for_task",
    "queue",
    "requeue_interrupted",
    "store_rendered",
    "unrendered",
]

STATUSES = ("queued", "sending", "sent", "failed")


@dataclass(frozen=True)
class NewNotification:
    """A message about to be queued: with its facts and an empty subject and bodies (rendered when it
    is sent), or already rendered (no facts). Addresses are {"email", "name"} objects."""

    key: str
    kind: str
    due_on: dt.date
    to: list[dict[str, str]]
    cc: list[dict[str, str]]
    subject: str
    body_text: str
    body_html: str
    task_ids: list[int]
    agency: str | None = None
    facts: str | None = None


@dataclass(frozen=True)
class NotificationRow:
    id: int
    key: str
    kind: str
    due_on: dt.date
    to: list[dict[str, str]]
    cc: list[dict[str, str]]
    subject: str
    body_text: str
    body_html: str
    task_ids: list[int]
    agency: str | None
    status: str
    attempts: int
    next_attempt_at: str | None
    created_at: str
    sent_at: str | None
    provider_id: str | None
    error: str | None
    possible_duplicate: bool
    # What the email will state (JSON) while the message waits for its text; None once rendered.
    facts: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rendered(self) -> bool:
        """Whether subject and bodies hold the text to send (else they are empty, and `facts` is set)."""
        return self.facts is None


def _row(r: Row[Any]) -> NotificationRow:
    m = r._mapping
    return NotificationRow(
        id=m["id"],
        key=m["key"],
        kind=m["kind"],
        due_on=m["due_on"],
        to=json.loads(m["to_addr"]),
        cc=json.loads(m["cc"]),
        subject=m["subject"],
        body_text=m["body_text"],
        body_html=m["body_html"],
        task_ids=json.loads(m["task_ids"]),
        agency=m["agency"],
        status=m["status"],
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
        created_at=m["created_at"],
        sent_at=m["sent_at"],
        provider_id=m["provider_id"],
        error=m["error"],
        possible_duplicate=bool(m["possible_duplicate"]),
        facts=m["facts"],
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def queue(conn: Connection, messages: Sequence[NewNotification], *, at: dt.datetime) -> list[str]:
    """Insert messages, silently skipping any whose key is already in the outbox; returns the new keys.

    The unique key makes queueing idempotent even between two processes racing on PostgreSQL.
    """
    if not messages:
        return []
    for m in messages:
        if m.facts is None and not m.body_text:
            raise ValueError(f"message {m.key!r} has neither its text nor the facts to render it")
    unique = list({m.key: m for m in messages}.values())
    keys = [m.key for m in unique]
    existing = set(conn.execute(select(notifications.c.key).where(notifications.c.key.in_(keys))).scalars())
    created_at = format_at(at)
    rows = [
        {
            "key": m.key,
            "kind": m.kind,
            "due_on": m.due_on,
            "to_addr": _json(m.to),
            "cc": _json(m.cc),
            "subject": m.subject,
            "body_text": m.body_text,
            "body_html": m.body_html,
            "task_ids": _json(sorted(m.task_ids)),
            "agency": m.agency,
            "status": "queued",
            "attempts": 0,
            "created_at": created_at,
            "possible_duplicate": False,
            "facts": m.facts,
        }
        for m in unique
        if m.key not in existing
    ]
    if not rows:
        return []
    dialect = conn.dialect.name
    stmt: Any
    if dialect == "postgresql":
        inserted = _insert_postgresql(conn, rows)
        return [k for k in keys if k in inserted]
    if dialect == "sqlite" and conn.info.get("immediate"):
        # BEGIN IMMEDIATE holds the database's write lock since before the SELECT above: no other process
        # can have queued a key meanwhile, so the keys not found are exactly the ones inserted. Multi-row
        # statements through the driver: SQLAlchemy's RETURNING executemany cost 30 us a row (8,500
        # task-opened emails in a first run at 10,000 agencies).
        columns = list(rows[0])
        sqlite_insert(
            conn,
            notifications,
            columns,
            [tuple(cell(r[c]) for c in columns) for r in rows],
            "ON CONFLICT (key) DO NOTHING",
        )
        return [k for k in keys if k not in existing]
    if dialect == "sqlite":
        stmt = sqlite.insert(notifications).on_conflict_do_nothing(index_elements=["key"])
    else:  # pragma: no cover - only the two supported databases
        raise NotImplementedError(dialect)
    inserted = set(conn.execute(stmt.returning(notifications.c.key), rows).scalars())
    return [k for k in keys if k in inserted]


def _insert_postgresql(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING key for every row, through psycopg's executemany (one
    short statement, pipelined): SQLAlchemy's multi-row VALUES statements for 8,000 emails made psycopg
    spend seconds parsing its own placeholders. Returns the keys actually inserted."""
    import psycopg

    columns = list(rows[0])
    sql = (
        f"INSERT INTO {notifications.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT (key) DO NOTHING RETURNING key"
    )
    raw = cast(psycopg.Connection[Any], conn.connection.dbapi_connection)
    inserted: set[str] = set()
    with raw.cursor() as cur:
        cur.executemany(sql, [tuple(r[c] for c in columns) for r in rows], returning=True)
        while True:
            inserted.update(str(row[0]) for row in cur.fetchall())
            if not cur.nextset():
                break
    return inserted


def last_reminded(conn: Connection, task_ids: Collection[int], *, since: dt.date) -> dict[int, dt.date]:
    """For each task, the latest day a reminder including it was queued (any state), from `since` on."""
    wanted = set(task_ids)
    out: dict[int, dt.date] = {}
    if not wanted:
        return out
    rows = conn.execute(
        select(notifications.c.due_on, notifications.c.task_ids).where(
            notifications.c.kind == "reminder", notifications.c.due_on >= since
        )
    )
    for due_on, ids_text in rows:
        for task_id in json.loads(ids_text):
            if task_id in wanted and (task_id not in out or due_on > out[task_id]):
                out[task_id] = due_on
    return out


def requeue_interrupted(conn: Connection) -> list[int]:
    """Rows left in `sending` by a process that died mid-send: back to `queued`, possible duplicates."""
    ids = list(conn.execute(select(notifications.c.id).where(notifications.c.status == "sending")).scalars())
    if ids:
        conn.execute(
            update(notifications)
            .where(notifications.c.id.in_(ids), notifications.c.status == "sending")
            .values(status="queued", possible_duplicate=True, next_attempt_at=None)
        )
    return ids


def deliverable_ids(conn: Connection, *, on: dt.date, now: dt.datetime, max_attempts: int) -> list[int]:
    """Ids of the queued rows due by D, not waiting for a later attempt, with attempts left; oldest
    first. Ids only: the bodies are read when each is rendered or claimed."""
    return list(
        conn.execute(
            select(notifications.c.id)
            .where(
                notifications.c.status == "queued",
                notifications.c.due_on <= on,
                notifications.c.attempts < max_attempts,
                or_(
                    notifications.c.next_attempt_at.is_(None),
                    notifications.c.next_attempt_at <= format_at(now),
                ),
            )
            .order_by(notifications.c.due_on, notifications.c.id)
        ).scalars()
    )


def claim_rows(conn: Connection, notification_ids: Sequence[int]) -> list[NotificationRow]:
    """`claim` for many rows in one statement (UPDATE … RETURNING): those still queued become `sending`
    with attempts + 1 and come back in the order of `notification_ids`; rows another process took are
    left out."""
    if not notification_ids:
        return []
    claimed = {
        r.id: _row(r)
        for r in conn.execute(
            update(notifications)
            .where(
                notifications.c.id.in_(list(notification_ids)),
                notifications.c.status == "queued",
                notifications.c.facts.is_(None),  # never a message without its text
            )
            .values(status="sending", attempts=notifications.c.attempts + 1)
            .returning(*notifications.c)
        )
    }
    return [claimed[i] for i in notification_ids if i in claimed]


# A queued row still waiting for its text (rendered from its facts before it is first claimed).
_WAITING_FOR_TEXT = (notifications.c.status == "queued", notifications.c.facts.is_not(None))


def unrendered(conn: Connection, notification_ids: Sequence[int]) -> list[NotificationRow]:
    """The queued rows among `notification_ids` still waiting for their text, in that order."""
    if not notification_ids:
        return []
    found = {
        r.id: _row(r)
        for r in conn.execute(
            select(notifications).where(
                notifications.c.id.in_(list(notification_ids)),
                *_WAITING_FOR_TEXT,
            )
        )
    }
    return [found[i] for i in notification_ids if i in found]


def store_rendered(conn: Connection, rendered: Sequence[tuple[int, str, str, str]]) -> None:
    """Store (id, subject, text, html) in rows still waiting for their text, and clear their facts; a
    row rendered meanwhile by another process keeps its text, so every attempt sends the same bytes."""
    if not rendered:
        return
    conn.execute(
        update(notifications)
        .where(
            notifications.c.id == bindparam("b_id"),
            *_WAITING_FOR_TEXT,
        )
        .values(
            subject=bindparam("b_subject"),
            body_text=bindparam("b_text"),
            body_html=bindparam("b_html"),
            facts=None,
        ),
        [{"b_id": i, "b_subject": s, "b_text": t, "b_html": h} for i, s, t, h in rendered],
    )


def fail_unrendered(conn: Connection, failures: Sequence[tuple[int, str]]) -> list[int]:
    """Fail (id, reason) rows that could not be rendered, if still queued without their text; their
    facts stay, for whoever investigates. Returns the ids actually failed."""
    failed: list[int] = []
    for notification_id, error in failures:
        result = conn.execute(
            update(notifications)
            .where(
                notifications.c.id == notification_id,
                *_WAITING_FOR_TEXT,
            )
            .values(status="failed", error=error, next_attempt_at=None)
        )
        if result.rowcount == 1:
            failed.append(notification_id)
    return failed


def exhausted(conn: Connection, *, max_attempts: int) -> list[NotificationRow]:
    """Queued rows with no attempt left (an interrupted last attempt, or max_attempts lowered)."""
    rows = conn.execute(
        select(notifications)
        .where(notifications.c.status == "queued", notifications.c.attempts >= max_attempts)
        .order_by(notifications.c.id)
    )
    return [_row(r) for r in rows]


def claim(conn: Connection, notification_id: int) -> NotificationRow | None:
    """queued -> sending with attempts + 1; None if another process got there first (or the message
    has no text yet)."""
    claimed = claim_rows(conn, [notification_id])
    return claimed[0] if claimed else None


def mark_sent(conn: Connection, notification_id: int, *, provider_id: str | None, at: dt.datetime) -> None:
    mark_sent_many(conn, [(notification_id, provider_id)], at=at)


def mark_sent_many(conn: Connection, sent: Sequence[tuple[int, str | None]], *, at: dt.datetime) -> None:
    """`mark_sent` for many (id, provider id) pairs, one executemany."""
    if not sent:
        return
    conn.execute(
        update(notifications)
        .where(notifications.c.id == bindparam("b_id"))
        .values(
            status="sent",
            provider_id=bindparam("b_provider"),
            sent_at=format_at(at),
            error=None,
            next_attempt_at=None,
        ),
        [{"b_id": i, "b_provider": p} for i, p in sent],
    )


def mark_retry(
    conn: Connection, notification_id: int, *, error: str, next_attempt_at: dt.datetime | None
) -> None:
    """A temporary failure: queued again, for this run's next try or a later run."""
    conn.execute(
        update(notifications)
        .where(notifications.c.id == notification_id)
        .values(
            status="queued",
            error=error,
            next_attempt_at=None if next_attempt_at is None else format_at(next_attempt_at),
        )
    )


def mark_failed(conn: Connection, notification_id: int, *, error: str) -> None:
    conn.execute(
        update(notifications)
        .where(notifications.c.id == notification_id)
        .values(status="failed", error=error, next_attempt_at=None)
    )


def get_notification(conn: Connection, notification_id: int) -> NotificationRow | None:
    row = conn.execute(select(notifications).where(notifications.c.id == notification_id)).first()
    return None if row is None else _row(row)


def list_notifications(
    conn: Connection, *, status: str | None = None, kind: str | None = None
) -> list[NotificationRow]:
    query = select(notifications).order_by(notifications.c.id)
    if status is not None:
        query = query.where(notifications.c.status == status)
    if kind is not None:
        query = query.where(notifications.c.kind == kind)
    return [_row(r) for r in conn.execute(query)]


def notifications_for_task(conn: Connection, task_id: int) -> list[NotificationRow]:
    """Every message that listed the task (for a task's timeline and `audit explain`)."""
    # task_ids is a JSON list: match the id as a whole element, then confirm after parsing.
    needle = f"%{task_id}%"
    rows = conn.execute(
        select(notifications).where(notifications.c.task_ids.like(needle)).order_by(notifications.c.id)
    )
    return [r for r in map(_row, rows) if task_id in r.task_ids]


def count_by_status(conn: Connection) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in conn.execute(
        select(notifications.c.status, func.count()).group_by(notifications.c.status)
    ):
        counts[status] = int(n)
    return counts


def mark_escalated(
    conn: Connection, task_ids: Sequence[int], *, on: dt.date, at: dt.datetime, data: dict[str, Any]
) -> list[int]:
    """Set escalated_on = D on tasks not yet escalated and add a `task-escalated` line to their history.

    Returns the ids actually changed (a task escalated by a concurrent run is left alone).
    """
    changed: list[int] = []
    for task_id in task_ids:
        result = conn.execute(
            update(tasks)
            .where(and_(tasks.c.id == task_id, tasks.c.escalated_on.is_(None)))
            .values(escalated_on=on)
        )
        if result.rowcount == 1:
            changed.append(task_id)
    record_events(
        conn,
        (
            (tid, TaskChangeKind.ESCALATED.value, {**data, "task_id": tid, "escalated_on": on.isoformat()})
            for tid in changed
        ),
        at=format_at(at),
        on=on,
        run_id=None,
    )
    return changed
