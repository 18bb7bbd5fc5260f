"""Bulk inserts of many rows inside the caller's transaction, at the speed each database allows.

SQLAlchemy's executemany spends more time building parameters than SQLite spends writing; the driver's
own executemany (SQLite) and COPY (PostgreSQL) write 400,000 rows in a few seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table

__all__ = ["bulk_insert"]


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows` (tuples in the order of `columns`) into `table`, in the connection's transaction."""
    if not rows:
        return
    for name in columns:  # names are ours, never user input; checked anyway since they go into SQL text
        if name not in table.c:
            raise ValueError(f"{table.name} has no column {name!r}")
    column_list = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        import psycopg

        raw = cast(psycopg.Connection[Any], conn.connection.dbapi_connection)
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({column_list}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    placeholders = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({column_list}) VALUES ({placeholders})", list(rows))
