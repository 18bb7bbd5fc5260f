"""EffectiveRows (the rows an evaluation reads, recent periods first, older ones on request), both databases:
together the two parts are every row taken by D, and they give the same effective rows as effective_rows."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from compliance.loading.snapshots import parse_snapshot
from compliance.model.period import parse_period
from compliance.model.snapshot import SnapshotRow
from compliance.storage import snapshots
from compliance.storage.db import Database
from compliance.storage.schema import snapshot_rows
from tests.storage.snapshot_data import DIRECTORY, RULEBOOK, write_csv

AT = "2023-07-05T00:30:00Z"
FREQUENCIES = {i.id: i.frequency for i in RULEBOOK.indicators.values()}
PERIODS = {
    "online_payment": [f"{y}-{m:02d}" for y in (2022, 2023) for m in range(1, 13)],
    "db_land": [f"{y}-{m:02d}" for y in (2022, 2023) for m in range(1, 13)],
    "full_online": [f"{y}-Q{q}" for y in (2022, 2023) for q in range(1, 5)],
    "par_index": ["2021", "2022", "2023"],
}
AGENCIES = ("tinh", "so-a", "so-b")
_files = itertools.count(1)


@st.composite
def snapshot_files(draw: st.DrawFn) -> list[str]:
    """A few files of rows, each key once per file; revisions across files, as_of before or after D."""
    files: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        lines: list[str] = []
        seen: set[tuple[str, str, str]] = set()
        for _ in range(draw(st.integers(1, 25))):
            indicator = draw(st.sampled_from(sorted(PERIODS)))
            period = draw(st.sampled_from(PERIODS[indicator]))
            agency = draw(st.sampled_from(AGENCIES))
            if (indicator, period, agency) in seen:
                continue
            seen.add((indicator, period, agency))
            lag = draw(st.sampled_from([None, 0, 5, 40, 200]))
            as_of = "" if lag is None else (parse_period(period).end_on + dt.timedelta(days=lag)).isoformat()
            if indicator == "par_index":
                figures = f",,{draw(st.integers(0, 100))},"
            elif indicator == "db_land":
                figures = f",,,{draw(st.sampled_from(['planned', 'built', 'shared']))}"
            else:
                d = draw(st.integers(0, 50))
                figures = f"{draw(st.integers(0, d))},{d},,"
            lines.append(f"{period},{agency},{indicator},{figures},{as_of}")
        files.append("\n".join(lines) + "\n")
    return files


def _key(r: SnapshotRow) -> tuple[str, str, str]:
    return (r.indicator, r.agency, r.period.label)


def _effective(rows: list[SnapshotRow]) -> dict[tuple[str, str, str], int]:
    """(indicator, agency, period) -> id of the row in effect (greatest as_of, then greatest id)."""
    best: dict[tuple[str, str, str], SnapshotRow] = {}
    for r in rows:
        current = best.get(_key(r))
        if current is None or (r.as_of, r.row_id) > (current.as_of, current.row_id):
            best[_key(r)] = r
    return {k: r.row_id for k, r in best.items()}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=snapshot_files(), on=st.sampled_from(["2022-12-31", "2023-03-20", "2023-09-30", "2024-06-30"]))
def test_recent_and_older_rows_are_every_row_taken_by_d(
    db: Database, tmp_path: Path, files: list[str], on: str
) -> None:
    for body in files:
        path = write_csv(tmp_path, f"window-{next(_files)}.csv", body)
        with db.begin() as conn:
            snapshots.ingest(conn, parse_snapshot(path, RULEBOOK, DIRECTORY, path.name), at=AT)
    day = dt.date.fromisoformat(on)
    keys = [(i, a) for i in sorted(PERIODS) for a in AGENCIES]
    with db.read() as conn:
        taken = {
            int(r[0]) for r in conn.execute(select(snapshot_rows.c.id).where(snapshot_rows.c.as_of <= day))
        }
        window = snapshots.EffectiveRows(conn, day, FREQUENCIES)
        recent = list(window)
        older = list(window.older(keys))
        nothing_up_front = snapshots.EffectiveRows(conn, day, FREQUENCIES, recent=False)
        assert list(nothing_up_front) == []
        everything = list(nothing_up_front.older(keys))
        expected = _effective(snapshots.effective_rows(conn, day))
    assert all(r.as_of <= day and r.period.end_on >= window.cutoff(r.indicator) for r in recent)
    assert all(r.as_of <= day and r.period.end_on < window.cutoff(r.indicator) for r in older)
    assert sorted(r.row_id for r in recent + older) == sorted(taken)
    assert sorted(r.row_id for r in everything) == sorted(taken)
    assert _effective(recent + older) == expected
    # Up front: the latest period with a row at D and the one before it, nothing older.
    for indicator in PERIODS:
        periods = {r.period for r in recent + older if r.indicator == indicator}
        if not periods:
            assert window.cutoff(indicator) == dt.date.max
            continue
        latest = max(periods)
        assert {r.period for r in recent if r.indicator == indicator} == periods & {latest, latest.previous()}


def test_older_rows_read_in_small_chunks_are_the_same_rows(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older history is read a few series (SQLite) or agencies (PostgreSQL) per query: a chunk boundary
    anywhere loses or repeats no row, and the Points carry the rows' figures."""
    lines = [
        f"{period},{agency},online_payment,{n},{n + 10},,,"
        for n, period in enumerate(PERIODS["online_payment"][:20])
        for agency in AGENCIES
    ]
    lines += [
        f"{period},{agency},par_index,,,{len(agency)}.5,,"
        for period in PERIODS["par_index"]
        for agency in AGENCIES
    ]
    path = write_csv(tmp_path, "chunks.csv", "\n".join(lines) + "\n")
    with db.begin() as conn:
        snapshots.ingest(conn, parse_snapshot(path, RULEBOOK, DIRECTORY, path.name), at=AT)
    day = dt.date(2023, 12, 31)
    keys = [(i, a) for i in sorted(PERIODS) for a in reversed(AGENCIES)]
    with db.read() as conn:
        whole = sorted(snapshots.EffectiveRows(conn, day, FREQUENCIES).older(keys), key=lambda r: r.row_id)
        monkeypatch.setattr(snapshots, "_JOIN_CHUNK", 1)
        monkeypatch.setattr(snapshots, "_IN_CHUNK", 1)
        window = snapshots.EffectiveRows(conn, day, FREQUENCIES)
        chunked = sorted(window.older(keys), key=lambda r: r.row_id)
    assert chunked == whole
    assert window.older_keys == len(keys)
    assert {(r.indicator, r.agency) for r in whole} == {
        (i, a) for i, a in keys if i in ("online_payment", "par_index")
    }
    # online_payment: 20 months up to 2023-08, the window is 2023-07 and 2023-08; par_index: 2021-2023,
    # the window 2022 and 2023.
    assert len(whole) == 3 * 18 + 3 * 1
    figures = {(r.indicator, r.agency, r.period.label): (r.numerator, r.denominator, r.value) for r in whole}
    assert figures[("online_payment", "so-a", "2022-03")] == (2, 12, None)
    assert figures[("par_index", "tinh", "2021")] == (None, None, Decimal("4.5"))
