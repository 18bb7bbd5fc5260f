"""initial schema: every table of storage/schema.py as of v1 (checked by hand against it)

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-27 12:41:53.558274
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_log",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=True),
        sa.Column("agency", sa.String(length=100), nullable=True),
        sa.Column("period", sa.String(length=10), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("rules_revision", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_audit_kind", "audit_log", ["kind"], unique=False)
    op.create_index("ix_audit_rule_agency", "audit_log", ["rule", "agency"], unique=False)
    op.create_index("ix_audit_run", "audit_log", ["run_id"], unique=False)

    op.create_table(
        "evaluation_state",
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("agency", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("evaluated_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("rule", "agency"),
    )
    op.create_table(
        "job_runs",
        sa.Column("job", sa.String(length=40), nullable=False),
        sa.Column("fire_key", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.String(length=40), nullable=False),
        sa.Column("finished_at", sa.String(length=40), nullable=True),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("job", "fire_key"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("to_addr", sa.Text(), nullable=False),
        sa.Column("cc", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("task_ids", sa.Text(), nullable=False),
        sa.Column("agency", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("sent_at", sa.String(length=40), nullable=True),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("possible_duplicate", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_notifications_status", "notifications", ["status"], unique=False)

    op.create_table(
        "rule_revisions",
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", sa.String(length=40), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("revision"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("evaluated_on", sa.Date(), nullable=False),
        sa.Column("started_at", sa.String(length=40), nullable=False),
        sa.Column("finished_at", sa.String(length=40), nullable=True),
        sa.Column("rules_revision", sa.String(length=64), nullable=False),
        sa.Column("backend", sa.String(length=20), nullable=False),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_runs_evaluated_on", "runs", ["evaluated_on"], unique=False)

    op.create_table(
        "snapshot_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("ingested_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("agency", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("period", sa.String(length=10), nullable=True),
        sa.Column("last_period", sa.String(length=10), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("streak", sa.Integer(), server_default="0", nullable=False),
        sa.Column("assignee", sa.String(length=320), nullable=False),
        sa.Column("assignee_name", sa.Text(), server_default="", nullable=False),
        sa.Column("escalated_on", sa.Date(), nullable=True),
        sa.Column("acknowledged_on", sa.Date(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=320), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("waived_on", sa.Date(), nullable=True),
        sa.Column("previous_task_id", sa.Integer(), nullable=True),
        sa.Column("opened_run_id", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["previous_task_id"],
            ["tasks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tasks_agency", "tasks", ["agency"], unique=False)
    op.create_index(
        "ux_tasks_active",
        "tasks",
        ["rule", "agency"],
        unique=True,
        sqlite_where=sa.text("status IN ('open', 'acknowledged')"),
        postgresql_where=sa.text("status IN ('open', 'acknowledged')"),
    )

    op.create_table(
        "users",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("email"),
    )
    op.create_table(
        "waivers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("agency", sa.String(length=100), nullable=False),
        sa.Column("until_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "snapshot_rows",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("row_no", sa.Integer(), nullable=False),
        sa.Column("agency", sa.String(length=100), nullable=False),
        sa.Column("indicator", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("numerator", sa.BigInteger(), nullable=True),
        sa.Column("denominator", sa.BigInteger(), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["snapshot_files.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_snapshot_rows_as_of", "snapshot_rows", ["as_of"], unique=False)
    op.create_index(
        "ix_snapshot_rows_key",
        "snapshot_rows",
        ["indicator", "agency", "period_end", "period", "as_of", "id"],
        unique=False,
    )

    op.create_table(
        "task_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_task_events_task", "task_events", ["task_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_task_events_task", table_name="task_events")

    op.drop_table("task_events")
    op.drop_index("ix_snapshot_rows_key", table_name="snapshot_rows")
    op.drop_index("ix_snapshot_rows_as_of", table_name="snapshot_rows")

    op.drop_table("snapshot_rows")
    op.drop_table("waivers")
    op.drop_table("users")
    op.drop_index("ux_tasks_active", table_name="tasks")
    op.drop_index("ix_tasks_agency", table_name="tasks")

    op.drop_table("tasks")
    op.drop_table("snapshot_files")
    op.drop_index("ix_runs_evaluated_on", table_name="runs")

    op.drop_table("runs")
    op.drop_table("rule_revisions")
    op.drop_index("ix_notifications_status", table_name="notifications")

    op.drop_table("notifications")
    op.drop_table("job_runs")
    op.drop_table("evaluation_state")
    op.drop_index("ix_audit_run", table_name="audit_log")
    op.drop_index("ix_audit_rule_agency", table_name="audit_log")
    op.drop_index("ix_audit_kind", table_name="audit_log")

    op.drop_table("audit_log")
    op.drop_table("audit_head")
