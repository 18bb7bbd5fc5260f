"""`tasks list|show|ack`, `waivers add|list` and `audit explain` through the real command (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli.test_evaluate import ok, setup
from tests.conftest import Cli
from tests.pipeline.evalsupport import HEADER

MARCH = f"""{HEADER}
2023-03,so-a,online_payment,31,100,,,
2023-03,so-b,full_online,70,100,,,
"""
APRIL = f"""{HEADER}
2023-04,so-a,online_payment,32,100,,,
"""


def evaluated(cli: Cli, tmp_path: Path, db_url: str | None = None) -> None:
    """Two tasks after 28/02/2023: #1 pay x so-a (for 2, opened on February's 25%), #2 pay-once x so-b."""
    setup(tmp_path, db_url)
    ok(cli("ingest", "data/2023-01.csv", "data/2023-02.csv"))
    ok(cli("evaluate", "--at", "2023-02-28"))


def test_tasks_list_json_has_the_fields_of_the_spec(cli: Cli, tmp_path: Path, db_url: str) -> None:
    evaluated(cli, tmp_path, db_url)
    tasks = json.loads(ok(cli("tasks", "list", "--json")))
    assert [t["id"] for t in tasks] == [1, 2]
    first = tasks[0]
    assert {
        k: first[k]
        for k in (
            "id",
            "rule",
            "agency",
            "status",
            "opened_on",
            "due_on",
            "resolved_on",
            "period",
            "last_period",
            "value",
            "target",
            "assignee",
            "escalated_on",
        )
    } == {
        "id": 1,
        "rule": "pay",
        "agency": "so-a",
        "status": "open",
        "opened_on": "2023-02-28",
        "due_on": "2023-03-30",
        "resolved_on": None,
        "period": "2023-02",
        "last_period": "2023-02",
        "value": 0.25,
        "target": 0.3,
        "assignee": "giamdoc.soa@example.gov.vn",
        "escalated_on": None,
    }
    assert (first["assignee_name"], first["streak"], first["previous_task_id"]) == ("Trần Thị An", 2, None)
    assert tasks[1]["due_on"] == "2023-03-14"  # no due_days: the default 14 days
    only = json.loads(ok(cli("tasks", "list", "--json", "--agency", "so-b")))
    assert [t["id"] for t in only] == [2]
    assert json.loads(ok(cli("tasks", "list", "--json", "--rule", "pay", "--status", "resolved"))) == []
    bad = cli("tasks", "list", "--status", "closed")
    assert bad.returncode == 2
    assert "'closed' is not one of 'open', 'acknowledged', 'resolved', 'waived'" in bad.stderr


def test_tasks_list_readable(cli: Cli, tmp_path: Path) -> None:
    setup(tmp_path)
    assert ok(cli("tasks", "list")) == "Không có nhiệm vụ nào.\n"
    ok(cli("ingest", "data/2023-01.csv", "data/2023-02.csv"))
    ok(cli("evaluate", "--at", "2023-02-28"))
    out = ok(cli("tasks", "list"))
    assert "Sở A" in out and "đang mở, chưa xác nhận tiếp nhận" in out
    assert "25%" in out and "30%" in out and "28/02/2023" in out and "30/03/2023" in out
    assert out.endswith("2 nhiệm vụ.\n")


def test_ack_then_show_with_history_and_the_resolution(cli: Cli, tmp_path: Path, db_url: str) -> None:
    evaluated(cli, tmp_path, db_url)
    acked = cli(
        "tasks",
        "ack",
        "1",
        "--by",
        "giamdoc.soa@example.gov.vn",
        "--note",
        "Đã giao Văn phòng Sở",
        "--at",
        "2023-03-02",
    )
    assert ok(acked) == "Nhiệm vụ số 1: đã xác nhận tiếp nhận ngày 02/03/2023 (giamdoc.soa@example.gov.vn).\n"
    again = cli("tasks", "ack", "1", "--by", "giamdoc.soa@example.gov.vn")
    assert (again.returncode, again.stdout) == (1, "")
    assert (
        again.stderr
        == "nhiệm vụ số 1 đang ở trạng thái 'acknowledged': chỉ xác nhận được nhiệm vụ đang mở (open)\n"
    )
    bad = cli("tasks", "ack", "2", "--by", "giam doc")
    assert (bad.returncode, bad.stderr) == (1, "'giam doc' không phải là địa chỉ email hợp lệ\n")
    missing = cli("tasks", "ack", "9", "--by", "giamdoc.soa@example.gov.vn")
    assert (missing.returncode, missing.stderr) == (1, "không có nhiệm vụ số 9\n")
    (tmp_path / "data" / "2023-03.csv").write_text(MARCH, encoding="utf-8")
    (tmp_path / "data" / "2023-04.csv").write_text(APRIL, encoding="utf-8")
    ok(cli("ingest", "data/2023-03.csv"))
    ok(cli("evaluate", "--at", "2023-03-31"))  # 31%: passes, below the 32% that resolves: stays open
    ok(cli("ingest", "data/2023-04.csv"))
    ok(cli("evaluate", "--at", "2023-04-30"))  # 32%: resolved
    shown = json.loads(ok(cli("tasks", "show", "1", "--json")))
    assert (
        shown["status"],
        shown["acknowledged_on"],
        shown["acknowledged_by"],
        shown["note"],
        shown["resolved_on"],
    ) == (
        "resolved",
        "2023-03-02",
        "giamdoc.soa@example.gov.vn",
        "Đã giao Văn phòng Sở",
        "2023-04-30",
    )
    assert [(h["kind"], h["on"]) for h in shown["history"]] == [
        ("task-opened", "2023-02-28"),
        ("task-acknowledged", "2023-03-02"),
        ("task-updated", "2023-03-31"),
        ("task-resolved", "2023-04-30"),
    ]
    assert shown["history"][2]["data"]["to"] == {
        "last_period": "2023-03",
        "value": 0.31,
        "target": 0.3,
        "streak": 0,
    }
    readable = ok(cli("tasks", "show", "1"))
    assert readable.startswith(
        "Nhiệm vụ số 1: Sở A (so-a) — quy tắc pay\n"
        "Trạng thái: đã đạt chỉ tiêu, nhiệm vụ tự động hoàn thành\n"
        "Giao ngày: 28/02/2023; thời hạn hoàn thành: 30/03/2023\n"
        "Kỳ báo cáo khi giao: 2023-02; kỳ gần nhất: 2023-04\n"
        "Kết quả: 32%; chỉ tiêu: 30%; chuỗi không đạt: 0 kỳ\n"
        "Người đứng đầu: Trần Thị An <giamdoc.soa@example.gov.vn>\n"
        "Xác nhận đã tiếp nhận: 02/03/2023, giamdoc.soa@example.gov.vn — ghi chú: Đã giao Văn phòng Sở\n"
        "Tự động hoàn thành: 30/04/2023\n"
    )
    assert "xác nhận đã tiếp nhận" in readable and "tự động hoàn thành" in readable
    assert cli("tasks", "show", "7").stderr == "không có nhiệm vụ số 7\n"


def test_waivers_add_waives_the_open_task_and_are_listed(cli: Cli, tmp_path: Path, db_url: str) -> None:
    evaluated(cli, tmp_path, db_url)
    added = json.loads(
        ok(
            cli(
                "waivers",
                "add",
                "--rule",
                "pay-once",
                "--agency",
                "so-b",
                "--until",
                "2023-04-30",
                "--reason",
                "Đang chuyển đổi phần mềm",
                "--by",
                "vanphong@example.gov.vn",
                "--at",
                "2023-03-01",
                "--json",
            )
        )
    )
    assert re.fullmatch(r"2\d{3}-\d\d-\d\dT\d\d:\d\d:\d\dZ", added.pop("created_at"))
    assert added == {
        "id": 1,
        "rule": "pay-once",
        "agency": "so-b",
        "until": "2023-04-30",
        "reason": "Đang chuyển đổi phần mềm",
        "by": "vanphong@example.gov.vn",
        "waived_task_id": 2,
    }
    task = json.loads(ok(cli("tasks", "show", "2", "--json")))
    assert (task["status"], task["waived_on"]) == ("waived", "2023-03-01")
    listed = json.loads(ok(cli("waivers", "list", "--json")))
    assert [(w["id"], w["rule"], w["agency"], w["until"]) for w in listed] == [
        (1, "pay-once", "so-b", "2023-04-30")
    ]
    readable = ok(
        cli(
            "waivers",
            "add",
            "--rule",
            "pay",
            "--agency",
            "huyen-x",
            "--until",
            "2023-03-31",
            "--reason",
            "Sáp nhập",
            "--by",
            "vanphong@example.gov.vn",
            "--at",
            "2023-03-01",
        )
    )
    assert readable == "Đã tạm miễn áp dụng quy tắc pay cho huyen-x đến hết ngày 31/03/2023 (số 2).\n"
    table = ok(cli("waivers", "list"))
    assert "Đang chuyển đổi phần mềm" in table and "31/03/2023" in table
    # While the waiver lasts no new task opens for pay-once x so-b, however it fails.
    run = json.loads(ok(cli("evaluate", "--at", "2023-03-01", "--json")))
    assert run["tasks"]["opened"] == 0


def test_waivers_add_refuses_bad_input(cli: Cli, tmp_path: Path) -> None:
    setup(tmp_path)
    base = ["waivers", "add", "--reason", "x", "--by", "vanphong@example.gov.vn", "--at", "2023-03-01"]
    cases = [
        (
            ["--rule", "pya", "--agency", "so-a", "--until", "2023-03-31"],
            "không có quy tắc đánh giá 'pya'\n  hint: did you mean 'pay'?\n",
        ),
        (
            ["--rule", "pay", "--agency", "so-aa", "--until", "2023-03-31"],
            "không có cơ quan, đơn vị 'so-aa'\n  hint: did you mean 'so-a'?\n",
        ),
        (
            ["--rule", "pay", "--agency", "so-a", "--until", "2023-02-28"],
            "thời hạn tạm miễn (28/02/2023) đã qua: phải từ ngày 01/03/2023 trở đi\n",
        ),
    ]
    for args, message in cases:
        result = cli(*base, *args)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", message)
    assert json.loads(ok(cli("waivers", "list", "--json"))) == []
    assert ok(cli("waivers", "list")) == "Không có quyết định tạm miễn áp dụng nào.\n"
    missing = cli(
        "waivers", "add", "--rule", "pay", "--agency", "so-a", "--until", "2023-03-31", "--by", "a@b.vn"
    )
    assert missing.returncode == 2 and "Missing option '--reason'" in missing.stderr


def test_audit_explain_tells_why_in_vietnamese(cli: Cli, tmp_path: Path, db_url: str) -> None:
    evaluated(cli, tmp_path, db_url)
    ok(
        cli(
            "tasks",
            "ack",
            "1",
            "--by",
            "giamdoc.soa@example.gov.vn",
            "--note",
            "Đã giao Văn phòng Sở",
            "--at",
            "2023-03-02",
        )
    )
    (tmp_path / "data" / "2023-03.csv").write_text(MARCH, encoding="utf-8")
    (tmp_path / "data" / "2023-04.csv").write_text(APRIL, encoding="utf-8")
    ok(cli("ingest", "data/2023-03.csv"))
    ok(cli("evaluate", "--at", "2023-03-31"))
    ok(cli("ingest", "data/2023-04.csv"))
    ok(cli("evaluate", "--at", "2023-04-30"))
    run_id = json.loads(ok(cli("tasks", "show", "1", "--json")))["opened_run_id"]
    revision = json.loads(ok(cli("evaluate", "--at", "2023-04-30", "--json")))["rules_revision"]
    out = ok(cli("audit", "explain", "1"))
    assert out == (
        "Nhiệm vụ số 1: Sở A (so-a) — Tỷ lệ hồ sơ thanh toán trực tuyến đạt tối thiểu 30% (quy tắc đánh giá pay).\n"
        "Trạng thái: đã đạt chỉ tiêu, nhiệm vụ tự động hoàn thành. Giao ngày 28/02/2023, thời hạn hoàn thành "
        "30/03/2023; người đứng đầu: Trần Thị An <giamdoc.soa@example.gov.vn>.\n"
        "\n"
        f"Vì sao có nhiệm vụ này: lượt đánh giá {run_id} ngày 28/02/2023 đánh giá kỳ báo cáo 2023-02: đạt 25% "
        "(100/400), không đạt chỉ tiêu ≥ 30% (so sánh chính xác, không làm tròn).\n"
        "Chuỗi không đạt: 2 kỳ liên tiếp (2023-02, 2023-01). Quy tắc giao nhiệm vụ khi không đạt từ 2 kỳ liên "
        "tiếp trở lên.\n"
        "Nhiệm vụ tự động hoàn thành khi kết quả đạt ≥ 32%.\n"
        "\n"
        "Căn cứ: Nghị quyết số 01/NQ-CP ngày 06/01/2023 của Chính phủ.\n"
        "\n"
        "Số liệu đã sử dụng:\n"
        "- Sở A (so-a), kỳ 2023-02; tử số 100, mẫu số 400; số liệu ngày 28/02/2023; tệp 2023-02.csv, dòng 2\n"
        "\n"
        f"Quy tắc đánh giá có hiệu lực khi đó (bộ quy tắc {revision[:12]}, tệp rules.yaml):\n"
        "    - id: pay\n"
        "      title: Tỷ lệ hồ sơ thanh toán trực tuyến đạt tối thiểu 30%\n"
        "      indicator: online_payment\n"
        "      scope: {levels: [department, district]}\n"
        '      target: {op: ">=", value: "30%"}\n'
        "      min_denominator: 20\n"
        "      for: 2\n"
        '      resolve: {op: ">=", value: "32%"}\n'
        "      due_days: 30\n"
        "      basis: Nghị quyết số 01/NQ-CP ngày 06/01/2023 của Chính phủ\n"
        "\n"
        "Diễn biến sau đó:\n"
        "- 02/03/2023: giamdoc.soa@example.gov.vn xác nhận đã tiếp nhận, ghi chú: “Đã giao Văn phòng Sở”.\n"
        "- 31/03/2023: cập nhật theo kỳ 2023-03: 31% (đạt).\n"
        "- 30/04/2023: kỳ 2023-04 đạt 32%: đã đạt chỉ tiêu, nhiệm vụ tự động hoàn thành.\n"
    )
    missing = cli("audit", "explain", "5")
    assert (missing.returncode, missing.stderr) == (1, "không có nhiệm vụ số 5\n")
