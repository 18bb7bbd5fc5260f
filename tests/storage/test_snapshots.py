"""Stored snapshots: atomic and idempotent ingest, rejections logged, the rows in effect at a date."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from compliance.audit import GENESIS
from compliance.errors import InputError
from compliance.loading.snapshots import ParsedSnapshot, SnapshotRejected, parse_snapshot
from compliance.model.period import parse_period
from compliance.model.snapshot import SnapshotRow
from compliance.storage import auditlog, snapshots
from compliance.storage.db import Database
from compliance.storage.schema import audit_log, snapshot_files, snapshot_rows
from tests.storage.snapshot_data import DIRECTORY, RULEBOOK, write_csv

AT = "2023-07-05T00:30:00Z"


def _counts(db: Database) -> tuple[int, int, int]:
    with db.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (snapshot_files, snapshot_rows, audit_log)
        )


def _ingest(db: Database, path: Path, at: str = AT) -> snapshots.IngestResult:
    parsed = parse_snapshot(path, RULEBOOK, DIRECTORY, path.name)
    with db.begin() as conn:
        return snapshots.ingest(conn, parsed, at=at)


def _effective(db: Database, on: str, indicators: list[str] | None = None) -> list[tuple[object, ...]]:
    with db.read() as conn:
        rows = snapshots.effective_rows(conn, dt.date.fromisoformat(on), indicators=indicators)
    return sorted(
        (
            r.agency,
            r.indicator,
            r.period.label,
            r.as_of.isoformat(),
            r.numerator,
            r.denominator,
            r.value,
            r.status,
        )
        for r in rows
    )


def test_ingest_stores_the_file_its_rows_and_one_entry(db: Database, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "june.csv",
        "2023-06,so-a,online_payment,1305,2900,,,\n"
        "2022,so-b,par_index,,,82.580,,\n"
        "2023-06,so-a,db_land,,,,built,2023-06-15\n",
    )
    result = _ingest(db, path)
    assert result == snapshots.IngestResult("june.csv", result.sha256, 3, "ingested")
    with db.read() as conn:
        files = conn.execute(select(snapshot_files)).all()
        rows = conn.execute(select(snapshot_rows).order_by(snapshot_rows.c.id)).all()
        entries = list(auditlog.iter_entries(conn))
    assert [(f.name, f.sha256, f.rows, f.ingested_at) for f in files] == [("june.csv", result.sha256, 3, AT)]
    assert [
        (
            r.row_no,
            r.agency,
            r.indicator,
            r.period,
            r.period_end,
            r.as_of,
            r.numerator,
            r.denominator,
            r.value,
            r.status,
        )
        for r in rows
    ] == [
        (
            2,
            "so-a",
            "online_payment",
            "2023-06",
            dt.date(2023, 6, 30),
            dt.date(2023, 6, 30),
            1305,
            2900,
            None,
            None,
        ),
        (
            3,
            "so-b",
            "par_index",
            "2022",
            dt.date(2022, 12, 31),
            dt.date(2022, 12, 31),
            None,
            None,
            "82.580",
            None,
        ),
        (
            4,
            "so-a",
            "db_land",
            "2023-06",
            dt.date(2023, 6, 30),
            dt.date(2023, 6, 15),
            None,
            None,
            None,
            "built",
        ),
    ]
    assert len(entries) == 1
    assert (entries[0].kind, entries[0].at, entries[0].prev_hash) == ("snapshot-ingested", AT, GENESIS)
    assert entries[0].data == {
        "file": "june.csv",
        "sha256": result.sha256,
        "rows": 3,
        "periods": ["2022", "2023-06"],
        "indicators": ["db_land", "online_payment", "par_index"],
        "agencies": 2,
    }


def test_the_same_bytes_again_are_a_duplicate_and_write_nothing(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "june.csv", "2023-06,so-a,online_payment,1,2,,,\n")
    first = _ingest(db, path)
    before = _counts(db)
    again = _ingest(db, path, at="2023-07-06T00:30:00Z")
    copy = tmp_path / "copy-under-another-name.csv"
    copy.write_bytes(path.read_bytes())
    renamed = _ingest(db, copy)
    assert (first.status, again.status, renamed.status) == ("ingested", "duplicate", "duplicate")
    assert again == snapshots.IngestResult("june.csv", first.sha256, 1, "duplicate")
    assert _counts(db) == before == (1, 1, 1)


def test_a_file_with_one_bad_row_writes_nothing_but_its_rejection(db: Database, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "bad.csv", "2023-06,so-a,online_payment,1,2,,,\n2023-06,so-b,online_payment,3,2,,,\n"
    )
    with pytest.raises(SnapshotRejected) as caught:
        _ingest(db, path)
    assert _counts(db) == (0, 0, 0)
    with db.begin() as conn:
        snapshots.record_rejection(conn, caught.value.name, caught.value.sha256, caught.value.problems, at=AT)
    assert _counts(db) == (0, 0, 1)
    with db.read() as conn:
        [entry] = auditlog.iter_entries(conn)
    assert (entry.kind, entry.data) == (
        "snapshot-rejected",
        {
            "file": "bad.csv",
            "sha256": caught.value.sha256,
            "errors": ["bad.csv:3: numerator: numerator 3 is greater than denominator 2"],
        },
    )


def test_a_rejection_keeps_the_first_thousand_errors_and_the_total(db: Database) -> None:
    errors = [f"x.csv:{i}: agency: unknown agency 'z'" for i in range(2, 1502)]
    with db.begin() as conn:
        snapshots.record_rejection(conn, "x.csv", None, errors, at=AT)
    with db.read() as conn:
        [entry] = auditlog.iter_entries(conn)
    assert entry.data["errors"] == errors[:1000]
    assert (entry.data["errors_total"], entry.data["sha256"]) == (1500, None)


def test_a_failure_in_the_middle_of_an_ingest_leaves_nothing(db: Database, tmp_path: Path) -> None:
    good = write_csv(tmp_path, "good.csv", "2023-05,so-a,online_payment,1,2,,,\n")
    _ingest(db, good)
    before = _counts(db)
    with db.read() as conn:
        head_before = auditlog.head(conn)
    period = parse_period("2023-06")
    rows = [SnapshotRow("so-a", "online_payment", period, period.end_on, i, 10**6) for i in range(500)]
    # The database refuses the last row (too large for BIGINT) after the file and 500 rows went in.
    rows.append(SnapshotRow("so-b", "online_payment", period, period.end_on, 2**70, 2**71))
    crashing = ParsedSnapshot("crash.csv", "c" * 64, rows)
    with pytest.raises(Exception, match="(?i)out of range|too large|overflow"), db.begin() as conn:
        snapshots.ingest(conn, crashing, at=AT)
    assert _counts(db) == before
    with db.read() as conn:
        assert auditlog.head(conn) == head_before


def test_revisions_are_kept_and_the_effective_row_is_the_latest_as_of(db: Database, tmp_path: Path) -> None:
    first = write_csv(
        tmp_path,
        "v1.csv",
        "2023-06,so-a,online_payment,10,100,,,\n"  # as_of 2023-06-30
        "2023-05,so-a,online_payment,5,100,,,\n"
        "2023-06,so-b,online_payment,1,4,,,2023-06-20\n"
        "2022,so-a,par_index,,,70.5,,2023-01-15\n",
    )
    second = write_csv(
        tmp_path,
        "v2.csv",
        "2023-06,so-a,online_payment,20,100,,,2023-07-10\n"  # a revision, taken later
        "2023-06,so-b,online_payment,2,4,,,2023-06-20\n"  # the same as_of again: the later file wins
        "2023-06,so-b,online_payment,3,4,,,2023-06-10\n"  # older than what is stored: never effective
        "2023-07,so-a,db_land,,,,connected,2023-07-20\n",
    )
    _ingest(db, first)
    _ingest(db, second)
    assert _counts(db)[1] == 8
    dec = Decimal("70.5")
    at_june_30 = [
        ("so-a", "online_payment", "2023-05", "2023-05-31", 5, 100, None, None),
        ("so-a", "online_payment", "2023-06", "2023-06-30", 10, 100, None, None),
        ("so-b", "online_payment", "2023-06", "2023-06-20", 2, 4, None, None),
        ("so-a", "par_index", "2022", "2023-01-15", None, None, dec, None),
    ]
    assert _effective(db, "2023-06-30") == sorted(at_june_30)
    assert _effective(db, "2023-07-20") == sorted(
        [
            ("so-a", "online_payment", "2023-05", "2023-05-31", 5, 100, None, None),
            ("so-a", "online_payment", "2023-06", "2023-07-10", 20, 100, None, None),
            ("so-b", "online_payment", "2023-06", "2023-06-20", 2, 4, None, None),
            ("so-a", "par_index", "2022", "2023-01-15", None, None, dec, None),
            ("so-a", "db_land", "2023-07", "2023-07-20", None, None, None, "connected"),
        ]
    )
    # Before any as_of of a key, the key does not exist yet; an as_of tie picks the later file.
    assert _effective(db, "2023-06-15") == sorted(
        [
            ("so-a", "online_payment", "2023-05", "2023-05-31", 5, 100, None, None),
            ("so-b", "online_payment", "2023-06", "2023-06-10", 3, 4, None, None),
            ("so-a", "par_index", "2022", "2023-01-15", None, None, dec, None),
        ]
    )
    assert _effective(db, "2023-01-14") == []
    assert _effective(db, "2023-07-20", ["par_index", "db_land"]) == sorted(
        [
            ("so-a", "par_index", "2022", "2023-01-15", None, None, dec, None),
            ("so-a", "db_land", "2023-07", "2023-07-20", None, None, None, "connected"),
        ]
    )
    assert _effective(db, "2023-07-20", []) == []


def test_effective_rows_carry_exact_values_periods_and_ingestion_order(db: Database, tmp_path: Path) -> None:
    _ingest(
        db, write_csv(tmp_path, "a.csv", "2022,so-a,par_index,,,82.580,,\n2023-Q2,so-a,full_online,1,3,,,\n")
    )
    _ingest(db, write_csv(tmp_path, "b.csv", "2022,so-a,par_index,,,-0.125,,\n"))
    with db.read() as conn:
        rows = sorted(snapshots.effective_rows(conn, dt.date(2023, 12, 31)), key=lambda r: r.row_id)
    assert [(r.row_id, r.indicator, r.period, r.value) for r in rows] == [
        (rows[0].row_id, "full_online", parse_period("2023-Q2"), None),
        (rows[1].row_id, "par_index", parse_period("2022"), Decimal("-0.125")),
    ]
    assert rows[1].row_id > rows[0].row_id > 0  # the later file's row (id 3) beat the first (id 1)
    assert str(rows[1].value) == "-0.125" and isinstance(rows[0].as_of, dt.date)


def test_two_processes_ingesting_the_same_file_store_it_once(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path, "same.csv", "".join(f"2023-06,so-a,online_payment,{i},999,,,\n" for i in range(1))
    )
    start = time.time() + 2.0
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from compliance.loading.snapshots import parse_snapshot
        from compliance.storage.db import open_database
        from compliance.storage.snapshots import ingest
        from tests.storage.snapshot_data import DIRECTORY, RULEBOOK
        db = open_database({db_url!r})
        parsed = parse_snapshot(Path({str(path)!r}), RULEBOOK, DIRECTORY, "same.csv")
        time.sleep(max(0.0, {start} - time.time()))
        with db.begin() as conn:
            print(ingest(conn, parsed, at="2023-07-05T00:30:00Z").status)
        db.dispose()
        """
    )
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sorted(out.strip() for out, _err in outputs) == ["duplicate", "ingested"]
    assert _counts(db) == (1, 1, 1)


# --- a file is ingested whole or not at all (property) ------------------------------------------

# Good rows; {day} differs per line, so good rows never repeat a key within a file.
_GOOD = st.sampled_from(
    [
        "2023-06,so-a,online_payment,{n},{d},,,2023-07-{day}",
        "2023-Q3,so-b,full_online,{n},{d},,,2023-10-{day}",
        "2022,so-a,par_index,,,{n}.5,,2023-01-{day}",
        "2023-06,so-b,db_land,,,,built,2023-06-{day}",
    ]
)
_BAD = st.sampled_from(
    [
        "2023-06,so-z,online_payment,1,2,,,",  # unknown agency
        "2023-06,so-a,online-payment,1,2,,,",  # unknown indicator
        "2023-Q2,so-a,online_payment,1,2,,,",  # wrong period form
        "2023-06,so-a,online_payment,1.305,2000,,,",  # a decimal point in a count
        "2023-06,so-a,online_payment,-1,2,,,",  # negative
        "2023-06,so-a,online_payment,3,2,,,",  # numerator > denominator
        '2022,so-a,par_index,,,"82,58",,',  # decimal comma
        "2023-06,so-a,db_land,,,,done,",  # unknown stage
        "2023-06,so-a,online_payment,1,2,,,2023-05-01",  # as_of before the period
        "2023-06,so-a,online_payment,1,2,0.5,,",  # value on a ratio row
        "2023-06,so-b,online_payment,1,2,,,2023-06-30\n2023-06,so-b,online_payment,1,3,,,",  # duplicate key
    ]
)


@st.composite
def _snapshot_lines(draw: st.DrawFn) -> tuple[list[str], bool]:
    lines: list[str] = []
    bad = False
    for i in range(draw(st.integers(min_value=1, max_value=12))):
        if draw(st.integers(min_value=0, max_value=4)) == 0:
            lines.extend(draw(_BAD).split("\n"))
            bad = True
        else:
            n = draw(st.integers(min_value=0, max_value=500))
            d = n + draw(st.integers(min_value=0, max_value=500))
            lines.append(draw(_GOOD).format(n=n, d=d, day=f"{i + 10:02d}"))
    return lines, bad


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=_snapshot_lines())
def test_a_snapshot_is_ingested_whole_or_not_at_all(
    db: Database, tmp_path: Path, drawn: tuple[list[str], bool]
) -> None:
    lines, bad = drawn
    path = write_csv(tmp_path, "snapshot.csv", "\n".join(lines) + "\n")
    before = _counts(db)
    try:
        parsed = parse_snapshot(path, RULEBOOK, DIRECTORY, path.name)
    except InputError:
        assert bad
        assert _counts(db) == before
        return
    assert not bad
    with db.begin() as conn:
        result = snapshots.ingest(conn, parsed, at=AT)
    if result.status == "duplicate":  # the same lines were drawn before
        assert _counts(db) == before
    else:
        assert _counts(db) == (before[0] + 1, before[1] + len(lines), before[2] + 1)
