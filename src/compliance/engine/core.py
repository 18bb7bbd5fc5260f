"""Evaluation semantics shared by both backends (SPEC §4); only the classification is left to a backend.

This module decides which figures need a verdict (the latest period first, earlier periods only while a
streak of failures goes on), asks the backend's `classify` for them in batches, and builds the
Evaluations: no_data, stale, streaks that skip insufficient periods, resolve, milestones, and the
`inputs` the audit log keeps. A backend classifies three kinds of question (`Ask`):

    ("t", rule, period_end, numerator, denominator, value) -> pass | fail | insufficient | not_applicable
        the target in force for a period (ramps by period end), min_denominator, the comparison
    ("r", rule, None, numerator, denominator, value)       -> met | unmet
        the rule's `resolve` condition, asked only for a decisive latest period
    ("m", rule, D, reported_rank, None, None)              -> pass | fail | not_applicable
        the stage required at D (the milestone with the latest `by` < D) against the reported stage

Precedence for a threshold rule: no_data, then stale, then not_applicable, then insufficient, then
pass/fail. Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from compliance.errors import ComplianceError
from compliance.model.agency import AgencyDirectory
from compliance.model.evaluation import Evaluation, Outcome
from compliance.model.rules import Indicator, Rule, Rulebook
from compliance.model.scope import scope_agencies
from compliance.model.snapshot import SnapshotRow

from .base import EngineError
from .series import Point, RolledPoint, Series, SeriesIndex

__all__ = [
    "FAIL",
    "INSUFFICIENT",
    "MET",
    "NOT_APPLICABLE",
    "PASS",
    "UNMET",
    "Ask",
    "Classify",
    "check_rulebook",
    "evaluate_with",
    "required_milestone",
    "stage_rank",
]

Ask = tuple[str, str, dt.date | None, int | None, int | None, Decimal | None]
Classify = Callable[[list[Ask]], list[str]]

PASS = "pass"
FAIL = "fail"
INSUFFICIENT = "insufficient"
NOT_APPLICABLE = "not_applicable"
MET = "met"
UNMET = "unmet"
_TARGET_VERDICTS = frozenset({PASS, FAIL, INSUFFICIENT, NOT_APPLICABLE})
_MILESTONE_VERDICTS = frozenset({PASS, FAIL, NOT_APPLICABLE})
_RESOLVE_VERDICTS = frozenset({MET, UNMET})
_DECISIVE = frozenset({PASS, FAIL})


def check_rulebook(rulebook: Rulebook) -> None:
    """The cross-references the engine relies on (the loader reports them first, located in the file)."""
    for rule in rulebook.rules.values():
        indicator = rulebook.indicators.get(rule.indicator)
        if indicator is None:
            raise ComplianceError(f"rule '{rule.id}': unknown indicator '{rule.indicator}'")
        if (rule.kind == "milestone") != (indicator.kind == "milestone"):
            raise ComplianceError(
                f"rule '{rule.id}': a {rule.kind} rule cannot check the {indicator.kind} indicator '{indicator.id}'"
            )
        for milestone in rule.milestones:
            if milestone.stage not in indicator.stages:
                raise ComplianceError(
                    f"rule '{rule.id}': unknown stage '{milestone.stage}' of indicator '{indicator.id}'"
                )


def stage_rank(indicator: Indicator, status: str | None) -> int:
    """Position of a reported stage; -1 (below every stage) for no row or a stage the indicator lacks."""
    if status is None:
        return -1
    try:
        return indicator.stages.index(status)
    except ValueError:
        return -1


def required_milestone(rule: Rule, on: dt.date) -> int | None:
    """Index of the milestone in force at D: the latest `by` < D (the deadline day itself is in time)."""
    chosen: int | None = None
    for i, milestone in enumerate(rule.milestones):
        if milestone.by < on:
            chosen = i
    return chosen


class _Case:
    """One rule x agency while its questions are being answered."""

    __slots__ = (
        "agency",
        "ask",
        "ends",
        "first",
        "latest",
        "outcome",
        "points",
        "pos",
        "resolve",
        "resolve_ask",
        "rule",
        "skipped",
        "streak_periods",
    )

    def __init__(self, rule: Rule, agency: str, points: Series, latest: Point | None) -> None:
        self.rule = rule
        self.agency = agency
        self.points = points
        self.latest = latest
        self.outcome: Outcome | None = None  # known without classification (no_data, stale)
        self.first: str | None = None  # the latest period's verdict
        self.resolve: str | None = None
        self.ask: Ask | None = None  # the target / milestone question waiting for a verdict
        self.resolve_ask: Ask | None = None
        self.ends: list[dt.date] = []
        self.pos = 0
        self.streak_periods: list[str] = []
        self.skipped: list[str] = []


def _target_ask(rule_id: str, point: Point) -> Ask:
    return ("t", rule_id, point.period.end_on, point.numerator, point.denominator, point.value)


def _scope(
    rule: Rule,
    directory: AgencyDirectory,
    on: dt.date,
    agencies_in_scope: Mapping[str, Sequence[str]] | None,
) -> list[str]:
    if agencies_in_scope is not None and rule.id in agencies_in_scope:
        chosen = set()
        for agency_id in agencies_in_scope[rule.id]:
            agency = directory.get(agency_id)
            if agency is not None and agency.active_on(on):
                chosen.add(agency_id)
        return sorted(chosen)
    return sorted(set(scope_agencies(rule, directory, on)))


def evaluate_with(
    classify: Classify,
    rulebook: Rulebook,
    directory: AgencyDirectory,
    rows: Iterable[SnapshotRow],
    on: dt.date,
    agencies_in_scope: Mapping[str, Sequence[str]] | None = None,
) -> list[Evaluation]:
    """Every rule x agency in scope and active at `on`, sorted by (rule, agency); see the module docstring."""
    check_rulebook(rulebook)
    # Everything built here is acyclic and freed by reference counting; with millions of rows alive,
    # the cyclic collector's full passes would cost more than the evaluation itself.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _evaluate(classify, rulebook, directory, rows, on, agencies_in_scope)
    finally:
        if collecting:
            gc.enable()


def _evaluate(
    classify: Classify,
    rulebook: Rulebook,
    directory: AgencyDirectory,
    rows: Iterable[SnapshotRow],
    on: dt.date,
    agencies_in_scope: Mapping[str, Sequence[str]] | None,
) -> list[Evaluation]:
    index = SeriesIndex(rulebook.indicators, directory, rows, on)
    cases: list[_Case] = []
    active: list[_Case] = []
    for rule_id in sorted(rulebook.rules):
        rule = rulebook.rules[rule_id]
        indicator = rulebook.indicators[rule.indicator]
        rollup = rule.rollup and indicator.kind == "ratio"
        milestone = rule.kind == "milestone"
        stale_before = on - dt.timedelta(days=rule.max_age_days) if rule.max_age_days is not None else None
        for agency in _scope(rule, directory, on, agencies_in_scope):
            points = index.points(indicator.id, agency, rollup)
            latest = index.latest(points)
            case = _Case(rule, agency, points, latest)
            cases.append(case)
            if milestone:
                status = latest.status if latest is not None else None
                case.ask = ("m", rule_id, on, stage_rank(indicator, status), None, None)
            elif latest is None:
                case.outcome = Outcome.NO_DATA
                continue
            elif stale_before is not None and latest.period.end_on < stale_before:
                case.outcome = Outcome.STALE
                continue
            else:
                case.ask = _target_ask(rule_id, latest)
            active.append(case)

    while active:
        numbers: dict[Ask, int] = {}
        number = numbers.setdefault
        for case in active:
            if case.ask is not None:
                number(case.ask, len(numbers))
            if case.resolve_ask is not None:
                number(case.resolve_ask, len(numbers))
        verdicts = classify(list(numbers))
        if len(verdicts) != len(numbers):
            raise EngineError(f"the engine answered {len(verdicts)} of {len(numbers)} questions")
        still: list[_Case] = []
        for case in active:
            if case.resolve_ask is not None:
                case.resolve = _expect(
                    verdicts[numbers[case.resolve_ask]], _RESOLVE_VERDICTS, case.resolve_ask
                )
                case.resolve_ask = None
            ask = case.ask
            if ask is not None:
                case.ask = None
                _advance(case, ask, verdicts[numbers[ask]], index)
                if case.ask is not None or case.resolve_ask is not None:
                    still.append(case)
        active = still

    build = _Builder(rulebook, index, on)
    return [build.evaluation(case) for case in cases]


def _advance(case: _Case, ask: Ask, verdict: str, index: SeriesIndex) -> None:
    """Record the verdict of a target or milestone question; queue the next question, if any."""
    if ask[0] == "m":
        case.first = _expect(verdict, _MILESTONE_VERDICTS, ask)
        return
    if case.first is None:  # the latest period
        case.first = _expect(verdict, _TARGET_VERDICTS, ask)
        latest = case.latest
        assert latest is not None
        if verdict in _DECISIVE and case.rule.resolve is not None:
            case.resolve_ask = ("r", ask[1], None, ask[3], ask[4], ask[5])
        if verdict == FAIL:
            case.streak_periods.append(latest.period.label)
            case.ends = index.ends_latest_first(case.points)
            case.pos = 1
        else:
            return
    elif verdict == FAIL:  # an earlier period while counting back the streak
        case.streak_periods.append(case.points[case.ends[case.pos]].period.label)
        case.pos += 1
    elif verdict == INSUFFICIENT:
        case.skipped.append(case.points[case.ends[case.pos]].period.label)
        case.pos += 1
    else:  # pass or not_applicable ends the streak
        _expect(verdict, _TARGET_VERDICTS, ask)
        return
    if case.pos < len(case.ends):
        case.ask = _target_ask(ask[1], case.points[case.ends[case.pos]])


def _expect(verdict: str, allowed: frozenset[str], ask: Ask) -> str:
    if verdict not in allowed:
        raise EngineError(f"the engine gave '{verdict}' for {ask!r}")
    return verdict


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _row_input(row: SnapshotRow) -> dict[str, Any]:
    return {
        "id": row.row_id,
        "agency": row.agency,
        "period": row.period.label,
        "as_of": row.as_of.isoformat(),
        "numerator": row.numerator,
        "denominator": row.denominator,
        "value": None if row.value is None else str(row.value),
        "status": row.status,
    }


_OUTCOMES = {str(o): o for o in Outcome}


class _Builder:
    """Turns finished cases into Evaluations; caches what is the same for every agency of a rule."""

    def __init__(self, rulebook: Rulebook, index: SeriesIndex, on: dt.date) -> None:
        self.rulebook = rulebook
        self.index = index
        self.on = on
        self._base: dict[str, dict[str, Any]] = {}
        self._targets: dict[tuple[str, dt.date], tuple[Decimal | None, float | None]] = {}

    def evaluation(self, case: _Case) -> Evaluation:
        if case.rule.kind == "milestone":
            return self._milestone(case)
        return self._threshold(case)

    def _rows(self, case: _Case, indicator: str) -> list[SnapshotRow]:
        latest = case.latest
        if latest is None:
            return []
        if isinstance(latest, RolledPoint):
            return self.index.contributing(indicator, case.agency, latest.period.end_on)
        return [latest]

    def _base_inputs(self, rule: Rule) -> dict[str, Any]:
        """The inputs every agency of a threshold rule shares (copied into each evaluation)."""
        base = self._base.get(rule.id)
        if base is None:
            assert rule.target is not None
            indicator = self.rulebook.indicators[rule.indicator]
            base = {"kind": "threshold", "indicator": indicator.id, "op": rule.target.op}
            if indicator.kind == "ratio":
                base["min_denominator"] = rule.min_denominator
            if rule.resolve is not None:
                base["resolve_op"] = rule.resolve.op
                base["resolve_value"] = str(rule.resolve.value)
            if rule.max_age_days is not None:
                base["max_age_days"] = rule.max_age_days
            base["missing_is_violation"] = rule.missing_is_violation
            self._base[rule.id] = base
        return base

    def _target(self, rule: Rule, end: dt.date) -> tuple[Decimal | None, float | None]:
        key = (rule.id, end)
        found = self._targets.get(key)
        if found is None:
            assert rule.target is not None
            exact = rule.target.value_for(end)
            found = (exact, None if exact is None else float(exact))
            self._targets[key] = found
        return found

    def _threshold(self, case: _Case) -> Evaluation:
        rule = case.rule
        indicator = self.rulebook.indicators[rule.indicator]
        ratio = indicator.kind == "ratio"
        latest = case.latest
        rows = self._rows(case, indicator.id)
        inputs = dict(self._base_inputs(rule))
        inputs["rows"] = [_row_input(r) for r in rows]
        if rule.rollup and ratio:
            inputs["rollup_agencies"] = [r.agency for r in rows]
        if latest is None:
            inputs["target"] = None
            inputs["streak"] = 0
            return Evaluation(
                rule=rule.id,
                agency=case.agency,
                outcome=Outcome.NO_DATA,
                failing=rule.missing_is_violation,
                inputs=inputs,
            )
        target, target_float = self._target(rule, latest.period.end_on)
        outcome = case.outcome
        if outcome is None:
            outcome = _OUTCOMES[case.first or ""]
            if (outcome is Outcome.NOT_APPLICABLE) != (target is None):
                raise EngineError(
                    f"rule '{rule.id}', {case.agency}: the verdict {outcome} contradicts the ramp"
                )
        inputs["target"] = None if target is None else str(target)
        streak = 0
        if outcome is Outcome.FAIL:
            streak = len(case.streak_periods)
            inputs["streak_periods"] = case.streak_periods
            if case.skipped:
                inputs["skipped_periods"] = case.skipped
        inputs["streak"] = streak
        numerator = denominator = None
        value: float | None
        if ratio:
            numerator, denominator = latest.numerator, latest.denominator
            value = numerator / denominator if numerator is not None and denominator else None
        else:
            value = float(latest.value) if latest.value is not None else None
        if outcome is Outcome.PASS or outcome is Outcome.FAIL:
            meets_resolve = case.resolve == MET if rule.resolve is not None else outcome is Outcome.PASS
        else:
            meets_resolve = False
        return Evaluation(
            rule=rule.id,
            agency=case.agency,
            outcome=outcome,
            period=latest.period.label,
            value=value,
            target=target_float,
            numerator=numerator,
            denominator=denominator,
            streak=streak,
            failing=outcome is Outcome.FAIL or (rule.missing_is_violation and outcome is Outcome.STALE),
            meets_resolve=meets_resolve,
            rows=tuple(sorted(r.row_id for r in rows)) if len(rows) > 1 else tuple(r.row_id for r in rows),
            inputs=inputs,
        )

    def _milestone(self, case: _Case) -> Evaluation:
        rule = case.rule
        required = required_milestone(rule, self.on)
        outcome = _OUTCOMES[case.first or ""]
        if (outcome is Outcome.NOT_APPLICABLE) != (required is None):
            raise EngineError(
                f"rule '{rule.id}', {case.agency}: the verdict {outcome} contradicts the milestones"
            )
        latest = case.latest
        rows = self._rows(case, rule.indicator)
        reported = latest.status if latest is not None else None
        stage = rule.milestones[required].stage if required is not None else None
        failed = outcome is Outcome.FAIL
        inputs: dict[str, Any] = {
            "kind": "milestone",
            "indicator": rule.indicator,
            "rows": [_row_input(r) for r in rows],
            "reported": reported,
            "required": stage,
            "by": rule.milestones[required].by.isoformat() if required is not None else None,
            "streak": 1 if failed else 0,
        }
        return Evaluation(
            rule=rule.id,
            agency=case.agency,
            outcome=outcome,
            period=latest.period.label if latest is not None else None,
            value=reported,
            target=stage,
            streak=1 if failed else 0,
            failing=failed,
            meets_resolve=outcome is Outcome.PASS,
            rows=tuple(r.row_id for r in rows),
            inputs=inputs,
        )
