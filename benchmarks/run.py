"""The country-scale benchmark: measure the product's whole path at 1,000–30,000 agencies (issue 5).

`python -m benchmarks.run [--agencies 10000[,30000…]] [--backends durable,python]
[--databases sqlite,postgres] [--out benchmarks/out/results.json]`

For each size it generates a synthetic country (benchmarks/generate.py, cached under the work folder),
then for each database and engine it runs the real `compliance` command, each step in a fresh process
whose wall time and peak RSS (the kernel's ru_maxrss of that child) are the figures:

    setup       ingest the history (all months but the last two) and add the waivers (not a figure)
    ingest      `compliance ingest` of one month (about 12 rows per agency)
    evaluate    `compliance evaluate --at D`: the first run, over all the history
    next_day    `compliance evaluate --at D+1`: no new data
    notify      `compliance notify --at D+1`: planning, queueing and sending (file backend)
    ingest_new  `compliance ingest` of the last month, and `evaluate_new` 5 days after its end
    verify      `compliance audit verify` over the whole log

and the floor (benchmarks/floor.py): plain csv + executemany of the same month, the same threshold
comparisons in a tight loop, a plain read-and-hash of the same audit log. It prints markdown tables
(figures, ratios to the floor, targets, growth across sizes) and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.generate import DEFAULT_SEED, GENERATOR_VERSION, generate, write_config

__all__ = ["STEPS", "TARGETS", "main", "run_benchmark"]

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "out" / "results.json"
PG_ADMIN_URL = os.environ.get("COMPLIANCE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# The measured steps in the order they run (verify last: it covers the whole log).
STEPS = ["ingest", "evaluate", "next_day", "notify", "ingest_new", "evaluate_new", "verify"]
STEP_TITLES = {
    "ingest": "ingest one month",
    "evaluate": "first evaluation",
    "next_day": "next day, no new data",
    "notify": "notify (plan, queue, send)",
    "ingest_new": "ingest the next month",
    "evaluate_new": "evaluation after it",
    "verify": "audit verify",
}
# Which floor each step is compared with.
FLOOR_OF = {
    "ingest": "ingest",
    "ingest_new": "ingest",
    "evaluate": "evaluate",
    "next_day": "evaluate",
    "evaluate_new": "evaluate",
    "verify": "verify",
}
# Issue 5's targets on SQLite at 10,000 agencies, in seconds; PostgreSQL gets twice as long.
TARGETS = {"ingest": 5.0, "evaluate": 15.0, "next_day": 5.0, "verify": 10.0}
RSS_TARGET_MB = 1536.0
DURABLE_VS_PYTHON = 1.5
PG_FACTOR = 2.0


# ----------------------------------------------------------------------------------------- processes


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLIANCE_")}
    env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def measure(cmd: list[str], cwd: Path, *, timeout: float = 3600) -> dict[str, Any]:
    """Run `cmd` in a fresh process: wall seconds, that child's peak RSS (MB), exit code, output."""
    out_path = cwd / f".out-{uuid.uuid4().hex[:8]}"
    err_path = cwd / f".err-{uuid.uuid4().hex[:8]}"
    load_before = _loadavg()
    started = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=out, stderr=err)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
    seconds = time.perf_counter() - started
    load_after = _loadavg()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout = out_path.read_text(encoding="utf-8", errors="replace")
    stderr = err_path.read_text(encoding="utf-8", errors="replace")
    out_path.unlink()
    err_path.unlink()
    return {
        "seconds": round(seconds, 3),
        # The process's own CPU (not the database server's): robust when other work shares the machine.
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "loadavg": [load_before, load_after],
        "returncode": proc.returncode,
        "stdout": stdout,
        "stderr": stderr,
    }


def _loadavg() -> float:
    """The 1-minute load average: a figure taken while other work ran on the machine is suspect."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def _compliance(config: Path, *args: str, profile: Path | None = None) -> list[str]:
    if profile is not None:
        return [
            sys.executable,
            "-m",
            "pyinstrument",
            "--renderer",
            "text",
            "--outfile",
            str(profile),
            "-m",
            "compliance",
            "--config",
            str(config),
            *args,
        ]
    return [sys.executable, "-m", "compliance", "--config", str(config), *args]


def _floor(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.floor", *args]


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _figure(result: dict[str, Any], ok_codes: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """What goes in the results: time, memory, and on failure the end of stderr."""
    figure: dict[str, Any] = {
        "seconds": result["seconds"],
        "cpu_seconds": result["cpu_seconds"],
        "peak_rss_mb": result["peak_rss_mb"],
        "loadavg": result["loadavg"],
    }
    parsed = _json_or_none(result["stdout"])
    if parsed is not None:
        figure["output"] = parsed if not isinstance(parsed, list) else _summarise_ingest(parsed)
    elif result["stdout"].strip():
        figure["output"] = result["stdout"].strip().splitlines()[-1][:300]
    if result["returncode"] not in ok_codes:
        figure["error"] = (
            f"exit {result['returncode']}: " + " | ".join(result["stderr"].strip().splitlines()[-5:])[-1500:]
        )
    return figure


def _summarise_ingest(files: list[Any]) -> Any:
    if all(isinstance(f, dict) for f in files):
        return [
            {k: f.get(k) for k in ("file", "rows", "status")} | {"errors": len(f.get("errors") or [])}
            for f in files
        ]
    return files


# ------------------------------------------------------------------------------------------ database


class PgSchemas:
    """Fresh PostgreSQL schemas on the test server, dropped at the end."""

    def __init__(self, admin_url: str) -> None:
        from sqlalchemy import create_engine

        self.admin_url = admin_url
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def create(self, prefix: str) -> str:
        from sqlalchemy import text

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with self.engine.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {name}"))
        self.names.append(name)
        sep = "&" if "?" in self.admin_url else "?"
        return f"{self.admin_url}{sep}options=-csearch_path%3D{name}"

    def drop_all(self) -> None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            for name in self.names:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        self.names.clear()
        self.engine.dispose()


def _sqlite_checkpoint(path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


# -------------------------------------------------------------------------------------------- a size


def _data_dir(work: Path, agencies: int, months: int, seed: int) -> Path:
    return work / f"country-{agencies}-m{months}-s{seed}"


def ensure_data(work: Path, agencies: int, months: int, seed: int, log: Any) -> tuple[Path, dict[str, Any]]:
    """The generated country for this size, reused when the same generator already wrote it."""
    data = _data_dir(work, agencies, months, seed)
    manifest_path = data / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("generator_version") == GENERATOR_VERSION:
            return data, manifest
    log(f"generating {agencies} agencies × {months} months into {data}")
    if data.exists():
        shutil.rmtree(data)
    started = time.perf_counter()
    manifest = generate(data, agencies=agencies, months=months, seed=seed)
    log(f"  generated in {time.perf_counter() - started:.1f} s")
    return data, manifest


def _combo_config(combo: Path, data: Path, url: str, backend: str, name: str) -> Path:
    config = combo / "config.toml"
    write_config(
        config,
        name=name,
        database_url=url,
        backend=backend,
        rules_dir=str((data / "rules").resolve()),
        agencies=str((data / "rules" / "agencies.csv").resolve()),
        outbox_dir="outbox",
        inbox_dir="inbox",
    )
    return config


def _setup(config: Path, combo: Path, data: Path, manifest: dict[str, Any], log: Any) -> dict[str, Any]:
    """Ingest the history and add the waivers, through the real CLI (not a figure)."""
    files = [str(data / "snapshots" / f) for f in manifest["history"]]
    result = measure(_compliance(config, "ingest", "--json", *files), combo)
    setup = {"ingest_history": _figure(result), "months": len(files)}
    log(f"    setup: {len(files)} months ingested in {result['seconds']:.1f} s")
    waiver_seconds = 0.0
    granted_default = (dt.date.fromisoformat(manifest["first_on"]) - dt.timedelta(days=60)).isoformat()
    for w in manifest["waivers"]:
        granted_on = w.get("granted_on", granted_default)
        r = measure(
            _compliance(
                config,
                "waivers",
                "add",
                "--rule",
                w["rule"],
                "--agency",
                w["agency"],
                "--until",
                w["until"],
                "--reason",
                w["reason"],
                "--by",
                w["by"],
                "--at",
                granted_on,
            ),
            combo,
        )
        waiver_seconds += r["seconds"]
        if r["returncode"] != 0:
            setup.setdefault("errors", []).append(_figure(r).get("error"))
    setup["waivers"] = {"count": len(manifest["waivers"]), "seconds": round(waiver_seconds, 3)}
    return setup


def _steps(
    config: Path,
    combo: Path,
    data: Path,
    manifest: dict[str, Any],
    url: str,
    log: Any,
    profile_dir: Path | None,
) -> dict[str, Any]:
    snap = data / "snapshots"
    commands = {
        "ingest": ["ingest", "--json", str(snap / manifest["measured_month"])],
        "evaluate": ["evaluate", "--at", manifest["first_on"], "--json"],
        "next_day": ["evaluate", "--at", manifest["next_on"], "--json"],
        "notify": ["notify", "--at", manifest["next_on"], "--json"],
        "ingest_new": ["ingest", "--json", str(snap / manifest["new_month"])],
        "evaluate_new": ["evaluate", "--at", manifest["new_month_on"], "--json"],
        "verify": ["audit", "verify"],
    }
    figures: dict[str, Any] = {}
    for step in STEPS:
        profile = profile_dir / f"{combo.name}-{step}.txt" if profile_dir is not None else None
        result = measure(_compliance(config, *commands[step], profile=profile), combo)
        figures[step] = _figure(result)
        mark = "" if "error" not in figures[step] else f"  FAILED {figures[step]['error'][:200]}"
        log(
            f"    {step:<13} {result['seconds']:8.2f} s  cpu {result['cpu_seconds']:7.2f} s  "
            f"{result['peak_rss_mb']:7.0f} MB  load {result['loadavg'][0]:.1f}{mark}"
        )
    floor = measure(_floor("verify", "--url", url), combo)
    figures["floor_verify"] = _floor_figure(floor)
    return figures


def _floor_figure(result: dict[str, Any]) -> dict[str, Any]:
    parsed = _json_or_none(result["stdout"]) or {}
    figure = {
        "seconds": round(parsed.get("seconds", result["seconds"]), 3),
        "process_seconds": result["seconds"],
        "peak_rss_mb": result["peak_rss_mb"],
    }
    figure.update({k: v for k, v in parsed.items() if k not in ("seconds", "peak_rss_mb")})
    if result["returncode"] != 0:
        figure["error"] = result["stderr"].strip()[-1500:]
    return figure


def run_size(
    agencies: int,
    *,
    months: int,
    seed: int,
    backends: list[str],
    databases: list[str],
    work: Path,
    pg_admin_url: str,
    log: Any,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    data, manifest = ensure_data(work, agencies, months, seed, log)
    measured = next(f for f in manifest["months"] if f["file"] == manifest["measured_month"])
    size: dict[str, Any] = {
        "agencies_requested": agencies,
        "agencies": manifest["agencies"],
        "provinces": manifest["provinces"],
        "levels": manifest["levels"],
        "rules": manifest["rules"],
        "indicators": manifest["indicators"],
        "months": len(manifest["months"]),
        "history_months": len(manifest["history"]),
        "measured_month_rows": measured["rows"],
        "history_rows": sum(f["rows"] for f in manifest["months"] if f["file"] in manifest["history"]),
        "first_on": manifest["first_on"],
        "floor": {},
        "runs": [],
    }
    root = work / f"run-{agencies}"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    log(
        f"== {manifest['agencies']} agencies, {manifest['rules']} rules, {measured['rows']} rows in the measured month"
    )
    floor_eval = measure(_floor("evaluate", "--data", str(data)), root)
    size["floor"]["evaluate"] = _floor_figure(floor_eval)
    log(
        f"  floor evaluate: {size['floor']['evaluate']['seconds']:.2f} s "
        f"({size['floor']['evaluate'].get('evaluations')} comparisons)"
    )
    pg = PgSchemas(pg_admin_url) if "postgres" in databases else None
    try:
        for database in databases:
            floor_url = f"sqlite:///{root / 'floor.db'}" if database == "sqlite" else pg.create("bench_floor")  # type: ignore[union-attr]
            floor_ingest = measure(
                _floor(
                    "ingest",
                    "--file",
                    str(data / "snapshots" / manifest["measured_month"]),
                    "--url",
                    floor_url,
                ),
                root,
            )
            size["floor"][f"ingest_{database}"] = _floor_figure(floor_ingest)
            log(f"  [{database}] floor ingest: {size['floor'][f'ingest_{database}']['seconds']:.2f} s")
            base_setup: dict[str, Any] | None = None
            base_db = root / "sqlite-base" / "compliance.db"
            for backend in backends:
                combo = root / f"{database}-{backend}"
                combo.mkdir()
                name = f"Benchmark {manifest['agencies']} cơ quan, đơn vị ({database}, {backend})"
                if database == "sqlite":
                    # The history is ingested once; each engine then starts from a copy of that file.
                    if base_setup is None:
                        base = base_db.parent
                        base.mkdir()
                        base_config = _combo_config(base, data, f"sqlite:///{base_db}", backend, name)
                        log(f"  [{database}] setup")
                        base_setup = _setup(base_config, base, data, manifest, log)
                        _sqlite_checkpoint(base_db)
                    url = f"sqlite:///{combo / 'compliance.db'}"
                    shutil.copyfile(base_db, combo / "compliance.db")
                    setup = base_setup
                else:
                    url = pg.create("bench")  # type: ignore[union-attr]
                    log(f"  [{database}/{backend}] setup")
                    setup = None
                config = _combo_config(combo, data, url, backend, name)
                if setup is None:
                    setup = _setup(config, combo, data, manifest, log)
                log(f"  [{database}/{backend}]")
                figures = _steps(config, combo, data, manifest, url, log, profile_dir)
                size["runs"].append(
                    {"database": database, "backend": backend, "setup": setup, "figures": figures}
                )
    finally:
        if pg is not None:
            pg.drop_all()
    return size


# ------------------------------------------------------------------------------------------- reports


def _machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        import sqlite3

        import sqlalchemy

        info["sqlite"] = sqlite3.sqlite_version
        info["sqlalchemy"] = sqlalchemy.__version__
    except ImportError:  # pragma: no cover
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
        info["commit"] = commit.stdout.strip()
    except OSError:
        pass
    return info


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def _fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "—"
    if unit == "×":
        return f"{x:.0f}×" if x >= 100 else f"{x:.1f}×"
    return f"{x:.2f}{unit}" if x < 100 else f"{x:.0f}{unit}"


def check_targets(size: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of issue 5 for this size, met or not (they are stated for about 10,000 agencies)."""
    checks: list[dict[str, Any]] = []
    runs = {(r["database"], r["backend"]): r["figures"] for r in size["runs"]}
    for (database, backend), figures in runs.items():
        factor = PG_FACTOR if database == "postgres" else 1.0
        for step, limit in TARGETS.items():
            fig = figures.get(step, {})
            value = fig.get("seconds") if "error" not in fig else None
            checks.append(
                {
                    "what": f"{step} ({database}, {backend})",
                    "value": value,
                    "limit": limit * factor,
                    "unit": "s",
                    "met": value is not None and value <= limit * factor,
                }
            )
        peak = max((f.get("peak_rss_mb", 0) for s, f in figures.items() if s in STEPS), default=None)
        checks.append(
            {
                "what": f"peak RSS ({database}, {backend})",
                "value": peak,
                "limit": RSS_TARGET_MB,
                "unit": "MB",
                "met": peak is not None and peak <= RSS_TARGET_MB,
            }
        )
    for database in {d for d, _ in runs}:
        if (database, "durable") in runs and (database, "python") in runs:
            for step in ("evaluate", "next_day", "evaluate_new"):
                d = runs[(database, "durable")].get(step, {})
                p = runs[(database, "python")].get(step, {})
                ratio = (
                    _ratio(d.get("seconds"), p.get("seconds"))
                    if "error" not in d and "error" not in p
                    else None
                )
                checks.append(
                    {
                        "what": f"durable / python, {step} ({database})",
                        "value": ratio,
                        "limit": DURABLE_VS_PYTHON,
                        "unit": "×",
                        "met": ratio is not None and ratio <= DURABLE_VS_PYTHON,
                    }
                )
    return checks


def markdown(results: dict[str, Any]) -> str:
    """The tables docs/benchmarks.md shows: figures, ratios to the floor, targets, growth."""
    lines: list[str] = []
    for size in results["sizes"]:
        lines += [
            f"### {size['agencies']:,} agencies ({size['provinces']} provinces), {size['rules']} rules, "
            f"{size['measured_month_rows']:,} rows in the measured month, {size['history_months']} months of history",
            "",
            "| database | engine | " + " | ".join(STEP_TITLES[s] for s in STEPS) + " | peak RSS |",
            "|---|---|" + "---:|" * (len(STEPS) + 1),
        ]
        for run in size["runs"]:
            f = run["figures"]
            cells = [
                _fmt(f[s]["seconds"], " s") + (" ✗" if "error" in f[s] else "") if s in f else "—"
                for s in STEPS
            ]
            peak = max((f[s].get("peak_rss_mb", 0) for s in STEPS if s in f), default=0)
            lines.append(
                f"| {run['database']} | {run['backend']} | " + " | ".join(cells) + f" | {peak:,.0f} MB |"
            )
        fl = size["floor"]
        lines += [
            "",
            "Floor (plain Python): "
            + ", ".join(
                f"{label} {_fmt(fl[key].get('seconds'), ' s')}"
                for key, label in (
                    ("ingest_sqlite", "csv + executemany into SQLite"),
                    ("ingest_postgres", "csv + executemany into PostgreSQL"),
                    ("evaluate", f"{fl.get('evaluate', {}).get('evaluations', 0):,} comparisons"),
                )
                if key in fl
            )
            + ", "
            + ", ".join(
                f"read and hash the audit log ({run['database']}, {run['backend']}) "
                f"{_fmt(run['figures'].get('floor_verify', {}).get('seconds'), ' s')}"
                for run in size["runs"][:1]
            )
            + ".",
            "",
            "Ratios to the floor:",
            "",
            "| database | engine | " + " | ".join(STEP_TITLES[s] for s in STEPS if s in FLOOR_OF) + " |",
            "|---|---|" + "---:|" * sum(1 for s in STEPS if s in FLOOR_OF),
        ]
        for run in size["runs"]:
            f = run["figures"]
            cells = []
            for s in STEPS:
                if s not in FLOOR_OF:
                    continue
                kind = FLOOR_OF[s]
                floor = (
                    f.get("floor_verify")
                    if kind == "verify"
                    else fl.get(f"ingest_{run['database']}")
                    if kind == "ingest"
                    else fl.get("evaluate")
                ) or {}
                fig = f.get(s, {})
                ok = "error" not in fig and "error" not in floor
                cells.append(_fmt(_ratio(fig.get("seconds"), floor.get("seconds")) if ok else None, "×"))
            lines.append(f"| {run['database']} | {run['backend']} | " + " | ".join(cells) + " |")
        counts = [(run, run["figures"].get("evaluate", {}).get("output")) for run in size["runs"]]
        for run, out in counts[:1]:
            if isinstance(out, dict) and "outcomes" in out:
                total = sum(out["outcomes"].values())
                lines += [
                    "",
                    f"First run ({run['database']}, {run['backend']}): {total:,} evaluations "
                    + ", ".join(f"{k} {v:,}" for k, v in out["outcomes"].items())
                    + "; tasks "
                    + ", ".join(f"{k} {v:,}" for k, v in (out.get("tasks") or {}).items())
                    + ".",
                ]
        lines += ["", "Targets:", "", "| target | measured | limit | met |", "|---|---:|---:|:---:|"]
        for check in check_targets(size):
            unit = check["unit"]
            value = _fmt(check["value"], "×" if unit == "×" else f" {unit}")
            lines.append(
                f"| {check['what']} | {value} | {_fmt(check['limit'], '×' if unit == '×' else f' {unit}')} "
                f"| {'yes' if check['met'] else '**no**'} |"
            )
        lines.append("")
    if len(results["sizes"]) > 1:
        lines += growth_table(results["sizes"])
    return "\n".join(lines)


def growth_table(sizes: list[dict[str, Any]]) -> list[str]:
    """Each figure at each size, and its growth exponent (1.0 = linear in the number of agencies)."""
    sizes = sorted(sizes, key=lambda s: s["agencies"])
    lines = [
        "### Growth",
        "",
        "| database | engine | figure | " + " | ".join(f"{s['agencies']:,}" for s in sizes) + " | exponent |",
        "|---|---|---|" + "---:|" * (len(sizes) + 1),
    ]
    combos = [(r["database"], r["backend"]) for r in sizes[0]["runs"]]
    for database, backend in combos:
        for step in [*STEPS, "peak_rss"]:
            values = []
            for s in sizes:
                run = next(
                    (r for r in s["runs"] if (r["database"], r["backend"]) == (database, backend)), None
                )
                if run is None:
                    values.append(None)
                elif step == "peak_rss":
                    values.append(
                        max(
                            (run["figures"][x].get("peak_rss_mb", 0) for x in STEPS if x in run["figures"]),
                            default=None,
                        )
                    )
                else:
                    fig = run["figures"].get(step, {})
                    values.append(fig.get("seconds") if "error" not in fig else None)
            first, last = values[0], values[-1]
            exponent = None
            if first and last and sizes[-1]["agencies"] != sizes[0]["agencies"]:
                exponent = math.log(last / first) / math.log(sizes[-1]["agencies"] / sizes[0]["agencies"])
            unit = " MB" if step == "peak_rss" else " s"
            title = "peak RSS" if step == "peak_rss" else STEP_TITLES[step]
            lines.append(
                f"| {database} | {backend} | {title} | "
                + " | ".join(_fmt(v, unit) for v in values)
                + f" | {'—' if exponent is None else f'{exponent:.2f}'} |"
            )
    lines.append("")
    return lines


# ---------------------------------------------------------------------------------------------- main


def run_benchmark(
    sizes: list[int],
    *,
    months: int = 24,
    seed: int = DEFAULT_SEED,
    backends: list[str],
    databases: list[str],
    work: Path,
    pg_admin_url: str = PG_ADMIN_URL,
    profile_dir: Path | None = None,
    log: Any = print,
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "benchmark": "compliance country-scale benchmark (issue 5)",
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "parameters": {
            "sizes": sizes,
            "months": months,
            "seed": seed,
            "backends": backends,
            "databases": databases,
            "profiled": profile_dir is not None,
        },
        "targets": {
            "seconds_sqlite": TARGETS,
            "postgres_factor": PG_FACTOR,
            "peak_rss_mb": RSS_TARGET_MB,
            "durable_vs_python": DURABLE_VS_PYTHON,
        },
        "sizes": [],
    }
    work.mkdir(parents=True, exist_ok=True)
    for agencies in sizes:
        size = run_size(
            agencies,
            months=months,
            seed=seed,
            backends=backends,
            databases=databases,
            work=work,
            pg_admin_url=pg_admin_url,
            log=log,
            profile_dir=profile_dir,
        )
        size["checks"] = check_targets(size)
        results["sizes"].append(size)
    results["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return results


def _list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--agencies", default="10000", help="comma-separated sizes, e.g. 1000,10000,30000")
    parser.add_argument("--months", type=int, default=24, help="months of generated snapshots (default 24)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--backends", default="durable,python", help="engines: durable,python")
    parser.add_argument("--databases", default="sqlite,postgres", help="databases: sqlite,postgres")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON results file")
    parser.add_argument(
        "--work", type=Path, default=None, help="where data and databases go (default: beside --out)"
    )
    parser.add_argument(
        "--pg-url", default=PG_ADMIN_URL, help="PostgreSQL server; each run gets a fresh schema"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run each product step under pyinstrument (reports beside --out; figures not comparable)",
    )
    args = parser.parse_args(argv)
    sizes = [int(x) for x in _list(args.agencies)]
    backends = _list(args.backends)
    databases = _list(args.databases)
    for b in backends:
        if b not in ("durable", "python"):
            parser.error(f"unknown backend {b!r}: durable or python")
    for d in databases:
        if d not in ("sqlite", "postgres"):
            parser.error(f"unknown database {d!r}: sqlite or postgres")
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    work = args.work or out.parent / "work"
    profile_dir = out.parent / "profiles" if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    results = run_benchmark(
        sizes,
        months=args.months,
        seed=args.seed,
        backends=backends,
        databases=databases,
        work=work,
        pg_admin_url=args.pg_url,
        profile_dir=profile_dir,
    )
    table = markdown(results)
    results["markdown"] = table
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    print()
    print(table)
    print(f"results: {out}")
    failed = [
        f"{size['agencies']}/{run['database']}/{run['backend']}/{step}"
        for size in results["sizes"]
        for run in size["runs"]
        for step, fig in run["figures"].items()
        if "error" in fig
    ]
    if failed:
        print("steps that failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
