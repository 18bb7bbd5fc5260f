"""Stored snapshots: ingest a checked file atomically, log rejections, and the rows in effect at a date.

A file is identified by the sha256 of its bytes: the same bytes again are a duplicate and write nothing.
Rows are kept forever; a revision of a figure is a new row with a later `as_of`, and `effective_rows`
picks, for every (agency, indicator, period), the row with the greatest as_of <= D (a tie: the row
ingested later, i.e. the greater id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, and_, exists, insert, or_, select

from compliance.errors import Problem
from compliance.model.period import Period, parse_period
from compliance.model.snapshot import SnapshotRow
from compliance.storage.auditlog import NewEntry, append, lock_head
from compliance.storage.bulk import bulk_insert
from compliance.storage.schema import snapshot_files, snapshot_rows

__all__ = [
    "MAX_LOGGED_ERRORS",
    "IngestResult",
    "SnapshotFile",
    "effective_rows",
    "ingest",
    "record_rejection",
]

# A rejected file's errors go into its audit entry; a file of 100,000 bad rows would make one entry of
# megabytes, so the entry keeps the first ones and the total.
MAX_LOGGED_ERRORS = 1000
_ROW_COLUMNS = (
    "file_id",
    "row_no",
    "agency",
    "indicator",
    "period",
    "period_end",
    "as_of",
    "numerator",
    "denominator",
    "value",
    "status",
)


class SnapshotFile(Protocol):
    """A checked snapshot file (compliance.loading.snapshots.ParsedSnapshot)."""

    @property
    def name(self) -> str: ...

    @property
    def sha256(self) -> str: ...

    @property
    def rows(self) -> Sequence[SnapshotRow]: ...


@dataclass(frozen=True)
class IngestResult:
    file: str
    sha256: str
    rows: int
    status: Literal["ingested", "duplicate"]


def ingest(conn: Connection, parsed: SnapshotFile, *, at: str) -> IngestResult:
    """Store the file and its rows with a `snapshot-ingested` entry, in the caller's transaction.

    Bytes already stored → `duplicate`, and nothing at all is written (no rows, no audit entry): ingesting
    the same file again is a no-op. Call inside Database.begin(); a failure anywhere rolls back the file,
    its rows and the entry together.
    """
    # The audit head lock first: it serialises concurrent ingests, so the duplicate check below cannot
    # race with another process storing the same bytes (on PostgreSQL the check then sees its commit).
    lock_head(conn)
    rows = parsed.rows
    # Stored and logged by its file name: the folder it was read from (the inbox, a working directory)
    # says nothing about the figures and changes when the daemon moves the file to processed/.
    name = PurePath(parsed.name).name
    found = conn.execute(select(snapshot_files.c.id).where(snapshot_files.c.sha256 == parsed.sha256)).first()
    if found is not None:
        return IngestResult(parsed.name, parsed.sha256, len(rows), "duplicate")
    file_id = conn.execute(
        insert(snapshot_files)
        .values(sha256=parsed.sha256, name=name, rows=len(rows), ingested_at=at)
        .returning(snapshot_files.c.id)
    ).scalar_one()
    row_numbers: Sequence[int] = getattr(parsed, "row_numbers", None) or range(2, len(rows) + 2)
    sqlite = conn.dialect.name == "sqlite"
    bulk_insert(
        conn,
        snapshot_rows,
        _ROW_COLUMNS,
        [
            (
                file_id,
                number,
                r.agency,
                r.indicator,
                r.period.label,
                # The driver's executemany takes raw values: SQLite stores dates as ISO text.
                r.period.end_on.isoformat() if sqlite else r.period.end_on,
                r.as_of.isoformat() if sqlite else r.as_of,
                r.numerator,
                r.denominator,
                None if r.value is None else str(r.value),
                r.status,
            )
            for number, r in zip(row_numbers, rows, strict=True)
        ],
    )
    data: dict[str, Any] = {
        "file": name,
        "sha256": parsed.sha256,
        "rows": len(rows),
        "periods": sorted({r.period.label for r in rows}),
        "indicators": sorted({r.indicator for r in rows}),
        "agencies": len({r.agency for r in rows}),
    }
    append(conn, [NewEntry("snapshot-ingested", data=data)], at=at)
    return IngestResult(parsed.name, parsed.sha256, len(rows), "ingested")


def record_rejection(
    conn: Connection, name: str, sha256: str | None, problems: Sequence[Problem | str], *, at: str
) -> None:
    """Log a `snapshot-rejected` entry naming the file, its sha256 and its errors (nothing else is stored).

    `name` is logged by its file name, as `ingest` does; the errors keep the path they were shown with.
    """
    errors = [str(p) for p in problems]
    data: dict[str, Any] = {
        "file": PurePath(name).name,
        "sha256": sha256,
        "errors": errors[:MAX_LOGGED_ERRORS],
    }
    if len(errors) > MAX_LOGGED_ERRORS:
        data["errors_total"] = len(errors)
    append(conn, [NewEntry("snapshot-rejected", data=data)], at=at)


def effective_rows(
    conn: Connection, on: dt.date, *, indicators: Collection[str] | None = None
) -> list[SnapshotRow]:
    """For every (agency, indicator, period): the row with the greatest as_of <= `on`; a tie → greater id.

    One set-based query (an anti-join: "no newer row for this key at D"), answered for the inner side
    from the covering index ix_snapshot_rows_key on both SQLite and PostgreSQL. Rows come back in no
    particular order.
    """
    r = snapshot_rows.alias("r")
    n = snapshot_rows.alias("n")
    newer = exists().where(
        n.c.indicator == r.c.indicator,
        n.c.agency == r.c.agency,
        n.c.period_end == r.c.period_end,
        n.c.period == r.c.period,
        n.c.as_of <= on,
        or_(n.c.as_of > r.c.as_of, and_(n.c.as_of == r.c.as_of, n.c.id > r.c.id)),
    )
    query = select(
        r.c.id,
        r.c.agency,
        r.c.indicator,
        r.c.period,
        r.c.as_of,
        r.c.numerator,
        r.c.denominator,
        r.c.value,
        r.c.status,
    ).where(r.c.as_of <= on, ~newer)
    if indicators is not None:
        wanted = sorted(set(indicators))
        if not wanted:
            return []
        query = query.where(r.c.indicator.in_(wanted))
    periods: dict[str, Period] = {}
    days: dict[str, dt.date] = {}
    out: list[SnapshotRow] = []
    result = conn.execute(query)
    # Read the driver's tuples directly, in large batches: for millions of rows SQLAlchemy's row
    # processing would cost more than the query. SQLite gives dates as ISO text (few distinct ones:
    # parsed once each), PostgreSQL as dates; counts are ints on both, value is exact decimal text.
    cursor = result.cursor
    try:
        while batch := cursor.fetchmany(50_000):
            for row_id, agency, indicator, label, as_of, numerator, denominator, value, status in batch:
                period = periods.get(label)
                if period is None:
                    period = periods[label] = parse_period(label)
                if isinstance(as_of, str):
                    day = days.get(as_of)
                    if day is None:
                        day = days[as_of] = dt.date.fromisoformat(as_of)
                    as_of = day
                out.append(
                    SnapshotRow(
                        agency,
                        indicator,
                        period,
                        as_of,
                        numerator,
                        denominator,
                        None if value is None else Decimal(value),
                        status,
                        row_id,
                    )
                )
    finally:
        result.close()
    return out
