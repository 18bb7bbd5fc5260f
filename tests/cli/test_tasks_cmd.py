"""`tasks list|show|ack`, `waivers add|list` and `audit explain` through the real command.

One timeline per test (each call is a process start); the semantics are tested in-process on both
databases in tests/pipeline/test_evaluate_run.py.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.test_evaluate import WIDE, as_json, ok, setup
from tests.conftest import Cli
from tests.pipeline.evalsupport import HEADER

MARCH = f"""{HEADER}
2023-03,so-a,online_payment,31,100,,,
2023-03,so-b,full_online,70,100,,,
"""
APRIL = f"""{HEADER}
2023-04,so-a,online_payment,32,100,,,
"""


def test_a_task_from_opening_to_resolution(cli: Cli, tmp_path: Path) -> None:
    setup(tmp_path)
    (tmp_path / "data" / "2023-03.csv").write_text(MARCH, encoding="utf-8")
    (tmp_path / "data" / "2023-04.csv").write_text(APRIL, encoding="utf-8")
    assert ok(cli("tasks", "list")) == "Không có nhiệm vụ nào.\n"
    ok(cli("ingest", "data/2023-01.csv", "data/2023-02.csv"))
    ok(cli("evaluate", "--at", "2023-02-28"))

    # 28/02: #1 pay x so-a (for 2: January 10%, February 25%), #2 pay-once x so-b (45% < 50%).
    tasks = as_json(cli("tasks", "list", "--json"))
    assert [t["id"] for t in tasks] == [1, 2]
    spec_fields = (
        "id", "rule", "agency", "status", "opened_on", "due_on", "resolved_on", "period", "last_period",
        "value", "target", "assignee", "escalated_on",
    )  # fmt: skip
    assert {k: tasks[0][k] for k in spec_fields} == {
        "id": 1, "rule": "pay", "agency": "so-a", "status": "open", "opened_on": "2023-02-28",
        "due_on": "2023-03-30", "resolved_on": None, "period": "2023-02", "last_period": "2023-02",
        "value": 0.25, "target": 0.3, "assignee": "giamdoc.soa@example.gov.vn", "escalated_on": None,
    }  # fmt: skip
    assert (tasks[0]["assignee_name"], tasks[0]["streak"], tasks[0]["previous_task_id"]) == (
        "Trần Thị An",
        2,
        None,
    )
    assert tasks[1]["due_on"] == "2023-03-14"  # no due_days: the default 14 days
    assert [
        t["id"] for t in as_json(cli("tasks", "list", "--json", "--agency", "so-b", "--status", "open"))
    ] == [2]
    table = ok(cli("tasks", "list", env=WIDE))
    assert "Sở A" in table and "đang mở, chưa xác nhận tiếp nhận" in table
    assert "25%" in table and "28/02/2023" in table and "30/03/2023" in table
    assert table.endswith("2 nhiệm vụ.\n")

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
    assert again.stderr == (
        "nhiệm vụ số 1 đang ở trạng thái 'acknowledged': chỉ xác nhận được nhiệm vụ đang mở (open)\n"
    )

    waived = as_json(cli(
        "waivers", "add", "--rule", "pay-once", "--agency", "so-b", "--until", "2023-03-15",
        "--reason", "Đang chuyển đổi phần mềm", "--by", "vanphong@example.gov.vn", "--at", "2023-03-01", "--json",
    ))  # fmt: skip
    assert re.fullmatch(r"2\d{3}-\d\d-\d\dT\d\d:\d\d:\d\dZ", waived.pop("created_at"))
    assert waived == {
        "id": 1, "rule": "pay-once", "agency": "so-b", "until": "2023-03-15", "reason": "Đang chuyển đổi phần mềm",
        "by": "vanphong@example.gov.vn", "waived_task_id": 2,
    }  # fmt: skip
    listed = as_json(cli("waivers", "list", "--json"))
    assert [(w["id"], w["rule"], w["agency"], w["until"]) for w in listed] == [
        (1, "pay-once", "so-b", "2023-03-15")
    ]
    assert "Đang chuyển đổi phần mềm" in ok(cli("waivers", "list", env=WIDE))

    # 31/03: so-a at 31% passes but stays below the 32% that resolves (hysteresis); the waiver has
    # ended and so-b passes anyway. 30/04: so-a at 32%: resolved.
    ok(cli("ingest", "data/2023-03.csv", "data/2023-04.csv"))
    ok(cli("evaluate", "--at", "2023-03-31"))
    run = as_json(cli("evaluate", "--at", "2023-04-30", "--json"))
    assert run["tasks"] == {"opened": 0, "resolved": 1, "waived": 0, "updated": 0, "open": 0}

    shown = as_json(cli("tasks", "show", "1", "--json"))
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
    assert ok(cli("tasks", "show", "1", env=WIDE)).startswith(
        "Nhiệm vụ số 1: Sở A (so-a) — quy tắc pay\n"
        "Trạng thái: đã đạt chỉ tiêu, nhiệm vụ tự động hoàn thành\n"
        "Giao ngày: 28/02/2023; thời hạn hoàn thành: 30/03/2023\n"
        "Kỳ báo cáo khi giao: 2023-02; kỳ gần nhất: 2023-04\n"
        "Kết quả: 32%; chỉ tiêu: 30%; chuỗi không đạt: 0 kỳ\n"
        "Người đứng đầu: Trần Thị An <giamdoc.soa@example.gov.vn>\n"
        "Xác nhận đã tiếp nhận: 02/03/2023, giamdoc.soa@example.gov.vn — ghi chú: Đã giao Văn phòng Sở\n"
        "Tự động hoàn thành: 30/04/2023\n"
    )

    explained = ok(cli("audit", "explain", "1"))
    revision = run["rules_revision"]
    assert explained == (
        "Nhiệm vụ số 1: Sở A (so-a) — Tỷ lệ hồ sơ thanh toán trực tuyến đạt tối thiểu 30% (quy tắc đánh giá pay).\n"
        "Trạng thái: đã đạt chỉ tiêu, nhiệm vụ tự động hoàn thành. Giao ngày 28/02/2023, thời hạn hoàn thành "
        "30/03/2023; người đứng đầu: Trần Thị An <giamdoc.soa@example.gov.vn>.\n"
        "\n"
        f"Vì sao có nhiệm vụ này: lượt đánh giá {shown['opened_run_id']} ngày 28/02/2023 đánh giá kỳ báo cáo "
        "2023-02: đạt 25% (100/400), không đạt chỉ tiêu ≥ 30% (so sánh chính xác, không làm tròn).\n"
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


def test_refusals_say_why(cli: Cli, tmp_path: Path) -> None:
    setup(tmp_path)
    base = ["waivers", "add", "--reason", "x", "--at", "2023-03-01"]
    cases = [
        (["--rule", "pya", "--agency", "so-a", "--until", "2023-03-31", "--by", "vp@example.gov.vn"],
         "không có quy tắc đánh giá 'pya'\n  hint: did you mean 'pay'?\n"),
        (["--rule", "pay", "--agency", "so-aa", "--until", "2023-03-31", "--by", "vp@example.gov.vn"],
         "không có cơ quan, đơn vị 'so-aa'\n  hint: did you mean 'so-a'?\n"),
        (["--rule", "pay", "--agency", "so-a", "--until", "2023-02-28", "--by", "vp@example.gov.vn"],
         "thời hạn tạm miễn (28/02/2023) đã qua: phải từ ngày 01/03/2023 trở đi\n"),
        (["--rule", "pay", "--agency", "so-a", "--until", "2023-03-31", "--by", "văn phòng"],
         "'văn phòng' không phải là địa chỉ email hợp lệ\n"),
    ]  # fmt: skip
    for args, message in cases:
        result = cli(*base, *args)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", message)
    assert ok(cli("waivers", "list")) == "Không có quyết định tạm miễn áp dụng nào.\n"
    missing = cli("tasks", "ack", "9", "--by", "giamdoc.soa@example.gov.vn")
    assert (missing.returncode, missing.stderr) == (1, "không có nhiệm vụ số 9\n")
    assert cli("audit", "explain", "9").stderr == "không có nhiệm vụ số 9\n"
    bad = cli("tasks", "list", "--status", "closed")
    assert bad.returncode == 2
    assert "'closed' is not one of 'open', 'acknowledged', 'resolved', 'waived'" in bad.stderr
