"""vi_VN formats on the pages (31,25%; 1.305; 05/07/2023), dates as users type them, and the SVG chart."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from compliance.web.charts import ChartPoint, line_chart
from compliance.web.format import (
    fmt_date,
    fmt_instant,
    fmt_number,
    fmt_percent,
    fmt_period,
    fmt_target,
    fmt_value,
    parse_date,
)


@pytest.mark.parametrize(
    ("value", "kind", "shown"),
    [
        (0.3125, "ratio", "31,25%"),
        (0.3, "ratio", "30%"),
        (1, "ratio", "100%"),
        (0.123456, "ratio", "12,35%"),
        (1305, "value", "1.305"),
        (82.58, "value", "82,58"),
        ("connected", "milestone", "connected"),
        (None, "ratio", "—"),
    ],
)
def test_values(value: float | str | None, kind: str, shown: str) -> None:
    assert fmt_value(value, kind) == shown


def test_numbers_dates_and_periods() -> None:
    assert fmt_number(1234567.5) == "1.234.567,5"
    assert fmt_percent("0.5") == "50%"
    assert fmt_target(0.3, "ratio", ">=") == "≥ 30%"
    assert fmt_target(80, "value", "<") == "< 80"
    assert fmt_date(dt.date(2023, 7, 5)) == "05/07/2023"
    assert fmt_date("2023-12-31") == "31/12/2023"
    assert fmt_instant("2023-07-04T17:30:00Z", ZoneInfo("Asia/Ho_Chi_Minh")) == "05/07/2023 00:30"
    assert [fmt_period(p) for p in ("2023-06", "2023-Q2", "2023-H1", "2023-H2", "2023", None)] == [
        "Tháng 6/2023",
        "Quý 2/2023",
        "6 tháng đầu năm 2023",
        "6 tháng cuối năm 2023",
        "Năm 2023",
        "—",
    ]


@pytest.mark.parametrize(
    "typed",
    ["31/12/2023", "31-12-2023", "31.12.2023", " 31 / 12 / 2023 ", "2023-12-31", "2023-12-31 "],
)
def test_dates_as_typed(typed: str) -> None:
    assert parse_date(typed) == (dt.date(2023, 12, 31), None)


def test_short_dates_and_refusals() -> None:
    assert parse_date("1/2/2024") == (dt.date(2024, 2, 1), None)  # day first, as in Vietnam
    assert parse_date("2024-2-1") == (dt.date(2024, 2, 1), None)
    refused = {
        "31/12/23": "“31/12/23”: vui lòng ghi năm đủ 4 chữ số, ví dụ 31/12/2025.",
        "29/02/2023": "Không có ngày 29/02/2023 trong lịch: vui lòng kiểm tra lại ngày, tháng.",
        "12/31/2023": "Không có ngày 12/31/2023 trong lịch: vui lòng kiểm tra lại ngày, tháng.",
        "31122023": "“31122023” không phải là ngày hợp lệ: vui lòng nhập theo dạng ngày/tháng/năm, "
        "ví dụ 31/12/2025.",
        "2023/12/31": "“2023/12/31” không phải là ngày hợp lệ: vui lòng nhập theo dạng ngày/tháng/năm, "
        "ví dụ 31/12/2025.",
    }
    for typed, message in refused.items():
        assert parse_date(typed) == (None, message), typed
    assert parse_date("29/02/2024") == (dt.date(2024, 2, 29), None)


def test_chart_marks_each_period_and_escapes_text() -> None:
    svg = str(
        line_chart(
            [
                ChartPoint("2023-05", 0.25, 0.3, False, "25%", "30%"),
                ChartPoint("2023-06", None, 0.3),
                ChartPoint("2023-07", 0.35, 0.3, True, "35%", "30%"),
            ],
            title="<Tỷ lệ> & chỉ tiêu",
        )
    )
    assert svg.startswith(
        '<svg class="chart" viewBox="0 0 320 120" role="img" aria-label="&lt;Tỷ lệ&gt; &amp; chỉ tiêu"'
    )
    assert svg.count("<circle") == 2  # no dot for the period without a figure
    assert 'fill="#c53030"' in svg and 'fill="#2f855a"' in svg
    assert "<polyline" not in svg  # a gap breaks the line: no segment has two points
    assert svg.count('stroke-dasharray="4 3"') == 3
