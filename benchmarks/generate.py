"""A seeded synthetic country: real deployment files (config, agencies, rules, snapshots, waivers) to benchmark.

`python -m benchmarks.generate --agencies 10000 --out DIR` writes, in the formats of SPEC §3:

- `config.toml`: SQLite by default (or `--database-url`), the file email backend, `--backend durable|python`;
- `rules/agencies.csv`: 34 provinces, each a tree province → departments and districts → communes
  (`--agencies` in all, about 10,000 for a country), with tags, cc and a few commune merges
  (active_from / active_until);
- `rules/indicators.yaml`: 12 indicators (7 ratios, 3 values of which one quarterly, 2 milestones);
- `rules/*.yaml`: 40 rules using every feature (ramps, rollup, `for`, resolve hysteresis,
  min_denominator, max_age_days, missing_is_violation, milestones, scopes by level, tags, agencies,
  exclude);
- `snapshots/YYYY-MM.csv`: one file per month (about 12 rows per agency: every indicator, the quarterly
  one in the quarter's last month), a few rows missing, a few agencies that stop reporting, and a few
  revisions of the previous month with a later `as_of`;
- `waivers.csv`: waivers to add with `compliance waivers add`;
- `manifest.json`: what was generated, the evaluation dates the benchmark uses, and the rules as plain
  data for the floor measurement.

The data is plausible: most agencies pass; some fail throughout, some recover, some lapse, a few
oscillate around their target, so tasks open, stay open under hysteresis, and resolve.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.country import AgencyRow, Month, build_directory, months_from
from benchmarks.rulebook import (
    DB_CIVIL_DEPT,
    DB_CIVIL_LOCAL,
    DB_CIVIL_STAGES,
    ONE_STOP_DEADLINES,
    ONE_STOP_STAGES,
    RATIOS,
    build_rules,
    indicators_yaml,
    pct,
    ramp_at,
    rules_yaml,
)

__all__ = ["DEFAULT_SEED", "DEFAULT_START", "GENERATOR_VERSION", "generate", "main", "write_config"]

GENERATOR_VERSION = 4
DEFAULT_SEED = 20250701
# 24 months from 2023-02: the month the benchmark measures (the 23rd, 2024-12) closes a quarter, so it
# also carries the quarterly rows: the heaviest month.
DEFAULT_START = "2023-02"
SNAPSHOT_HEADER = "period,agency,indicator,numerator,denominator,value,status,as_of"

# ------------------------------------------------------------------------------------------ snapshots

# Kinds of trajectory of one (agency, indicator): the shares decide how many tasks open and resolve.
_KINDS = [
    ("good", 0.78),
    ("chronic", 0.08),
    ("recovering", 0.07),
    ("lapsing", 0.05),
    ("volatile", 0.015),
    ("collapsed", 0.005),
]


def _draw_kind(rng: random.Random) -> str:
    x = rng.random()
    for kind, share in _KINDS:
        if x < share:
            return kind
        x -= share
    return "good"


@dataclass
class Profile:
    kind: str
    level: float  # how far above (good) or below (bad) the target, as a share
    switch: int  # the month index at which recovering/lapsing profiles turn
    stop: int  # from this month index on, no rows (the agency stopped reporting); large = never


def _is_bad(p: Profile, t: int) -> bool:
    if p.kind in ("chronic", "collapsed"):
        return True
    if p.kind == "recovering":
        return t < p.switch
    if p.kind == "lapsing":
        return t >= p.switch
    if p.kind == "volatile":
        return t % 2 == 1
    return False


def _profile(rng: random.Random, n_months: int) -> Profile:
    kind = _draw_kind(rng)
    stop = n_months - 3 if rng.random() < 0.005 else 10**6
    return Profile(kind, rng.random(), rng.randint(1, max(1, n_months - 1)), stop)


def _ratio(p: Profile, t: int, target: float, floor: float, rng: random.Random) -> float:
    if p.kind == "collapsed":
        r = floor * (0.3 + 0.4 * p.level)
    elif p.kind == "volatile":
        r = target + (0.02 if t % 2 == 0 else -0.02)
    elif _is_bad(p, t):
        r = target * (0.70 + 0.27 * p.level) + rng.gauss(0, 0.01)
    else:
        r = target + (0.12 + 0.73 * p.level) * (1 - target) + rng.gauss(0, 0.01) * (1 - target)
    return min(1.0, max(0.0, r))


def _milestone_index(
    deadlines: list[tuple[str, str]], months: list[Month], late: bool, rng: random.Random
) -> list[int]:
    """The month index at which each stage after the first is reached (on time, or a few months late)."""
    out = []
    previous = 0
    for _stage, by in deadlines:
        due = dt.date.fromisoformat(by)
        due_index = next(
            (m.index for m in months if m.end >= due), len(months) + (due.year - months[-1].year) * 12
        )
        reach = due_index + rng.randint(1, 6) if late else due_index - rng.randint(0, 4)
        reach = max(reach, previous)
        out.append(reach)
        previous = reach
    return out


def _stage_at(stages: list[str], reached: list[int], t: int) -> str:
    stage = stages[0]
    for name, at in zip(stages[1:], reached, strict=False):
        if t >= at:
            stage = name
    return stage


def write_snapshots(
    out: Path, directory: list[AgencyRow], months: list[Month], rng: random.Random
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], Profile]]:
    """One CSV per month; returns per-file facts and the ratio profiles (to choose waivers)."""
    out.mkdir(parents=True, exist_ok=True)
    n = len(months)
    scale = {r.id: r.scale for r in RATIOS}
    profiles: dict[tuple[str, str], Profile] = {}
    other: dict[tuple[str, str], Any] = {}
    for a in directory:
        for r in RATIOS:
            profiles[(a.id, r.id)] = _profile(rng, n)
        for ind in ("processing_days", "overdue_backlog", "satisfaction"):
            other[(a.id, ind)] = _profile(rng, n)
        other[(a.id, "db_civil")] = _milestone_index(
            DB_CIVIL_DEPT if a.level == "department" else DB_CIVIL_LOCAL, months, rng.random() < 0.12, rng
        )
        other[(a.id, "one_stop")] = _milestone_index(ONE_STOP_DEADLINES, months, rng.random() < 0.12, rng)
    facts: list[dict[str, Any]] = []
    previous_rows: list[tuple[str, str, str, int, int]] = []  # last month's ratio rows, for revisions
    for month in months:
        t = month.index
        lines = [SNAPSHOT_HEADER]
        this_rows: list[tuple[str, str, str, int, int]] = []
        quarter = month.quarter_label
        for a in directory:
            if not a.active_in(month):
                continue
            for r in RATIOS:
                p = profiles[(a.id, r.id)]
                if t >= p.stop or rng.random() < 0.01:
                    continue
                den = max(0, round(a.size * scale[r.id] * rng.uniform(0.85, 1.15)))
                target = pct(ramp_at(r.target, month.end))
                num = min(den, round(_ratio(p, t, target, pct(r.floor), rng) * den))
                lines.append(f"{month.label},{a.id},{r.id},{num},{den},,,")
                this_rows.append((month.label, a.id, r.id, num, den))
            p = other[(a.id, "processing_days")]
            if t < p.stop and rng.random() >= 0.01:
                if p.kind == "collapsed":
                    days = 10.5 + 4 * p.level
                elif _is_bad(p, t):
                    days = 4.3 + 3.5 * p.level
                else:
                    days = 1.5 + 2.2 * p.level
                lines.append(f"{month.label},{a.id},processing_days,,,{days + rng.gauss(0, 0.15):.2f},,")
            p = other[(a.id, "overdue_backlog")]
            if t < p.stop and rng.random() >= 0.01:
                backlog = 11 + int(30 * p.level) if _is_bad(p, t) else rng.randint(0, 6)
                lines.append(f"{month.label},{a.id},overdue_backlog,,,{backlog},,")
            p = other[(a.id, "satisfaction")]
            if quarter is not None and t < p.stop and rng.random() >= 0.01:
                score = 70 + 9.9 * p.level if _is_bad(p, t) else 82 + 15 * p.level
                lines.append(f"{quarter},{a.id},satisfaction,,,{min(100.0, score + rng.gauss(0, 0.5)):.1f},,")
            stages_civil = other[(a.id, "db_civil")]
            civil_names = DB_CIVIL_STAGES[1:] if a.level != "department" else DB_CIVIL_STAGES[2:]
            stage = DB_CIVIL_STAGES[0]
            for name, at in zip(civil_names, stages_civil, strict=False):
                if t >= at:
                    stage = name
            lines.append(f"{month.label},{a.id},db_civil,,,,{stage},")
            lines.append(
                f"{month.label},{a.id},one_stop,,,,{_stage_at(ONE_STOP_STAGES, other[(a.id, 'one_stop')], t)},"
            )
        # Revisions: about 0.5% of last month's ratio rows are re-reported on the 10th, mostly upwards.
        revised = 0
        as_of = dt.date(month.year, month.month, 10).isoformat()
        for label, agency, ind, num, den in previous_rows:
            if rng.random() < 0.005 and den > 0:
                new = max(0, min(den, num + round(den * rng.uniform(-0.01, 0.06))))
                lines.append(f"{label},{agency},{ind},{new},{den},,,{as_of}")
                revised += 1
        previous_rows = this_rows
        path = out / f"{month.label}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        facts.append({"month": month.label, "file": path.name, "rows": len(lines) - 1, "revisions": revised})
    return facts, profiles


# --------------------------------------------------------------------------------------------- config


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def write_config(
    path: Path,
    *,
    name: str,
    database_url: str,
    backend: str,
    rules_dir: str = "rules",
    agencies: str = "rules/agencies.csv",
    outbox_dir: str = "var/outbox",
    inbox_dir: str = "data/inbox",
) -> None:
    """A config.toml (SPEC §3.1) for the generated country; paths relative to `path`'s folder or absolute."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""# Benchmark deployment, generated by benchmarks/generate.py. Paths are relative to this file.

[deployment]
name = {_toml_str(name)}
timezone = "Asia/Ho_Chi_Minh"
locale = "vi_VN"
base_url = ""

[paths]
rules = {_toml_str(rules_dir)}
agencies = {_toml_str(agencies)}
inbox = {_toml_str(inbox_dir)}
templates = "notifications"

[database]
url = {_toml_str(database_url)}

[engine]
backend = {_toml_str(backend)}

[tasks]
default_due_days = 14

[notify]
remind_before_due = [3, 1]
overdue_every_days = 7
escalate_after_days = 7
working_days = "mon-fri"
holiday_calendar = "VN"
holidays = []
working_saturdays = []
escalation_default_to = "vanphong.chinhphu@example.gov.vn"

[email]
backend = "file"
sender = "cchc@example.gov.vn"
cc = []
outbox_dir = {_toml_str(outbox_dir)}
""",
        encoding="utf-8",
    )


# ------------------------------------------------------------------------------------------- generate


def _choose_waivers(
    directory: list[AgencyRow],
    profiles: dict[tuple[str, str], Profile],
    first_on: dt.date,
    rng: random.Random,
) -> list[dict[str, str]]:
    """Waivers for chronically failing communes: most still running at the first evaluation, some ended."""
    wanted = max(1, len(directory) // 1000)
    index = {a.id: a for a in directory}
    candidates = sorted(
        (agency_id, ind)
        for (agency_id, ind), p in profiles.items()
        if p.kind == "chronic"
        and index[agency_id].level == "commune"
        and index[agency_id].active_until is None
    )
    chosen = rng.sample(candidates, min(wanted, len(candidates)))
    slug = {r.id: r.slug for r in RATIOS}
    out = []
    for i, (agency, ind) in enumerate(sorted(chosen)):
        until = first_on + dt.timedelta(days=90) if i % 3 != 2 else first_on - dt.timedelta(days=20)
        out.append(
            {
                "rule": f"{slug[ind]}-chi-tieu",
                "agency": agency,
                "until": until.isoformat(),
                "granted_on": (first_on - dt.timedelta(days=60)).isoformat(),
                "reason": "Đơn vị đang sắp xếp, kiện toàn bộ phận một cửa; tạm miễn áp dụng đến khi ổn định",
                "by": "vanphong.chinhphu@example.gov.vn",
            }
        )
    return out


def generate(
    out: Path,
    *,
    agencies: int = 10_000,
    months: int = 24,
    seed: int = DEFAULT_SEED,
    start: str = DEFAULT_START,
    database_url: str = "sqlite:///var/compliance.db",
    backend: str = "durable",
) -> dict[str, Any]:
    """Write the synthetic country into `out`; returns (and writes) its manifest."""
    if months < 2:
        raise ValueError("at least 2 months: one of history and the one the benchmark ingests")
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    month_list = months_from(start, months)
    directory = build_directory(rng, agencies, month_list)
    rules_dir = out / "rules"
    rules_dir.mkdir(exist_ok=True)
    for old in rules_dir.glob("*.yaml"):
        old.unlink()
    with (rules_dir / "agencies.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(
            [
                "id",
                "name",
                "level",
                "parent",
                "head_name",
                "head_title",
                "head_email",
                "cc",
                "tags",
                "active_from",
                "active_until",
            ]
        )
        for a in directory:
            writer.writerow(a.csv_row())
    (rules_dir / "indicators.yaml").write_text(indicators_yaml(), encoding="utf-8")
    comments = {
        "cchc.yaml": "Cải cách hành chính: đúng hạn, thời gian giải quyết, hồ sơ quá hạn, mức độ hài lòng, Một cửa số.",
        "cds.yaml": "Chuyển đổi số: trực tuyến toàn trình, thanh toán trực tuyến, số hóa, kết quả điện tử, tái sử dụng dữ liệu.",
        "de-an-06.yaml": "Đề án 06: xác thực VNeID, kết nối Cơ sở dữ liệu quốc gia về dân cư.",
        "tong-hop.yaml": "Chỉ tiêu tính chung đơn vị và các đơn vị trực thuộc (rollup).",
    }
    rules = build_rules(directory)
    for file, file_rules in rules.items():
        (rules_dir / file).write_text(rules_yaml(file_rules, comments[file]), encoding="utf-8")
    facts, profiles = write_snapshots(out / "snapshots", directory, month_list, rng)
    # The benchmark ingests every month but the last two as history, measures the ingest of the
    # second-to-last, evaluates 5 days after its end, again the next day, then ingests the last month
    # and evaluates 5 days after its end.
    first_on = month_list[-2].end + dt.timedelta(days=5)
    waivers = _choose_waivers(directory, profiles, first_on, rng)
    with (out / "waivers.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(
            f, ["rule", "agency", "until", "granted_on", "reason", "by"], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(waivers)
    n_provinces = sum(1 for a in directory if a.level == "province")
    write_config(
        out / "config.toml",
        name=f"Benchmark: {n_provinces} tỉnh, thành phố; {len(directory):,} cơ quan, đơn vị".replace(
            ",", "."
        ),
        database_url=database_url,
        backend=backend,
    )
    all_rules = [r for file_rules in rules.values() for r in file_rules]
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "agencies_requested": agencies,
        "agencies": len(directory),
        "provinces": n_provinces,
        "levels": {
            lvl: sum(1 for a in directory if a.level == lvl)
            for lvl in ("province", "department", "district", "commune")
        },
        "indicators": 12,
        "rules": len(all_rules),
        "months": facts,
        "history": [f["file"] for f in facts[:-2]],
        "measured_month": facts[-2]["file"],
        "new_month": facts[-1]["file"],
        "first_on": first_on.isoformat(),
        "next_on": (first_on + dt.timedelta(days=1)).isoformat(),
        "new_month_on": (month_list[-1].end + dt.timedelta(days=5)).isoformat(),
        "waivers": waivers,
        "rule_specs": all_rules,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.generate", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--agencies", type=int, default=10_000, help="how many agencies (1000, 10000, 30000…)"
    )
    parser.add_argument("--months", type=int, default=24, help="months of snapshots (default 24)")
    parser.add_argument(
        "--start", default=DEFAULT_START, help=f"first month, YYYY-MM (default {DEFAULT_START})"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, required=True, help="the folder to write the deployment into")
    parser.add_argument(
        "--database-url",
        default="sqlite:///var/compliance.db",
        help="SQLite (default, relative to config.toml) or postgresql+psycopg://user@host/db",
    )
    parser.add_argument("--backend", choices=["durable", "python"], default="durable", help="the rule engine")
    args = parser.parse_args(argv)
    manifest = generate(
        args.out,
        agencies=args.agencies,
        months=args.months,
        seed=args.seed,
        start=args.start,
        database_url=args.database_url,
        backend=args.backend,
    )
    rows = sum(f["rows"] for f in manifest["months"])
    print(
        f"{args.out}: {manifest['agencies']} agencies in {manifest['provinces']} provinces, "
        f"{manifest['rules']} rules, {len(manifest['months'])} months, {rows} snapshot rows, "
        f"{len(manifest['waivers'])} waivers"
    )


if __name__ == "__main__":
    main()
