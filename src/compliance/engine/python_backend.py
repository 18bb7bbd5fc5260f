"""The pure-Python backend: classifies each figure with exact Fractions (works on every Python)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction

from compliance.model.agency import AgencyDirectory
from compliance.model.evaluation import Evaluation
from compliance.model.rules import Comparison, Op, Rule, Rulebook, compare
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

__all__ = ["PythonBackend"]


class _Compiled:
    """One rule with its targets as Fractions, ready for many questions."""

    __slots__ = ("milestones", "min_denominator", "op", "ratio", "resolve", "steps")

    def __init__(self, rule: Rule, rulebook: Rulebook) -> None:
        indicator = rulebook.indicators[rule.indicator]
        self.ratio = indicator.kind == "ratio"
        self.min_denominator = rule.min_denominator
        self.op: Op = ">="
        # Ramp steps (from, target); a plain value is one step in force from the beginning of time.
        self.steps: tuple[tuple[dt.date, Fraction], ...] = ()
        if rule.target is not None:
            self.op = rule.target.op
            if rule.target.ramp is not None:
                self.steps = tuple((s.from_, Fraction(s.value)) for s in rule.target.ramp)
            elif rule.target.value is not None:
                self.steps = ((dt.date.min, Fraction(rule.target.value)),)
        self.resolve: tuple[Op, Fraction] | None = _resolve(rule.resolve)
        self.milestones = tuple((m.by, stage_rank(indicator, m.stage)) for m in rule.milestones)

    def figure(self, numerator: int | None, denominator: int | None, value: Decimal | None) -> Fraction:
        if self.ratio:
            assert numerator is not None and denominator is not None
            return Fraction(numerator, denominator)
        assert value is not None
        return Fraction(value)

    def target(self, ask: Ask) -> str:
        _, _, end, numerator, denominator, value = ask
        assert end is not None
        target: Fraction | None = None
        for start, step_target in self.steps:
            if start <= end:
                target = step_target
        if target is None:
            return NOT_APPLICABLE
        if self.ratio and (denominator is None or denominator < self.min_denominator):
            return INSUFFICIENT
        return PASS if compare(self.figure(numerator, denominator, value), self.op, target) else FAIL

    def resolved(self, ask: Ask) -> str:
        _, _, _, numerator, denominator, value = ask
        assert self.resolve is not None
        op, threshold = self.resolve
        return MET if compare(self.figure(numerator, denominator, value), op, threshold) else UNMET

    def milestone(self, ask: Ask) -> str:
        _, _, on, reported, _, _ = ask
        assert on is not None and reported is not None
        required: int | None = None
        for by, rank in self.milestones:
            if by < on:
                required = rank
        if required is None:
            return NOT_APPLICABLE
        return PASS if reported >= required else FAIL


def _resolve(resolve: Comparison | None) -> tuple[Op, Fraction] | None:
    return None if resolve is None else (resolve.op, Fraction(resolve.value))


class PythonBackend:
    """Exact comparisons of Fraction(numerator, denominator) or Fraction(value) with Fraction(target)."""

    name = "python"

    def evaluate(
        self,
        rulebook: Rulebook,
        directory: AgencyDirectory,
        rows: Iterable[SnapshotRow],
        on: dt.date,
        *,
        agencies_in_scope: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Evaluation]:
        check_rulebook(rulebook)
        compiled = {rule_id: _Compiled(rule, rulebook) for rule_id, rule in rulebook.rules.items()}

        def classify(asks: list[Ask]) -> list[str]:
            out: list[str] = []
            for ask in asks:
                rule = compiled[ask[1]]
                kind = ask[0]
                if kind == "t":
                    out.append(rule.target(ask))
                elif kind == "r":
                    out.append(rule.resolved(ask))
                else:
                    out.append(rule.milestone(ask))
            return out

        return evaluate_with(classify, rulebook, directory, rows, on, agencies_in_scope)
