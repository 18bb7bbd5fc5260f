"""Snapshot rows: one reported figure for (agency, indicator, period), as taken on `as_of`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from compliance.model.period import Period

__all__ = ["SnapshotRow"]


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """`row_id` orders ingestion (a later file wins an `as_of` tie); 0 for rows not stored yet."""

    agency: str
    indicator: str
    period: Period
    as_of: dt.date
    numerator: int | None = None
    denominator: int | None = None
    value: Decimal | None = None
    status: str | None = None
    row_id: int = 0
