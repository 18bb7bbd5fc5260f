"""The figures an evaluation looks at: effective rows per (indicator, agency) and period, and rollup sums.

Shared by both backends. Pure: rows come in, dictionaries keyed by period end date come out.

A figure is held as a `Point`, a plain tuple laid out like the columns storage reads (so a database
row is used as it comes, with no object built per row):

    (numerator, denominator, value, status, period label, row_id, as_of, agency, indicator)

The rows may come as a plain iterable of SnapshotRows (everything at once) or as a `RowWindow`: the
recent periods of every indicator up front, and the older periods of chosen (indicator, agency) series
on request. Most evaluations look at the latest period only; a failing streak or a series without
recent figures asks for the rest of its history (`SeriesIndex.complete`). Both ways give the same
series for every key the engine asks about, so the evaluations are identical.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal
from operator import itemgetter
from typing import Any, Protocol, runtime_checkable

from compliance.model.agency import AgencyDirectory
from compliance.model.period import parse_period
from compliance.model.rules import Indicator
from compliance.model.snapshot import SnapshotRow

__all__ = ["History", "Key", "Point", "RowWindow", "Series", "SeriesIndex", "row_point"]

Key = tuple[str, str]  # (indicator, agency)
# (numerator, denominator, value, status, period label, row_id, as_of, agency, indicator). `value` is a
# Decimal, or its exact text as a window gives it (made a Decimal when the indicator is a value one);
# `as_of` is a date or its ISO text, one kind throughout a window. A rollup's sum has row_id 0 and no
# as_of or agency.
Point = tuple[int | None, int | None, Any, str | None, str, int, Any, str | None, str]
Series = Mapping[dt.date, Point]  # period end -> the figure of that period
History = tuple[list[dt.date], list[Point], list[str]]  # period ends latest first, figures, labels
_NO_ROWS: dict[dt.date, Point] = {}
_NO_SUMS: dict[dt.date, list[Any]] = {}
_UNSEEN = dt.date.min  # marks a label not parsed yet (no period ends on it)
_LABEL = itemgetter(4)


def row_point(row: SnapshotRow) -> Point:
    """A SnapshotRow as a Point."""
    return (
        row.numerator,
        row.denominator,
        row.value,
        row.status,
        row.period.label,
        row.row_id,
        row.as_of,
        row.agency,
        row.indicator,
    )


def _history(points: Series) -> History:
    ends = sorted(points, reverse=True)
    figures = list(map(points.__getitem__, ends))
    return ends, figures, list(map(_LABEL, figures))


@runtime_checkable
class RowWindow(Protocol):
    """Rows given in two parts, as batches of Points: `recent_points()` yields every row of indicator i
    whose period ends on or after `cutoff(i)`; `older_points(keys)` the rows of those (indicator, agency)
    series that end before it. A batch may mix indicators.

    Only rows with as_of <= D come; either part may contain superseded revisions: the index keeps, for
    each period, the row with the greatest as_of (a tie: the greater row_id), as it does for plain rows.
    """

    def cutoff(self, indicator: str) -> dt.date: ...

    def recent_points(self) -> Iterable[Iterable[Point]]: ...

    def older_points(self, keys: Collection[Key]) -> Iterable[Iterable[Point]]: ...


class SeriesIndex:
    """Effective rows at D per (indicator, agency), keyed by period end; rollups computed on demand.

    `series(indicator)` maps agency -> period end -> Point; `latest(indicator)` agency -> (end, Point)
    of its latest period (both for an agency's own rows: rollups through `points` and `latest_point`).
    """

    def __init__(
        self,
        indicators: Mapping[str, Indicator],
        directory: AgencyDirectory,
        rows: Iterable[SnapshotRow] | RowWindow,
        on: dt.date,
    ) -> None:
        self._directory = directory
        self._on = on
        self._wanted = {i.id: (i.frequency, i.kind) for i in indicators.values()}
        self._series: dict[str, dict[str, dict[dt.date, Point]]] = {i: {} for i in self._wanted}
        self._latest: dict[str, dict[str, tuple[dt.date, Point]]] = {}
        self._ends: dict[str, dict[str, dt.date | None]] = {}  # frequency -> label -> end (None: other)
        self._rolled: dict[str, dict[str, dict[dt.date, list[Any]]]] = {}
        self._rolled_points: dict[Key, dict[dt.date, Point]] = {}
        self._sorted: dict[Key, History] = {}
        self._window = rows if isinstance(rows, RowWindow) else None
        self._complete: set[Key] = set()  # series whose older rows were read (windowed rows only)
        # For the engine: the audit form of each row used, made once (compliance.engine.core._row_input).
        self.row_inputs: dict[int, tuple[Point, dict[str, Any]]] = {}
        if isinstance(rows, RowWindow):
            for points in rows.recent_points():
                self._add(points)
        else:
            self._add_rows(rows)

    # --- loading ----------------------------------------------------------------------------------

    def _add_rows(self, rows: Iterable[SnapshotRow]) -> None:
        on = self._on
        wanted = self._wanted
        points: list[Point] = []
        append = points.append
        for row in rows:
            if row.as_of > on:  # a revision taken after D does not exist yet for D
                continue
            indicator, period = row.indicator, row.period
            spec = wanted.get(indicator)
            if spec is None or period.frequency != spec[0]:
                continue
            label = period.label
            # The row's own Period decides (a label is parsed only for rows from a window).
            ends = self._ends_of(spec[0])
            if label not in ends:
                ends[label] = period.end_on
            append(
                (
                    row.numerator,
                    row.denominator,
                    row.value,
                    row.status,
                    label,
                    row.row_id,
                    row.as_of,
                    row.agency,
                    indicator,
                )
            )
        self._add(points)

    def _ends_of(self, frequency: str) -> dict[str, dt.date | None]:
        ends = self._ends.get(frequency)
        if ends is None:
            ends = self._ends[frequency] = {}
        return ends

    def _add(self, points: Iterable[Point]) -> None:
        """Keep each period's effective row among `points` (as_of <= D; rows of one indicator mostly
        come together, so what depends on the indicator is looked up when it changes)."""
        wanted = self._wanted
        indicator: str | None = None
        for point in points:
            if point[8] != indicator:
                indicator = point[8]
                spec = wanted.get(indicator)
                if spec is None:
                    continue
                frequency, kind = spec
                ratio, value = kind == "ratio", kind == "value"
                ends = self._ends_of(frequency)
                ends_get = ends.get
                series = self._series[indicator]
                series_get = series.get
            elif spec is None:
                continue
            label = point[4]
            end = ends_get(label, _UNSEEN)
            if end is _UNSEEN:
                period = parse_period(label)
                end = ends[label] = period.end_on if period.frequency == frequency else None
            if end is None:  # a period of another frequency
                continue
            # A row must carry the figure its kind needs (ingest guarantees it; never trust blindly).
            if ratio:
                if point[0] is None or point[1] is None:
                    continue
            elif value:
                figure = point[2]
                if figure is None:
                    continue
                if type(figure) is not Decimal:
                    figure = Decimal(figure)
                    point = (*point[:2], figure, *point[3:])
                if not figure.is_finite():
                    continue
            elif point[3] is None:
                continue
            agency = point[7]
            assert agency is not None
            by_end = series_get(agency)
            if by_end is None:
                series[agency] = {end: point}
                continue
            current = by_end.setdefault(end, point)
            # Greatest as_of wins; on a tie the later ingestion (row_id), then the later row given.
            if current is not point and (point[6], point[5]) >= (current[6], current[5]):
                by_end[end] = point

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
        series = self._series.get(indicator, {})
        if not rollup:
            return agency in series
        return agency in series or any(unit in series for unit in self._directory.descendants(agency))

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
        for points in window.older_points(wanted):
            self._add(points)
        # Series changed: refresh their latest periods and histories, drop the rollups of their indicators.
        changed = {key[0] for key in wanted}
        for key in wanted:
            self._sorted.pop(key, None)
        for indicator, agency in wanted:
            latest = self._latest.get(indicator)
            if latest is not None:
                by_end = self._series[indicator].get(agency)
                if by_end:
                    end = max(by_end)
                    latest[agency] = (end, by_end[end])
        for indicator in changed:
            self._rolled.pop(indicator, None)
        self._rolled_points = {k: v for k, v in self._rolled_points.items() if k[0] not in changed}

    # --- reading ----------------------------------------------------------------------------------

    def series(self, indicator: str) -> Mapping[str, Mapping[dt.date, Point]]:
        """agency -> period end -> Point, of the agency's own rows."""
        return self._series.get(indicator, {})

    def latest(self, indicator: str) -> Mapping[str, tuple[dt.date, Point]]:
        """agency -> (end, Point) of its latest period, of the agency's own rows (made once per indicator:
        several rules share an indicator)."""
        found = self._latest.get(indicator)
        if found is None:
            found = {}
            for agency, by_end in self._series.get(indicator, {}).items():
                end = max(by_end)
                found[agency] = (end, by_end[end])
            self._latest[indicator] = found
        return found

    def points(self, indicator: str, agency: str, rollup: bool) -> Series:
        if rollup:
            return self._rollup(indicator, agency)
        return self._series.get(indicator, {}).get(agency, _NO_ROWS)

    def latest_point(self, indicator: str, agency: str, rollup: bool) -> tuple[dt.date, Point] | None:
        if not rollup or not self._directory.children.get(agency):
            return self.latest(indicator).get(agency)
        points = self._rollup(indicator, agency)
        if not points:
            return None
        end = max(points)
        return end, points[end]

    def history(self, indicator: str, agency: str, rollup: bool) -> History:
        """(period ends, their Points, their labels), latest first (cached per series: several rules share an indicator)."""
        if rollup and self._directory.children.get(agency):
            return _history(self._rollup(indicator, agency))
        key = (indicator, agency)
        found = self._sorted.get(key)
        if found is None:
            found = self._sorted[key] = _history(self._series.get(indicator, {}).get(agency, _NO_ROWS))
        return found

    def contributing(self, indicator: str, agency: str, end: dt.date) -> list[Point]:
        """The rows a rollup summed for one period: the unit's own, then its descendants' (depth first)."""
        out: list[Point] = []
        series = self._series.get(indicator, {})
        for unit in (agency, *self._directory.descendants(agency)):
            row = series.get(unit, _NO_ROWS).get(end)
            if row is not None:
                out.append(row)
        return out

    def _rollup(self, indicator: str, agency: str) -> Series:
        if not self._directory.children.get(agency):
            # A unit without descendants rolls up to its own rows: no need to copy them.
            return self._series.get(indicator, {}).get(agency, _NO_ROWS)
        cached = self._rolled_points.get((indicator, agency))
        if cached is None:
            sums = self._sums(indicator, agency)
            cached = {
                end: (n, d, None, None, label, 0, None, None, indicator)
                for end, (label, n, d) in sums.items()
            }
            if self._window is not None and not self.is_complete(self.subtree_keys(indicator, agency, True)):
                # Some units' older rows are read, others' not: only the recent periods sum them all.
                cutoff = self._window.cutoff(indicator)
                cached = {end: point for end, point in cached.items() if end >= cutoff}
            self._rolled_points[(indicator, agency)] = cached
        return cached

    def _sums(self, indicator: str, agency: str) -> dict[dt.date, list[Any]]:
        """end -> [period label, numerator sum, denominator sum] over `agency` and its descendants.

        Memoised per unit that has children (leaves are read straight from their rows), computed
        bottom-up without recursion, so a country's tree costs one pass per indicator.
        """
        memo = self._rolled.setdefault(indicator, {})
        done = memo.get(agency)
        if done is not None:
            return done
        children = self._directory.children
        series = self._series.get(indicator, {})
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
            for end, row in series.get(unit, _NO_ROWS).items():
                acc[end] = [row[4], row[0], row[1]]
            for child in children.get(unit, ()):
                if children.get(child):
                    for end, (label, numerator, denominator) in memo.get(child, _NO_SUMS).items():
                        mine = acc.get(end)
                        if mine is None:
                            acc[end] = [label, numerator, denominator]
                        else:
                            mine[1] += numerator
                            mine[2] += denominator
                else:
                    for end, row in series.get(child, _NO_ROWS).items():
                        mine = acc.get(end)
                        if mine is None:
                            acc[end] = [row[4], row[0], row[1]]
                        else:
                            mine[1] += row[0]
                            mine[2] += row[1]
            memo[unit] = acc
        return memo[agency]
