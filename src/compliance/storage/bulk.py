"""Bulk inserts of many rows inside the caller's transaction, at the speed each database allows, and a
writer thread that does them while the caller computes the next rows.

SQLAlchemy's executemany spends more time building parameters than SQLite spends writing; the driver's
own executemany (SQLite) and COPY (PostgreSQL) write 400,000 rows in a few seconds. On SQLite each
statement inserts up to `_SQLITE_ROWS` rows (`INSERT … VALUES (…), (…), …`): the driver binds their
parameters under the GIL and releases it once for the whole statement's sqlite3_step, instead of once
per row — which is what lets a `Writer` thread insert while the main thread goes on computing.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, cast

from sqlalchemy import Connection, Table, event

__all__ = ["Writer", "bulk_insert", "cell", "driver_rows", "pg_copy", "sqlite_insert"]

# Rows per SQLite INSERT statement at most (fewer when the columns would pass the bind-parameter limit:
# 2,730 rows of the audit log's 12 columns). A statement's parameters are bound under the GIL, its
# sqlite3_step runs without it: large statements mean few hand-overs of the GIL between the Writer's
# thread and the main thread (measured: 1,000-row statements left the main thread 0.5 s slower).
_SQLITE_ROWS = 5000
_VARIABLES_LIMIT: list[int] = []  # SQLITE_LIMIT_VARIABLE_NUMBER of the library, once read


def cell(value: Any) -> Any:
    """A value as the driver-level inserts write it: dates as ISO text (what SQLAlchemy's Date stores on
    SQLite, and what COPY parses on PostgreSQL), everything else as it is (sqlite3 writes bools as 0/1)."""
    return value.isoformat() if isinstance(value, dt.date) else value


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows` (tuples in the order of `columns`) into `table`, in the connection's transaction."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        sqlite_insert(conn, table, columns, rows)
        return
    pg_copy(conn, table.name, _checked(table, columns), rows)


def pg_copy(conn: Connection, name: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """PostgreSQL: COPY `rows` into table `name` (any table, a temporary one too) through the driver."""
    import psycopg

    raw = cast(psycopg.Connection[Any], conn.connection.dbapi_connection)
    with raw.cursor() as cur, cur.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def sqlite_insert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    suffix: str = "",
) -> None:
    """SQLite: INSERT `rows` in statements of many rows each, `suffix` (an ON CONFLICT clause) after
    each statement's VALUES."""
    if not rows:
        return
    width = len(columns)
    most = max(1, min(_SQLITE_ROWS, _sqlite_variables(conn) // width))
    per = -(-len(rows) // -(-len(rows) // most))  # as many rows in each statement as can be
    one = f"({', '.join('?' * width)})"
    head = f"INSERT INTO {table.name} ({', '.join(_checked(table, columns))}) VALUES "
    tail = f" {suffix}" if suffix else ""
    whole = len(rows) - len(rows) % per
    flat = chain.from_iterable
    if whole:
        conn.exec_driver_sql(
            head + ", ".join([one] * per) + tail,
            [tuple(flat(rows[i : i + per])) for i in range(0, whole, per)],
        )
    if whole < len(rows):
        rest = rows[whole:]
        conn.exec_driver_sql(head + ", ".join([one] * len(rest)) + tail, tuple(flat(rest)))


def driver_rows(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """The rows of `sql` (in the driver's paramstyle) as the driver's cursor gives them: plain tuples,
    with no Row object each (for millions of rows SQLAlchemy's row processing costs more than the query)."""
    result = conn.exec_driver_sql(sql, tuple(params))
    cursor = result.cursor
    assert cursor is not None
    try:
        return cast(list[Any], cursor.fetchall())  # a list with both drivers (sqlite3, psycopg)
    finally:
        result.close()


def _checked(table: Table, columns: Sequence[str]) -> Sequence[str]:
    for name in columns:  # names are ours, never user input; checked anyway since they go into SQL text
        if name not in table.c:
            raise ValueError(f"{table.name} has no column {name!r}")
    return columns


def _sqlite_variables(conn: Connection) -> int:
    """How many `?` one statement may have (32,766 since SQLite 3.32; 999 before)."""
    import sqlite3

    if not _VARIABLES_LIMIT:
        raw = cast(sqlite3.Connection, conn.connection.dbapi_connection)
        _VARIABLES_LIMIT.append(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return _VARIABLES_LIMIT[0]


P = ParamSpec("P")
Job = Callable[[Connection], object]


def _stop_job(_conn: Connection) -> None:
    """The sentinel that ends the thread."""


_STOP: Job = _stop_job


class Writer:
    """The statements of one transaction, run in order on a second thread while the caller goes on.

    `submit(job, *args)` queues `job(conn, *args)`; `insert` queues a bulk_insert. A thread runs them,
    so that the database's share of the work overlaps the caller's Python work on another core: SQLite's
    driver releases the GIL inside sqlite3_step (once per multi-row statement), psycopg while it waits
    for the server to take a COPY. `background=False` (and a closed Writer) runs jobs inline instead.

    The connection is used by one thread at a time: while jobs are queued the caller must not touch
    `conn`; `drain()` waits for them. A statement the caller runs meanwhile raises RuntimeError (checked
    on the connection's before_cursor_execute event). A job that fails fails the caller: its exception
    is raised by the next `submit`, `drain` or `close`, the jobs after it are skipped, and the caller's
    transaction rolls back (Database.begin). Leaving the `with` block drains and stops the thread; on an
    exception it skips what is still queued and waits for the running job before the rollback.
    """

    def __init__(self, conn: Connection, *, background: bool = True, depth: int = 4) -> None:
        self._conn = conn
        self._background = background
        self._jobs: queue.Queue[Job] = queue.Queue(maxsize=depth)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._cancel = False
        self._closed = False

    def __enter__(self) -> Writer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._stop()

    def submit(
        self, job: Callable[Concatenate[Connection, P], object], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        """Run `job(conn, *args, **kwargs)` after the jobs queued before it (at once when inline).

        The arguments must not change afterwards (hand over a list, then make a new one)."""
        self._raise()
        if self._closed or not self._background:
            job(self._conn, *args, **kwargs)
            return
        if self._thread is None:
            self._start()

        def run(conn: Connection) -> object:
            return job(conn, *args, **kwargs)

        self._jobs.put(run)

    def insert(self, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """bulk_insert(conn, table, columns, rows) in turn."""
        if rows:
            self.submit(bulk_insert, table, columns, rows)

    def drain(self) -> None:
        """Wait until every queued job has run; raise the first job's exception, if one failed."""
        if self._thread is not None:
            self._jobs.join()
        self._raise()

    def close(self) -> None:
        """Drain, then stop the thread: from now on jobs run inline."""
        try:
            self.drain()
        finally:
            self._stop()

    def _start(self) -> None:
        event.listen(self._conn, "before_cursor_execute", self._check_thread)
        self._thread = threading.Thread(target=self._work, name="compliance-writer", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        """Skip what is still queued (nothing, after a drain), let the running job end, stop the thread."""
        self._closed = True
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._cancel = True
        self._jobs.put(_STOP)
        thread.join()
        event.remove(self._conn, "before_cursor_execute", self._check_thread)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is _STOP:
                    return
                if self._error is None and not self._cancel:
                    job(self._conn)
            except BaseException as exc:  # handed to the caller's thread
                self._error = exc
            finally:
                self._jobs.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error  # again at every call: a failed Writer stays failed

    def _check_thread(self, *_args: object) -> None:
        thread = self._thread
        if thread is not None and threading.get_ident() != thread.ident and self._jobs.unfinished_tasks:
            raise RuntimeError("a statement on the connection while the Writer still has jobs queued")
