"""The pure-Python backend: classifies each figure exactly with integer arithmetic (works on every Python).

A target t is held as Fraction(t) = tn/td. A ratio n/d (d >= 1) is compared as n * td  op  tn * d: the
cross-multiplication Fraction's own comparison performs, without building a Fraction per row. A value
(a Decimal) is compared with the target Decimal directly; Decimal comparison is exact at any precision.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from itertools import groupby
from operator import itemgetter
from typing import Any

from compliance.model.agency import AgencyDirectory
from compliance.model.evaluation import Evaluation
from compliance.model.rules import Op, Rule, Rulebook
from compliance.model.snapshot import SnapshotRow

from .core import (
    FAIL,
    INSUFFICIENT,
    MET,
    NOT_APPLICABLE,
    PASS,
    UNMET,
    Ask,
    check_rulebook,
    evaluate_with,
    stage_rank,
)
from .series import RowWindow

__all__ = ["PythonBackend"]

_OPS: dict[Op, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_BEGINNING = dt.date.min


class _Threshold:
    """An exact threshold: the Decimal as written, and its Fraction's numerator and denominator."""

    __slots__ = ("decimal", "denominator", "numerator")

    def __init__(self, value: Decimal) -> None:
        exact = Fraction(value)
        self.decimal = value
        self.numerator = exact.numerator
        self.denominator = exact.denominator  # > 0


class _Compiled:
    """One rule ready for many questions."""

    __slots__ = (
        "holds",
        "milestones",
        "min_denominator",
        "ratio",
        "resolve_holds",
        "resolve_threshold",
        "steps",
    )

    def __init__(self, rule: Rule, rulebook: Rulebook) -> None:
        indicator = rulebook.indicators[rule.indicator]
        self.ratio = indicator.kind == "ratio"
        self.min_denominator = rule.min_denominator
        self.holds = _OPS[">="]
        # Ramp steps (from, threshold), in order; a plain value is one step in force from the start of time.
        self.steps: tuple[tuple[dt.date, _Threshold], ...] = ()
        if rule.target is not None:
            self.holds = _OPS[rule.target.op]
            if rule.target.ramp is not None:
                self.steps = tuple((s.from_, _Threshold(s.value)) for s in rule.target.ramp)
            elif rule.target.value is not None:
                self.steps = ((_BEGINNING, _Threshold(rule.target.value)),)
        self.resolve_holds = _OPS[rule.resolve.op] if rule.resolve is not None else None
        self.resolve_threshold = _Threshold(rule.resolve.value) if rule.resolve is not None else None
        self.milestones = tuple((m.by, stage_rank(indicator, m.stage)) for m in rule.milestones)

    def meets(
        self,
        holds: Callable[[Any, Any], Any],
        threshold: _Threshold,
        numerator: int | None,
        denominator: int | None,
        value: Decimal | None,
    ) -> bool:
        if self.ratio:
            assert numerator is not None and denominator is not None
            return bool(holds(numerator * threshold.denominator, threshold.numerator * denominator))
        return bool(holds(value, threshold.decimal))

    def threshold(self, end: dt.date) -> _Threshold | None:
        """The ramp step in force for a period ending on `end` (None before the first)."""
        found: _Threshold | None = None
        for start, step in self.steps:
            if start > end:
                break
            found = step
        return found

    def targets(self, asks: Iterable[Ask]) -> list[str]:
        """Verdicts on "t" questions of this rule (written for speed: most questions are these)."""
        out: list[str] = []
        append = out.append
        holds, ratio, least = self.holds, self.ratio, self.min_denominator
        thresholds: dict[dt.date | None, _Threshold | None] = {}  # period end -> threshold in force
        for _, _, when, numerator, denominator, value in asks:
            # SPEC §4: the denominator check (step 2) comes before the target in force (step 3).
            if ratio and (denominator is None or denominator < least):
                append(INSUFFICIENT)
                continue
            if when in thresholds:
                threshold = thresholds[when]
            else:
                assert when is not None
                threshold = thresholds[when] = self.threshold(when)
            if threshold is None:
                append(NOT_APPLICABLE)
            elif ratio:
                assert numerator is not None and denominator is not None
                append(
                    PASS
                    if holds(numerator * threshold.denominator, threshold.numerator * denominator)
                    else FAIL
                )
            else:
                append(PASS if holds(value, threshold.decimal) else FAIL)
        return out


_KIND_AND_RULE = itemgetter(0, 1)


def _classify(compiled: Mapping[str, _Compiled], asks: list[Ask]) -> list[str]:
    out: list[str] = []
    append = out.append
    # The core asks rule by rule: each run of one kind of question to one rule is answered together.
    for (kind, rule_id), run in groupby(asks, _KIND_AND_RULE):
        rule = compiled[rule_id]
        if kind == "t":
            out += rule.targets(run)
        elif kind == "r":
            assert rule.resolve_holds is not None and rule.resolve_threshold is not None
            for _, _, _, numerator, denominator, value in run:
                met = rule.meets(rule.resolve_holds, rule.resolve_threshold, numerator, denominator, value)
                append(MET if met else UNMET)
        else:
            for _, _, when, numerator, _, _ in run:
                assert when is not None and numerator is not None
                required: int | None = None
                for by, rank in rule.milestones:
                    if by < when:
                        required = rank
                if required is None:
                    append(NOT_APPLICABLE)
                else:
                    append(PASS if numerator >= required else FAIL)
    return out


class PythonBackend:
    """Exact classification in plain Python; everything else shared with the durable backend (engine.core)."""

    name = "python"

    def evaluate(
        self,
        rulebook: Rulebook,
        directory: AgencyDirectory,
        rows: Iterable[SnapshotRow] | RowWindow,
        on: dt.date,
        *,
        agencies_in_scope: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Evaluation]:
        check_rulebook(rulebook)
        compiled = {rule_id: _Compiled(rule, rulebook) for rule_id, rule in rulebook.rules.items()}
        return evaluate_with(
            lambda asks: _classify(compiled, asks), rulebook, directory, rows, on, agencies_in_scope
        )
