"""Small builders for hand-written engine cases: agencies, rules, rows, and one-call evaluation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from compliance.engine import EngineBackend
from compliance.model.agency import Agency, AgencyDirectory
from compliance.model.evaluation import Evaluation
from compliance.model.period import parse_period
from compliance.model.rules import Indicator, Rule, Rulebook
from compliance.model.snapshot import SnapshotRow

INDICATORS = {
    "pay": Indicator(id="pay", name="Thanh toán trực tuyến", kind="ratio"),
    "par": Indicator(id="par", name="Chỉ số CCHC", kind="value", frequency="year"),
    "db": Indicator(
        id="db", name="CSDL đất đai", kind="milestone", stages=("planned", "built", "connected", "shared")
    ),
}


def agency(agency_id: str, parent: str | None = None, level: str = "district", **extra: Any) -> Agency:
    return Agency(
        id=agency_id,
        name=agency_id,
        level=level,
        parent=parent,
        head_name="Nguyễn Văn A",
        head_title="Chủ tịch",
        head_email=f"{agency_id}@example.gov.vn",
        **extra,
    )


def directory(*agencies: Agency) -> AgencyDirectory:
    return AgencyDirectory.of(agencies)


def rule(rule_id: str = "r", indicator: str = "pay", **fields: Any) -> Rule:
    data: dict[str, Any] = {"id": rule_id, "title": rule_id, "indicator": indicator}
    if indicator == "db":
        data["kind"] = "milestone"
    elif "target" not in fields:
        data["target"] = {"op": ">=", "value": "30%"}
    data.update(fields)
    return Rule.model_validate(data)


def rulebook(*rules: Rule) -> Rulebook:
    return Rulebook(indicators=INDICATORS, rules={r.id: r for r in rules}, files={}, revision="t" * 64)


_ids = iter(range(1, 10**9))


def ratio(
    agency_id: str, period: str, numerator: int, denominator: int, as_of: str | None = None
) -> SnapshotRow:
    p = parse_period(period)
    taken = dt.date.fromisoformat(as_of) if as_of else p.end_on
    return SnapshotRow(agency_id, "pay", p, taken, numerator, denominator, row_id=next(_ids))


def value(agency_id: str, period: str, figure: str, as_of: str | None = None) -> SnapshotRow:
    p = parse_period(period)
    taken = dt.date.fromisoformat(as_of) if as_of else p.end_on
    return SnapshotRow(agency_id, "par", p, taken, value=Decimal(figure), row_id=next(_ids))


def stage(agency_id: str, period: str, status: str) -> SnapshotRow:
    p = parse_period(period)
    return SnapshotRow(agency_id, "db", p, p.end_on, status=status, row_id=next(_ids))


def one(
    backend: EngineBackend,
    rules: Rule | Iterable[Rule],
    rows: Iterable[SnapshotRow],
    on: str,
    agencies: AgencyDirectory | None = None,
) -> Evaluation:
    """The single evaluation of a one-rule, one-agency case."""
    found = evaluate(backend, rules, rows, on, agencies)
    assert len(found) == 1, found
    return found[0]


def evaluate(
    backend: EngineBackend,
    rules: Rule | Iterable[Rule],
    rows: Iterable[SnapshotRow],
    on: str,
    agencies: AgencyDirectory | None = None,
) -> list[Evaluation]:
    book = rulebook(rules) if isinstance(rules, Rule) else rulebook(*rules)
    return backend.evaluate(book, agencies or directory(agency("a")), list(rows), dt.date.fromisoformat(on))
