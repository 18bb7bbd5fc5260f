"""`compliance evaluate` and `compliance status` through the real command, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path

from compliance.storage.db import open_database
from tests.conftest import Cli
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


def setup(tmp_path: Path, db_url: str | None = None) -> Path:
    extra = {"data/2023-01.csv": JANUARY, "data/2023-02.csv": FEBRUARY}
    if db_url is None:
        return write_deployment(tmp_path, rules_yaml=RULES, extra_files=extra)
    return write_deployment(tmp_path, rules_yaml=RULES, extra_files=extra, database_url=db_url)


def ok(result: object) -> str:
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    return result.stdout  # type: ignore[attr-defined,no-any-return]


def test_evaluate_json_and_the_same_date_again(cli: Cli, tmp_path: Path, db_url: str) -> None:
    setup(tmp_path, db_url)
    ok(cli("ingest", "data/2023-01.csv", "data/2023-02.csv"))
    first = json.loads(ok(cli("evaluate", "--at", "2023-02-28", "--json")))
    assert re.fullmatch(r"run-20230228-[0-9a-f]{12}", first["run_id"])
    assert first["at"] == "2023-02-28"
    assert re.fullmatch(r"[0-9a-f]{64}", first["rules_revision"])
    assert first["outcomes"] == {
        "pass": 2,
        "fail": 2,
        "insufficient": 0,
        "no_data": 1,
        "stale": 0,
        "not_applicable": 0,
    }
    assert first["tasks"] == {"opened": 2, "resolved": 0, "waived": 0, "updated": 0, "open": 2}
    assert (first["dry_run"], first["repeat"], first["evaluations"], first["logged"]) == (False, False, 5, 5)
    db = open_database(db_url)
    try:
        before = table_counts(db)
        again = json.loads(ok(cli("evaluate", "--at", "2023-02-28", "--json")))
        assert again["repeat"] is True
        assert {k: again[k] for k in ("run_id", "at", "rules_revision", "outcomes", "tasks", "digest")} == {
            k: first[k] for k in ("run_id", "at", "rules_revision", "outcomes", "tasks", "digest")
        }
        assert table_counts(db) == before
    finally:
        db.dispose()


def test_evaluate_readable_output(cli: Cli, tmp_path: Path) -> None:
    setup(tmp_path)
    ok(cli("ingest", "data/2023-01.csv", "data/2023-02.csv"))
    out = ok(cli("evaluate", "--at", "2023-02-28"))
    lines = out.splitlines()
    assert re.fullmatch(r"Đánh giá ngày 28/02/2023, lượt run-20230228-[0-9a-f]{12}", lines[0])
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


def test_time_moving_backwards_is_refused_and_a_dry_run_writes_nothing(
    cli: Cli, tmp_path: Path, db_url: str
) -> None:
    setup(tmp_path, db_url)
    ok(cli("ingest", "data/2023-01.csv"))
    first = json.loads(ok(cli("evaluate", "--at", "2023-02-10", "--json")))
    refused = cli("evaluate", "--at", "2023-01-31")
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr == (
        f"không thể đánh giá tại ngày 31/01/2023: lần đánh giá gần nhất ({first['run_id']}) đã đánh giá "
        "tại ngày 10/02/2023 và thời gian chỉ đi tới (dùng --dry-run để xem kết quả tại một ngày trước đó "
        "mà không ghi gì)\n"
    )
    ok(cli("ingest", "data/2023-02.csv"))
    db = open_database(db_url)
    try:
        before = table_counts(db)
        earlier = json.loads(ok(cli("evaluate", "--at", "2023-01-31", "--dry-run", "--json")))
        later = json.loads(ok(cli("evaluate", "--at", "2023-02-28", "--dry-run", "--json")))
        assert table_counts(db) == before
    finally:
        db.dispose()
    assert (earlier["dry_run"], earlier["outcomes"]["fail"], earlier["tasks"]["opened"]) == (True, 1, 0)
    assert later["tasks"] == {"opened": 2, "resolved": 0, "waived": 0, "updated": 0, "open": 2}


def test_an_invalid_date_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    setup(tmp_path)
    result = cli("evaluate", "--at", "28/02/2023")
    assert result.returncode == 2
    assert "'28/02/2023' is not a date like 2023-07-15" in result.stderr


def test_status_json_is_the_matrix_of_the_last_run(cli: Cli, tmp_path: Path, db_url: str) -> None:
    setup(tmp_path, db_url)
    assert json.loads(ok(cli("status", "--json"))) == []
    ok(cli("ingest", "data/2023-01.csv", "data/2023-02.csv"))
    run = json.loads(ok(cli("evaluate", "--at", "2023-02-28", "--json")))
    rows = json.loads(ok(cli("status", "--json")))
    rid = run["run_id"]
    assert rows == [
        {
            "rule": "pay",
            "agency": "huyen-x",
            "outcome": "no_data",
            "period": None,
            "value": None,
            "target": None,
            "streak": 0,
            "task_id": None,
            "run_id": rid,
            "evaluated_on": "2023-02-28",
        },
        {
            "rule": "pay",
            "agency": "so-a",
            "outcome": "fail",
            "period": "2023-02",
            "value": 0.25,
            "target": 0.3,
            "streak": 2,
            "task_id": 1,
            "run_id": rid,
            "evaluated_on": "2023-02-28",
        },
        {
            "rule": "pay",
            "agency": "so-b",
            "outcome": "pass",
            "period": "2023-02",
            "value": 0.45,
            "target": 0.3,
            "streak": 0,
            "task_id": None,
            "run_id": rid,
            "evaluated_on": "2023-02-28",
        },
        {
            "rule": "pay-once",
            "agency": "so-a",
            "outcome": "pass",
            "period": "2023-01",
            "value": 0.6,
            "target": 0.5,
            "streak": 0,
            "task_id": None,
            "run_id": rid,
            "evaluated_on": "2023-02-28",
        },
        {
            "rule": "pay-once",
            "agency": "so-b",
            "outcome": "fail",
            "period": "2023-02",
            "value": 1305 / 2900,
            "target": 0.5,
            "streak": 1,
            "task_id": 2,
            "run_id": rid,
            "evaluated_on": "2023-02-28",
        },
    ]
    only = json.loads(ok(cli("status", "--json", "--agency", "so-b", "--rule", "pay")))
    assert [(r["rule"], r["agency"]) for r in only] == [("pay", "so-b")]


def test_status_readable_matrix_and_unknown_filters(cli: Cli, tmp_path: Path) -> None:
    setup(tmp_path)
    assert ok(cli("status")) == "Chưa có lượt đánh giá nào: chạy `compliance evaluate` trước.\n"
    ok(cli("ingest", "data/2023-01.csv", "data/2023-02.csv"))
    ok(cli("evaluate", "--at", "2023-02-28"))
    out = ok(cli("status"))
    assert "Bảng tổng hợp kết quả đánh giá — ngày 28/02/2023" in out
    assert "Sở A (so-a)" in out and "UBND huyện X (huyen-x)" in out
    assert "không đạt 25% [NV 1]" in out
    assert "không đạt 45% [NV 2]" in out
    assert "đạt 60%" in out
    assert "chưa có số liệu" in out
    assert re.search(
        r"Tổng: 2 đạt, 2 không đạt, 0 chưa đủ số liệu để đánh giá, 1 chưa có số liệu, 0 số liệu chưa được "
        r"cập nhật, 0 không áp dụng\. Lượt đánh giá gần nhất: run-20230228-[0-9a-f]{12}\.\n$",
        out,
    )
    wrong = cli("status", "--agency", "so-aa")
    assert (wrong.returncode, wrong.stdout) == (1, "")
    assert wrong.stderr == "không có cơ quan, đơn vị 'so-aa'\n  hint: did you mean 'so-a'?\n"
    wrong = cli("status", "--rule", "pya")
    assert wrong.stderr == "không có quy tắc đánh giá 'pya'\n  hint: did you mean 'pay'?\n"


def test_both_engines_give_the_same_run(cli: Cli, tmp_path: Path) -> None:
    digests = {}
    for backend in ("durable", "python"):
        config = setup(tmp_path / backend)
        config.write_text(
            config.read_text(encoding="utf-8") + f'\n[engine]\nbackend = "{backend}"\n', encoding="utf-8"
        )
        ok(cli("ingest", "data/2023-01.csv", "data/2023-02.csv", cwd=tmp_path / backend))
        result = json.loads(ok(cli("evaluate", "--at", "2023-02-28", "--json", cwd=tmp_path / backend)))
        assert result["backend"] == backend
        digests[backend] = result["digest"]
    assert digests["durable"] == digests["python"]
