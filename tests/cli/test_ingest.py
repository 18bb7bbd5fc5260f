"""`compliance ingest` through the real command: files are independent, rejections name every bad row."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import func, select

from compliance.storage import auditlog
from compliance.storage.db import open_database
from compliance.storage.schema import snapshot_files, snapshot_rows
from tests.conftest import REPO, Cli
from tests.support.deployment import RULES_YAML, write_deployment

HEADER = "period,agency,indicator,numerator,denominator,value,status,as_of"
GOOD = f"""{HEADER}
2023-06,so-a,online_payment,1305,2900,,,
2023-06,so-b,online_payment,45,100,,,2023-07-03
2022,so-a,par_index,,,82.58,,
"""
BAD_DIR = REPO / "tests" / "data" / "invalid-snapshots" / "bad-rows"


def _problems(text: str) -> list[str]:
    """The printed errors, one string per problem (a hint line belongs to the problem above it)."""
    out: list[str] = []
    for line in text.splitlines():
        if line.startswith("  hint: "):
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_good_and_bad_files_in_one_command_then_a_duplicate(cli: Cli, tmp_path: Path, db_url: str) -> None:
    write_deployment(
        tmp_path,
        database_url=db_url,
        extra_files={"data/good.csv": GOOD, "data/bad.csv": (BAD_DIR / "bad.csv").read_bytes()},
    )
    good, bad = tmp_path / "data/good.csv", tmp_path / "data/bad.csv"
    result = cli("ingest", "data/bad.csv", "data/good.csv", "--json")
    assert result.returncode == 1
    expected_errors = (BAD_DIR / "expected.txt").read_text(encoding="utf-8")
    assert result.stderr == expected_errors
    payload = json.loads(result.stdout)
    assert payload == [
        {
            "file": "data/bad.csv",
            "sha256": _sha(bad),
            "rows": 0,
            "status": "rejected",
            "errors": _problems(expected_errors),
        },
        {"file": "data/good.csv", "sha256": _sha(good), "rows": 3, "status": "ingested", "errors": []},
    ]

    again = cli("ingest", "data/good.csv")
    assert again.returncode == 0, again.stderr
    assert again.stderr == ""
    assert "data/good.csv" in again.stdout and "trùng, đã nhập trước đó" in again.stdout
    assert again.stdout.rstrip().endswith("Đã nhập 0 tệp (0 dòng), 1 tệp trùng, 0 tệp bị từ chối.")

    db = open_database(db_url)
    try:
        with db.read() as conn:
            assert conn.execute(select(func.count()).select_from(snapshot_files)).scalar() == 1
            assert conn.execute(select(func.count()).select_from(snapshot_rows)).scalar() == 3
            entries = list(auditlog.iter_entries(conn))
    finally:
        db.dispose()
    assert [(e.seq, e.kind, e.data["file"], e.data["sha256"]) for e in entries] == [
        (1, "snapshot-rejected", "bad.csv", _sha(bad)),  # logged by file name, without the folder
        (2, "snapshot-ingested", "good.csv", _sha(good)),
    ]
    assert entries[0].data["errors"] == payload[0]["errors"]


def test_table_output_and_a_missing_file(cli: Cli, tmp_path: Path) -> None:
    write_deployment(tmp_path, extra_files={"data/good.csv": GOOD})
    result = cli("ingest", "data/good.csv", "data/nothere.csv")
    assert result.returncode == 1
    assert result.stderr == "data/nothere.csv: cannot read the file: No such file or directory\n"
    lines = result.stdout.splitlines()
    assert any("data/good.csv" in line and "│ 3 " in line and "đã nhập" in line for line in lines)
    assert any("data/nothere.csv" in line and "bị từ chối" in line for line in lines)
    assert lines[-1] == "Đã nhập 1 tệp (3 dòng), 0 tệp trùng, 1 tệp bị từ chối."


def test_an_invalid_deployment_ingests_nothing(cli: Cli, tmp_path: Path) -> None:
    write_deployment(
        tmp_path,
        rules_yaml=RULES_YAML.replace("indicator: online_payment", "indicator: online_paymnt"),
        extra_files={"data/good.csv": GOOD},
    )
    result = cli("ingest", "data/good.csv")
    assert result.returncode == 1
    assert "unknown indicator 'online_paymnt'" in result.stderr
    assert result.stdout == ""
    db = open_database(f"sqlite:///{tmp_path / 'var/compliance.db'}")
    try:
        with db.read() as conn:
            assert conn.execute(select(func.count()).select_from(snapshot_files)).scalar() == 0
    finally:
        db.dispose()


def test_ingest_needs_a_file(cli: Cli, tmp_path: Path) -> None:
    write_deployment(tmp_path)
    result = cli("ingest")
    assert result.returncode == 2
    assert "Missing argument 'FILES...'" in result.stderr
