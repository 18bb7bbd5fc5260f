"""Evaluation semantics shared by both backends (SPEC §4); only the classification is left to a backend.

This module decides which figures need a verdict (the latest period first, earlier periods only while a
streak of failures goes on), asks the backend's `classify` for them in batches, and builds the
Evaluations: no_data, stale, streaks that skip insufficient periods, resolve, milestones, and the
`inputs` the audit log keeps. A backend classifies three kinds of question (`Ask`):

    ("t", rule, period_end, numerator, denominator, value) -> pass | fail | insufficient | not_applicable
        the target in force for a period (ramps by period end), min_denominator, the comparison
    ("r", rule, None, numerator, denominator, value)       -> met | unmet
        the rule's `resolve` condition, asked with the latest period; used only when that is decisive
    ("m", rule, D, reported_rank, None, None)              -> pass | fail | not_applicable
        the stage required at D (the milestone with the latest `by` < D) against the reported stage

Precedence for a threshold rule: no_data, then stale, then not_applicable, then insufficient, then
pass/fail. Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
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
from .series import History, Key, Point, RowWindow, SeriesIndex

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


def _scopes(
    rules: Iterable[Rule],
    directory: AgencyDirectory,
    on: dt.date,
    agencies_in_scope: Mapping[str, Sequence[str]] | None,
) -> dict[str, list[str]]:
    """Rule id -> the agencies evaluated, sorted; rules with the same scope share one (read-only) list."""
    out: dict[str, list[str]] = {}
    shared: dict[tuple[tuple[str, ...], ...], list[str]] = {}
    for rule in rules:
        if agencies_in_scope is not None and rule.id in agencies_in_scope:
            chosen = set()
            for agency_id in agencies_in_scope[rule.id]:
                agency = directory.get(agency_id)
                if agency is not None and agency.active_on(on):
                    chosen.add(agency_id)
            out[rule.id] = sorted(chosen)
            continue
        scope = rule.scope
        key = (scope.levels, scope.agencies, scope.tags, scope.exclude)
        found = shared.get(key)
        if found is None:
            found = shared[key] = sorted(set(scope_agencies(rule, directory, on)))
        out[rule.id] = found
    return out


class _Plan:
    """What is the same for every agency of one rule: flags, the shared audit inputs, targets by period,
    and for a milestone rule what D requires."""

    __slots__ = (
        "base",
        "by",
        "id",
        "indicator",
        "milestone",
        "missing_is_violation",
        "ranks",
        "ratio",
        "required",
        "resolve",
        "rollup",
        "rule",
        "stage",
        "stale_before",
        "targets",
        "template",
    )

    def __init__(self, rule: Rule, indicator: Indicator, on: dt.date) -> None:
        self.rule = rule
        self.id = rule.id
        self.indicator = indicator
        self.milestone = rule.kind == "milestone"
        self.ratio = indicator.kind == "ratio"
        self.rollup = rule.rollup and self.ratio  # rollup on another kind is a rule-file error (check)
        self.resolve = rule.resolve is not None
        self.missing_is_violation = rule.missing_is_violation
        self.stale_before = (
            on - dt.timedelta(days=rule.max_age_days) if rule.max_age_days is not None else None
        )
        self.targets: dict[dt.date, tuple[Decimal | None, float | None, str | None]] = {}
        # Reported stage -> rank (stage_rank: the first listed wins; anything else is -1).
        self.ranks: dict[str | None, int] = {}
        for i, stage in enumerate(indicator.stages):
            self.ranks.setdefault(stage, i)
        self.required = required_milestone(rule, on) if self.milestone else None
        chosen = rule.milestones[self.required] if self.required is not None else None
        self.stage = chosen.stage if chosen is not None else None
        self.by = chosen.by.isoformat() if chosen is not None else None
        base: dict[str, Any] = {"kind": rule.kind, "indicator": indicator.id}
        if rule.target is not None:
            base["op"] = rule.target.op
            if self.ratio:
                base["min_denominator"] = rule.min_denominator
            if rule.resolve is not None:
                base["resolve_op"] = rule.resolve.op
                base["resolve_value"] = str(rule.resolve.value)
            if rule.max_age_days is not None:
                base["max_age_days"] = rule.max_age_days
            base["missing_is_violation"] = rule.missing_is_violation
        self.base = base
        # The inputs of a threshold evaluation without a streak or a rollup, to copy (a dict copy is
        # cheaper than building one).
        self.template: dict[str, Any] = {**base, "rows": None, "target": None, "streak": 0}

    def target(self, end: dt.date) -> tuple[Decimal | None, float | None, str | None]:
        """The target in force for a period ending on `end`: exact, as the float Evaluation shows, and as
        the text the inputs keep."""
        found = self.targets.get(end)
        if found is None:
            assert self.rule.target is not None
            exact = self.rule.target.value_for(end)
            found = (exact, None, None) if exact is None else (exact, float(exact), str(exact))
            self.targets[end] = found
        return found


Latest = tuple[dt.date, Point]  # a series' latest period: its end and its figure


class _Streak:
    """A case whose latest period failed, while its streak is counted back."""

    __slots__ = (
        "agency",
        "ends",
        "labels",
        "latest",
        "plan",
        "points",
        "pos",
        "resolve",
        "skipped",
        "slot",
        "streak",
    )

    def __init__(
        self, slot: int, plan: _Plan, agency: str, latest: Latest, history: History, resolve: str | None
    ):
        self.slot = slot
        self.plan = plan
        self.agency = agency
        self.latest = latest
        self.ends, self.points, self.labels = history  # period ends, figures and labels, latest first
        self.pos = 1  # the next index into `ends` to classify
        self.streak = [latest[1][4]]  # labels of the failing periods counted
        self.skipped: list[str] = []  # labels of the insufficient periods skipped
        self.resolve = resolve


def evaluate_with(
    classify: Classify,
    rulebook: Rulebook,
    directory: AgencyDirectory,
    rows: Iterable[SnapshotRow] | RowWindow,
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


def _classify_all(classify: Classify, asks: list[Ask]) -> list[str]:
    if not asks:
        return []
    verdicts = classify(asks)
    if len(verdicts) != len(asks):
        raise EngineError(f"the engine answered {len(verdicts)} of {len(asks)} questions")
    return verdicts


def _check(verdicts: list[str], allowed: frozenset[str], asks: list[Ask]) -> None:
    unknown = set(verdicts) - allowed
    if unknown:
        bad = next(i for i, v in enumerate(verdicts) if v in unknown)
        raise EngineError(f"the engine gave '{verdicts[bad]}' for {asks[bad]!r}")


def _latest_of(index: SeriesIndex, plan: _Plan, agencies: list[str]) -> list[Latest | None]:
    indicator = plan.indicator.id
    if plan.rollup:
        return [index.latest_point(indicator, agency, True) for agency in agencies]
    return list(map(index.latest(indicator).get, agencies))


def _asks_resolve(plan: _Plan, point: Point) -> bool:
    """Whether the resolve condition is asked for a case: with the latest period (not after it, to save a
    round); only a decisive verdict uses the answer, and a decisive ratio has a denominator >=
    min_denominator >= 1."""
    return plan.resolve and (not plan.ratio or (point[1] is not None and point[1] > 0))


def _evaluate(
    classify: Classify,
    rulebook: Rulebook,
    directory: AgencyDirectory,
    rows: Iterable[SnapshotRow] | RowWindow,
    on: dt.date,
    agencies_in_scope: Mapping[str, Sequence[str]] | None,
) -> list[Evaluation]:
    index = SeriesIndex(rulebook.indicators, directory, rows, on)
    rules = [rulebook.rules[rule_id] for rule_id in sorted(rulebook.rules)]
    scopes = _scopes(rules, directory, on, agencies_in_scope)
    plans = [(_Plan(rule, rulebook.indicators[rule.indicator], on), scopes[rule.id]) for rule in rules]
    if index.windowed:
        # A series without a recent period may still have an older one (stale, not no_data): read the
        # history of those first, so that every latest period below is the true one.
        missing: list[Key] = []
        for plan, agencies in plans:
            indicator_id = plan.indicator.id
            if plan.rollup:
                for agency in agencies:
                    if not index.has_recent(indicator_id, agency, True):
                        missing.extend(index.subtree_keys(indicator_id, agency, True))
            else:
                loaded = index.series(indicator_id)
                missing.extend((indicator_id, agency) for agency in agencies if agency not in loaded)
        index.complete(missing)

    # Round one: the latest period of every case (and the resolve condition with it), rule by rule.
    cases: list[tuple[_Plan, list[str], list[Latest | None]]] = []
    asks: list[Ask] = []
    resolve_asks: list[Ask] = []
    for plan, agencies in plans:
        rule_id = plan.id
        found = _latest_of(index, plan, agencies)
        cases.append((plan, agencies, found))
        if plan.milestone:
            rank_of = plan.ranks.get
            asks += [
                ("m", rule_id, on, rank_of(latest[1][3] if latest is not None else None, -1), None, None)
                for latest in found
            ]
            continue
        asks += [
            ("t", rule_id, latest[0], latest[1][0], latest[1][1], latest[1][2])
            for latest in found
            if latest is not None
        ]
        if plan.resolve:
            resolve_asks += [
                ("r", rule_id, None, latest[1][0], latest[1][1], latest[1][2])
                for latest in found
                if latest is not None and _asks_resolve(plan, latest[1])
            ]
    verdicts = _classify_all(classify, asks)
    _check(verdicts, _TARGET_VERDICTS, asks)
    resolved = _classify_all(classify, resolve_asks)
    _check(resolved, _RESOLVE_VERDICTS, resolve_asks)

    results: list[Evaluation | None] = []
    append = results.append
    streaking: list[_Streak] = []
    row_inputs = index.row_inputs
    at = 0  # next verdict
    answer = 0  # next resolve verdict
    for plan, agencies, found in cases:
        if plan.milestone:
            for agency, latest in zip(agencies, found, strict=True):
                verdict = verdicts[at]
                if verdict not in _MILESTONE_VERDICTS:
                    raise EngineError(f"the engine gave '{verdict}' for {asks[at]!r}")
                at += 1
                append(_milestone(plan, index, agency, latest, verdict))
            continue
        rule_id, template, ratio, rollup = plan.id, plan.template, plan.ratio, plan.rollup
        stale_before, resolves, missing_is_violation = (
            plan.stale_before,
            plan.resolve,
            plan.missing_is_violation,
        )
        targets = plan.targets
        for agency, latest in zip(agencies, found, strict=True):
            if latest is None:
                append(_no_data(plan, agency))
                continue
            verdict = verdicts[at]
            at += 1
            end, point = latest
            resolve = None
            if resolves and (not ratio or (point[1] is not None and point[1] > 0)):  # as _asks_resolve
                resolve = resolved[answer]
                answer += 1
            if verdict == PASS or verdict == FAIL:
                # SPEC §4 step 4: old data turns a decisive verdict into `stale`; insufficient and
                # not_applicable (steps 2 and 3) come first.
                if stale_before is not None and end < stale_before:
                    outcome, resolve = _STALE, None
                elif verdict == FAIL:
                    history = index.history(plan.indicator.id, agency, rollup)
                    streaking.append(_Streak(len(results), plan, agency, latest, history, resolve))
                    append(None)
                    continue
                else:
                    outcome = _PASS
            else:
                outcome = _OUTCOMES[verdict]
            if rollup:
                append(_threshold(plan, index, agency, latest, outcome, resolve=resolve))
                continue
            # _threshold without a streak or a rollup, written out: this runs for most evaluations.
            target = targets.get(end)
            if target is None:
                target = plan.target(end)
            if (outcome is _NOT_APPLICABLE) is not (target[0] is None) and outcome is not _INSUFFICIENT:
                _check_target(plan, agency, target[0], outcome)  # raises
            inputs = template.copy()
            cached = row_inputs.get(id(point))
            inputs["rows"] = [
                cached[1] if cached is not None and cached[0] is point else _row_input(point, row_inputs)
            ]
            inputs["target"] = target[2]
            numerator = denominator = None
            if ratio:
                numerator, denominator = point[0], point[1]
                value = numerator / denominator if numerator is not None and denominator else None
            else:
                value = float(point[2]) if point[2] is not None else None
            if outcome is not _PASS:
                meets_resolve = False
            elif resolves:
                meets_resolve = _met(plan, agency, resolve)
            else:
                meets_resolve = True
            failing = missing_is_violation and outcome is _STALE
            append(
                Evaluation(
                    rule_id,
                    agency,
                    outcome,
                    point[4],
                    value,
                    target[1],
                    numerator,
                    denominator,
                    0,
                    failing,
                    meets_resolve,
                    (point[5],),
                    inputs,
                )
            )

    # Streaks: count back over earlier periods in chunks of growing size (2, 8, 32, ...), which takes
    # few rounds for a long run of failures (common: a third of a country's fail for their whole
    # history) and asks few needless questions when the run is short.
    counting = [s for s in streaking if len(s.ends) > 1]
    counting += _extend(index, [s for s in streaking if len(s.ends) <= 1])
    counting.sort(key=_by_slot)
    chunk = 2
    while counting:
        asks = []
        for s in counting:
            rule_id = s.plan.id
            stop = s.pos + chunk
            asks += [
                ("t", rule_id, end, point[0], point[1], point[2])
                for end, point in zip(s.ends[s.pos : stop], s.points[s.pos : stop], strict=True)
            ]
        verdicts = _classify_all(classify, asks)
        _check(verdicts, _TARGET_VERDICTS, asks)
        still: list[_Streak] = []
        exhausted: list[_Streak] = []
        at = 0
        for s in counting:
            points = s.points
            stop = min(s.pos + chunk, len(points))
            going = True
            if verdicts[at : at + stop - s.pos].count(FAIL) == stop - s.pos:  # all failed: the common case
                s.streak += s.labels[s.pos : stop]
            else:
                for pos in range(s.pos, stop):
                    verdict = verdicts[at + pos - s.pos]
                    if verdict == FAIL:
                        s.streak.append(s.labels[pos])
                    elif verdict == INSUFFICIENT:
                        s.skipped.append(s.labels[pos])
                    else:  # pass or not_applicable ends the streak
                        going = False
                        break
            at += stop - s.pos
            s.pos = stop
            if going:
                (still if stop < len(points) else exhausted).append(s)
        if exhausted:
            still += _extend(index, exhausted)
            still.sort(key=_by_slot)
        counting = still
        chunk *= 4
    for s in streaking:
        results[s.slot] = _threshold(s.plan, index, s.agency, s.latest, _FAIL, s.streak, s.skipped, s.resolve)
    assert all(e is not None for e in results)
    return results  # type: ignore[return-value]


def _by_slot(streak: _Streak) -> int:
    return streak.slot


def _extend(index: SeriesIndex, streaks: list[_Streak]) -> list[_Streak]:
    """Streaks that ran out of loaded periods (windowed rows): read the older history of their series,
    and return those with periods left to count, their series refreshed. Older periods come after every
    loaded one, so a count goes on from where it stopped. A series may also have grown meanwhile for
    another rule (a rollup's units completed one by one): every streak here is refreshed."""
    if not index.windowed or not streaks:
        return []
    index.complete(
        key for s in streaks for key in index.subtree_keys(s.plan.indicator.id, s.agency, s.plan.rollup)
    )
    going: list[_Streak] = []
    for s in streaks:
        s.ends, s.points, s.labels = index.history(s.plan.indicator.id, s.agency, s.plan.rollup)
        if s.pos < len(s.ends):
            going.append(s)
    return going


_OUTCOMES = {str(o): o for o in Outcome}
# Enum members bound once: looking them up on the class costs more than the rest of a comparison.
_PASS, _FAIL, _STALE, _NOT_APPLICABLE = Outcome.PASS, Outcome.FAIL, Outcome.STALE, Outcome.NOT_APPLICABLE
_INSUFFICIENT, _NO_DATA = Outcome.INSUFFICIENT, Outcome.NO_DATA
_EVALUATION_FIELDS = (
    "rule",
    "agency",
    "outcome",
    "period",
    "value",
    "target",
    "numerator",
    "denominator",
    "streak",
    "failing",
    "meets_resolve",
    "rows",
    "inputs",
)
if tuple(f.name for f in dataclasses.fields(Evaluation)) != _EVALUATION_FIELDS:  # pragma: no cover
    raise ImportError(
        "compliance.model.evaluation.Evaluation changed its fields: update engine.core._threshold"
    )


def _row_input(row: Point, cache: dict[int, tuple[Point, dict[str, Any]]]) -> dict[str, Any]:
    """The row as the audit log keeps it; one dict per row and run, shared by every rule that reads it
    (read-only: nothing changes an Evaluation's inputs once made). The cache keeps the row with its
    dict, so an id cannot be reused while it lives."""
    found = cache.get(id(row))
    if found is not None and found[0] is row:
        return found[1]
    numerator, denominator, value, status, label, row_id, as_of, agency, _ = row
    made = {
        "id": row_id,
        "agency": agency,
        "period": label,
        "as_of": as_of if type(as_of) is str else as_of.isoformat(),
        "numerator": numerator,
        "denominator": denominator,
        # Exact text as a Decimal writes it (a window may hand over the stored text of any kind's value).
        "value": None if value is None else str(value if type(value) is Decimal else Decimal(value)),
        "status": status,
    }
    cache[id(row)] = (row, made)
    return made


def _no_data(plan: _Plan, agency: str) -> Evaluation:
    inputs = dict(plan.base)
    inputs["rows"] = []
    if plan.rollup:
        inputs["rollup_agencies"] = []
    inputs["target"] = None
    inputs["streak"] = 0
    return Evaluation(
        plan.id,
        agency,
        _NO_DATA,
        None,
        None,
        None,
        None,
        None,
        0,
        plan.missing_is_violation,
        False,
        (),
        inputs,
    )


def _check_target(plan: _Plan, agency: str, target: Decimal | None, outcome: Outcome) -> None:
    """A guard against a backend that disagrees with the ramp; insufficient (step 2) may come without one."""
    if (target is None and outcome is not _NOT_APPLICABLE and outcome is not _INSUFFICIENT) or (
        target is not None and outcome is _NOT_APPLICABLE
    ):
        raise EngineError(f"rule '{plan.id}', {agency}: the verdict {outcome} contradicts the ramp")


def _met(plan: _Plan, agency: str, resolve: str | None) -> bool:
    """Whether a decisive verdict meets the rule's resolve condition."""
    if resolve is None:
        raise EngineError(f"rule '{plan.id}', {agency}: no verdict on the resolve condition")
    return resolve == MET


def _threshold(
    plan: _Plan,
    index: SeriesIndex,
    agency: str,
    latest: Latest,
    outcome: Outcome,
    streak: list[str] | None = None,
    skipped: list[str] | None = None,
    resolve: str | None = None,
) -> Evaluation:
    """A threshold rule's evaluation (its common case is written out in _evaluate: keep them alike)."""
    end, point = latest
    found = plan.targets.get(end)
    target, target_float, target_text = found if found is not None else plan.target(end)
    _check_target(plan, agency, target, outcome)
    if plan.rollup:
        rows = index.contributing(plan.indicator.id, agency, end)
        inputs = {
            **plan.base,
            "rows": [_row_input(r, index.row_inputs) for r in rows],
            "rollup_agencies": [r[7] for r in rows],
            "target": target_text,
        }
        row_ids = tuple(sorted(r[5] for r in rows))
    else:
        inputs = {**plan.base, "rows": [_row_input(point, index.row_inputs)], "target": target_text}
        row_ids = (point[5],)
    count = 0
    if streak:
        count = len(streak)
        inputs["streak_periods"] = streak
        if skipped:
            inputs["skipped_periods"] = skipped
    inputs["streak"] = count
    numerator = denominator = None
    value: float | None
    if plan.ratio:
        numerator, denominator = point[0], point[1]
        value = numerator / denominator if numerator is not None and denominator else None
    else:
        value = float(point[2]) if point[2] is not None else None
    if outcome is not _PASS and outcome is not _FAIL:
        meets_resolve = False
    elif plan.resolve:
        meets_resolve = _met(plan, agency, resolve)
    else:
        meets_resolve = outcome is _PASS
    failing = outcome is _FAIL or (plan.missing_is_violation and outcome is _STALE)
    # Positional (faster by half for 400,000 of them); the field order is checked at import.
    return Evaluation(
        plan.id,
        agency,
        outcome,
        point[4],
        value,
        target_float,
        numerator,
        denominator,
        count,
        failing,
        meets_resolve,
        row_ids,
        inputs,
    )


def _milestone(
    plan: _Plan, index: SeriesIndex, agency: str, latest: Latest | None, verdict: str
) -> Evaluation:
    outcome = _OUTCOMES[verdict]
    if (outcome is _NOT_APPLICABLE) != (plan.required is None):
        raise EngineError(f"rule '{plan.id}', {agency}: the verdict {outcome} contradicts the milestones")
    point = latest[1] if latest is not None else None
    reported = point[3] if point is not None else None
    failed = outcome is _FAIL
    inputs = dict(plan.base)
    inputs["rows"] = [_row_input(point, index.row_inputs)] if point is not None else []
    inputs["reported"] = reported
    inputs["required"] = plan.stage
    inputs["by"] = plan.by
    inputs["streak"] = 1 if failed else 0
    return Evaluation(
        plan.id,
        agency,
        outcome,
        point[4] if point is not None else None,
        reported,
        plan.stage,
        None,
        None,
        1 if failed else 0,
        failed,
        outcome is _PASS,
        (point[5],) if point is not None else (),
        inputs,
    )
