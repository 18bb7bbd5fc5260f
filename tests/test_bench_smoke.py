"""The benchmark at a tiny size: the generator writes a valid deployment, and `benchmarks.run` yields every figure."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.generate import generate
from benchmarks.report import STEPS

REPO = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLIANCE_")}
    env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    return env


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_generator_is_seeded_and_writes_the_country(tmp_path: Path) -> None:
    one = generate(tmp_path / "one", agencies=300, months=4)
    two = generate(tmp_path / "two", agencies=300, months=4)
    other = generate(tmp_path / "other", agencies=300, months=4, seed=7)

    assert one == two
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")
    assert _digest(tmp_path / "one") != _digest(tmp_path / "other")
    assert other["agencies"] == one["agencies"]  # the same shape of country, other figures
    assert one["provinces"] == 12
    assert one["rules"] == 40
    assert one["indicators"] == 12
    assert [m["file"] for m in one["months"]] == ["2023-02.csv", "2023-03.csv", "2023-04.csv", "2023-05.csv"]
    assert one["history"] == ["2023-02.csv", "2023-03.csv"]
    assert (one["measured_month"], one["new_month"]) == ("2023-04.csv", "2023-05.csv")
    assert (one["first_on"], one["next_on"], one["new_month_on"]) == (
        "2023-05-05",
        "2023-05-06",
        "2023-06-05",
    )
    with (tmp_path / "one" / "rules" / "agencies.csv").open(encoding="utf-8") as f:
        agencies = list(csv.DictReader(f))
    # 300 requested, plus one successor for each merged commune (1 % of communes).
    assert len(agencies) == one["agencies"] == 300 + sum(1 for a in agencies if a["active_until"])
    assert {a["level"] for a in agencies} == {"province", "department", "district", "commune"}
    march = (tmp_path / "one" / "snapshots" / "2023-03.csv").read_text(encoding="utf-8").splitlines()
    assert march[0] == "period,agency,indicator,numerator,denominator,value,status,as_of"
    assert any(line.startswith("2023-Q1,") for line in march)  # the quarterly indicator closes its quarter
    assert any(line.startswith("2023-02,") and line.endswith(",2023-03-10") for line in march)  # revisions
    assert sum(1 for line in march if line.startswith("2023-03,")) > 10 * 300  # 11 monthly indicators
    # Roughly 12 rows per agency a month, as the 120,000 rows for 10,000 agencies.
    assert 11 * 300 < len(march) < 13 * 300


def test_generated_rules_use_every_feature(tmp_path: Path) -> None:
    manifest = generate(tmp_path, agencies=200, months=3)
    specs = manifest["rule_specs"]
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((tmp_path / "rules").glob("*.yaml")))

    assert len({r["id"] for r in specs}) == 40
    assert any("ramp" in (r.get("target") or {}) for r in specs)
    assert any(r.get("rollup") for r in specs)
    assert any(r.get("for", 1) > 1 for r in specs)
    assert any("resolve" in r for r in specs)
    assert any("min_denominator" in r for r in specs)
    assert any("max_age_days" in r for r in specs)
    assert any(r.get("missing_is_violation") for r in specs)
    assert any(r.get("kind") == "milestone" for r in specs)
    for key in ("levels", "tags", "agencies", "exclude"):
        assert any(r["scope"].get(key) for r in specs), key
    assert "frequency: quarter" in text
    assert text.count("kind: milestone") == 5  # 2 indicators + 3 rules
    assert manifest["waivers"] and all(w["rule"].endswith("-chi-tieu") for w in manifest["waivers"])


def test_generated_deployment_passes_compliance_check(tmp_path: Path) -> None:
    generate(tmp_path, agencies=200, months=3)
    proc = subprocess.run(
        [sys.executable, "-m", "compliance", "--config", str(tmp_path / "config.toml"), "check"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    agencies = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))["agencies"]
    assert proc.stdout.strip() == f"OK: 40 rules, 12 indicators, {agencies} agencies"


@pytest.mark.slow
def test_benchmark_runs_end_to_end_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--agencies",
            "60",
            "--months",
            "3",
            "--databases",
            "sqlite",
            "--backends",
            "durable,python",
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    (size,) = results["sizes"]
    assert [(r["database"], r["backend"]) for r in size["runs"]] == [
        ("sqlite", "durable"),
        ("sqlite", "python"),
    ]
    floor = size["floor"]
    assert floor["ingest_sqlite"]["rows"] == size["measured_month_rows"]
    assert floor["evaluate"]["evaluations"] > 0
    for run in size["runs"]:
        figures = run["figures"]
        for step in [*STEPS, "floor_verify"]:
            assert "error" not in figures[step], (run["backend"], step, figures[step])
            assert figures[step]["seconds"] > 0 and figures[step]["peak_rss_mb"] > 0, (run["backend"], step)
        first = figures["evaluate"]["output"]
        # The product evaluates exactly the rule × agency pairs the floor compares.
        assert sum(first["outcomes"].values()) == floor["evaluate"]["evaluations"]
        assert first["tasks"]["opened"] > 0
        assert figures["next_day"]["output"]["tasks"]["opened"] == 0
        assert figures["next_day"]["output"]["tasks"]["resolved"] == 0
        assert figures["notify"]["output"]["sent"] > 0
        assert figures["verify"]["output"].startswith("OK: ")
        assert figures["floor_verify"]["entries"] == int(figures["verify"]["output"].split()[1])
        assert [f["status"] for f in figures["ingest"]["output"]] == ["ingested"]
    durable, python = (r["figures"] for r in size["runs"])
    for step in ("evaluate", "next_day", "evaluate_new"):
        assert durable[step]["output"]["outcomes"] == python[step]["output"]["outcomes"]
        assert durable[step]["output"]["tasks"] == python[step]["output"]["tasks"]
    assert {c["what"] for c in size["checks"]} >= {
        "evaluate (sqlite, durable)",
        "durable / python, evaluate (sqlite)",
    }
    assert "| sqlite | durable |" in results["markdown"]
    assert "| sqlite | durable |" in proc.stdout
