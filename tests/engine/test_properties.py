"""Property tests: on random rulebooks, agency trees and row histories both backends agree exactly,
every decisive verdict matches an independent Fraction comparison, and evaluating twice changes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.engine import get_backend
from compliance.model.agency import Agency, AgencyDirectory
from compliance.model.evaluation import Evaluation, Outcome
from compliance.model.period import Period, parse_period
from compliance.model.rules import Indicator, Rule, Rulebook, compare
from compliance.model.snapshot import SnapshotRow

STAGES = ("planned", "built", "connected", "shared")
INDICATORS = {
    "p": Indicator(id="p", name="p", kind="ratio"),
    "q": Indicator(id="q", name="q", kind="ratio", frequency="quarter"),
    "v": Indicator(id="v", name="v", kind="value"),
    "m": Indicator(id="m", name="m", kind="milestone", stages=STAGES),
}
MONTHS = [
    parse_period(f"{2022 + (9 + i) // 12}-{(9 + i) % 12 + 1:02d}") for i in range(12)
]  # 2022-10 .. 2023-09
QUARTERS = [parse_period(x) for x in ("2022-Q3", "2022-Q4", "2023-Q1", "2023-Q2", "2023-Q3")]
START = dt.date(2022, 6, 1)
LEVELS = ("province", "department", "district", "commune")
OPS = (">=", ">", "<=", "<")

# Ratio targets: edges (0, 1, a tenth, tiny, six decimals) and anything with up to six decimals.
ratio_targets = st.one_of(
    st.sampled_from(
        ["0", "1", "0.3", "30%", "0.00001", "0.000001", "0.5", "0.333333", "99.5%", "12.345678%"]
    ),
    st.integers(0, 6).flatmap(lambda k: st.integers(0, 10**k).map(lambda n: str(Decimal(n).scaleb(-k)))),
)
value_targets = st.one_of(
    st.sampled_from(["0", "80", "80.5", "-2.25", "100"]),
    st.builds(lambda n, k: str(Decimal(n).scaleb(-k)), st.integers(-5000, 20000), st.integers(0, 3)),
)
days = st.integers(0, 700).map(lambda n: START + dt.timedelta(days=n))


def _target(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    values = ratio_targets if kind == "ratio" else value_targets
    op = draw(st.sampled_from(OPS))
    if draw(st.booleans()):
        return {"op": op, "value": draw(values)}
    froms = sorted(set(draw(st.lists(days, min_size=1, max_size=3))))
    return {"op": op, "ramp": [{"from": f.isoformat(), "value": draw(values)} for f in froms]}


@st.composite
def rule_dicts(draw: st.DrawFn, number: int, agency_ids: list[str]) -> dict[str, Any]:
    indicator = draw(st.sampled_from(sorted(INDICATORS)))
    kind = INDICATORS[indicator].kind
    data: dict[str, Any] = {"id": f"r{number}", "title": f"r{number}", "indicator": indicator}
    scope: dict[str, Any] = {}
    if draw(st.booleans()):
        scope["levels"] = draw(st.lists(st.sampled_from(LEVELS), max_size=2, unique=True))
    if draw(st.booleans()):
        scope["agencies"] = draw(st.lists(st.sampled_from(agency_ids), max_size=3, unique=True))
    if draw(st.booleans()):
        scope["tags"] = ["x"]
    if draw(st.booleans()):
        scope["exclude"] = draw(st.lists(st.sampled_from(agency_ids), max_size=2, unique=True))
    data["scope"] = scope
    if kind == "milestone":
        data["kind"] = "milestone"
        bys = sorted(draw(st.lists(days, min_size=1, max_size=3)))  # equal deadlines allowed
        data["milestones"] = [{"stage": draw(st.sampled_from(STAGES)), "by": b.isoformat()} for b in bys]
        return data
    data["target"] = _target(draw, kind)
    data["min_denominator"] = draw(st.integers(1, 30))
    data["for"] = draw(st.integers(1, 3))
    if draw(st.booleans()):
        values = ratio_targets if kind == "ratio" else value_targets
        data["resolve"] = {"op": draw(st.sampled_from(OPS)), "value": draw(values)}
    data["rollup"] = kind == "ratio" and draw(st.booleans())
    if draw(st.booleans()):
        data["max_age_days"] = draw(st.integers(0, 150))
    data["missing_is_violation"] = draw(st.booleans())
    return data


def _ratio_figures(draw: st.DrawFn, targets: list[Fraction]) -> tuple[int, int]:
    denominator = draw(
        st.one_of(
            st.sampled_from([0, 1, 3, 10, 19, 20, 100, 1000, 100_000, 10**6, 10**8, 10**9]),
            st.integers(0, 5000),
        )
    )
    if denominator and targets and draw(st.booleans()):
        # Right at (or one off) a target: where an inexact comparison would go wrong.
        exact = draw(st.sampled_from(targets)) * denominator
        numerator = int(exact) + draw(st.sampled_from([-1, 0, 0, 1]))
    else:
        numerator = draw(st.integers(0, denominator)) if denominator else 0
    return min(max(numerator, 0), denominator), denominator


def _kind(rule: Rule) -> str:
    return INDICATORS[rule.indicator].kind


def _thresholds(rule: Rule) -> list[Decimal]:
    found = [rule.resolve.value] if rule.resolve is not None else []
    if rule.target is not None:
        found += (
            [rule.target.value]
            if rule.target.value is not None
            else [s.value for s in rule.target.ramp or ()]
        )
    return found


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Rulebook, AgencyDirectory, list[SnapshotRow], dt.date]:
    count = draw(st.integers(1, 7))
    agencies: list[Agency] = []
    for i in range(count):
        parent = f"a{draw(st.integers(0, i - 1))}" if i and draw(st.booleans()) else None
        active_from = draw(st.one_of(st.none(), days))
        active_until = draw(st.one_of(st.none(), days))
        agencies.append(
            Agency(
                id=f"a{i}",
                name=f"a{i}",
                level=draw(st.sampled_from(LEVELS)),
                parent=parent,
                head_name="A",
                head_title="B",
                head_email=f"a{i}@example.gov.vn",
                tags=("x",) if draw(st.booleans()) else (),
                active_from=active_from,
                active_until=active_until,
            )
        )
    ids = [a.id for a in agencies]
    rules = [Rule.model_validate(draw(rule_dicts(i, ids))) for i in range(draw(st.integers(1, 4)))]
    book = Rulebook(indicators=INDICATORS, rules={r.id: r for r in rules}, files={}, revision="p" * 64)

    ratio_targets_seen = [
        Fraction(v) for r in rules if _kind(r) == "ratio" for v in _thresholds(r) if 0 <= v <= 1
    ]
    value_seen = [v for r in rules if _kind(r) == "value" for v in _thresholds(r)]
    rows: list[SnapshotRow] = []
    for row_id in range(1, draw(st.integers(0, 40)) + 1):
        indicator = draw(st.sampled_from(sorted(INDICATORS)))
        period: Period = draw(st.sampled_from(QUARTERS if indicator == "q" else MONTHS))
        as_of = period.end_on + dt.timedelta(days=draw(st.sampled_from([0, 0, 0, 5, 40, -10])))
        agency_id = draw(st.sampled_from(ids))
        kind = INDICATORS[indicator].kind
        if kind == "ratio":
            numerator, denominator = _ratio_figures(draw, ratio_targets_seen)
            rows.append(
                SnapshotRow(agency_id, indicator, period, as_of, numerator, denominator, row_id=row_id)
            )
        elif kind == "value":
            figure = draw(
                st.one_of(
                    st.sampled_from(value_seen or [Decimal("80")]),
                    st.builds(
                        lambda n, k: Decimal(n).scaleb(-k), st.integers(-5000, 20000), st.integers(0, 4)
                    ),
                )
            )
            rows.append(SnapshotRow(agency_id, indicator, period, as_of, value=figure, row_id=row_id))
        else:
            status = draw(st.sampled_from(STAGES))
            rows.append(SnapshotRow(agency_id, indicator, period, as_of, status=status, row_id=row_id))
    on = draw(st.integers(0, 520).map(lambda n: dt.date(2022, 9, 1) + dt.timedelta(days=n)))
    return book, AgencyDirectory.of(agencies), rows, on


def _oracle_agrees(evaluation: Evaluation, book: Rulebook) -> bool:
    """A decisive threshold verdict, recomputed with Fractions from the evaluation's own figures."""
    rule = book.rules[evaluation.rule]
    if rule.kind == "milestone" or evaluation.outcome not in (Outcome.PASS, Outcome.FAIL):
        return True
    assert rule.target is not None
    target = Fraction(Decimal(evaluation.inputs["target"]))
    if evaluation.denominator is not None:
        assert evaluation.numerator is not None
        figure = Fraction(evaluation.numerator, evaluation.denominator)
    else:
        figure = Fraction(Decimal(evaluation.inputs["rows"][0]["value"]))
    return compare(figure, rule.target.op, target) == (evaluation.outcome == Outcome.PASS)


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_both_backends_give_identical_evaluations(
    world: tuple[Rulebook, AgencyDirectory, list[SnapshotRow], dt.date],
) -> None:
    book, directory, rows, on = world
    pure = get_backend("python").evaluate(book, directory, rows, on)
    durable = get_backend("durable").evaluate(book, directory, rows, on)
    assert durable == pure
    assert [(e.rule, e.agency) for e in pure] == sorted((e.rule, e.agency) for e in pure)
    assert all(_oracle_agrees(e, book) for e in pure)


@settings(max_examples=40, deadline=None)
@given(worlds())
def test_evaluating_twice_changes_nothing(
    world: tuple[Rulebook, AgencyDirectory, list[SnapshotRow], dt.date],
) -> None:
    book, directory, rows, on = world
    for name in ("python", "durable"):
        backend = get_backend(name)
        first = backend.evaluate(book, directory, rows, on)
        assert backend.evaluate(book, directory, list(reversed(rows)), on) == first
