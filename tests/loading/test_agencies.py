"""The agency directory from CSV and XLSX: parsed fields, and every problem collected with its row."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook

from compliance.errors import InputError
from compliance.loading.agencies import load_agencies, read_agencies
from tests.support.deployment import AGENCIES_CSV, AGENCY_HEADER


def test_csv_with_bom_is_read_with_lists_and_dates(tmp_path: Path) -> None:
    path = tmp_path / "agencies.csv"
    path.write_bytes(b"\xef\xbb\xbf" + AGENCIES_CSV.encode("utf-8"))
    directory = load_agencies(path)
    assert len(directory) == 7
    so_a = directory["so-a"]
    assert (so_a.name, so_a.level, so_a.parent) == ("Sở A", "department", "tinh")
    assert so_a.cc == ("vanthu.soa@example.gov.vn",)
    assert so_a.tags == ("cds", "mot-cua")
    assert directory["tinh"].parent is None
    assert directory["xa-x3"].active_until == dt.date(2023, 3, 31)
    assert directory.descendants("huyen-x") == ("xa-x1", "xa-x2", "xa-x3")


def test_xlsx_with_date_cells(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(AGENCY_HEADER.split(","))
    ws.append(
        ["tinh", "UBND tỉnh", "province", None, "A", "Chủ tịch", "a@example.gov.vn", None, None, None, None]
    )
    ws.append(
        [
            "xa-1",
            "Xã 1",
            "commune",
            "tinh",
            "B",
            "Chủ tịch",
            "b@example.gov.vn",
            "c@example.gov.vn; d@example.gov.vn",
            "cds",
            dt.datetime(2025, 7, 1),
            None,
        ]
    )
    path = tmp_path / "agencies.xlsx"
    wb.save(path)
    directory = load_agencies(path)
    assert directory["xa-1"].active_from == dt.date(2025, 7, 1)
    assert directory["xa-1"].cc == ("c@example.gov.vn", "d@example.gov.vn")
    assert not directory["xa-1"].active_on(dt.date(2025, 6, 30))


def test_all_problems_are_collected_in_row_order(tmp_path: Path) -> None:
    path = tmp_path / "agencies.csv"
    path.write_text(
        AGENCY_HEADER
        + "\na,A,province,c,H,T,a@example.gov.vn,,,,\n"
        + "b,B,department,a,H,T,not-an-email,,,,\n"
        + "c,C,department,b,H,T,c@example.gov.vn,,,2024-01-01,2023-01-01\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        load_agencies(path, "agencies.csv")
    assert str(info.value) == (
        "agencies.csv:2: parent: cycle in parent: a → c → b → a\n"
        "agencies.csv:3: head_email: 'not-an-email' is not a valid email address: "
        "An email address must have an @-sign.\n"
        "agencies.csv:4: active_until: 2023-01-01 is before active_from 2024-01-01"
    )


def test_read_agencies_keeps_rows_that_can_be_referred_to(tmp_path: Path) -> None:
    path = tmp_path / "agencies.csv"
    path.write_text(
        AGENCY_HEADER + "\na,A,province,,H,T,bad,,,,\nB,B,department,a,H,T,b@example.gov.vn,,,,\n",
        encoding="utf-8",
    )
    directory, problems = read_agencies(path)
    assert list(directory.agencies) == ["a"]
    assert [p.key for p in problems] == ["head_email", "id"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_agencies(tmp_path / "none.csv", "none.csv")
    assert str(info.value) == "none.csv: agency directory not found (see [paths] agencies in config.toml)"
