"""Helpers for the evaluation-run tests: a small deployment, snapshot ingestion, table counts."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from compliance.clock import FixedClock
from compliance.loading.config import load_config
from compliance.loading.deployment import Deployment, load_deployment
from compliance.loading.snapshots import parse_snapshot
from compliance.storage import auditlog, schema
from compliance.storage.db import Database
from tests.support.deployment import write_deployment

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HEADER = "period,agency,indicator,numerator,denominator,value,status,as_of"

# `pay`: for 2, resolve 32% (hysteresis), due 30 days; `pay-once`: for 1, target resolves, default due.
RULES = """version: 1
rules:
  - id: pay
    title: Tỷ lệ hồ sơ thanh toán trực tuyến đạt tối thiểu 30%
    indicator: online_payment
    scope: {levels: [department, district]}
    target: {op: ">=", value: "30%"}
    min_denominator: 20
    for: 2
    resolve: {op: ">=", value: "32%"}
    due_days: 30
    basis: Nghị quyết số 01/NQ-CP ngày 06/01/2023 của Chính phủ
  - id: pay-once
    title: Tỷ lệ hồ sơ trực tuyến toàn trình đạt tối thiểu 50%
    indicator: full_online
    scope: {agencies: [so-a, so-b]}
    target: {op: ">=", value: "50%"}
"""

_names = itertools.count(1)


def deployment_in(tmp_path: Path, *, rules_yaml: str = RULES, config_extra: str = "") -> Deployment:
    config = write_deployment(tmp_path, rules_yaml=rules_yaml, config_extra=config_extra)
    return load_deployment(load_config(config))


def clock_on(day: dt.date, hour: int = 7) -> FixedClock:
    return FixedClock(dt.datetime.combine(day, dt.time(hour), tzinfo=TZ))


def ingest(db: Database, deployment: Deployment, tmp_path: Path, lines: str, *, on: dt.date) -> None:
    """Ingest CSV rows (without the header) as one snapshot file, as `compliance ingest` would."""
    from compliance.storage.snapshots import ingest as store

    name = f"snapshot-{next(_names)}.csv"
    path = tmp_path / name
    path.write_text(HEADER + "\n" + lines.strip() + "\n", encoding="utf-8")
    parsed = parse_snapshot(path, deployment.rulebook, deployment.directory, name)
    with db.begin() as conn:
        store(conn, parsed, at=auditlog.format_at(clock_on(on).now()))


def pay_rows(agency: str, figures: dict[str, tuple[int, int]], indicator: str = "online_payment") -> str:
    return "\n".join(f"{p},{agency},{indicator},{n},{d},,," for p, (n, d) in figures.items())


def table_counts(db: Database) -> dict[str, int]:
    """Rows in every table and the audit head: what 'changes nothing' must leave equal."""
    out: dict[str, int] = {}
    with db.read() as conn:
        for table in schema.metadata.sorted_tables:
            out[table.name] = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        out["audit_head_seq"] = auditlog.head(conn)[0]
    return out


def entries(db: Database, **filters: object) -> list[auditlog.AuditEntry]:
    with db.read() as conn:
        return list(auditlog.iter_entries(conn, **filters))  # type: ignore[arg-type]


def written(db: Database, run_id: str) -> dict[str, Any]:
    """A run's log entries and the matrix, without what differs between two stores by nature (run ids)."""
    logged = [(e.kind, e.rule, e.agency, e.period, e.outcome, e.data) for e in entries(db, run_id=run_id)]
    with db.read() as conn:
        state = [
            tuple(v for k, v in r._mapping.items() if k != "run_id")
            for r in conn.execute(select(schema.evaluation_state).order_by("rule", "agency"))
        ]
    return {"logged": logged, "state": state}
