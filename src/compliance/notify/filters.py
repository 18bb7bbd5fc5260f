"""The Babel filters the email templates use (`[deployment] locale`, default vi_VN): numbers, percentages,
dates and periods as Vietnamese administrative writing has them, and a task's figure and target.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal
from typing import TYPE_CHECKING

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from jinja2 import Environment

if TYPE_CHECKING:
    from compliance.notify.facts import TaskView

__all__ = [
    "install_filters",
    "target_text",
    "value_text",
    "vn_count",
    "vn_date",
    "vn_date_long",
    "vn_int",
    "vn_measure",
    "vn_number",
    "vn_percent",
    "vn_period",
]

_OPS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
_SEVERITY = {"low": "thấp", "medium": "trung bình", "high": "cao", "critical": "rất cao"}
_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
_PERIOD = re.compile(r"^(\d{4})(?:-(\d{2})|-Q([1-4])|-H([12]))?$")


def _dec(value: float | int | Decimal | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


# Babel parses the pattern and looks up the locale on every call (about 0.1 ms); an email lists the
# same figures, targets and dates many times over a run, so each distinct (type, value) is formatted
# once. The type is part of the key: 1, 1.0 and Decimal("1") are equal keys for a plain dict.
_MEMO = 1 << 16


@functools.lru_cache(maxsize=_MEMO)
def _percent(kind: str, value: float | Decimal, locale: str, digits: int) -> str:
    del kind
    return format_percent(_dec(value), "#,##0." + "#" * digits + "%", locale=locale)


@functools.lru_cache(maxsize=_MEMO)
def _decimal(kind: str, value: float | int | Decimal, locale: str, pattern: str) -> str:
    del kind
    return format_decimal(_dec(value), pattern, locale=locale)


@functools.lru_cache(maxsize=_MEMO)
def _date(value: dt.date, pattern: str, locale: str) -> str:
    return format_date(value, pattern, locale=locale)


def vn_percent(value: float | Decimal, locale: str = "vi_VN", digits: int = 2) -> str:
    """0.3125 -> '31,25%'; 0.3 -> '30%' (up to `digits` decimals)."""
    return _percent(type(value).__name__, value, locale, digits)


def vn_number(value: float | int | Decimal, locale: str = "vi_VN", digits: int = 2) -> str:
    """1305 -> '1.305'; 82.58 -> '82,58'."""
    return _decimal(type(value).__name__, value, locale, "#,##0." + "#" * digits)


def vn_int(value: int | float | Decimal, locale: str = "vi_VN") -> str:
    return _decimal(type(value).__name__, value, locale, "#,##0")


def vn_count(value: int) -> str:
    """Counts in subjects and running text: '02 nhiệm vụ' (administrative style pads 1–9)."""
    return f"{value:02d}" if 0 <= value < 10 else vn_int(value)


def vn_date(value: dt.date | None, locale: str = "vi_VN") -> str:
    """05/07/2023."""
    return "" if value is None else _date(value, "dd/MM/yyyy", locale)


def vn_date_long(value: dt.date, locale: str = "vi_VN") -> str:
    """'ngày 05 tháng 7 năm 2023'; days below 10 and months 1–2 take a leading zero (Decree 30/2020)."""
    month = "MM" if value.month <= 2 else "M"
    return _date(value, f"'ngày' dd 'tháng' {month} 'năm' yyyy", locale)


def vn_period(label: str | None) -> str:
    """'2023-06' -> 'tháng 6/2023'; '2023-Q2' -> 'quý II/2023'; '2023-H1' -> '6 tháng đầu năm 2023'."""
    if not label:
        return "—"
    m = _PERIOD.match(label)
    if m is None:
        return label
    year, month, quarter, half = m.groups()
    if month:
        return f"tháng {int(month)}/{year}"
    if quarter:
        return f"quý {_ROMAN[int(quarter)]}/{year}"
    if half:
        return f"6 tháng {'đầu' if half == '1' else 'cuối'} năm {year}"
    return f"năm {year}"


def vn_measure(value: float | str | None, kind: str, locale: str = "vi_VN", digits: int = 2) -> str:
    """A value as its indicator shows it: ratio -> percent, value -> number, milestone -> stage name."""
    if value is None:
        return "chưa có số liệu"
    if kind == "milestone" or isinstance(value, str):
        return f"“{value}”"
    if kind == "ratio":
        return vn_percent(value, locale, digits)
    return vn_number(value, locale, digits)


def value_text(task: TaskView, locale: str) -> str:
    """The figure; with more decimals when two decimals would make a failing value look like its target."""
    text = vn_measure(task.value, task.kind, locale)
    if task.kind in ("ratio", "value") and task.value is not None and task.target is not None:
        if task.value != task.target and text == vn_measure(task.target, task.kind, locale):
            text = vn_measure(task.value, task.kind, locale, digits=6)
    return text


def target_text(task: TaskView, locale: str) -> str:
    if task.target is None:
        return "—"
    if task.kind == "milestone":
        return f"đạt giai đoạn {vn_measure(task.target, task.kind, locale)}"
    symbol = _OPS.get(task.op or "", task.op or "")
    return f"{symbol} {vn_measure(task.target, task.kind, locale)}".strip()


def install_filters(env: Environment, locale: str) -> None:
    """The `vn_*` filters, bound to the deployment's locale."""
    env.filters.update(
        vn_percent=lambda v, digits=2: vn_percent(v, locale, digits),
        vn_number=lambda v, digits=2: vn_number(v, locale, digits),
        vn_int=lambda v: vn_int(v, locale),
        vn_count=vn_count,
        vn_date=lambda v: vn_date(v, locale),
        vn_date_long=lambda v: vn_date_long(v, locale),
        vn_period=vn_period,
        vn_measure=lambda v, kind: vn_measure(v, kind, locale),
        vn_value=lambda t: value_text(t, locale),
        vn_target=lambda t: target_text(t, locale),
        vn_severity=lambda s: _SEVERITY.get(s, s),
    )
