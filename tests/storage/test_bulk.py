"""Bulk writes on SQLite and PostgreSQL: multi-row inserts, upserts, and the Writer thread of a run."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from compliance.storage import bulk, runs
from compliance.storage.bulk import Writer, bulk_insert
from compliance.storage.db import Database
from compliance.storage.schema import evaluation_state, waivers

COLUMNS = ("rule", "agency", "until_on", "reason", "by", "created_at")
# A duplicate key: SQLAlchemy's error on SQLite, the driver's own from PostgreSQL's COPY.
DUPLICATE = (IntegrityError, psycopg.IntegrityError)


def _waivers(start: int, n: int) -> list[tuple[Any, ...]]:
    return [
        (f"r{i}", f"a{i}", "2024-01-31", f"lý do {i}", "x@y.vn", "2023-07-05T00:30:00Z")
        for i in range(start, start + n)
    ]


def _rules(db: Database) -> list[str]:
    with db.read() as conn:
        return [r[0] for r in conn.execute(select(waivers.c.rule).order_by(waivers.c.id))]


def _cell(agency: str, outcome: str, fingerprint: str) -> runs.StateTuple:
    return ("r", agency, outcome, "2023-06", "0.25", '"x"', 1, fingerprint, "run-1", "2023-07-05")


def test_bulk_insert_writes_every_row_in_statements_of_many(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "_SQLITE_ROWS", 3)  # 3 statements of 3 rows, then one of 1
    with db.begin() as conn:
        bulk_insert(conn, waivers, COLUMNS, _waivers(0, 10))
        bulk_insert(conn, waivers, COLUMNS, [])
    assert _rules(db) == [f"r{i}" for i in range(10)]
    with pytest.raises(ValueError, match="waivers has no column 'nope'"), db.begin() as conn:
        bulk_insert(conn, waivers, ("nope",), [(1,)])


def test_upsert_state_replaces_known_cells_and_adds_new_ones(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "_SQLITE_ROWS", 2)
    with db.begin() as conn:
        runs.insert_state(
            conn, [_cell("a", "pass", "1" * 64), _cell("b", "pass", "2" * 64), _cell("c", "fail", "3" * 64)]
        )
    with db.begin() as conn:
        runs.upsert_state(
            conn, [_cell("b", "fail", "4" * 64), _cell("d", "pass", "5" * 64)], removed=[("r", "c")]
        )
    with db.read() as conn:
        state = [(s.agency, s.outcome, s.fingerprint[0], s.value, s.target) for s in runs.read_state(conn)]
    assert state == [
        ("a", "pass", "1", 0.25, "x"),
        ("b", "fail", "4", 0.25, "x"),
        ("d", "pass", "5", 0.25, "x"),
    ]


def _thread_of_each(conn: Connection, seen: list[tuple[int, str]], tag: str) -> None:
    seen.append((threading.get_ident(), tag))


@pytest.mark.parametrize("background", [True, False])
def test_the_writer_runs_jobs_in_order_on_its_thread_or_inline(db: Database, background: bool) -> None:
    seen: list[tuple[int, str]] = []
    with db.begin() as conn, Writer(conn, background=background) as writer:
        for i in range(20):
            writer.submit(_thread_of_each, seen, str(i))
            writer.insert(waivers, COLUMNS, _waivers(i, 1))
        writer.drain()
        conn.execute(select(func.count()).select_from(waivers))  # drained: the caller may use conn again
        writer.close()
        writer.submit(_thread_of_each, seen, "after close")  # a closed Writer runs jobs inline
    assert [tag for _, tag in seen] == [str(i) for i in range(20)] + ["after close"]
    threads = {ident for ident, _ in seen[:20]}
    assert len(threads) == 1
    assert (threads == {threading.get_ident()}) is not background
    assert seen[-1][0] == threading.get_ident()
    assert _rules(db) == [f"r{i}" for i in range(20)]


def test_a_failed_job_fails_the_transaction_and_writes_nothing(db: Database) -> None:
    bulk_rows = _waivers(0, 3)
    with pytest.raises(DUPLICATE), db.begin() as conn, Writer(conn) as writer:
        writer.insert(waivers, COLUMNS, bulk_rows)
        writer.insert(evaluation_state, runs._STATE_COLUMNS, [_cell("a", "pass", "1" * 64)] * 2)
        writer.insert(waivers, COLUMNS, _waivers(3, 3))
    assert _rules(db) == []


def test_the_error_of_a_job_is_raised_by_the_next_call_of_the_caller(db: Database) -> None:
    with pytest.raises(DUPLICATE), db.begin() as conn, Writer(conn) as writer:
        writer.insert(evaluation_state, runs._STATE_COLUMNS, [_cell("a", "pass", "1" * 64)] * 2)
        with pytest.raises(DUPLICATE):
            writer.drain()
        writer.insert(waivers, COLUMNS, _waivers(0, 1))  # a failed Writer stays failed
    assert _rules(db) == []


def _wait(conn: Connection, started: threading.Event, release: threading.Event) -> None:
    started.set()
    assert release.wait(10)


def test_the_caller_cannot_use_the_connection_while_jobs_are_queued(db: Database) -> None:
    started, release = threading.Event(), threading.Event()
    with db.begin() as conn, Writer(conn) as writer:
        writer.submit(_wait, started, release)
        assert started.wait(10)
        with pytest.raises(RuntimeError, match="while the Writer still has jobs queued"):
            conn.execute(select(func.count()).select_from(waivers))
        release.set()
        writer.drain()
        assert conn.execute(select(func.count()).select_from(waivers)).scalar() == 0


def test_an_error_of_the_caller_skips_what_is_queued_and_stops_the_thread(db: Database) -> None:
    started, release = threading.Event(), threading.Event()
    ran: list[tuple[int, str]] = []
    with pytest.raises(KeyError), db.begin() as conn, Writer(conn) as writer:
        writer.submit(_wait, started, release)
        writer.submit(_thread_of_each, ran, "queued")
        assert started.wait(10)
        threading.Timer(0.2, release.set).start()  # the running job ends after the caller failed
        raise KeyError("the caller failed")
    assert ran == []
    assert not any(t.name == "compliance-writer" for t in threading.enumerate())
    assert _rules(db) == []
