"""Outbox messages can be queued with their facts (JSON) and rendered when they are sent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 15:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: existing rows were rendered when queued (facts NULL = rendered).
    op.add_column("notifications", sa.Column("facts", sa.Text(), nullable=True))


def downgrade() -> None:
    # A message still waiting for its text would be left without it: render or drop those first.
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("facts")
