"""The figures an evaluation looks at: effective rows per (indicator, agency) and period, and rollup sums.

Shared by both backends. Pure: rows come in, dictionaries keyed by period end date come out.

The rows may come as a plain iterable (everything at once) or as a `RowWindow`: the recent periods of
every indicator up front, and the older periods of chosen (indicator, agency) series on request. Most
evaluations look at the latest period only; a failing streak or a series without recent figures asks
for the rest of its history (`SeriesIndex.complete`). Both ways give the same series for every key the
engine asks about, so the evaluations are identical.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from compliance.model.agency import AgencyDirectory
from compliance.model.period import Period
from compliance.model.rules import Indicator
from compliance.model.snapshot import SnapshotRow

__all__ = ["Key", "Point", "RolledPoint", "RowWindow", "Series", "SeriesIndex"]

Key = tuple[str, str]  # (indicator, agency)


@runtime_checkable
class RowWindow(Protocol):
    """Rows given in two parts: iterating yields every row of indicator i whose period ends on or after
    `cutoff(i)`; `older(keys)` yields the rows of those (indicator, agency) series that end before it.

    Either part may contain superseded revisions and rows with as_of after D: the index keeps, for each
    period, the row with the greatest as_of <= D (a tie: the greater row_id), as it does for plain rows.
    """

    def __iter__(self) -> Iterator[SnapshotRow]: ...

    def cutoff(self, indicator: str) -> dt.date: ...

    def older(self, keys: Collection[Key]) -> Iterable[SnapshotRow]: ...


class RolledPoint:
    """A period of a rollup: numerator and denominator summed over a unit and its descendants."""

    __slots__ = ("denominator", "numerator", "period")

    value: Decimal | None = None
    status: str | None = None

    def __init__(self, period: Period, numerator: int, denominator: int) -> None:
        self.period = period
        self.numerator = numerator
        self.denominator = denominator


Point = SnapshotRow | RolledPoint
Series = Mapping[dt.date, Point]  # period end -> the figure of that period
_NO_ROWS: dict[dt.date, SnapshotRow] = {}
_NO_SUMS: dict[dt.date, list[Any]] = {}


class SeriesIndex:
    """Effective rows at D per (indicator, agency), keyed by period end; rollups computed on demand."""

    def __init__(
        self,
        indicators: Mapping[str, Indicator],
        directory: AgencyDirectory,
        rows: Iterable[SnapshotRow],
        on: dt.date,
    ) -> None:
        self._directory = directory
        self._on = on
        self._series: dict[Key, dict[dt.date, SnapshotRow]] = {}
        self._rolled: dict[str, dict[str, dict[dt.date, list[Any]]]] = {}
        self._rolled_points: dict[Key, dict[dt.date, RolledPoint]] = {}
        # Caches by the identity of a series mapping; emptied whenever series change (complete()), so an
        # id can never outlive the mapping it was taken from.
        self._sorted: dict[int, list[dt.date]] = {}
        self._latest: dict[int, Point] = {}
        self._wanted = {i.id: (i.frequency, i.kind) for i in indicators.values()}
        self._window = rows if isinstance(rows, RowWindow) else None
        self._complete: set[Key] = set()  # series whose older rows were read (windowed rows only)
        # For the engine: the audit form of each row used, made once (compliance.engine.core._row_input).
        self.row_inputs: dict[int, tuple[SnapshotRow, dict[str, Any]]] = {}
        self._add(rows)

    def _add(self, rows: Iterable[SnapshotRow]) -> None:
        on = self._on
        series = self._series
        spec_of = self._wanted.get
        get_series = series.get
        for row in rows:
            if row.as_of > on:  # a revision taken after D does not exist yet for D
                continue
            indicator = row.indicator
            spec = spec_of(indicator)
            if spec is None:
                continue
            period = row.period
            if period.frequency != spec[0]:
                continue
            kind = spec[1]
            # A row must carry the figure its kind needs (ingest guarantees it; never trust blindly).
            if kind == "ratio":
                if row.numerator is None or row.denominator is None:
                    continue
            elif kind == "value":
                if row.value is None or not row.value.is_finite():
                    continue
            elif row.status is None:
                continue
            key = (indicator, row.agency)
            by_end = get_series(key)
            if by_end is None:
                series[key] = {period.end_on: row}
                continue
            current = by_end.setdefault(period.end_on, row)
            # Greatest as_of wins; on a tie the later ingestion (row_id), then the later row given.
            if current is not row and (row.as_of, row.row_id) >= (current.as_of, current.row_id):
                by_end[period.end_on] = row

    # --- windowed rows ----------------------------------------------------------------------------

    @property
    def windowed(self) -> bool:
        return self._window is not None

    def subtree_keys(self, indicator: str, agency: str, rollup: bool) -> list[Key]:
        """The series a figure of (indicator, agency) is made of: its own, and with rollup its descendants'."""
        if not rollup:
            return [(indicator, agency)]
        return [(indicator, unit) for unit in (agency, *self._directory.descendants(agency))]

    def has_recent(self, indicator: str, agency: str, rollup: bool) -> bool:
        """Whether the series has a period loaded already (without computing a rollup)."""
        series = self._series
        if not rollup:
            return (indicator, agency) in series
        return any(key in series for key in self.subtree_keys(indicator, agency, True))

    def is_complete(self, keys: Iterable[Key]) -> bool:
        """Whether every one of these series holds its whole history (always so for plain rows)."""
        if self._window is None:
            return True
        done = self._complete
        return all(key in done for key in keys)

    def complete(self, keys: Iterable[Key]) -> None:
        """Read the older rows of these series from the window; a no-op for plain rows or done series."""
        window = self._window
        if window is None:
            return
        wanted = [key for key in dict.fromkeys(keys) if key not in self._complete]
        if not wanted:
            return
        self._complete.update(wanted)
        self._add(window.older(wanted))
        # Series changed: drop the rollups of their indicators and every cache keyed by a mapping's id.
        changed = {key[0] for key in wanted}
        for indicator in changed:
            self._rolled.pop(indicator, None)
        self._rolled_points = {k: v for k, v in self._rolled_points.items() if k[0] not in changed}
        self._sorted.clear()
        self._latest.clear()

    # --- reading ----------------------------------------------------------------------------------

    def own(self, indicator: str, agency: str) -> Mapping[dt.date, SnapshotRow]:
        return self._series.get((indicator, agency), _NO_ROWS)

    def points(self, indicator: str, agency: str, rollup: bool) -> Series:
        if rollup:
            return self._rollup(indicator, agency)
        return self._series.get((indicator, agency), _NO_ROWS)

    def latest(self, points: Series) -> Point | None:
        """The latest period's figure (cached per series: several rules share an indicator)."""
        if not points:
            return None
        key = id(points)
        found = self._latest.get(key)
        if found is None:
            found = points[max(points)]
            self._latest[key] = found
        return found

    def ends_latest_first(self, points: Series) -> list[dt.date]:
        """Period ends, latest first (cached per series: several rules share an indicator)."""
        key = id(points)
        ends = self._sorted.get(key)
        if ends is None:
            ends = sorted(points, reverse=True)
            self._sorted[key] = ends
        return ends

    def contributing(self, indicator: str, agency: str, end: dt.date) -> list[SnapshotRow]:
        """The rows a rollup summed for one period: the unit's own, then its descendants' (depth first)."""
        out: list[SnapshotRow] = []
        for unit in (agency, *self._directory.descendants(agency)):
            row = self._series.get((indicator, unit), _NO_ROWS).get(end)
            if row is not None:
                out.append(row)
        return out

    def _rollup(self, indicator: str, agency: str) -> Series:
        if not self._directory.children.get(agency):
            # A unit without descendants rolls up to its own rows: no need to copy them.
            return self._series.get((indicator, agency), _NO_ROWS)
        cached = self._rolled_points.get((indicator, agency))
        if cached is None:
            sums = self._sums(indicator, agency)
            cached = {end: RolledPoint(p, n, d) for end, (p, n, d) in sums.items()}
            if self._window is not None and not self.is_complete(self.subtree_keys(indicator, agency, True)):
                # Some units' older rows are read, others' not: only the recent periods sum them all.
                cutoff = self._window.cutoff(indicator)
                cached = {end: point for end, point in cached.items() if end >= cutoff}
            self._rolled_points[(indicator, agency)] = cached
        return cached

    def _sums(self, indicator: str, agency: str) -> dict[dt.date, list[Any]]:
        """end -> [period, numerator sum, denominator sum] over `agency` and its descendants.

        Memoised per unit that has children (leaves are read straight from their rows), computed
        bottom-up without recursion, so a country's tree costs one pass per indicator.
        """
        memo = self._rolled.setdefault(indicator, {})
        done = memo.get(agency)
        if done is not None:
            return done
        children = self._directory.children
        series = self._series
        stack: list[tuple[str, bool]] = [(agency, False)]
        entered: set[str] = set()
        while stack:
            unit, expanded = stack.pop()
            if unit in memo:
                continue
            if not expanded:
                if unit in entered:  # a cycle is a directory error; never loop on one
                    continue
                entered.add(unit)
                stack.append((unit, True))
                stack.extend((c, False) for c in children.get(unit, ()) if children.get(c) and c not in memo)
                continue
            acc: dict[dt.date, list[Any]] = {}
            for end, row in series.get((indicator, unit), _NO_ROWS).items():
                acc[end] = [row.period, row.numerator, row.denominator]
            for child in children.get(unit, ()):
                if children.get(child):
                    for end, (period, numerator, denominator) in memo.get(child, _NO_SUMS).items():
                        mine = acc.get(end)
                        if mine is None:
                            acc[end] = [period, numerator, denominator]
                        else:
                            mine[1] += numerator
                            mine[2] += denominator
                else:
                    for end, row in series.get((indicator, child), _NO_ROWS).items():
                        mine = acc.get(end)
                        if mine is None:
                            acc[end] = [row.period, row.numerator, row.denominator]
                        else:
                            mine[1] += row.numerator
                            mine[2] += row.denominator
            memo[unit] = acc
        return memo[agency]
