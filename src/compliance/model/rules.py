"""Indicators and rules as the office writes them in rules/*.yaml (SPEC §3.3), validated by pydantic.

Target values are kept as exact Decimals from the file's text ("30%" -> 0.30), so comparisons are exact.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from compliance.model.period import Frequency

__all__ = [
    "ID_PATTERN",
    "Comparison",
    "Indicator",
    "Milestone",
    "Op",
    "RampStep",
    "Rule",
    "RuleFile",
    "Rulebook",
    "Scope",
    "Severity",
    "Target",
    "compare",
    "parse_target_value",
]

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
Op = Literal[">=", ">", "<=", "<"]
Severity = Literal["low", "medium", "high", "critical"]
_PERCENT = re.compile(r"^\s*(-?\d+(?:[.,]\d+)?)\s*%\s*$")
_NUMBER = re.compile(r"^\s*-?\d+(?:\.\d+)?\s*$")


def parse_target_value(raw: Any) -> Decimal:
    """0.3, "0.3" or "30%" -> Decimal("0.3"); bools and anything else are refused."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError('Input should be a number or a percentage like "30%"')
    if isinstance(raw, int | float | Decimal):
        try:
            value = Decimal(str(raw))
        except InvalidOperation as exc:  # pragma: no cover - str(float) is always a decimal
            raise ValueError('Input should be a number or a percentage like "30%"') from exc
        if not value.is_finite():
            raise ValueError("Input should be a finite number")
        return value
    if isinstance(raw, str):
        m = _PERCENT.match(raw)
        if m:
            return Decimal(m.group(1).replace(",", ".")) / 100
        if _NUMBER.match(raw):
            return Decimal(raw.strip())
    raise ValueError('Input should be a number or a percentage like "30%"')


TargetValue = Annotated[Decimal, BeforeValidator(parse_target_value)]


def compare(left: Any, op: Op, right: Any) -> bool:
    """The one comparison both engines mean by `op` (exact: callers pass Fractions or Decimals)."""
    if op == ">=":
        return bool(left >= right)
    if op == ">":
        return bool(left > right)
    if op == "<=":
        return bool(left <= right)
    return bool(left < right)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Indicator(_Strict):
    id: Annotated[str, Field(pattern=ID_PATTERN)]
    name: str
    kind: Literal["ratio", "value", "milestone"]
    frequency: Frequency = "month"
    numerator: str | None = None
    denominator: str | None = None
    unit: str | None = None
    stages: tuple[str, ...] = ()
    description: str | None = None

    @model_validator(mode="after")
    def _stages_for_milestones(self) -> Indicator:
        if self.kind == "milestone" and len(self.stages) < 1:
            raise ValueError("a milestone indicator needs its ordered `stages`")
        if self.kind != "milestone" and self.stages:
            raise ValueError("only milestone indicators have `stages`")
        if len(set(self.stages)) != len(self.stages):
            raise ValueError("`stages` must not repeat a stage")
        return self


class RampStep(_Strict):
    from_: dt.date = Field(alias="from")
    value: TargetValue


class Comparison(_Strict):
    op: Op
    value: TargetValue


class Target(_Strict):
    op: Op
    value: TargetValue | None = None
    ramp: tuple[RampStep, ...] | None = None

    @model_validator(mode="after")
    def _value_or_ramp(self) -> Target:
        if (self.value is None) == (self.ramp is None):
            raise ValueError("give either `value` or `ramp`, not both and not neither")
        if self.ramp is not None:
            if not self.ramp:
                raise ValueError("`ramp` needs at least one step")
            froms = [s.from_ for s in self.ramp]
            if froms != sorted(froms) or len(set(froms)) != len(froms):
                raise ValueError("`ramp` steps must be in increasing order of `from`, each date once")
        return self

    def value_for(self, period_end: dt.date) -> Decimal | None:
        """The target in force for a period: `value`, or the ramp step with the greatest from <= end."""
        if self.value is not None:
            return self.value
        chosen: Decimal | None = None
        for step in self.ramp or ():
            if step.from_ <= period_end:
                chosen = step.value
        return chosen


class Scope(_Strict):
    levels: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


class Milestone(_Strict):
    stage: str
    by: dt.date


class Rule(_Strict):
    id: Annotated[str, Field(pattern=ID_PATTERN)]
    title: str
    indicator: str
    kind: Literal["threshold", "milestone"] = "threshold"
    scope: Scope = Scope()
    target: Target | None = None
    milestones: tuple[Milestone, ...] = ()
    min_denominator: Annotated[int, Field(ge=1)] = 1
    for_: Annotated[int, Field(ge=1, alias="for")] = 1
    resolve: Comparison | None = None
    rollup: bool = False
    max_age_days: Annotated[int, Field(ge=0)] | None = None
    missing_is_violation: bool = False
    severity: Severity = "medium"
    due_days: Annotated[int, Field(ge=1)] | None = None
    basis: str | None = None
    description: str | None = None

    @field_validator("title")
    @classmethod
    def _title_not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("`title` must not be empty")
        return v

    @model_validator(mode="after")
    def _kind_fields(self) -> Rule:
        if self.kind == "threshold" and self.target is None:
            raise ValueError("a threshold rule needs a `target`")
        if self.kind == "threshold" and self.milestones:
            raise ValueError("`milestones` belong to milestone rules (kind: milestone)")
        if self.kind == "milestone":
            if not self.milestones:
                raise ValueError("a milestone rule needs `milestones`")
            if self.target is not None:
                raise ValueError("a milestone rule has `milestones`, not a `target`")
            bys = [m.by for m in self.milestones]
            if bys != sorted(bys):
                raise ValueError("`milestones` must be in order of their `by` dates")
        return self

    @property
    def resolve_condition(self) -> Comparison | None:
        return self.resolve


class RuleFile(_Strict):
    """One YAML file: `version: 1`, then indicators, rules, or both."""

    version: Literal[1]
    indicators: tuple[Indicator, ...] = ()
    rules: tuple[Rule, ...] = ()


class Rulebook(BaseModel):
    """Everything in force: indicators and rules from all files, the files' text, and the revision hash."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    indicators: dict[str, Indicator]
    rules: dict[str, Rule]
    files: dict[str, str]  # file name (relative to the rules dir) -> its text
    revision: str
