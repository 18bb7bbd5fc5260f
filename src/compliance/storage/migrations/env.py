"""Alembic environment: migrations always run on a connection handed in by compliance.storage.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from compliance.storage.migrate import compare_server_default
from compliance.storage.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):  # pragma: no cover - a developer ran `alembic` by hand
    raise RuntimeError(
        "run migrations through compliance.storage.migrate (python -m compliance.storage.migrate)"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    compare_server_default=compare_server_default,
)
with context.begin_transaction():
    context.run_migrations()
