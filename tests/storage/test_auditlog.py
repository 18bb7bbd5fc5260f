"""The audit log in the database: append under the head lock, filtered reads, verification, tampering."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import time
from json.encoder import encode_basestring
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, insert, select, text, update

from compliance.audit import GENESIS, AuditEntry, canonical_json, entry_hash, verify_chain
from compliance.storage import auditlog
from compliance.storage.auditlog import NewEntry
from compliance.storage.db import Database, open_database
from compliance.storage.schema import audit_head, audit_log

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
AT = "2023-07-05T00:30:00Z"


def _append(db: Database, entries: list[NewEntry], at: str = AT) -> list[AuditEntry]:
    with db.begin() as conn:
        return auditlog.append(conn, entries, at=at)


def _entries(n: int, **fields: str) -> list[NewEntry]:
    return [NewEntry("evaluation", data={"i": i, "value": 0.25, "rows": [i]}, **fields) for i in range(n)]


def _verify(db: Database) -> tuple[int, str, auditlog.ChainBreak | None]:
    with db.snapshot() as conn:
        return auditlog.verify(conn)


def test_append_chains_entries_and_moves_the_head(db: Database) -> None:
    first = _append(
        db,
        [
            NewEntry("rules-loaded", data={"files": {"a.yaml": "version: 1\n"}}, rules_revision="r" * 64),
            NewEntry(
                "evaluation",
                run_id="run-1",
                rule="r1",
                agency="so-a",
                period="2023-06",
                outcome="fail",
                data={"numerator": 10, "denominator": 100, "note": 'Sở Tư pháp \u2028 "x"'},
            ),
        ],
    )
    second = _append(
        db,
        [NewEntry("task-opened", rule="r1", agency="so-a", data={"task_id": 1})],
        at="2023-07-06T01:00:00.250Z",
    )
    entries = first + second
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert all(entry_hash(e) == e.hash for e in entries)  # the pure definition of the hash
    with db.read() as conn:
        stored = list(auditlog.iter_entries(conn))
        assert auditlog.head(conn) == (3, entries[-1].hash)
    assert stored == entries
    assert verify_chain(stored) == (3, entries[-1].hash, None)
    assert _verify(db) == (3, entries[-1].hash, None)


def test_an_empty_log_verifies(db: Database) -> None:
    assert _verify(db) == (0, GENESIS, None)
    assert _append(db, []) == []
    assert _verify(db) == (0, GENESIS, None)


def test_a_rolled_back_append_leaves_nothing(db: Database) -> None:
    _append(db, _entries(2))
    with pytest.raises(RuntimeError, match="boom"), db.begin() as conn:
        auditlog.append(conn, _entries(5), at=AT)
        raise RuntimeError("boom")
    count, _head, broken = _verify(db)
    assert (count, broken) == (2, None)


@pytest.mark.parametrize(
    ("at", "kind", "message"),
    [
        ("2023-07-05T00:30:00+00:00", "evaluation", "`at` must be UTC ISO 8601 ending in 'Z'"),
        ("2023-07-05 00:30:00Z", "evaluation", "`at` must be UTC ISO 8601 ending in 'Z'"),
        (AT, "evaluated", "unknown audit entry kind 'evaluated'"),
    ],
)
def test_append_refuses_a_bad_instant_or_kind(db: Database, at: str, kind: str, message: str) -> None:
    with pytest.raises(ValueError, match=message), db.begin() as conn:
        auditlog.append(conn, [NewEntry(kind)], at=at)
    assert _verify(db)[0] == 0


def test_appending_on_sqlite_needs_the_write_transaction(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with (
            pytest.raises(RuntimeError, match=r"needs a write transaction \(Database.begin\(\)\)"),
            db.read() as conn,
        ):
            auditlog.append(conn, _entries(1), at=AT)
    finally:
        db.dispose()


def test_format_at() -> None:
    instant = dt.datetime(2023, 7, 5, 7, 30, 15, 999_000, tzinfo=TZ)
    assert auditlog.format_at(instant) == "2023-07-05T00:30:15Z"
    with pytest.raises(ValueError, match="aware"):
        auditlog.format_at(dt.datetime(2023, 7, 5))


_text = st.one_of(st.none(), st.text(max_size=12))


@settings(max_examples=300, deadline=None)
@given(
    seq=st.integers(min_value=1, max_value=10**12),
    fields=st.tuples(_text, _text, _text, _text, _text, _text),
    kind=st.text(min_size=1, max_size=10),
    at=st.text(min_size=1, max_size=30),
    prev=st.text(max_size=64),
    data=st.dictionaries(
        st.text(max_size=6),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=4,
    ),
)
def test_the_fast_body_is_the_canonical_json_of_the_entry(
    seq: int,
    fields: tuple[str | None, ...],
    kind: str,
    at: str,
    prev: str,
    data: dict[str, object],
) -> None:
    run_id, rule, agency, period, outcome, revision = fields
    entry = AuditEntry(seq, at, kind, run_id, rule, agency, period, outcome, data, revision, prev)
    body = auditlog._body_json(
        seq,
        encode_basestring(at),
        run_id,
        kind,
        rule,
        agency,
        period,
        outcome,
        canonical_json(data),
        revision,
        prev,
    )
    assert body == canonical_json(entry.body())


def test_iter_entries_filters_and_pages(db: Database) -> None:
    _append(
        db,
        [NewEntry("evaluation", run_id="run-1", rule="r1", agency="so-a", outcome="pass")],
        at="2023-07-04T16:59:59Z",
    )  # local 2023-07-04 23:59:59
    _append(
        db,
        [NewEntry("evaluation", run_id="run-2", rule="r1", agency="so-b", outcome="fail")],
        at="2023-07-04T17:00:00Z",
    )  # local 2023-07-05 00:00:00
    _append(
        db, [NewEntry("task-opened", run_id="run-2", rule="r1", agency="so-b")], at="2023-07-04T17:00:00.5Z"
    )
    _append(
        db,
        [NewEntry("evaluation", run_id="run-3", rule="r2", agency="so-a", outcome="pass")],
        at="2023-07-06T16:59:59.999999Z",
    )  # local 2023-07-06 23:59:59.999999
    _append(db, [NewEntry("waiver-added", rule="r2", agency="so-a")], at="2023-07-06T17:00:00Z")

    def seqs(**filters: object) -> list[int]:
        with db.read() as conn:
            return [e.seq for e in auditlog.iter_entries(conn, tz=TZ, batch=2, **filters)]  # type: ignore[arg-type]

    assert seqs() == [1, 2, 3, 4, 5]
    assert seqs(newest_first=True) == [5, 4, 3, 2, 1]
    assert seqs(rule="r1") == [1, 2, 3]
    assert seqs(agency="so-a") == [1, 4, 5]
    assert seqs(kind="evaluation") == [1, 2, 4]
    assert seqs(run_id="run-2") == [2, 3]
    assert seqs(rule="r1", agency="so-b", kind="evaluation") == [2]
    assert seqs(since=dt.date(2023, 7, 5)) == [2, 3, 4, 5]
    assert seqs(until=dt.date(2023, 7, 4)) == [1]
    assert seqs(since=dt.date(2023, 7, 5), until=dt.date(2023, 7, 6)) == [2, 3, 4]
    assert seqs(since=dt.date(2023, 7, 7)) == [5]
    assert seqs(agency="so-a", newest_first=True) == [5, 4, 1]
    with db.read() as conn, pytest.raises(ValueError, match="pass the deployment's time zone as tz"):
        list(auditlog.iter_entries(conn, since=dt.date(2023, 7, 5)))


def _tamper(db: Database, how: str) -> None:
    """Alter the stored log the way someone with database access might, for seq 5 of 8."""
    with db.begin() as conn:
        if how == "modified":
            conn.execute(update(audit_log).where(audit_log.c.seq == 5).values(data='{"i":999}'))
        elif how == "modified-rehashed":
            # Recomputing the entry's own hash does not help: the next entry's prev_hash gives it away.
            row = conn.execute(select(audit_log).where(audit_log.c.seq == 5)).one()._asdict()
            forged = AuditEntry(**{**row, "data": {"i": 999}, "hash": ""})
            conn.execute(
                update(audit_log)
                .where(audit_log.c.seq == 5)
                .values(data='{"i":999}', hash=entry_hash(forged))
            )
        elif how == "deleted":
            conn.execute(delete(audit_log).where(audit_log.c.seq == 5))
        elif how == "inserted":
            # Make room at seq 5 and put a well-formed entry there, chained to seq 4.
            conn.execute(update(audit_log).where(audit_log.c.seq >= 5).values(seq=audit_log.c.seq + 1000))
            conn.execute(update(audit_log).where(audit_log.c.seq >= 1005).values(seq=audit_log.c.seq - 999))
            prev = conn.execute(select(audit_log.c.hash).where(audit_log.c.seq == 4)).scalar_one()
            forged = AuditEntry(5, AT, "waiver-added", rule="r", agency="so-a", data={}, prev_hash=prev)
            conn.execute(
                insert(audit_log).values(**{**forged.as_dict(), "data": "{}", "hash": entry_hash(forged)})
            )
        elif how == "truncated":
            conn.execute(delete(audit_log).where(audit_log.c.seq >= 7))
        elif how == "appended-outside":
            prev = conn.execute(select(audit_log.c.hash).where(audit_log.c.seq == 8)).scalar_one()
            forged = AuditEntry(9, AT, "waiver-added", data={}, prev_hash=prev)
            conn.execute(
                insert(audit_log).values(**{**forged.as_dict(), "data": "{}", "hash": entry_hash(forged)})
            )
        elif how == "head-altered":
            conn.execute(update(audit_head).values(hash="f" * 64))
        else:  # pragma: no cover
            raise AssertionError(how)


TAMPERING = {
    "modified": (5, "hash does not match the entry's content (it was altered)"),
    "modified-rehashed": (6, "prev_hash does not match the previous entry's hash"),
    "deleted": (5, "expected seq 5, found 6 (an entry was deleted or inserted)"),
    "inserted": (6, "prev_hash does not match the previous entry's hash"),
    "truncated": (7, "the log ends at seq 6 but its head is at seq 8 (entries at the end were deleted)"),
    "appended-outside": (
        9,
        "the log's head is at seq 8 but entries go on to seq 9 (entries were added outside the log)",
    ),
    "head-altered": (8, "the head's hash does not match the last entry (one of them was altered)"),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_verify_names_the_first_broken_seq(db: Database, how: str) -> None:
    _append(db, _entries(3))
    _append(db, _entries(5, rule="r1", agency="so-a"))
    assert _verify(db)[2] is None
    _tamper(db, how)
    count, _head, broken = _verify(db)
    assert broken is not None
    assert (broken.seq, broken.reason) == TAMPERING[how]
    with db.read() as conn:
        stored = list(auditlog.iter_entries(conn))
    pure = verify_chain(stored)
    if pure[2] is not None:  # an entry-level break: the streaming check agrees with the pure one
        assert (count, pure[2]) == (pure[0], broken)


def test_verify_reads_in_batches(db: Database) -> None:
    entries = _append(db, _entries(25))
    with db.snapshot() as conn:
        assert auditlog.verify(conn, batch=4) == (25, entries[-1].hash, None)
        assert auditlog.verify(conn, batch=25) == (25, entries[-1].hash, None)
    with db.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 13).values(outcome="pass"))
    with db.snapshot() as conn:
        count, _head, broken = auditlog.verify(conn, batch=4)
    assert (count, broken) == (
        12,
        auditlog.ChainBreak(13, "hash does not match the entry's content (it was altered)"),
    )


def test_appends_from_two_processes_never_fork_the_chain(db_url: str) -> None:
    db = open_database(db_url)  # migrated before the writers start
    start = time.time() + 2.0
    script = textwrap.dedent(
        f"""
        import sys, time
        from compliance.storage.db import open_database
        from compliance.storage.auditlog import NewEntry, append
        db = open_database({db_url!r})
        time.sleep(max(0.0, {start} - time.time()))
        for i in range(200):
            with db.begin() as conn:
                append(conn, [NewEntry("evaluation", data={{"writer": sys.argv[1], "i": i}})], at="2023-07-05T00:30:00Z")
            time.sleep(0.003)  # a writer does other work between appends; the other one gets its turn
        db.dispose()
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, name], stderr=subprocess.PIPE, text=True)
        for name in "ab"
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    try:
        count, head, broken = _verify(db)
        assert (count, broken) == (400, None)
        with db.read() as conn:
            entries = list(auditlog.iter_entries(conn))
            assert auditlog.head(conn) == (400, head)
        assert [e.seq for e in entries] == list(range(1, 401))
        by_writer = {w: [e.data["i"] for e in entries if e.data["writer"] == w] for w in "ab"}
        assert by_writer == {"a": list(range(200)), "b": list(range(200))}
        # Interleaved, not one writer after the other: the test did exercise concurrency.
        switches = sum(
            1 for x, y in zip(entries, entries[1:], strict=False) if x.data["writer"] != y.data["writer"]
        )
        assert switches >= 2
    finally:
        db.dispose()


def test_seq_is_the_primary_key_so_a_racing_writer_cannot_reuse_it(db: Database) -> None:
    _append(db, _entries(1))
    with pytest.raises(Exception, match="(?i)unique|duplicate"), db.begin() as conn:
        conn.execute(
            insert(audit_log).values(
                seq=1, at=AT, kind="evaluation", data="{}", prev_hash=GENESIS, hash="0" * 64
            )
        )
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar() == 1
        assert conn.execute(text("SELECT seq FROM audit_head")).scalar() == 1
