"""The floor: what plain Python does for the same work, so the product's figures can be read as ratios.

Each measurement runs in its own process (the runner starts it) and prints one JSON object:

- `ingest`: read one month's CSV with `csv` and insert its rows with `executemany` into a plain table
  (SQLite file or PostgreSQL schema), in one transaction;
- `evaluate`: the same threshold and milestone comparisons as the generated rules, in a tight loop over
  the latest row of every rule × agency in scope (the rows are read first, untimed; that read is
  reported separately);
- `verify`: read every audit_log row with plain SQL and chain sha256 over them.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pg_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=False)


def _int(text: str) -> int | None:
    return int(text) if text else None


def ingest(file: Path, url: str) -> dict[str, Any]:
    cpu = time.process_time()
    started = time.perf_counter()
    with file.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        rows = [
            (p, a, i, _int(n), _int(d), v or None, s or None, o or None) for p, a, i, n, d, v, s, o in reader
        ]
    ddl = (
        "CREATE TABLE floor_rows (period TEXT, agency TEXT, indicator TEXT, numerator BIGINT, "
        "denominator BIGINT, value TEXT, status TEXT, as_of TEXT)"
    )
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        Path(path).unlink(missing_ok=True)
        conn = sqlite3.connect(path)
        conn.execute(ddl)
        conn.executemany("INSERT INTO floor_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.commit()
        conn.close()
    else:
        with _pg_connect(url) as conn:
            conn.execute("DROP TABLE IF EXISTS floor_rows")
            conn.execute(ddl)
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO floor_rows VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows)
            conn.commit()
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "rows": len(rows),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _period_end(label: str) -> dt.date:
    if "-Q" in label:
        year, q = label.split("-Q")
        month = int(q) * 3
    else:
        year, m = label.split("-")
        month = int(m)
    nxt = dt.date(int(year) + month // 12, month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def _fraction(text: Any) -> tuple[int, int]:
    s = str(text)
    value = Decimal(s[:-1]) / 100 if s.endswith("%") else Decimal(s)
    return value.as_integer_ratio()


def evaluate(data: Path) -> dict[str, Any]:
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    on = dt.date.fromisoformat(manifest["first_on"])
    load_started = time.perf_counter()
    agencies: dict[str, dict[str, Any]] = {}
    children: dict[str, list[str]] = {}
    with (data / "rules" / "agencies.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            active = (not row["active_from"] or dt.date.fromisoformat(row["active_from"]) <= on) and (
                not row["active_until"] or dt.date.fromisoformat(row["active_until"]) >= on
            )
            agencies[row["id"]] = {
                "level": row["level"],
                "tags": set(row["tags"].split(";")),
                "active": active,
            }
            children.setdefault(row["parent"], []).append(row["id"])
    # latest[(agency, indicator)] = (period_end, as_of, numerator, denominator, value, status)
    latest: dict[tuple[str, str], tuple[dt.date, str, int, int, Decimal | None, str]] = {}
    files = [*manifest["history"], manifest["measured_month"]]
    day = on.isoformat()
    for name in files:
        with (data / "snapshots" / name).open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            next(reader)
            for period, agency, indicator, n, d, v, s, as_of in reader:
                end = _period_end(period)
                taken = as_of or end.isoformat()
                if taken > day:
                    continue
                key = (agency, indicator)
                current = latest.get(key)
                if current is None or (end, taken) >= (current[0], current[1]):
                    latest[key] = (end, taken, int(n or 0), int(d or 0), Decimal(v) if v else None, s)
    stages = {
        "db_civil": ["planned", "built", "connected", "shared"],
        "one_stop": ["planned", "piloted", "operating"],
    }
    loaded = time.perf_counter() - load_started

    cpu = time.process_time()
    started = time.perf_counter()
    descendants: dict[str, list[str]] = {}
    counts = {"pass": 0, "fail": 0, "insufficient": 0, "no_data": 0, "stale": 0, "not_applicable": 0}
    for rule in manifest["rule_specs"]:
        scope = rule["scope"]
        levels = set(scope.get("levels", ()))
        tags = set(scope.get("tags", ()))
        named = set(scope.get("agencies", ()))
        exclude = set(scope.get("exclude", ()))
        indicator = rule["indicator"]
        min_den = rule.get("min_denominator", 1)
        max_age = rule.get("max_age_days")
        oldest = on - dt.timedelta(days=max_age) if max_age is not None else None
        if rule.get("kind") == "milestone":
            order = stages[indicator]
            required_stage = None
            for m in rule["milestones"]:
                if dt.date.fromisoformat(m["by"]) < on:
                    required_stage = order.index(m["stage"])
        else:
            target = rule["target"]
            op = target["op"]
            ramp = [(dt.date.fromisoformat(s["from"]), _fraction(s["value"])) for s in target.get("ramp", ())]
            fixed = _fraction(target["value"]) if "value" in target else None
        for agency_id, agency in agencies.items():
            if not agency["active"] or agency_id in exclude:
                continue
            if not (agency["level"] in levels or agency_id in named or tags & agency["tags"]):
                continue
            row = latest.get((agency_id, indicator))
            if rule.get("kind") == "milestone":
                if required_stage is None:
                    counts["not_applicable"] += 1
                    continue
                reported = order.index(row[5]) if row is not None else -1
                counts["pass" if reported >= required_stage else "fail"] += 1
                continue
            if rule.get("rollup"):
                group = descendants.get(agency_id)
                if group is None:
                    group, stack = [agency_id], list(children.get(agency_id, ()))
                    while stack:
                        child = stack.pop()
                        group.append(child)
                        stack.extend(children.get(child, ()))
                    descendants[agency_id] = group
                found = [r for r in (latest.get((g, indicator)) for g in group) if r is not None]
                if found:
                    end = max(r[0] for r in found)
                    same = [r for r in found if r[0] == end]
                    row = (end, "", sum(r[2] for r in same), sum(r[3] for r in same), None, "")
            if row is None:
                counts["no_data"] += 1
                continue
            end = row[0]
            if fixed is not None:
                p, q = fixed
            else:
                chosen = None
                for start, frac in ramp:
                    if start <= end:
                        chosen = frac
                if chosen is None:
                    counts["not_applicable"] += 1
                    continue
                p, q = chosen
            if row[4] is not None:  # a value row: compare value with p/q exactly
                left, right = row[4] * q, Decimal(p)
            else:
                if row[3] < min_den or row[3] == 0:
                    counts["insufficient"] += 1
                    continue
                left, right = row[2] * q, p * row[3]
            if oldest is not None and end < oldest:
                counts["stale"] += 1
                continue
            ok = (
                left >= right
                if op == ">="
                else left > right
                if op == ">"
                else left <= right
                if op == "<="
                else left < right
            )
            counts["pass" if ok else "fail"] += 1
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "load_seconds": loaded,
        "evaluations": sum(counts.values()),
        "outcomes": counts,
        "peak_rss_mb": _peak_rss_mb(),
    }


def verify(url: str) -> dict[str, Any]:
    cpu = time.process_time()
    started = time.perf_counter()
    query = (
        "SELECT seq, at, run_id, kind, rule, agency, period, outcome, data, rules_revision, prev_hash, hash "
        "FROM audit_log ORDER BY seq"
    )
    prev = "0" * 64
    count = 0
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///") :])
        rows: Any = conn.execute(query)
    else:
        conn = _pg_connect(url)
        rows = conn.cursor(name="floor_verify")  # server-side cursor: stream, as the product should
        rows.itersize = 10_000
        rows.execute(query)
    for row in rows:
        text = "|".join("" if x is None else str(x) for x in row[:10])
        prev = hashlib.sha256((prev + text).encode("utf-8")).hexdigest()
        count += 1
    conn.close()
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "entries": count,
        "peak_rss_mb": _peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p_ingest = sub.add_parser("ingest")
    p_ingest.add_argument("--file", type=Path, required=True)
    p_ingest.add_argument("--url", required=True)
    p_eval = sub.add_parser("evaluate")
    p_eval.add_argument("--data", type=Path, required=True)
    p_verify = sub.add_parser("verify")
    p_verify.add_argument("--url", required=True)
    args = parser.parse_args(argv)
    if args.what == "ingest":
        result = ingest(args.file, args.url)
    elif args.what == "evaluate":
        result = evaluate(args.data)
    else:
        result = verify(args.url)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
