"""Index snapshot_rows by (indicator, period_end): an evaluation reads the recent periods as a range.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 13:48:39.933450
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_snapshot_rows_window", "snapshot_rows", ["indicator", "period_end"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_snapshot_rows_window", table_name="snapshot_rows")
