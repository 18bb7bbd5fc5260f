"""SPEC §4, one small hand-written case per semantic, run against both backends."""

from __future__ import annotations

import datetime as dt
import gc

import pytest

from compliance.engine import EngineBackend
from compliance.model.evaluation import Outcome

from .cases import agency, directory, evaluate, one, ratio, rule, rulebook, stage, value


def test_ratio_pass_and_fail_with_figures(backend: EngineBackend) -> None:
    rows = [ratio("a", "2023-05", 40, 100), ratio("a", "2023-06", 29, 100)]
    e = one(backend, rule(), rows, "2023-07-15")
    assert (e.outcome, e.period, e.value, e.target) == (Outcome.FAIL, "2023-06", 0.29, 0.3)
    assert (e.numerator, e.denominator, e.streak, e.failing, e.meets_resolve) == (29, 100, 1, True, False)
    assert e.rows == (rows[1].row_id,)
    assert e.inputs == {
        "kind": "threshold",
        "indicator": "pay",
        "op": ">=",
        "min_denominator": 1,
        "missing_is_violation": False,
        "rows": [
            {
                "id": rows[1].row_id,
                "agency": "a",
                "period": "2023-06",
                "as_of": "2023-06-30",
                "numerator": 29,
                "denominator": 100,
                "value": None,
                "status": None,
            }
        ],
        "target": "0.3",
        "streak": 1,
        "streak_periods": ["2023-06"],
    }

    e = one(backend, rule(), rows[:1], "2023-07-15")
    assert (e.outcome, e.value, e.streak, e.failing, e.meets_resolve) == (Outcome.PASS, 0.4, 0, False, True)


def test_value_indicator(backend: EngineBackend) -> None:
    par = rule(indicator="par", target={"op": ">=", "value": 80})
    e = one(backend, par, [value("a", "2022", "79.86")], "2023-03-01")
    assert (e.outcome, e.period, e.value, e.target, e.numerator, e.denominator) == (
        Outcome.FAIL,
        "2022",
        79.86,
        80.0,
        None,
        None,
    )
    assert e.inputs["rows"][0]["value"] == "79.86"
    assert "min_denominator" not in e.inputs
    assert one(backend, par, [value("a", "2022", "80.00")], "2023-03-01").outcome == Outcome.PASS
    below = rule(indicator="par", target={"op": "<", "value": "80"})
    assert one(backend, below, [value("a", "2022", "80")], "2023-03-01").outcome == Outcome.FAIL
    assert one(backend, below, [value("a", "2022", "-3.5")], "2023-03-01").outcome == Outcome.PASS


def test_min_denominator_gives_insufficient(backend: EngineBackend) -> None:
    r = rule(min_denominator=20)
    e = one(backend, r, [ratio("a", "2023-06", 1, 19)], "2023-07-01")
    assert (e.outcome, e.value, e.target, e.streak, e.failing, e.meets_resolve) == (
        Outcome.INSUFFICIENT,
        1 / 19,
        0.3,
        0,
        False,
        False,
    )
    assert one(backend, r, [ratio("a", "2023-06", 1, 20)], "2023-07-01").outcome == Outcome.FAIL
    zero = one(backend, rule(), [ratio("a", "2023-06", 0, 0)], "2023-07-01")
    assert (zero.outcome, zero.value, zero.numerator, zero.denominator) == (Outcome.INSUFFICIENT, None, 0, 0)


RAMP = {"op": ">=", "ramp": [{"from": "2023-01-01", "value": "50%"}, {"from": "2023-07-01", "value": "60%"}]}


def test_ramp_step_is_chosen_by_the_period_end_not_by_d(backend: EngineBackend) -> None:
    r = rule(target=RAMP)
    june = one(backend, r, [ratio("a", "2023-06", 55, 100)], "2023-09-01")
    assert (june.outcome, june.target, june.inputs["target"]) == (Outcome.PASS, 0.5, "0.5")
    july = one(backend, r, [ratio("a", "2023-06", 55, 100), ratio("a", "2023-07", 55, 100)], "2023-09-01")
    assert (july.outcome, july.target, july.period) == (Outcome.FAIL, 0.6, "2023-07")


def test_not_applicable_before_the_first_ramp_step(backend: EngineBackend) -> None:
    r = rule(target=RAMP)
    e = one(backend, r, [ratio("a", "2022-12", 10, 100)], "2023-02-01")
    assert (e.outcome, e.period, e.value, e.target, e.failing, e.streak) == (
        Outcome.NOT_APPLICABLE,
        "2022-12",
        0.1,
        None,
        False,
        0,
    )
    # Earlier periods without a target end a streak like a pass would.
    rows = [ratio("a", "2022-12", 10, 100), ratio("a", "2023-01", 10, 100), ratio("a", "2023-02", 10, 100)]
    e = one(backend, r, rows, "2023-03-10")
    assert (e.outcome, e.streak, e.inputs["streak_periods"]) == (Outcome.FAIL, 2, ["2023-02", "2023-01"])


@pytest.mark.parametrize(
    ("op", "target", "numerator", "denominator", "outcome"),
    [
        (">=", "30%", 3, 10, Outcome.PASS),
        (">", "30%", 3, 10, Outcome.FAIL),
        ("<=", "0.3", 3, 10, Outcome.PASS),
        ("<", "0.3", 3, 10, Outcome.FAIL),
        (">=", "0.3", 29_999_999, 100_000_000, Outcome.FAIL),
        (">=", "0.3", 30_000_001, 100_000_000, Outcome.PASS),
        ("<", "0.3", 29_999_999, 100_000_000, Outcome.PASS),
        (">", "0.3", 300_000_001, 1_000_000_000, Outcome.PASS),
        ("<=", "0.3", 300_000_001, 1_000_000_000, Outcome.FAIL),
        (">=", "0.00001", 1, 100_000, Outcome.PASS),  # json.dumps writes 1e-05, which durable cannot parse
        (">", "0.00001", 1, 100_000, Outcome.FAIL),
        (">=", "0.000001", 1, 1_000_001, Outcome.FAIL),
        (">=", "33.333333%", 1, 3, Outcome.PASS),
        (">=", "1", 999_999_999, 1_000_000_000, Outcome.FAIL),
        ("<=", "0", 0, 7, Outcome.PASS),
        (">", "0", 0, 7, Outcome.FAIL),
    ],
)
def test_comparison_is_exact(
    backend: EngineBackend, op: str, target: str, numerator: int, denominator: int, outcome: Outcome
) -> None:
    r = rule(target={"op": op, "value": target})
    assert one(backend, r, [ratio("a", "2023-06", numerator, denominator)], "2023-07-01").outcome == outcome


def test_max_age_days_gives_stale(backend: EngineBackend) -> None:
    r = rule(max_age_days=62)
    rows = [ratio("a", "2023-05", 10, 100)]  # ends 2023-05-31; 2023-08-01 - 62 days = 2023-05-31
    assert one(backend, r, rows, "2023-08-01").outcome == Outcome.FAIL
    e = one(backend, r, rows, "2023-08-02")
    assert (e.outcome, e.period, e.value, e.target, e.streak, e.failing, e.meets_resolve) == (
        Outcome.STALE,
        "2023-05",
        0.1,
        0.3,
        0,
        False,
        False,
    )
    assert e.inputs["max_age_days"] == 62


def test_outcomes_follow_the_order_of_spec_section_4(backend: EngineBackend) -> None:
    """Steps in order: no_data (1), insufficient (2), not_applicable (3), stale (4), pass/fail."""
    ramp = rule(target={"op": ">=", "ramp": [{"from": "2023-06-01", "value": "30%"}]}, min_denominator=20)
    few_before_ramp = [ratio("a", "2023-01", 1, 5)]
    assert one(backend, ramp, few_before_ramp, "2023-02-01").outcome == Outcome.INSUFFICIENT
    enough_before_ramp = [ratio("a", "2023-01", 10, 50)]
    assert one(backend, ramp, enough_before_ramp, "2023-02-01").outcome == Outcome.NOT_APPLICABLE
    aged = rule(max_age_days=30, min_denominator=20)
    assert one(backend, aged, [ratio("a", "2023-01", 1, 5)], "2023-06-01").outcome == Outcome.INSUFFICIENT
    assert one(backend, aged, [ratio("a", "2023-01", 50, 50)], "2023-06-01").outcome == Outcome.STALE
    aged_ramp = rule(target={"op": ">=", "ramp": [{"from": "2023-06-01", "value": "30%"}]}, max_age_days=30)
    assert one(backend, aged_ramp, [ratio("a", "2023-01", 1, 50)], "2023-06-01").outcome == (
        Outcome.NOT_APPLICABLE
    )


def test_missing_is_violation_makes_no_data_and_stale_failing(backend: EngineBackend) -> None:
    strict = rule(max_age_days=30, missing_is_violation=True)
    lenient = rule(max_age_days=30)
    old = [ratio("a", "2023-01", 90, 100)]
    for r, failing in ((strict, True), (lenient, False)):
        nothing = one(backend, r, [], "2023-07-01")
        assert (nothing.outcome, nothing.period, nothing.value, nothing.target, nothing.rows) == (
            Outcome.NO_DATA,
            None,
            None,
            None,
            (),
        )
        assert (nothing.failing, nothing.streak, nothing.meets_resolve) == (failing, 0, False)
        stale = one(backend, r, old, "2023-07-01")
        assert (stale.outcome, stale.failing, stale.streak) == (Outcome.STALE, failing, 0)


def test_rollup_sums_the_subtree_even_without_own_rows(backend: EngineBackend) -> None:
    tree = directory(
        agency("h"),
        agency("x1", "h", "commune"),
        agency("x2", "h", "commune"),
        agency("t", "x2", "hamlet"),
        agency("other"),
    )
    rows = [
        ratio("x1", "2023-06", 10, 40),
        ratio("t", "2023-06", 5, 10),
        ratio("other", "2023-06", 100, 100),
        ratio("x1", "2023-05", 1, 100),
    ]
    r = rule(rollup=True, scope={"agencies": ["h"]}, target={"op": ">=", "value": "0.3"})
    e = one(backend, r, rows, "2023-07-10", tree)
    assert (e.agency, e.outcome, e.period, e.numerator, e.denominator, e.value) == (
        "h",
        Outcome.PASS,
        "2023-06",
        15,
        50,
        0.3,
    )
    assert e.rows == tuple(sorted((rows[0].row_id, rows[1].row_id)))
    assert e.inputs["rollup_agencies"] == ["x1", "t"]
    assert [row["agency"] for row in e.inputs["rows"]] == ["x1", "t"]
    # Without rollup the district has no rows of its own.
    assert one(backend, rule(scope={"agencies": ["h"]}), rows, "2023-07-10", tree).outcome == Outcome.NO_DATA


def test_rollup_counts_rows_of_descendants_no_longer_active(backend: EngineBackend) -> None:
    tree = directory(agency("h"), agency("gone", "h", "commune", active_until=dt.date(2023, 6, 30)))
    rows = [ratio("h", "2023-06", 10, 50), ratio("gone", "2023-06", 20, 50)]
    found = evaluate(backend, rule(rollup=True), rows, "2023-07-10", tree)
    assert [(e.agency, e.numerator, e.denominator) for e in found] == [("h", 30, 100)]


def test_revisions_after_d_do_not_exist_yet(backend: EngineBackend) -> None:
    rows = [
        ratio("a", "2023-04", 29, 100, as_of="2023-04-30"),
        ratio("a", "2023-04", 31, 100, as_of="2023-05-10"),
        ratio("a", "2023-05", 40, 100, as_of="2023-06-05"),
    ]
    before = one(backend, rule(), rows, "2023-05-09")
    assert (before.outcome, before.period, before.numerator, before.rows) == (
        Outcome.FAIL,
        "2023-04",
        29,
        (rows[0].row_id,),
    )
    revised = one(backend, rule(), rows, "2023-05-10")
    assert (revised.outcome, revised.period, revised.numerator) == (Outcome.PASS, "2023-04", 31)
    assert revised.inputs["rows"][0]["as_of"] == "2023-05-10"
    assert one(backend, rule(), rows, "2023-06-05").period == "2023-05"
    # An as_of tie: the later ingestion (greater row id) wins.
    tie = [
        ratio("a", "2023-04", 10, 100, as_of="2023-05-01"),
        ratio("a", "2023-04", 50, 100, as_of="2023-05-01"),
    ]
    assert one(backend, rule(), tie, "2023-05-02").numerator == 50
    assert one(backend, rule(), list(reversed(tie)), "2023-05-02").numerator == 50


def test_streak_skips_insufficient_periods_and_stops_at_a_pass(backend: EngineBackend) -> None:
    rows = [
        ratio("a", "2023-01", 10, 100),  # fail, but before the pass
        ratio("a", "2023-02", 50, 100),  # pass: the streak stops here
        ratio("a", "2023-03", 10, 100),  # fail
        ratio("a", "2023-04", 1, 5),  # insufficient: skipped
        ratio("a", "2023-06", 2, 100),  # fail (May is missing: periods are those with rows)
        ratio("a", "2023-07", 1, 4),  # insufficient: skipped
        ratio("a", "2023-08", 20, 100),  # fail, the latest
    ]
    r = rule(min_denominator=10)
    e = one(backend, r, rows, "2023-09-05")
    assert (e.outcome, e.period, e.streak, e.failing) == (Outcome.FAIL, "2023-08", 3, True)
    assert e.inputs["streak_periods"] == ["2023-08", "2023-06", "2023-03"]
    assert e.inputs["skipped_periods"] == ["2023-07", "2023-04"]
    # The latest insufficient period decides the outcome; it has no streak.
    latest_small = one(backend, r, rows[:-1], "2023-09-05")
    assert (latest_small.outcome, latest_small.streak, latest_small.failing) == (
        Outcome.INSUFFICIENT,
        0,
        False,
    )


def test_a_long_run_of_failures_is_counted_whole(backend: EngineBackend) -> None:
    rows = [ratio("a", f"{2021 + m // 12}-{m % 12 + 1:02d}", 1, 100) for m in range(30)]
    e = one(backend, rule(), rows, "2023-07-15")
    assert (e.period, e.streak, len(e.inputs["streak_periods"])) == ("2023-06", 30, 30)


def test_resolve_hysteresis(backend: EngineBackend) -> None:
    r = rule(resolve={"op": ">=", "value": "32%"})
    cases = {31: (Outcome.PASS, False), 32: (Outcome.PASS, True), 29: (Outcome.FAIL, False)}
    for numerator, (outcome, meets) in cases.items():
        e = one(backend, r, [ratio("a", "2023-06", numerator, 100)], "2023-07-01")
        assert (e.outcome, e.meets_resolve) == (outcome, meets)
        assert (e.inputs["resolve_op"], e.inputs["resolve_value"]) == (">=", "0.32")
    # A resolve condition looser than the target is met even by a failing figure.
    loose = rule(resolve={"op": ">=", "value": "25%"})
    e = one(backend, loose, [ratio("a", "2023-06", 29, 100)], "2023-07-01")
    assert (e.outcome, e.meets_resolve) == (Outcome.FAIL, True)
    # Not decisive: never meets resolve.
    assert not one(backend, r, [ratio("a", "2023-06", 0, 0)], "2023-07-01").meets_resolve


MILESTONES = {
    "milestones": [
        {"stage": "built", "by": "2023-03-31"},
        {"stage": "connected", "by": "2023-06-30"},
        {"stage": "shared", "by": "2023-09-30"},
    ]
}


def test_milestone_deadline_day_is_still_in_time(backend: EngineBackend) -> None:
    r = rule(indicator="db", **MILESTONES)
    rows = [stage("a", "2023-05", "built"), stage("a", "2023-06", "built")]
    on_deadline = one(backend, r, rows, "2023-06-30")
    assert (on_deadline.outcome, on_deadline.value, on_deadline.target, on_deadline.period) == (
        Outcome.PASS,
        "built",
        "built",
        "2023-06",
    )
    late = one(backend, r, rows, "2023-07-01")
    assert (late.outcome, late.value, late.target, late.streak, late.failing, late.meets_resolve) == (
        Outcome.FAIL,
        "built",
        "connected",
        1,
        True,
        False,
    )
    assert late.rows == (rows[1].row_id,)
    assert late.inputs == {
        "kind": "milestone",
        "indicator": "db",
        "rows": [
            {
                "id": rows[1].row_id,
                "agency": "a",
                "period": "2023-06",
                "as_of": "2023-06-30",
                "numerator": None,
                "denominator": None,
                "value": None,
                "status": "built",
            }
        ],
        "reported": "built",
        "required": "connected",
        "by": "2023-06-30",
        "streak": 1,
    }
    ahead = one(backend, r, [stage("a", "2023-06", "shared")], "2023-07-01")
    assert (ahead.outcome, ahead.meets_resolve) == (Outcome.PASS, True)


def test_milestone_not_applicable_before_the_first_deadline_and_no_row_is_below_every_stage(
    backend: EngineBackend,
) -> None:
    r = rule(indicator="db", **MILESTONES)
    early = one(backend, r, [], "2023-03-31")
    assert (early.outcome, early.target, early.value, early.period, early.failing) == (
        Outcome.NOT_APPLICABLE,
        None,
        None,
        None,
        False,
    )
    nothing = one(backend, r, [], "2023-04-01")
    assert (nothing.outcome, nothing.value, nothing.target, nothing.rows) == (Outcome.FAIL, None, "built", ())
    unknown = one(backend, r, [stage("a", "2023-03", "ready")], "2023-04-01")
    assert (unknown.outcome, unknown.value) == (Outcome.FAIL, "ready")


def test_milestones_sharing_a_deadline_require_the_later_one(backend: EngineBackend) -> None:
    r = rule(
        indicator="db",
        milestones=[{"stage": "connected", "by": "2023-03-31"}, {"stage": "built", "by": "2023-03-31"}],
    )
    e = one(backend, r, [stage("a", "2023-03", "built")], "2023-04-01")
    assert (e.outcome, e.target) == (Outcome.PASS, "built")


def test_agencies_outside_their_active_window_are_not_evaluated(backend: EngineBackend) -> None:
    tree = directory(
        agency("old", active_until=dt.date(2023, 6, 30)),
        agency("new", active_from=dt.date(2023, 7, 1)),
        agency("always"),
    )
    rows = [ratio(a, "2023-06", 10, 100) for a in ("old", "new", "always")]
    assert [e.agency for e in evaluate(backend, rule(), rows, "2023-06-30", tree)] == ["always", "old"]
    assert [e.agency for e in evaluate(backend, rule(), rows, "2023-07-01", tree)] == ["always", "new"]


def test_scope_and_order(backend: EngineBackend) -> None:
    tree = directory(
        agency("z", level="department"),
        agency("b", level="district", tags=("cchc",)),
        agency("a", level="commune"),
        agency("c", level="district"),
    )
    rules = [
        rule("r2", scope={"levels": ["district"], "exclude": ["c"]}),
        rule("r1", scope={"tags": ["cchc"], "agencies": ["z"]}),
        rule("r3"),
    ]
    found = evaluate(backend, rules, [], "2023-07-01", tree)
    assert [(e.rule, e.agency) for e in found] == [
        ("r1", "b"),
        ("r1", "z"),
        ("r2", "b"),
        ("r3", "a"),
        ("r3", "b"),
        ("r3", "c"),
        ("r3", "z"),
    ]


def test_agencies_in_scope_given_by_the_caller(backend: EngineBackend) -> None:
    tree = directory(agency("a"), agency("b"), agency("gone", active_until=dt.date(2020, 1, 1)))
    found = backend.evaluate(
        rulebook(rule("r1"), rule("r2")),
        tree,
        [],
        dt.date(2023, 7, 1),
        agencies_in_scope={"r1": ["b", "gone", "unknown", "b"]},
    )
    assert [(e.rule, e.agency) for e in found] == [("r1", "b"), ("r2", "a"), ("r2", "b")]


def test_rows_of_other_frequencies_or_missing_figures_are_ignored(backend: EngineBackend) -> None:
    quarter = ratio("a", "2023-Q2", 90, 100)
    broken = ratio("a", "2023-06", 90, 100)
    object.__setattr__(broken, "denominator", None)
    assert one(backend, rule(), [quarter, broken], "2023-07-01").outcome == Outcome.NO_DATA


def test_evaluating_twice_gives_the_same_result(backend: EngineBackend) -> None:
    rows = [ratio("a", "2023-05", 1, 100), ratio("a", "2023-06", 1, 100)]
    rules = [rule("r1"), rule("r2", resolve={"op": ">", "value": "0.5"})]
    first = evaluate(backend, rules, rows, "2023-07-01")
    assert evaluate(backend, rules, rows, "2023-07-01") == first
    assert [e.streak for e in first] == [2, 2]


def test_the_garbage_collector_is_left_as_it_was(backend: EngineBackend) -> None:
    assert gc.isenabled()
    one(backend, rule(), [ratio("a", "2023-06", 1, 100)], "2023-07-01")
    assert gc.isenabled()
    gc.disable()
    try:
        one(backend, rule(), [ratio("a", "2023-06", 1, 100)], "2023-07-01")
        assert not gc.isenabled()
    finally:
        gc.enable()
