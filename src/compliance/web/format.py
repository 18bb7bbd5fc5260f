"""Vietnamese words and vi_VN formats for what the pages show (31,25%; 1.305; 05/07/2023), and dates
read back as Vietnamese users type them."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal, format_percent

__all__ = [
    "AUDIT_KIND_LABELS",
    "OUTCOME_LABELS",
    "OUTCOMES",
    "ROLE_LABELS",
    "TASK_STATUS_LABELS",
    "fmt_date",
    "fmt_instant",
    "fmt_number",
    "fmt_percent",
    "fmt_period",
    "fmt_target",
    "fmt_value",
    "parse_date",
]

LOCALE = "vi_VN"

OUTCOMES = ("fail", "pass", "insufficient", "no_data", "stale", "not_applicable")
OUTCOME_LABELS = {
    "pass": "Đạt",
    "fail": "Không đạt",
    "insufficient": "Chưa đủ số liệu để đánh giá",
    "no_data": "Chưa có số liệu",
    "stale": "Số liệu chưa được cập nhật",
    "not_applicable": "Không áp dụng",
}
TASK_STATUS_LABELS = {
    "open": "Chưa xác nhận tiếp nhận",
    "acknowledged": "Đã xác nhận tiếp nhận",
    "resolved": "Đã đạt chỉ tiêu, nhiệm vụ tự động hoàn thành",
    "waived": "Tạm miễn áp dụng",
}
ROLE_LABELS = {
    "office": "Cán bộ Văn phòng",
    "auditor": "Cán bộ kiểm tra",
    "head": "Người đứng đầu cơ quan, đơn vị",
}
AUDIT_KIND_LABELS = {
    "rules-loaded": "Nạp quy tắc đánh giá",
    "rules-rejected": "Quy tắc đánh giá bị từ chối",
    "snapshot-ingested": "Tiếp nhận số liệu kỳ báo cáo",
    "snapshot-rejected": "Từ chối tệp số liệu",
    "evaluation-run": "Lượt đánh giá",
    "evaluation": "Kết quả đánh giá",
    "task-opened": "Giao nhiệm vụ",
    "task-updated": "Cập nhật nhiệm vụ",
    "task-resolved": "Nhiệm vụ tự động hoàn thành",
    "task-acknowledged": "Xác nhận đã tiếp nhận",
    "task-waived": "Tạm miễn áp dụng",
    "task-escalated": "Báo cáo cấp trên",
    "waiver-added": "Thêm tạm miễn áp dụng",
    "notification-sent": "Đã gửi thư",
    "notification-failed": "Gửi thư không thành công",
}
_OPS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}


def _decimal(value: float | int | str | Decimal) -> Decimal | None:
    # Through str(): a float's shortest repr, so 0.3125 stays 0.3125 and never 0.31249999…
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def fmt_number(value: float | int | str | Decimal | None, digits: int = 2) -> str:
    if value is None:
        return ""
    d = _decimal(value)
    if d is None:
        return str(value)
    return format_decimal(d, "#,##0." + "#" * digits if digits else "#,##0", locale=LOCALE)


def fmt_percent(value: float | int | str | Decimal | None, digits: int = 2) -> str:
    """A fraction as a percentage: 0.3125 -> 31,25%."""
    if value is None:
        return ""
    d = _decimal(value)
    if d is None:
        return str(value)
    return format_percent(d, "#,##0." + "#" * digits + "%" if digits else "#,##0%", locale=LOCALE)


def fmt_value(value: float | int | str | None, kind: str | None) -> str:
    """A stored figure as its indicator shows it: ratios in %, values as numbers, stages by name."""
    if value is None:
        return "—"
    if isinstance(value, str) and _decimal(value) is None:
        return value  # a milestone stage
    if kind == "ratio":
        return fmt_percent(value)
    return fmt_number(value)


def fmt_target(value: float | int | str | None, kind: str | None, op: str | None = None) -> str:
    if value is None:
        return "—"
    shown = fmt_value(value, kind)
    return f"{_OPS.get(op, op)} {shown}" if op else shown


def fmt_date(value: dt.date | str | None) -> str:
    if value is None or value == "":
        return "—"
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


def fmt_instant(value: str | dt.datetime | None, tz: ZoneInfo) -> str:
    """A stored UTC instant as local date and time: 05/07/2023 07:30."""
    if value is None or value == "":
        return "—"
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(tz)
    return f"{fmt_date(local.date())} {local.hour:02d}:{local.minute:02d}"


def fmt_period(label: str | None) -> str:
    """2023-06 -> Tháng 6/2023; 2023-Q2 -> Quý 2/2023; 2023-H1 -> 6 tháng đầu năm 2023; 2023 -> Năm 2023."""
    if not label:
        return "—"
    if len(label) == 4 and label.isdigit():
        return f"Năm {label}"
    year, _, rest = label.partition("-")
    if rest.startswith("Q"):
        return f"Quý {rest[1:]}/{year}"
    if rest == "H1":
        return f"6 tháng đầu năm {year}"
    if rest == "H2":
        return f"6 tháng cuối năm {year}"
    if rest.isdigit():
        return f"Tháng {int(rest)}/{year}"
    return label


_DMY = re.compile(r"(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d+)")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def parse_date(text: str, *, example: str = "31/12/2025") -> tuple[dt.date | None, str | None]:
    """A date as typed: 31/12/2023 (also 31-12-2023, 31.12.2023, 1/2/2024) or ISO 2023-12-31.

    Returns (date, None), or (None, a Vietnamese message saying what is wrong, showing `example`) for
    text that is not a date; the empty text is for the caller to refuse. Two-digit years are refused
    rather than guessed.
    """
    raw = text.strip()
    iso = _ISO.fullmatch(raw)
    dmy = None if iso else _DMY.fullmatch(raw)
    if iso:
        year, month, day = (int(g) for g in iso.groups())
    elif dmy:
        day, month, year = (int(g) for g in dmy.groups())
        if len(dmy.group(3)) != 4:
            return None, f"“{raw}”: vui lòng ghi năm đủ 4 chữ số, ví dụ {example}."
    else:
        return (
            None,
            f"“{raw}” không phải là ngày hợp lệ: vui lòng nhập theo dạng ngày/tháng/năm, ví dụ {example}.",
        )
    try:
        return dt.date(year, month, day), None
    except ValueError:
        return (
            None,
            f"Không có ngày {day:02d}/{month:02d}/{year:04d} trong lịch: vui lòng kiểm tra lại ngày, tháng.",
        )
