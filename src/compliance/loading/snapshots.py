"""Snapshot files (CSV/XLSX, SPEC §3.4) into SnapshotRows; every bad row named, or the file is refused.

A file is accepted whole or not at all, so this collects every problem of every row before raising.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from compliance.errors import InputError, Problem, SourceLocation
from compliance.gcpause import no_cyclic_gc
from compliance.loading.suggest import did_you_mean
from compliance.loading.tabular import read_records
from compliance.model.agency import AgencyDirectory
from compliance.model.period import Period, parse_period
from compliance.model.rules import Indicator, Rulebook
from compliance.model.snapshot import SnapshotRow

__all__ = ["COLUMNS", "MAX_COUNT", "ParsedSnapshot", "SnapshotRejected", "parse_snapshot"]

COLUMNS = ("period", "agency", "indicator", "numerator", "denominator", "value", "status", "as_of")
# One engine compares ratios as doubles (durable-rules' JSON numbers). Counts up to 10^9 keep that exact:
# for n, d <= 10^9 two different fractions differ by at least 1/(d1*d2) >= 10^-18 relative to values
# <= 1, far above the double's rounding, so the double comparison agrees with the exact one.
MAX_COUNT = 1_000_000_000

_WHOLE = re.compile(r"^-?\d+$")
_GROUPED = re.compile(r"^\d{1,3}([.,]\d{3})+$")  # 1.305 or 1,305: a thousands separator
_FRACTION = re.compile(r"^-?\d+[.,]\d+$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_COMMA_NUMBER = re.compile(r"^-?\d+,\d+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EXAMPLE = {"month": "2023-06", "quarter": "2023-Q2", "half": "2023-H1", "year": "2023"}
_WORD = {"month": "month", "quarter": "quarter", "half": "half-year", "year": "year"}


@dataclass(frozen=True)
class ParsedSnapshot:
    """A valid snapshot file: its display name, the sha256 of its bytes, its rows in file order, and the
    spreadsheet row number of each (stored, so a figure can be traced back to its line)."""

    name: str
    sha256: str
    rows: list[SnapshotRow]
    row_numbers: list[int] = field(default_factory=list)

    @property
    def periods(self) -> list[str]:
        return sorted({r.period.label for r in self.rows})

    @property
    def indicators(self) -> list[str]:
        return sorted({r.indicator for r in self.rows})


@dataclass
class SnapshotRejected(InputError):
    """The file has problems (all listed); `sha256` is None when the file could not be read at all."""

    name: str = ""
    sha256: str | None = None


def parse_snapshot(
    path: Path, rulebook: Rulebook, directory: AgencyDirectory, display: str | None = None
) -> ParsedSnapshot:
    """Read and check a snapshot file; raise SnapshotRejected listing every problem."""
    with no_cyclic_gc():  # about a million small objects, no cycles
        return _parse(path, rulebook, directory, display or str(path))


def _parse(path: Path, rulebook: Rulebook, directory: AgencyDirectory, name: str) -> ParsedSnapshot:
    try:
        table = read_records(path, COLUMNS, display=name)
    except InputError as exc:
        try:
            sha: str | None = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            sha = None
        raise SnapshotRejected(exc.problems, name=name, sha256=sha) from exc
    sha256 = hashlib.sha256(table.raw).hexdigest()
    checker = _RowChecker(name, rulebook, directory)
    fast = _FastRows(checker)
    rows: list[SnapshotRow] = []
    numbers: list[int] = []
    for number, cells in table.rows:
        row = fast.check(number, cells)
        if row is None:  # not plainly valid: the full check says what is wrong, or accepts it after all
            row = checker.check(number, dict(zip(COLUMNS, cells, strict=True)))
        if row is not None:
            rows.append(row)
            numbers.append(number)
    if not table.rows:
        checker.problems.append(Problem(SourceLocation(name), "", "the file has no rows below the header"))
    if checker.problems:
        raise SnapshotRejected(checker.problems, name=name, sha256=sha256)
    return ParsedSnapshot(name, sha256, rows, numbers)


class _FastRows:
    """The common case, checked fast: a row that is plainly valid becomes its SnapshotRow here, with the
    same values `_RowChecker.check` would give; anything else (None) goes to the full check, which alone
    writes problems. Per-row work is a few dict lookups: the (period, indicator) pairs, numbers and dates
    of a file repeat, so each distinct text is parsed once."""

    def __init__(self, checker: _RowChecker) -> None:
        self.checker = checker
        # Bound once: per row, an attribute chain or a method call (`in directory`) costs as much as a check.
        self.agencies = checker.directory.agencies
        self.seen = checker._seen  # shared: a duplicate of a fast row is found by the full check too
        self.pairs: dict[tuple[str, str], tuple[Indicator, Period] | None] = {}
        self.values: dict[str, Decimal | None] = {}
        self.days: dict[str, dt.date | None] = {}

    def _pair(self, period_text: str, indicator_id: str) -> tuple[Indicator, Period] | None:
        indicator = self.checker.rulebook.indicators.get(indicator_id)
        if indicator is None or not period_text:
            return None
        period = self.checker._period(period_text)
        if isinstance(period, str) or period.frequency != indicator.frequency:
            return None
        return indicator, period

    def _value(self, text: str) -> Decimal | None:
        return Decimal(text) if _NUMBER.match(text) else None

    def _day(self, text: str) -> dt.date | None:
        if not _DATE.match(text):
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return None

    def check(self, n: int, cells: list[str]) -> SnapshotRow | None:
        period_text, agency, indicator_id, num, den, value_text, status, as_of_text = cells
        key = (period_text, indicator_id)
        try:
            pair = self.pairs[key]
        except KeyError:
            pair = self.pairs[key] = self._pair(period_text, indicator_id)
        if pair is None or not agency or agency not in self.agencies:
            return None
        indicator, period = pair
        numerator = denominator = None
        value: Decimal | None = None
        kind = indicator.kind
        if kind == "ratio":
            # isdecimal() is the class of `\d` in _WHOLE: no sign, no separator, not empty.
            if value_text or status or not num.isdecimal() or not den.isdecimal():
                return None
            numerator, denominator = int(num), int(den)
            if numerator > denominator or denominator > MAX_COUNT:
                return None
        elif kind == "value":
            if num or den or status or not value_text:
                return None
            try:
                value = self.values[value_text]
            except KeyError:
                value = self.values[value_text] = self._value(value_text)
            if value is None:
                return None
        else:
            if num or den or value_text or not status or status not in indicator.stages:
                return None
        if as_of_text:
            try:
                as_of = self.days[as_of_text]
            except KeyError:
                as_of = self.days[as_of_text] = self._day(as_of_text)
            if as_of is None or as_of < period.start_on:
                return None
        else:
            as_of = period.end_on
        seen = self.seen
        row_key = (agency, indicator_id, period.label, as_of)
        if row_key in seen:
            return None
        seen[row_key] = n
        return SnapshotRow(
            agency,
            indicator_id,
            period,
            as_of,
            numerator,
            denominator,
            value,
            status if kind == "milestone" else None,
        )


@dataclass
class _RowChecker:
    name: str
    rulebook: Rulebook
    directory: AgencyDirectory
    problems: list[Problem] = field(default_factory=list)
    _seen: dict[tuple[str, str, str, dt.date], int] = field(default_factory=dict)
    _periods: dict[str, Period | str] = field(default_factory=dict)

    def _add(self, row: int, column: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(SourceLocation(self.name, row=row), column, message, hint))

    def _period(self, text: str) -> Period | str:
        """The Period, or the error message (cached: a file holds few distinct labels)."""
        cached = self._periods.get(text)
        if cached is None:
            try:
                cached = parse_period(text)
            except ValueError as exc:
                cached = str(exc)
            self._periods[text] = cached
        return cached

    def check(self, n: int, c: dict[str, str]) -> SnapshotRow | None:
        before = len(self.problems)
        agency = c["agency"]
        if not agency:
            self._add(n, "agency", "required")
        elif agency not in self.directory:
            self._add(
                n, "agency", f"unknown agency '{agency}'", did_you_mean(agency, self.directory.agencies)
            )
        indicator_id = c["indicator"]
        indicator: Indicator | None = None
        if not indicator_id:
            self._add(n, "indicator", "required")
        else:
            indicator = self.rulebook.indicators.get(indicator_id)
            if indicator is None:
                self._add(
                    n,
                    "indicator",
                    f"unknown indicator '{indicator_id}'",
                    did_you_mean(indicator_id, self.rulebook.indicators),
                )
        period: Period | None = None
        if not c["period"]:
            self._add(n, "period", "required")
        else:
            parsed = self._period(c["period"])
            if isinstance(parsed, str):
                self._add(n, "period", parsed)
            elif indicator is not None and parsed.frequency != indicator.frequency:
                self._add(
                    n,
                    "period",
                    f"'{c['period']}' is a {_WORD[parsed.frequency]} but indicator '{indicator.id}' is reported "
                    f"by {_WORD[indicator.frequency]} (e.g. {_EXAMPLE[indicator.frequency]})",
                )
            else:
                period = parsed
        numerator = denominator = None
        value: Decimal | None = None
        status: str | None = None
        if indicator is not None:
            if indicator.kind == "ratio":
                numerator = self._count(n, "numerator", c["numerator"])
                denominator = self._count(n, "denominator", c["denominator"])
                if numerator is not None and denominator is not None and numerator > denominator:
                    self._add(
                        n, "numerator", f"numerator {numerator} is greater than denominator {denominator}"
                    )
                self._empty(n, c, ("value", "status"), "a ratio indicator (it has numerator and denominator)")
            elif indicator.kind == "value":
                value = self._value(n, c["value"])
                self._empty(n, c, ("numerator", "denominator", "status"), "a value indicator (it has value)")
            else:
                status = self._status(n, c["status"], indicator)
                self._empty(
                    n, c, ("numerator", "denominator", "value"), "a milestone indicator (it has status)"
                )
        as_of = self._as_of(n, c["as_of"], period)
        if len(self.problems) > before or period is None or indicator is None or as_of is None:
            return None
        key = (agency, indicator_id, period.label, as_of)
        first = self._seen.get(key)
        if first is not None:
            self._add(n, "", f"duplicate of row {first}: the same period, agency, indicator and as_of")
            return None
        self._seen[key] = n
        return SnapshotRow(agency, indicator_id, period, as_of, numerator, denominator, value, status)

    def _count(self, n: int, column: str, text: str) -> int | None:
        if not text:
            self._add(n, column, "required for a ratio indicator")
            return None
        if _WHOLE.match(text):
            number = int(text)
            if number < 0:
                self._add(n, column, f"'{text}' is negative; a count is 0 or more")
                return None
            if number > MAX_COUNT:
                self._add(n, column, f"{number} is more than {MAX_COUNT}, the largest count accepted")
                return None
            return number
        if _GROUPED.match(text) or _FRACTION.match(text):
            digits = re.sub(r"[.,]", "", text)
            hint = f"if it means {digits}, write {digits}" if _GROUPED.match(text) else None
            self._add(
                n,
                column,
                f"'{text}' is not a whole number: a count has no decimal point, decimal comma or thousands separator",
                hint,
            )
            return None
        self._add(n, column, f"'{text}' is not a whole number")
        return None

    def _value(self, n: int, text: str) -> Decimal | None:
        if not text:
            self._add(n, "value", "required for a value indicator")
            return None
        if _NUMBER.match(text):
            return Decimal(text)
        if _COMMA_NUMBER.match(text):
            self._add(
                n,
                "value",
                f"'{text}' has a decimal comma",
                f"write it with a decimal point: {text.replace(',', '.')}",
            )
            return None
        self._add(n, "value", f"'{text}' is not a number (e.g. 82.58)")
        return None

    def _status(self, n: int, text: str, indicator: Indicator) -> str | None:
        stages = ", ".join(indicator.stages)
        if not text:
            self._add(n, "status", f"required for a milestone indicator: one of {stages}")
            return None
        if text not in indicator.stages:
            self._add(
                n,
                "status",
                f"'{text}' is not a stage of indicator '{indicator.id}' ({stages})",
                did_you_mean(text, indicator.stages),
            )
            return None
        return text

    def _empty(self, n: int, c: dict[str, str], columns: tuple[str, ...], what: str) -> None:
        for column in columns:
            if c[column]:
                self._add(n, column, f"must be empty for {what}")

    def _as_of(self, n: int, text: str, period: Period | None) -> dt.date | None:
        if not text:
            return period.end_on if period is not None else None
        day: dt.date | None = None
        if _DATE.match(text):
            try:
                day = dt.date.fromisoformat(text)
            except ValueError:
                day = None
        if day is None:
            self._add(n, "as_of", f"'{text}' is not a date: write it as YYYY-MM-DD (e.g. 2023-07-05)")
            return None
        if period is not None and day < period.start_on:
            self._add(
                n,
                "as_of",
                f"{text} is before the period {period.label} begins ({period.start_on.isoformat()})",
            )
            return None
        return day
