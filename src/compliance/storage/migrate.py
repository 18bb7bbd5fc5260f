"""Schema migrations. Until the Alembic history is in place this creates the tables directly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compliance.storage import schema

if TYPE_CHECKING:
    from compliance.storage.db import Database

__all__ = ["upgrade"]


def upgrade(db: Database) -> None:
    schema.metadata.create_all(db.engine)
    with db.begin() as conn:
        from sqlalchemy import insert, select

        if conn.execute(select(schema.audit_head.c.id)).first() is None:
            conn.execute(insert(schema.audit_head).values(id=1, seq=0, hash="0" * 64))
