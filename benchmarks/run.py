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
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.generate import DEFAULT_SEED, GENERATOR_VERSION, generate, write_config
from benchmarks.report import (
    DURABLE_VS_PYTHON,
    PG_FACTOR,
    RSS_TARGET_MB,
    STEPS,
    TARGETS,
    check_targets,
    machine,
    markdown,
)

__all__ = ["STEPS", "main", "measure", "run_benchmark"]

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "out" / "results.json"
PG_ADMIN_URL = os.environ.get("COMPLIANCE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

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
    if "error" in setup["ingest_history"]:
        raise SystemExit(
            f"setup failed, the history could not be ingested: {setup['ingest_history']['error']}"
        )
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
            raise SystemExit(f"setup failed, a waiver could not be added: {_figure(r).get('error')}")
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
        "machine": machine(),
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
    work = work.resolve()
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
    work = (args.work or out.parent / "work").resolve()  # the steps run in their own folders
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
