"""The fast path of parse_snapshot (plainly valid rows) agrees with the full row check on every row."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance.loading.snapshots import COLUMNS, SnapshotRejected, _RowChecker, parse_snapshot
from compliance.loading.tabular import read_records, read_table
from tests.storage.snapshot_data import DIRECTORY, HEADER, RULEBOOK

# Valid rows of every kind, with the spellings a full check also accepts: spaces around cells, digits
# of other scripts (`\d`), a value without decimals, a negative value, an explicit as_of.
VALID = [
    "2023-06,so-a,online_payment,1305,2900,,,",
    " 2023-06 , so-a ,online_payment, 1310 ,2900,,,2023-07-10",
    "2023-Q2,so-b,full_online,0,0,,,2023-04-01",
    "2023-Q2,so-b,full_online,١٢,٣٤,,,2023-05-01",
    "2022,so-a,par_index,,,82.58,,",
    "2022,so-b,par_index,,,-3,,2023-01-05",
    "2023-06,so-a,db_land,,,,built,2023-06-15",
]
# Rows the fast path must leave to the full check (which rejects them, each with its message).
INVALID = [
    "2023-06,so-a,online_payment,2901,2900,,,",
    "2023-06,so-a,online_payment,-1,2900,,,2023-06-02",
    "2023-06,so-a,online_payment,1.305,2900,,,2023-06-03",
    "2023-06,so-a,online_payment,1,2900,5,,2023-06-04",
    "2023-06,so-a,online_payment,1,2000000000,,,2023-06-05",
    "2023-06,so-x,online_payment,1,2,,,",
    "2023-Q2,so-a,online_payment,1,2,,,",
    "2023-06,so-a,db_land,,,,finished,",
    '2022,so-a,par_index,,,"82,58",,2023-01-02',
    "2023-06,so-a,online_payment,1,2,,,2023-05-31",
    "2023-06,so-a,online_payment,1,2,,,2023-6-30",
    "2023-06,so-a,online_payment,1305,2900,,,",  # a duplicate of the first valid row
]


def _write(tmp_path: Path, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "month.csv"
    path.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def _oracle(path: Path) -> tuple[list[object], list[str]]:
    """Every row through the full check alone."""
    checker = _RowChecker(path.name, RULEBOOK, DIRECTORY)
    rows = [checker.check(n, cells) for n, cells in read_table(path, COLUMNS, path.name).rows]
    return [r for r in rows if r is not None], [str(p) for p in checker.problems]


def test_valid_rows_are_the_rows_of_the_full_check(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID)
    expected, problems = _oracle(path)
    assert problems == []
    assert parse_snapshot(path, RULEBOOK, DIRECTORY, path.name).rows == expected


def test_invalid_rows_get_the_messages_of_the_full_check(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID + INVALID)
    _rows, problems = _oracle(path)
    assert len(problems) >= len(INVALID)
    with pytest.raises(SnapshotRejected) as info:
        parse_snapshot(path, RULEBOOK, DIRECTORY, path.name)
    assert [str(p) for p in info.value.problems] == problems


def test_columns_in_another_order_give_the_same_rows(tmp_path: Path) -> None:
    straight = _write(tmp_path, VALID)
    columns = HEADER.split(",")
    order = [columns.index(c) for c in reversed(columns)]
    lines = [",".join(line.split(",")[i] for i in order) for line in VALID]
    (tmp_path / "other").mkdir()
    shuffled = _write(tmp_path / "other", lines, ",".join(reversed(columns)))
    assert read_records(shuffled, COLUMNS).rows == read_records(straight, COLUMNS).rows
    assert (
        parse_snapshot(shuffled, RULEBOOK, DIRECTORY).rows
        == parse_snapshot(straight, RULEBOOK, DIRECTORY).rows
    )


def test_short_rows_are_padded_and_empty_extra_cells_ignored(tmp_path: Path) -> None:
    path = _write(
        tmp_path, ["2023-06,so-a,online_payment,1,2", "2023-06,so-b,online_payment,1,2,,,,,", ",,,"]
    )
    records = read_records(path, COLUMNS)
    table = read_table(path, COLUMNS)
    assert [(n, cells) for n, cells in records.rows] == [
        (n, [record[c] for c in COLUMNS]) for n, record in table.rows
    ]
    assert [n for n, _ in records.rows] == [2, 3]
