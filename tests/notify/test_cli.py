"""`compliance notify` and `compliance notifications list|show` through the real command."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from tests.conftest import Cli
from tests.notify.conftest import store_tasks, task

from compliance.clock import FixedClock
from compliance.loading.config import load_config
from compliance.loading.deployment import load_deployment
from compliance.model.task import TaskChange, TaskChangeKind
from compliance.pipeline.notify import run_messages_hook
from compliance.storage.db import open_database
from compliance.storage.tasks import get_task

CONFIG = """\
[deployment]
name = "UBND tỉnh Tiền Giang — CCHC, CĐS, Đề án 06"
base_url = "https://cchc.example.gov.vn"

[database]
url = "sqlite:///var/compliance.db"

[notify]
holidays = ["2023-01-02"]
escalation_default_to = "vanphong@example.gov.vn"

[email]
backend = "{backend}"
sender = "cchc@example.gov.vn"
outbox_dir = "var/outbox"
"""
AGENCIES = """\
id,name,level,parent,head_name,head_title,head_email,cc,tags,active_from,active_until
ubnd-tinh,UBND tỉnh Tiền Giang,province,,Lê Hoàng Phúc,Chủ tịch,chutich@example.gov.vn,vanphong@example.gov.vn,,,
so-tnmt,Sở Tài nguyên và Môi trường,department,ubnd-tinh,Nguyễn Thanh Hải,Giám đốc,giamdoc.sotnmt@example.gov.vn,vanthu.sotnmt@example.gov.vn,,,
"""
RULES = """\
version: 1
indicators:
  - id: online_payment
    name: Tỷ lệ hồ sơ thanh toán trực tuyến
    kind: ratio
    frequency: month
rules:
  - id: online-payment-30
    title: Tỷ lệ hồ sơ thanh toán trực tuyến đạt tối thiểu 30%
    indicator: online_payment
    scope: {levels: [department]}
    target: {op: ">=", value: "30%"}
    basis: Nghị quyết số 01/NQ-CP ngày 06/01/2023 của Chính phủ
"""


def make_deployment(root: Path, backend: str = "file") -> int:
    (root / "rules").mkdir()
    (root / "config.toml").write_text(CONFIG.format(backend=backend), encoding="utf-8")
    (root / "rules" / "agencies.csv").write_text(AGENCIES, encoding="utf-8")
    (root / "rules" / "targets.yaml").write_text(RULES, encoding="utf-8")
    db = open_database("sqlite:///var/compliance.db", base_dir=root)
    try:
        [stored] = store_tasks(db, [task(None)])
    finally:
        db.dispose()
    return stored.id or 0


@pytest.mark.slow
def test_notify_sends_once_and_lists_every_message(cli: Cli, tmp_path: Path) -> None:
    task_id = make_deployment(tmp_path)
    first = cli("notify", "--at", "2023-07-14", "--json")  # a Friday: a reminder, no weekly digest
    assert (first.returncode, first.stderr) == (0, "")
    assert json.loads(first.stdout) == {
        "sent": 1,
        "failed": 0,
        "queued": 0,
        "new": 1,
        "possible_duplicates": 0,
    }
    again = cli("notify", "--at", "2023-07-14")
    assert (again.returncode, again.stdout) == (
        0,
        "Email ngày 14/07/2023: 0 đã gửi, 0 gửi lỗi, 0 đang chờ gửi\n",
    )

    listed = cli("notifications", "list", "--json")
    assert listed.returncode == 0
    [row] = json.loads(listed.stdout)
    provider_id = row.pop("provider_id")
    assert provider_id.startswith("<") and provider_id.endswith("@example.gov.vn>")
    assert row == {
        "id": 1,
        "kind": "reminder",
        "to": ["giamdoc.sotnmt@example.gov.vn"],
        "cc": ["vanthu.sotnmt@example.gov.vn"],
        "subject": "[CCHC] Nhắc việc: nhiệm vụ đến hạn ngày 17/07/2023 – Sở Tài nguyên và Môi trường",
        "task_ids": [task_id],
        "status": "sent",
        "attempts": 1,
        "sent_at": "2023-07-14T00:30:00Z",
        "error": None,
        "possible_duplicate": False,
        "key": f"reminder:2023-07-14:{task_id}",
        "due_on": "2023-07-14",
        "agency": "so-tnmt",
        "created_at": "2023-07-14T00:30:00Z",
        "next_attempt_at": None,
    }
    table = cli("notifications", "list", "--status", "sent", env={"COLUMNS": "200"})
    assert table.returncode == 0 and "nhắc việc" in table.stdout and "đã gửi" in table.stdout

    shown = cli("notifications", "show", "1")
    lines = shown.stdout.splitlines()
    assert lines[:4] == [
        "Trạng thái: đã gửi (lần gửi: 1)",
        "Người nhận: giamdoc.sotnmt@example.gov.vn",
        "Đồng gửi: vanthu.sotnmt@example.gov.vn",
        "Tiêu đề: [CCHC] Nhắc việc: nhiệm vụ đến hạn ngày 17/07/2023 – Sở Tài nguyên và Môi trường",
    ]
    assert "Kính gửi: Ông/Bà Nguyễn Thanh Hải, Giám đốc Sở Tài nguyên và Môi trường" in lines
    assert f"   - Xem chi tiết, xác nhận đã tiếp nhận: https://cchc.example.gov.vn/tasks/{task_id}" in lines
    [eml] = (tmp_path / "var" / "outbox").glob("*.eml")
    assert eml.name.startswith(f"reminder_2023-07-14_{task_id}-")

    missing = cli("notifications", "show", "99")
    assert (missing.returncode, missing.stderr) == (1, "không có thư số 99\n")


@pytest.mark.slow
def test_notify_without_the_api_key_in_the_environment_is_a_config_error(cli: Cli, tmp_path: Path) -> None:
    make_deployment(tmp_path, backend="sendgrid")
    result = cli("notify", "--at", "2023-07-14", "--json", env={"SENDGRID_API_KEY": ""})
    assert result.returncode == 1
    assert result.stderr == (
        "config.toml: email.sendgrid.api_key_env: biến môi trường SENDGRID_API_KEY chưa được đặt: khóa bí mật chỉ "
        "được đọc từ biến môi trường\n  hint: export SENDGRID_API_KEY=…  (tên biến đặt ở email.sendgrid.api_key_env)\n"
    )
    assert result.stdout == ""


def test_status_filter_is_checked(cli: Cli, tmp_path: Path) -> None:
    make_deployment(tmp_path)
    result = cli("notifications", "list", "--status", "lost")
    assert result.returncode == 2
    assert (
        "Invalid value for '--status': 'lost' is not one of 'queued', 'sending', 'sent', 'failed'."
        in result.stderr
    )


@pytest.mark.slow
def test_a_message_not_rendered_yet_is_listed_and_shown_as_it_would_be_sent(cli: Cli, tmp_path: Path) -> None:
    task_id = make_deployment(tmp_path)
    deployment = load_deployment(load_config(tmp_path / "config.toml"))
    saturday = dt.date(2023, 7, 15)
    db = open_database("sqlite:///var/compliance.db", base_dir=tmp_path)
    try:
        at = FixedClock(dt.datetime(2023, 7, 15, 0, 0, tzinfo=dt.UTC))
        with db.begin() as conn:  # an evaluation run on Saturday queues its email, to go out on Monday
            opened = get_task(conn, task_id)
            run_messages_hook(deployment, clock=at, head_secret=None)(
                conn, [TaskChange(TaskChangeKind.OPENED, opened)], "r-1", saturday
            )
    finally:
        db.dispose()
    listed = cli("notifications", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["kind"], row["status"], row["attempts"], row["due_on"]) == (
        "task-opened",
        "queued",
        0,
        "2023-07-17",
    )
    assert row["subject"] == "[CCHC] 01 nhiệm vụ mới cần khắc phục – Sở Tài nguyên và Môi trường"
    table = cli("notifications", "list", env={"COLUMNS": "250"})
    assert "chưa soạn: nội dung xem trước theo mẫu thư hiện tại" in " ".join(table.stdout.split())
    shown = cli("notifications", "show", str(row["id"]))
    lines = shown.stdout.splitlines()
    assert lines[:5] == [
        "Trạng thái: chờ gửi (lần gửi: 0)",
        "Người nhận: giamdoc.sotnmt@example.gov.vn",
        "Đồng gửi: vanthu.sotnmt@example.gov.vn",
        "Tiêu đề: [CCHC] 01 nhiệm vụ mới cần khắc phục – Sở Tài nguyên và Môi trường",
        "Ghi chú: chưa soạn: nội dung xem trước theo mẫu thư hiện tại, thư được soạn khi gửi",
    ]
    assert "Kính gửi: Ông/Bà Nguyễn Thanh Hải, Giám đốc Sở Tài nguyên và Môi trường" in lines
    html = cli("notifications", "show", str(row["id"]), "--html")
    assert html.stdout.startswith("<!DOCTYPE html>")
