"""The database schema (SQLAlchemy Core). Alembic migrations in storage/migrations mirror it.

Dates are stored as ISO text `YYYY-MM-DD` columns of type Date; instants as aware UTC text; JSON as text
so that both SQLite and PostgreSQL store byte-identical canonical JSON (the audit hash depends on it).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

__all__ = [
    "audit_head",
    "audit_log",
    "evaluation_state",
    "job_runs",
    "metadata",
    "notifications",
    "rule_revisions",
    "runs",
    "snapshot_files",
    "snapshot_rows",
    "task_events",
    "tasks",
    "users",
    "waivers",
]

metadata = MetaData()

snapshot_files = Table(
    "snapshot_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("ingested_at", String(40), nullable=False),
)

snapshot_rows = Table(
    "snapshot_rows",
    metadata,
    # id orders ingestion: at equal as_of, the row ingested later wins.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("snapshot_files.id"), nullable=False),
    Column("row_no", Integer, nullable=False),
    Column("agency", String(100), nullable=False),
    Column("indicator", String(100), nullable=False),
    Column("period", String(10), nullable=False),
    Column("period_end", Date, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("numerator", BigInteger, nullable=True),
    Column("denominator", BigInteger, nullable=True),
    Column("value", Text, nullable=True),  # exact decimal text
    Column("status", String(100), nullable=True),
)
# Covers storage.snapshots.effective_rows: "is there a newer row for this key at D?" is answered from the
# index alone (id last: at equal as_of the later-ingested row wins); the figures after the key make the
# reads of a series' older periods (streaks) index-only too (migration 0004).
Index(
    "ix_snapshot_rows_key",
    snapshot_rows.c.indicator,
    snapshot_rows.c.agency,
    snapshot_rows.c.period_end,
    snapshot_rows.c.period,
    snapshot_rows.c.as_of,
    snapshot_rows.c.id,
    snapshot_rows.c.numerator,
    snapshot_rows.c.denominator,
    snapshot_rows.c.value,
    snapshot_rows.c.status,
)
Index("ix_snapshot_rows_as_of", snapshot_rows.c.as_of)
# Covers storage.snapshots.EffectiveRows: the recent periods of one indicator are a range of this index,
# however long the history grows.
Index("ix_snapshot_rows_window", snapshot_rows.c.indicator, snapshot_rows.c.period_end)

rule_revisions = Table(
    "rule_revisions",
    metadata,
    Column("revision", String(64), primary_key=True),
    Column("loaded_at", String(40), nullable=False),
    Column("files", Text, nullable=False),  # canonical JSON {file name: text}
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("evaluated_on", Date, nullable=False),  # D
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40), nullable=True),
    Column("rules_revision", String(64), nullable=False),
    Column("backend", String(20), nullable=False),
    Column("counts", Text, nullable=True),  # JSON
    Column("digest", String(64), nullable=True),
)
Index("ix_runs_evaluated_on", runs.c.evaluated_on)

# The current outcome of every rule x agency (the compliance matrix), and the fingerprint of its inputs
# so the next run logs an `evaluation` entry only when something changed.
evaluation_state = Table(
    "evaluation_state",
    metadata,
    Column("rule", String(100), primary_key=True),
    Column("agency", String(100), primary_key=True),
    Column("outcome", String(20), nullable=False),
    Column("period", String(10), nullable=True),
    Column("value", Text, nullable=True),  # JSON scalar
    Column("target", Text, nullable=True),  # JSON scalar
    Column("streak", Integer, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("run_id", String(40), nullable=False),
    Column("evaluated_on", Date, nullable=False),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String(100), nullable=False),
    Column("agency", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("opened_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("resolved_on", Date, nullable=True),
    Column("period", String(10), nullable=True),
    Column("last_period", String(10), nullable=True),
    Column("value", Text, nullable=True),  # JSON scalar
    Column("target", Text, nullable=True),  # JSON scalar
    Column("streak", Integer, nullable=False, server_default="0"),
    Column("assignee", String(320), nullable=False),
    Column("assignee_name", Text, nullable=False, server_default=""),
    Column("escalated_on", Date, nullable=True),
    Column("acknowledged_on", Date, nullable=True),
    Column("acknowledged_by", String(320), nullable=True),
    Column("note", Text, nullable=True),
    Column("waived_on", Date, nullable=True),
    Column("previous_task_id", Integer, ForeignKey("tasks.id"), nullable=True),
    Column("opened_run_id", String(40), nullable=True),
)
# At most one open or acknowledged task per (rule, agency): the database itself guarantees it.
Index(
    "ux_tasks_active",
    tasks.c.rule,
    tasks.c.agency,
    unique=True,
    sqlite_where=text("status IN ('open', 'acknowledged')"),
    postgresql_where=text("status IN ('open', 'acknowledged')"),
)
Index("ix_tasks_agency", tasks.c.agency)

task_events = Table(
    "task_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", Integer, ForeignKey("tasks.id"), nullable=False),
    Column("at", String(40), nullable=False),
    Column("on_date", Date, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("run_id", String(40), nullable=True),
    Column("data", Text, nullable=False),  # JSON
)
Index("ix_task_events_task", task_events.c.task_id)

waivers = Table(
    "waivers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String(100), nullable=False),
    Column("agency", String(100), nullable=False),
    Column("until_on", Date, nullable=False),
    Column("reason", Text, nullable=False),
    Column("by", String(320), nullable=False),
    Column("created_at", String(40), nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(400), nullable=False, unique=True),  # idempotency key: kind + tasks + date
    Column("kind", String(20), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("to_addr", Text, nullable=False),  # JSON list
    Column("cc", Text, nullable=False),  # JSON list
    Column("subject", Text, nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("task_ids", Text, nullable=False),  # JSON list
    Column("agency", String(100), nullable=True),
    Column("status", String(20), nullable=False),  # queued | sending | sent | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", String(40), nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("sent_at", String(40), nullable=True),
    Column("provider_id", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("possible_duplicate", Boolean, nullable=False, server_default=text("false")),
    # What a message queued but not rendered yet will state (JSON, `notify.facts`): subject and bodies
    # are empty until the text is rendered from it, before the first attempt; then NULL.
    Column("facts", Text, nullable=True),
)
Index("ix_notifications_status", notifications.c.status)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("at", String(40), nullable=False),
    Column("run_id", String(40), nullable=True),
    Column("kind", String(40), nullable=False),
    Column("rule", String(100), nullable=True),
    Column("agency", String(100), nullable=True),
    Column("period", String(10), nullable=True),
    Column("outcome", String(20), nullable=True),
    Column("data", Text, nullable=False),  # canonical JSON
    Column("rules_revision", String(64), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_audit_kind", audit_log.c.kind)
Index("ix_audit_rule_agency", audit_log.c.rule, audit_log.c.agency)
Index("ix_audit_run", audit_log.c.run_id)

# One row: the chain's head. Appenders lock it (FOR UPDATE on PostgreSQL; SQLite's write lock)
# so two processes can never both append after the same entry.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# Claimed at the start of each scheduled job, so a job fired twice (two daemons, a restart) runs once.
job_runs = Table(
    "job_runs",
    metadata,
    Column("job", String(40), primary_key=True),
    Column("fire_key", String(40), primary_key=True),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40), nullable=True),
    Column("holder", String(100), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)
