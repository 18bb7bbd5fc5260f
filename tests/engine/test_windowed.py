"""Rows given as a window (recent periods up front, older ones on request) evaluate exactly like all rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.engine import get_backend
from compliance.engine.series import Point, RowWindow, row_point
from compliance.model.agency import AgencyDirectory
from compliance.model.rules import Rulebook
from compliance.model.snapshot import SnapshotRow
from tests.engine.test_properties import INDICATORS, worlds

# Cutoffs around the generated periods (2022-07 .. 2023-09), and the two extremes: everything up front,
# nothing up front.
CUTOFFS = st.one_of(
    st.sampled_from([dt.date.min, dt.date.max]),
    st.integers(0, 16).map(lambda n: dt.date(2022 + (6 + n) // 12, (6 + n) % 12 + 1, 1)),
)


class Window:
    """An in-memory RowWindow that records what was asked. Its Points are those of rows taken by D, in
    the form storage gives them: as_of and value as text (SQLite), or as_of a date (PostgreSQL)."""

    def __init__(
        self, rows: list[SnapshotRow], cutoffs: dict[str, dt.date], on: dt.date, *, text: bool = True
    ) -> None:
        self.rows = [r for r in rows if r.as_of <= on]
        self.cutoffs = cutoffs
        self.text = text
        self.asked: list[set[tuple[str, str]]] = []

    def cutoff(self, indicator: str) -> dt.date:
        return self.cutoffs.get(indicator, dt.date.max)

    def _points(self, rows: list[SnapshotRow]) -> list[list[Point]]:
        points: list[Point] = []
        for r in rows:
            point = row_point(r)
            if self.text:
                value = None if r.value is None else str(r.value)
                point = (*point[:2], value, *point[3:6], r.as_of.isoformat(), *point[7:])
            points.append(point)
        # Two batches, indicators mixed, as storage may give them.
        return [points[: len(points) // 2], points[len(points) // 2 :]]

    def recent_points(self) -> list[list[Point]]:
        return self._points([r for r in self.rows if r.period.end_on >= self.cutoff(r.indicator)])

    def older_points(self, keys: Collection[tuple[str, str]]) -> list[list[Point]]:
        wanted = set(keys)
        assert wanted, "asked for no series"
        for earlier in self.asked:
            assert not wanted & earlier, "asked twice for the same series"
        self.asked.append(wanted)
        return self._points(
            [
                r
                for r in self.rows
                if (r.indicator, r.agency) in wanted and r.period.end_on < self.cutoff(r.indicator)
            ]
        )


def test_the_window_is_a_row_window() -> None:
    assert isinstance(Window([], {}, dt.date(2023, 1, 1)), RowWindow)
    assert not isinstance([], RowWindow)


World = tuple[Rulebook, AgencyDirectory, list[SnapshotRow], dt.date]


@settings(max_examples=200, deadline=None)
@given(worlds(), st.fixed_dictionaries({i: CUTOFFS for i in INDICATORS}), st.booleans())
def test_windowed_rows_give_identical_evaluations(
    world: World, cutoffs: dict[str, dt.date], text: bool
) -> None:
    book, directory, rows, on = world
    backend = get_backend("python")
    assert backend.evaluate(book, directory, Window(rows, cutoffs, on, text=text), on) == backend.evaluate(
        book, directory, rows, on
    )


@settings(max_examples=60, deadline=None)
@given(worlds(), st.fixed_dictionaries({i: CUTOFFS for i in INDICATORS}), st.data())
def test_windowed_rows_for_chosen_pairs_give_the_same_evaluations(
    world: World, cutoffs: dict[str, dt.date], data: st.DataObject
) -> None:
    """Both backends, with agencies_in_scope naming a subset: the pairs evaluated are those of a full
    evaluation, identical."""
    book, directory, rows, on = world
    full = get_backend("python").evaluate(book, directory, rows, on)
    chosen = (
        data.draw(st.lists(st.sampled_from(full), unique_by=lambda e: (e.rule, e.agency))) if full else []
    )
    scope: dict[str, list[str]] = {rule: [] for rule in book.rules}
    for e in chosen:
        scope[e.rule].append(e.agency)
    expected = sorted(chosen, key=lambda e: (e.rule, e.agency))
    for name in ("python", "durable"):
        got = get_backend(name).evaluate(
            book,
            directory,
            Window(rows, cutoffs, on),
            on,
            agencies_in_scope={r: sorted(a) for r, a in scope.items()},
        )
        assert got == expected


@st.composite
def streaky_worlds(draw: st.DrawFn) -> World:
    """Long runs of failures (and insufficient months) over full series, some rolled up: streaks that go
    on past any cutoff."""
    from compliance.model.agency import Agency
    from compliance.model.rules import Rule
    from tests.engine.test_properties import MONTHS

    agencies = [
        Agency(
            id=f"a{i}",
            name=f"a{i}",
            level="district",
            parent=None if i == 0 else "a0",
            head_name="A",
            head_title="B",
            head_email=f"a{i}@example.gov.vn",
        )
        for i in range(draw(st.integers(1, 4)))
    ]
    rules = [
        Rule.model_validate(
            {
                "id": f"r{n}",
                "title": "r",
                "indicator": "p",
                "target": {"op": ">=", "value": "50%"},
                "min_denominator": 10,
                "for": draw(st.integers(1, 3)),
                "rollup": rollup,
            }
        )
        for n, rollup in enumerate((False, True))
    ]
    book = Rulebook(indicators=INDICATORS, rules={r.id: r for r in rules}, files={}, revision="s" * 64)
    rows: list[SnapshotRow] = []
    for agency in agencies:
        for period in MONTHS:
            shape = draw(st.sampled_from(["fail", "fail", "fail", "pass", "small", "none"]))
            if shape == "none":
                continue
            denominator = 5 if shape == "small" else 100
            numerator = 90 if shape == "pass" else 1
            rows.append(
                SnapshotRow(
                    agency.id, "p", period, period.end_on, numerator, denominator, row_id=len(rows) + 1
                )
            )
    return book, AgencyDirectory.of(agencies), rows, dt.date(2023, 10, 15)


@settings(max_examples=150, deadline=None)
@given(streaky_worlds(), CUTOFFS)
def test_streaks_past_the_window_read_older_periods(world: World, cutoff: dt.date) -> None:
    book, directory, rows, on = world
    backend = get_backend("python")
    assert backend.evaluate(book, directory, Window(rows, {"p": cutoff}, on), on) == backend.evaluate(
        book, directory, rows, on
    )
