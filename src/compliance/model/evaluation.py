"""Evaluations: the outcome of one rule for one agency at evaluation date D, with the inputs behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Evaluation", "Outcome"]


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INSUFFICIENT = "insufficient"
    NO_DATA = "no_data"
    STALE = "stale"
    NOT_APPLICABLE = "not_applicable"


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made building the
# 350,000 evaluations of a country-wide run cost 0.5 s more. Nothing changes an Evaluation once made.
@dataclass(slots=True)
class Evaluation:
    """One rule x agency at D (read-only by convention).

    `value` is the raw figure (a ratio as a fraction, a number, or a stage name); `target` likewise.
    `failing` says whether it counts as a failure for tasks (fail, or no_data/stale under
    missing_is_violation); `meets_resolve` whether it satisfies the rule's resolve condition.
    `rows` are the snapshot row ids used; `inputs` the explanation the audit log keeps.
    """

    rule: str
    agency: str
    outcome: Outcome
    period: str | None = None
    value: float | str | None = None
    target: float | str | None = None
    numerator: int | None = None
    denominator: int | None = None
    streak: int = 0
    failing: bool = False
    meets_resolve: bool = False
    rows: tuple[int, ...] = ()
    inputs: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The canonical form that the log stores and the run digest hashes."""
        return {
            "rule": self.rule,
            "agency": self.agency,
            "outcome": str(self.outcome),
            "period": self.period,
            "value": self.value,
            "target": self.target,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "streak": self.streak,
            "failing": self.failing,
            "meets_resolve": self.meets_resolve,
            "rows": list(self.rows),
            "inputs": self.inputs,
        }
