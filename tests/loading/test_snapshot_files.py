"""Snapshot files (CSV/XLSX) into rows: what a valid file gives, and every bad row named exactly."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from compliance.loading.snapshots import SnapshotRejected, parse_snapshot
from compliance.model.period import parse_period
from compliance.model.snapshot import SnapshotRow
from tests.storage.snapshot_data import DIRECTORY, HEADER, RULEBOOK, write_csv

VALID = """2023-06,so-a,online_payment,1305,2900,,,
2023-06,so-a,online_payment,1310,2900,,,2023-07-10
2023-Q2,so-b,full_online,0,0,,,2023-04-01
2022,so-a,par_index,,,82.58,,

2023-06,so-a,db_land,,,,built,2023-06-15
"""

EXPECTED = [
    SnapshotRow("so-a", "online_payment", parse_period("2023-06"), dt.date(2023, 6, 30), 1305, 2900),
    SnapshotRow("so-a", "online_payment", parse_period("2023-06"), dt.date(2023, 7, 10), 1310, 2900),
    SnapshotRow("so-b", "full_online", parse_period("2023-Q2"), dt.date(2023, 4, 1), 0, 0),
    SnapshotRow("so-a", "par_index", parse_period("2022"), dt.date(2022, 12, 31), value=Decimal("82.58")),
    SnapshotRow("so-a", "db_land", parse_period("2023-06"), dt.date(2023, 6, 15), status="built"),
]


def _parse(path: Path) -> object:
    return parse_snapshot(path, RULEBOOK, DIRECTORY, path.name)


def test_a_valid_csv_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "june.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "\n" + VALID).encode("utf-8"))
    parsed = parse_snapshot(path, RULEBOOK, DIRECTORY, "inbox/june.csv")
    assert parsed.name == "inbox/june.csv"
    assert parsed.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert parsed.rows == EXPECTED
    assert parsed.row_numbers == [2, 3, 4, 5, 7]  # the blank line 6 is skipped, numbering is kept
    assert parsed.periods == ["2022", "2023-06", "2023-Q2"]
    assert parsed.indicators == ["db_land", "full_online", "online_payment", "par_index"]


def test_a_valid_xlsx_with_number_and_date_cells(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(HEADER.split(","))
    ws.append(["2023-06", "so-a", "online_payment", 1305, 2900, None, None, None])
    ws.append(["2023-06", "so-a", "online_payment", 1310.0, 2900, None, None, dt.datetime(2023, 7, 10)])
    ws.append(["2023-Q2", "so-b", "full_online", 0, 0, None, None, dt.date(2023, 4, 1)])
    ws.append(["2022", "so-a", "par_index", None, None, 82.58, None, None])
    ws.append(["2023-06", "so-a", "db_land", None, None, None, "built", "2023-06-15"])
    path = tmp_path / "june.xlsx"
    wb.save(path)
    parsed = parse_snapshot(path, RULEBOOK, DIRECTORY)
    assert parsed.name == str(path)
    assert parsed.rows == EXPECTED
    assert parsed.row_numbers == [2, 3, 4, 5, 6]


BAD = """2023-06,so-c,online_payment,1,2,,,
2023-Q2,so-b,online_payment,1.305,2,,,
2023-06,so-a,online_paymnt,1,2,,,
2023-13,so-a,online_payment,1,2,,,
2023-06,so-a,online_payment,"12,5",-3,,,
2023-06,so-a,online_payment,7,5,,,
2023-06,so-a,online_payment,1,1000000001,,,
2023-06,so-a,online_payment,,,,,
2023-06,so-a,online_payment,1,2,0.5,built,
2022,so-a,par_index,,,"82,58",,
2022,so-a,par_index,,,,,
2022,so-a,par_index,3,,8x,built,
2023-06,so-a,db_land,,,,bulit,
2023-06,so-a,db_land,,,,,
2023-06,so-a,online_payment,1,2,,,30/06/2023
2023-06,so-a,online_payment,1,2,,,2023-05-31
2023-06,so-b,online_payment,1,2,,,2023-07-01
2023-06,so-b,online_payment,2,2,,,2023-07-01
,,,,,,,
2023-06,,,1,2,,,
"""

BAD_MESSAGES = """bad.csv:2: agency: unknown agency 'so-c'
  hint: did you mean 'so-b'?
bad.csv:3: period: '2023-Q2' is a quarter but indicator 'online_payment' is reported by month (e.g. 2023-06)
bad.csv:3: numerator: '1.305' is not a whole number: a count has no decimal point, decimal comma or thousands separator
  hint: if it means 1305, write 1305
bad.csv:4: indicator: unknown indicator 'online_paymnt'
  hint: did you mean 'online_payment'?
bad.csv:5: period: '2023-13' is not a period: use 2023-06 (month), 2023-Q2, 2023-H1 or 2023
bad.csv:6: numerator: '12,5' is not a whole number: a count has no decimal point, decimal comma or thousands separator
bad.csv:6: denominator: '-3' is negative; a count is 0 or more
bad.csv:7: numerator: numerator 7 is greater than denominator 5
bad.csv:8: denominator: 1000000001 is more than 1000000000, the largest count accepted
bad.csv:9: numerator: required for a ratio indicator
bad.csv:9: denominator: required for a ratio indicator
bad.csv:10: value: must be empty for a ratio indicator (it has numerator and denominator)
bad.csv:10: status: must be empty for a ratio indicator (it has numerator and denominator)
bad.csv:11: value: '82,58' has a decimal comma
  hint: write it with a decimal point: 82.58
bad.csv:12: value: required for a value indicator
bad.csv:13: value: '8x' is not a number (e.g. 82.58)
bad.csv:13: numerator: must be empty for a value indicator (it has value)
bad.csv:13: status: must be empty for a value indicator (it has value)
bad.csv:14: status: 'bulit' is not a stage of indicator 'db_land' (planned, built, connected, shared)
  hint: did you mean 'built'?
bad.csv:15: status: required for a milestone indicator: one of planned, built, connected, shared
bad.csv:16: as_of: '30/06/2023' is not a date: write it as YYYY-MM-DD (e.g. 2023-07-05)
bad.csv:17: as_of: 2023-05-31 is before the period 2023-06 begins (2023-06-01)
bad.csv:19: duplicate of row 18: the same period, agency, indicator and as_of
bad.csv:21: agency: required
bad.csv:21: indicator: required"""


def test_every_bad_row_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "bad.csv", BAD)
    with pytest.raises(SnapshotRejected) as caught:
        _parse(path)
    assert str(caught.value) == BAD_MESSAGES
    assert caught.value.name == "bad.csv"
    assert caught.value.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_one_bad_row_rejects_the_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "one.csv", VALID + "2023-06,so-a,online_payment,5,4,,,2023-08-01\n")
    with pytest.raises(SnapshotRejected) as caught:
        _parse(path)
    assert str(caught.value) == "one.csv:8: numerator: numerator 5 is greater than denominator 4"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "period,agency,indicator,numerator,denominator,value,as_of\n",
            "x.csv:1: status: missing column; the header must be: "
            "period,agency,indicator,numerator,denominator,value,status,as_of",
        ),
        (HEADER + "\n", "x.csv: the file has no rows below the header"),
    ],
)
def test_file_level_problems(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SnapshotRejected) as caught:
        _parse(path)
    assert str(caught.value) == message
    assert caught.value.sha256 == hashlib.sha256(content.encode()).hexdigest()


def test_an_unreadable_file_has_no_sha256(tmp_path: Path) -> None:
    with pytest.raises(SnapshotRejected) as caught:
        _parse(tmp_path / "missing.csv")
    assert str(caught.value) == "missing.csv: cannot read the file: No such file or directory"
    assert caught.value.sha256 is None
