"""Time both engine backends on a synthetic country: ~10,000 agencies x 40 rules, 24 months of rows.

    python benchmarks/engine_bench.py [--agencies 10000] [--months 24] [--backends python,durable]

Everything is generated in memory with a fixed seed (no files, no database): the agency tree
(provinces -> departments, districts -> communes), 12 indicators (7 ratios, 3 values, 2 milestones),
40 rules using every feature (ramps, rollup, min_denominator, for, resolve, max_age_days,
missing_is_violation, milestones), and the effective rows at D. It prints the time of each backend's
`evaluate`, the outcome counts, and whether the backends agree (they must).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from compliance.engine import get_backend
from compliance.model.agency import Agency, AgencyDirectory
from compliance.model.evaluation import Evaluation
from compliance.model.period import Period, parse_period
from compliance.model.rules import Indicator, Rule, Rulebook
from compliance.model.snapshot import SnapshotRow

RATIOS = [f"ratio_{i}" for i in range(1, 8)]
VALUES = [f"value_{i}" for i in range(1, 4)]
MILESTONES = ["db_land", "db_people"]
STAGES = ("planned", "built", "connected", "shared")


def make_directory(total: int, rng: random.Random) -> AgencyDirectory:
    """34 provinces, each with departments, districts and communes (about `total` units in all)."""
    agencies: list[Agency] = []
    per_province = max(total // 34, 4)
    for p in range(34):
        province = f"p{p:02d}"
        units = [(province, "province", None)]
        departments = max(per_province // 20, 1)
        units += [(f"{province}-d{i:02d}", "department", province) for i in range(departments)]
        left = per_province - 1 - departments
        districts = max(left // 13, 1)
        for k in range(districts):
            district = f"{province}-h{k:02d}"
            units.append((district, "district", province))
            communes = (left - districts) // districts
            units += [(f"{district}-x{c:02d}", "commune", district) for c in range(communes)]
        for unit_id, level, parent in units:
            until = dt.date(2024, 6, 30) if level == "commune" and rng.random() < 0.01 else None
            agencies.append(
                Agency(
                    id=unit_id,
                    name=unit_id,
                    level=level,
                    parent=parent,
                    head_name="Nguyễn Văn A",
                    head_title="Giám đốc",
                    head_email=f"{unit_id}@example.gov.vn",
                    tags=("cchc",) if rng.random() < 0.3 else (),
                    active_until=until,
                )
            )
    return AgencyDirectory.of(agencies)


def make_rulebook() -> Rulebook:
    indicators: dict[str, Indicator] = {}
    for name in RATIOS:
        indicators[name] = Indicator(id=name, name=name, kind="ratio")
    for name in VALUES:
        indicators[name] = Indicator(id=name, name=name, kind="value")
    for name in MILESTONES:
        indicators[name] = Indicator(id=name, name=name, kind="milestone", stages=STAGES)
    raw: list[dict[str, Any]] = []
    for i, name in enumerate(RATIOS):
        raw.append(
            {
                "id": f"{name}-min",
                "indicator": name,
                "target": {"op": ">=", "value": "30%"},
                "min_denominator": 20,
                "for": 2,
                "resolve": {"op": ">=", "value": "32%"},
            }
        )
        raw.append(
            {
                "id": f"{name}-ramp",
                "indicator": name,
                "min_denominator": 10,
                "target": {
                    "op": ">=",
                    "ramp": [
                        {"from": "2023-01-01", "value": "20%"},
                        {"from": "2023-07-01", "value": "35%"},
                        {"from": "2024-01-01", "value": "45.5%"},
                    ],
                },
            }
        )
        raw.append(
            {
                "id": f"{name}-fresh",
                "indicator": name,
                "target": {"op": ">", "value": "0.25"},
                "max_age_days": 62,
                "missing_is_violation": True,
            }
        )
        if i < 4:
            raw.append(
                {
                    "id": f"{name}-rollup",
                    "indicator": name,
                    "rollup": True,
                    "target": {"op": ">=", "value": "40%"},
                }
            )
        else:
            raw.append({"id": f"{name}-cap", "indicator": name, "target": {"op": "<=", "value": "0.9"}})
    for name in VALUES:
        raw.append({"id": f"{name}-80", "indicator": name, "target": {"op": ">=", "value": 80}})
        raw.append({"id": f"{name}-below", "indicator": name, "target": {"op": "<", "value": "95.5"}})
        raw.append(
            {
                "id": f"{name}-ramp",
                "indicator": name,
                "target": {
                    "op": ">=",
                    "ramp": [{"from": "2023-06-01", "value": 70}, {"from": "2024-01-01", "value": 75}],
                },
            }
        )
    for name in MILESTONES:
        raw.append(
            {
                "id": f"{name}-plan",
                "kind": "milestone",
                "indicator": name,
                "milestones": [
                    {"stage": "built", "by": "2023-06-30"},
                    {"stage": "connected", "by": "2024-03-31"},
                    {"stage": "shared", "by": "2024-12-31"},
                ],
            }
        )
    raw.append(
        {
            "id": "db_land-districts",
            "kind": "milestone",
            "indicator": "db_land",
            "scope": {"levels": ["district"]},
            "milestones": [{"stage": "connected", "by": "2024-06-30"}],
        }
    )
    rules = {r["id"]: Rule.model_validate({"title": r["id"], **r}) for r in raw}
    assert len(rules) == 40, len(rules)
    return Rulebook(indicators=indicators, rules=rules, files={}, revision="bench-" + "0" * 58)


def make_rows(directory: AgencyDirectory, months: list[Period], rng: random.Random) -> list[SnapshotRow]:
    """Every agency reports every indicator monthly (milestones quarterly), with gaps and small units.

    Each figure follows a random walk with a slight upward drift (agencies improve, unevenly), so most
    pass, some fail for a while and recover, and a few stay below target for the whole history.
    """
    rows: list[SnapshotRow] = []
    row_id = 0
    for agency in directory:
        for name in RATIOS:
            level = rng.uniform(0.15, 0.95)
            for period in months:
                level = min(max(level + rng.gauss(0.005, 0.04), 0.0), 1.0)
                if rng.random() < 0.02:
                    continue
                denominator = rng.choice((0, 5, 15)) if rng.random() < 0.05 else rng.randint(20, 900)
                row_id += 1
                rows.append(
                    SnapshotRow(
                        agency.id,
                        name,
                        period,
                        period.end_on,
                        round(denominator * level),
                        denominator,
                        row_id=row_id,
                    )
                )
        for name in VALUES:
            level = rng.uniform(65, 100)
            for period in months:
                level = min(max(level + rng.gauss(0.2, 2.0), 0.0), 100.0)
                row_id += 1
                value = Decimal(round(level, 2)).quantize(Decimal("0.01"))
                rows.append(SnapshotRow(agency.id, name, period, period.end_on, value=value, row_id=row_id))
        for name in MILESTONES:
            stage = 0
            for period in months[2::3]:
                if rng.random() < 0.25 and stage < len(STAGES) - 1:
                    stage += 1
                row_id += 1
                rows.append(
                    SnapshotRow(agency.id, name, period, period.end_on, status=STAGES[stage], row_id=row_id)
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agencies", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--backends", default="python,durable")
    parser.add_argument("--seed", type=int, default=20230701)
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs per backend (the first includes compiling)"
    )
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    started = time.perf_counter()
    directory = make_directory(args.agencies, rng)
    rulebook = make_rulebook()
    first = parse_period("2023-01")
    months = [first]
    while len(months) < args.months:
        months.append(
            parse_period(
                f"{months[-1].end_on.year + months[-1].end_on.month // 12:04d}-"
                f"{months[-1].end_on.month % 12 + 1:02d}"
            )
        )
    rows = make_rows(directory, months, rng)
    on = months[-1].end_on + dt.timedelta(days=10)
    print(
        f"generated {len(directory):,} agencies, {len(rulebook.rules)} rules, {len(rows):,} rows, "
        f"D = {on} in {time.perf_counter() - started:.1f} s"
    )

    results: dict[str, list[Evaluation]] = {}
    timings: dict[str, float] = {}
    for name in args.backends.split(","):
        backend = get_backend(name)
        for run in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            evaluations = backend.evaluate(rulebook, directory, rows, on)
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(
                f"{name:8s} run {run + 1}: {len(evaluations):,} evaluations in {elapsed:.2f} s ({cpu:.2f} s CPU)"
            )
            # CPU time: on a shared machine wall time mostly measures the neighbours.
            timings[name] = min(timings.get(name, cpu), cpu)
        results[name] = evaluations
    for name, evaluations in results.items():
        counts = Counter(str(e.outcome) for e in evaluations)
        print(
            f"{name:8s} outcomes: {dict(sorted(counts.items()))}, failing {sum(e.failing for e in evaluations):,}"
        )
    if "python" in timings and "durable" in timings:
        print(f"durable / python (best CPU time) = {timings['durable'] / timings['python']:.2f}")
        same = results["python"] == results["durable"]
        print(f"identical evaluations: {same}")
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
