"""`compliance evaluate` and `compliance status` through the real command.

Each command call starts a Python process (about a second), so each test walks one timeline and checks
every output on the way; the semantics themselves are tested in-process on both databases in
tests/pipeline/. The storage-heavy timeline runs on SQLite and PostgreSQL here too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from compliance.storage.db import open_database
from tests.conftest import Cli, CliResult
from tests.pipeline.evalsupport import HEADER, RULES, table_counts
from tests.support.deployment import write_deployment

# so-a fails `pay` in January and February (for: 2, a task opens on 28/02), so-b passes, huyen-x has no
# data; `pay-once` (full_online, so-a and so-b, for: 1) fails for so-b in February (a task opens at once).
JANUARY = f"""{HEADER}
2023-01,so-a,online_payment,10,100,,,
2023-01,so-b,online_payment,50,100,,,
2023-01,so-a,full_online,60,100,,,
"""
FEBRUARY = f"""{HEADER}
2023-02,so-a,online_payment,100,400,,,
2023-02,so-b,online_payment,45,100,,,
2023-02,so-b,full_online,1305,2900,,,
"""
WIDE = {"COLUMNS": "200"}  # rich fits tables to the terminal, and a pipe counts as 80 columns


def setup(tmp_path: Path, db_url: str | None = None) -> Path:
    extra = {"data/2023-01.csv": JANUARY, "data/2023-02.csv": FEBRUARY}
    if db_url is None:
        return write_deployment(tmp_path, rules_yaml=RULES, extra_files=extra)
    return write_deployment(tmp_path, rules_yaml=RULES, extra_files=extra, database_url=db_url)


def ok(result: CliResult) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def as_json(result: CliResult) -> Any:
    return json.loads(ok(result))


def test_evaluate_again_back_in_time_and_dry_run(cli: Cli, tmp_path: Path, db_url: str) -> None:
    setup(tmp_path, db_url)
    ok(cli("ingest", "data/2023-01.csv", "data/2023-02.csv"))
    first = as_json(cli("evaluate", "--at", "2023-02-28", "--json"))
    assert re.fullmatch(r"run-20230228-[0-9a-f]{12}", first["run_id"])
    assert re.fullmatch(r"[0-9a-f]{64}", first["rules_revision"])
    assert {
        k: first[k] for k in ("at", "outcomes", "tasks", "dry_run", "repeat", "evaluations", "logged")
    } == {
        "at": "2023-02-28",
        "outcomes": {"pass": 2, "fail": 2, "insufficient": 0, "no_data": 1, "stale": 0, "not_applicable": 0},
        "tasks": {"opened": 2, "resolved": 0, "waived": 0, "updated": 0, "open": 2},
        "dry_run": False,
        "repeat": False,
        "evaluations": 5,
        "logged": 5,
    }
    db = open_database(db_url)
    try:
        before = table_counts(db)
        again = as_json(cli("evaluate", "--at", "2023-02-28", "--json"))
        assert again["repeat"] is True
        same = ("run_id", "at", "rules_revision", "outcomes", "tasks", "digest")
        assert {k: again[k] for k in same} == {k: first[k] for k in same}
        refused = cli("evaluate", "--at", "2023-01-31")
        assert (refused.returncode, refused.stdout) == (1, "")
        assert refused.stderr == (
            f"không thể đánh giá tại ngày 31/01/2023: lần đánh giá gần nhất ({first['run_id']}) đã đánh giá "
            "tại ngày 28/02/2023 và thời gian chỉ đi tới (dùng --dry-run để xem kết quả tại một ngày trước "
            "đó mà không ghi gì)\n"
        )
        earlier = as_json(cli("evaluate", "--at", "2023-01-31", "--dry-run", "--json"))
        assert table_counts(db) == before
    finally:
        db.dispose()
    assert (earlier["dry_run"], earlier["outcomes"]["fail"], earlier["tasks"]["opened"]) == (True, 1, 0)


def test_readable_outputs_and_the_status_matrix(cli: Cli, tmp_path: Path) -> None:
    setup(tmp_path)
    assert ok(cli("status")) == "Chưa có lượt đánh giá nào: chạy `compliance evaluate` trước.\n"
    ok(cli("ingest", "data/2023-01.csv", "data/2023-02.csv"))
    lines = ok(cli("evaluate", "--at", "2023-02-28")).splitlines()
    assert re.fullmatch(r"Đánh giá ngày 28/02/2023, lượt run-20230228-[0-9a-f]{12}", lines[0])
    run_id = lines[0].rsplit(" ", 1)[1]
    assert re.fullmatch(r"Bộ quy tắc: [0-9a-f]{12}", lines[1])
    assert lines[2:] == [
        "Kết quả (5 lượt quy tắc × cơ quan): 2 đạt, 2 không đạt, 0 chưa đủ số liệu để đánh giá, "
        "1 chưa có số liệu, 0 số liệu chưa được cập nhật, 0 không áp dụng",
        "Nhiệm vụ: 2 giao mới, 0 tự động hoàn thành, 2 đang mở",
    ]
    again = ok(cli("evaluate", "--at", "2023-02-28")).splitlines()
    assert again[1] == "Số liệu và quy tắc không đổi so với lượt đánh giá cùng ngày: không có gì thay đổi."
    dry = ok(cli("evaluate", "--at", "2023-01-31", "--dry-run")).splitlines()
    assert dry[0] == "Đánh giá ngày 31/01/2023 (chạy thử: không ghi gì vào cơ sở dữ liệu)"
    assert dry[3] == "Nhiệm vụ: 0 giao mới, 0 tự động hoàn thành, 2 đang mở"

    matrix = ok(cli("status", env=WIDE))
    assert "Bảng tổng hợp kết quả đánh giá — ngày 28/02/2023" in matrix
    assert "Sở A (so-a)" in matrix and "UBND huyện X (huyen-x)" in matrix
    assert "không đạt 25% [NV 1]" in matrix
    assert "không đạt 45% [NV 2]" in matrix
    assert "đạt 60%" in matrix and "chưa có số liệu" in matrix
    assert matrix.endswith(
        "Tổng: 2 đạt, 2 không đạt, 0 chưa đủ số liệu để đánh giá, 1 chưa có số liệu, 0 số liệu chưa được "
        f"cập nhật, 0 không áp dụng. Lượt đánh giá gần nhất: {run_id}.\n"
    )
    cell = {"run_id": run_id, "since": "2023-02-28"}
    assert as_json(cli("status", "--json")) == [
        {"rule": "pay", "agency": "huyen-x", "outcome": "no_data", "period": None, "value": None,
         "target": None, "streak": 0, "task_id": None, **cell},
        {"rule": "pay", "agency": "so-a", "outcome": "fail", "period": "2023-02", "value": 0.25, "target": 0.3,
         "streak": 2, "task_id": 1, **cell},
        {"rule": "pay", "agency": "so-b", "outcome": "pass", "period": "2023-02", "value": 0.45, "target": 0.3,
         "streak": 0, "task_id": None, **cell},
        {"rule": "pay-once", "agency": "so-a", "outcome": "pass", "period": "2023-01", "value": 0.6,
         "target": 0.5, "streak": 0, "task_id": None, **cell},
        {"rule": "pay-once", "agency": "so-b", "outcome": "fail", "period": "2023-02", "value": 0.45,
         "target": 0.5, "streak": 1, "task_id": 2, **cell},
    ]  # fmt: skip
    only = as_json(cli("status", "--json", "--agency", "so-b", "--rule", "pay"))
    assert [(r["rule"], r["agency"], r["outcome"]) for r in only] == [("pay", "so-b", "pass")]


def test_wrong_names_and_dates(cli: Cli, tmp_path: Path) -> None:
    setup(tmp_path)
    wrong = cli("status", "--agency", "so-aa")
    assert (wrong.returncode, wrong.stdout) == (1, "")
    assert wrong.stderr == "không có cơ quan, đơn vị 'so-aa'\n  hint: did you mean 'so-a'?\n"
    wrong = cli("status", "--rule", "pya")
    assert (wrong.returncode, wrong.stderr) == (
        1,
        "không có quy tắc đánh giá 'pya'\n  hint: did you mean 'pay'?\n",
    )
    usage = cli("evaluate", "--at", "28/02/2023")
    assert usage.returncode == 2
    assert "'28/02/2023' is not a date like 2023-07-15" in usage.stderr
