"""Stored snapshots: ingest a checked file atomically, log rejections, and the rows in effect at a date.

A file is identified by the sha256 of its bytes: the same bytes again are a duplicate and write nothing.
Rows are kept forever; a revision of a figure is a new row with a later `as_of`, and `effective_rows`
picks, for every (agency, indicator, period), the row with the greatest as_of <= D (a tie: the row
ingested later, i.e. the greater id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, and_, exists, insert, or_, select

from compliance.engine.series import Point
from compliance.errors import Problem
from compliance.model.period import Period, parse_period
from compliance.model.snapshot import SnapshotRow
from compliance.storage.auditlog import NewEntry, append, lock_head
from compliance.storage.bulk import bulk_insert, driver_rows
from compliance.storage.schema import snapshot_files, snapshot_rows

__all__ = [
    "MAX_LOGGED_ERRORS",
    "RECENT_PERIODS",
    "EffectiveRows",
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
    bulk_insert(conn, snapshot_rows, _ROW_COLUMNS, _row_tuples(file_id, row_numbers, rows, conn.dialect.name))
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


def _row_tuples(
    file_id: int, row_numbers: Sequence[int], rows: Sequence[SnapshotRow], dialect: str
) -> list[tuple[Any, ...]]:
    """The rows as the driver's executemany takes them. SQLite stores dates as ISO text: each distinct
    date (a month's file has a handful) is formatted once."""
    distinct = {r.period.end_on for r in rows} | {r.as_of for r in rows}
    days: dict[dt.date, Any] = {d: d.isoformat() if dialect == "sqlite" else d for d in distinct}
    return [
        (
            file_id,
            number,
            r.agency,
            r.indicator,
            r.period.label,
            days[r.period.end_on],
            days[r.as_of],
            r.numerator,
            r.denominator,
            None if r.value is None else str(r.value),
            r.status,
        )
        for number, r in zip(row_numbers, rows, strict=True)
    ]


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


# How many of an indicator's latest periods an evaluation reads up front: the latest, and the one before
# for agencies that have not reported the latest yet. Most evaluations look at the latest period only; a
# failing streak, or a series with nothing this recent, reads the rest of its history on request.
RECENT_PERIODS = 2
_MONTHS = {"month": 1, "quarter": 3, "half": 6, "year": 12}
# The engine's Point layout (compliance.engine.series): each database row is used as the cursor gives it.
_POINT_COLUMNS = (
    "numerator",
    "denominator",
    "value",
    "status",
    "period",
    "id",
    "as_of",
    "agency",
    "indicator",
)
_IN_CHUNK = 500  # agencies per query for older history: under every bind-parameter limit
_JOIN_CHUNK = 300  # series per query for older history on SQLite (3 parameters each: under 999)


def window_start(latest_end: dt.date, frequency: str, periods: int = RECENT_PERIODS) -> dt.date:
    """The first day of the earliest of the `periods` periods ending with the one ending on `latest_end`."""
    index = latest_end.year * 12 + latest_end.month - _MONTHS.get(frequency, 12) * periods
    return dt.date(index // 12, index % 12 + 1, 1)


class EffectiveRows:
    """The snapshot rows an evaluation at D reads, in two parts (compliance.engine.series.RowWindow).

    `recent_points()` yields, for each indicator, the rows with as_of <= D of its recent periods: the
    latest period that has a row at D and the one before (`cutoff(indicator)` is the first day of that
    one; one index range per indicator, ix_snapshot_rows_window). `older_points(keys)` yields the rows
    of the given (indicator, agency) series before the cutoff, when a streak or a series without recent
    figures needs them. Superseded revisions come along (the engine's SeriesIndex keeps the greatest
    as_of, then the greatest id, per period): no anti-join in SQL.

    Rows come as the engine's Points: the driver's own tuples, in the Point's column order, with no
    object built per row (value is the stored decimal text; as_of ISO text on SQLite, a date on
    PostgreSQL). Iterating, and `older(keys)`, give the same rows as SnapshotRows (tests, diagnostics).

    `recent=False` reads nothing up front: every series is read on request (an evaluation of a few
    rule x agency pairs). Use it inside the transaction it was made in.
    """

    def __init__(
        self, conn: Connection, on: dt.date, frequencies: Mapping[str, str], *, recent: bool = True
    ) -> None:
        self._conn = conn
        self._on = on
        self._sqlite = conn.dialect.name == "sqlite"
        self._mark = "?" if self._sqlite else "%s"
        self.read = 0  # rows read so far (recent and older), for diagnostics
        self.older_keys = 0  # series whose older history was read
        self._cutoffs: dict[str, dt.date] = {}
        for indicator, frequency in sorted(frequencies.items()):
            latest = self._latest_end(indicator) if recent else None
            if latest is not None:
                self._cutoffs[indicator] = window_start(latest, frequency)

    def _param(self, day: dt.date) -> Any:
        # SQLite keeps a Date column as ISO text; the raw cursor compares against text.
        return day.isoformat() if self._sqlite else day

    def _latest_end(self, indicator: str) -> dt.date | None:
        """The end of the indicator's latest period with a row at D (a short backward index scan)."""
        m = self._mark
        found = self._conn.exec_driver_sql(
            f"SELECT period_end FROM snapshot_rows WHERE indicator = {m} AND as_of <= {m} "
            "ORDER BY period_end DESC LIMIT 1",
            (indicator, self._param(self._on)),
        ).first()
        if found is None:
            return None
        end = found[0]
        return dt.date.fromisoformat(end) if isinstance(end, str) else end

    def cutoff(self, indicator: str) -> dt.date:
        """Rows of `indicator` whose period ends on or after this date come from `recent_points`."""
        return self._cutoffs.get(indicator, dt.date.max)

    def recent_points(self) -> Iterator[list[Point]]:
        """The rows of the recent periods, indicator by indicator."""
        m = self._mark
        sql = (
            f"SELECT {', '.join(_POINT_COLUMNS)} FROM snapshot_rows "
            f"WHERE indicator = {m} AND period_end >= {m} AND as_of <= {m}"
        )
        on = self._param(self._on)
        for indicator, cutoff in self._cutoffs.items():
            yield self._fetch(sql, (indicator, self._param(cutoff), on))

    def older_points(self, keys: Collection[tuple[str, str]]) -> Iterator[list[Point]]:
        """The rows before the window of these (indicator, agency) series."""
        self.older_keys += len(keys)
        if self._sqlite:
            yield from self._older_sqlite(keys)
            return
        by_indicator: dict[str, list[str]] = {}
        for indicator, agency in keys:
            by_indicator.setdefault(indicator, []).append(agency)
        on = self._on
        for indicator, agencies in sorted(by_indicator.items()):
            cutoff = self._cutoffs.get(indicator)
            bound = "" if cutoff is None else " AND period_end < %s"
            agencies.sort()
            for start in range(0, len(agencies), _IN_CHUNK):
                chunk = agencies[start : start + _IN_CHUNK]
                params: tuple[Any, ...] = (indicator, chunk) if cutoff is None else (indicator, chunk, cutoff)
                sql = (
                    f"SELECT {', '.join(_POINT_COLUMNS)} FROM snapshot_rows "
                    f"WHERE indicator = %s AND agency = ANY(%s){bound} AND as_of <= %s"
                )
                yield self._fetch(sql, (*params, on))

    def _older_sqlite(self, keys: Collection[tuple[str, str]]) -> Iterator[list[Point]]:
        """Agency by agency, every indicator of one agency together: an agency's rows of one month share
        a few table pages, read once for all its series instead of once per indicator (a country's
        streaks touch most of the table)."""
        wanted = sorted(keys, key=lambda key: (key[1], key[0]))
        on = self._param(self._on)
        columns = ", ".join(f"r.{c}" for c in _POINT_COLUMNS)
        for start in range(0, len(wanted), _JOIN_CHUNK):
            chunk = wanted[start : start + _JOIN_CHUNK]
            params: list[Any] = []
            for indicator, agency in chunk:
                params += (indicator, agency, self._param(self.cutoff(indicator)))
            series = ", ".join("(?, ?, ?)" for _ in chunk)
            # CROSS JOIN keeps the series list as the outer loop, in the order given.
            sql = (
                f"WITH w(indicator, agency, cutoff) AS (VALUES {series}) SELECT {columns} "
                "FROM w CROSS JOIN snapshot_rows AS r ON r.indicator = w.indicator AND r.agency = w.agency "
                "AND r.period_end < w.cutoff AND r.as_of <= ?"
            )
            yield self._fetch(sql, (*params, on))

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Point]:
        # Plain tuples in the Point layout (what the driver gives for this SELECT).
        rows: list[Point] = driver_rows(self._conn, sql, params)
        self.read += len(rows)
        return rows

    def __iter__(self) -> Iterator[SnapshotRow]:
        for points in self.recent_points():
            yield from _snapshot_rows(points)

    def older(self, keys: Collection[tuple[str, str]]) -> Iterator[SnapshotRow]:
        """The rows before the window of these (indicator, agency) series."""
        for points in self.older_points(keys):
            yield from _snapshot_rows(points)


def _snapshot_rows(points: Iterable[Point]) -> Iterator[SnapshotRow]:
    periods: dict[str, Period] = {}
    for numerator, denominator, value, status, label, row_id, as_of, agency, indicator in points:
        period = periods.get(label)
        if period is None:
            period = periods[label] = parse_period(label)
        assert agency is not None
        yield SnapshotRow(
            agency,
            indicator,
            period,
            dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of,
            numerator,
            denominator,
            None if value is None else Decimal(value),
            status,
            row_id,
        )
