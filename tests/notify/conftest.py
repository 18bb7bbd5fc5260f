"""Shared pieces for the notification tests: a small world (agencies, rules, tasks) and the test peers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from tests.support.sendgrid_server import sendgrid_server  # noqa: F401  (fixture)
from tests.support.smtp_server import smtp_server  # noqa: F401  (fixture)

from compliance.loading.deployment import Deployment
from compliance.model.agency import Agency, AgencyDirectory
from compliance.model.config import Config
from compliance.model.rules import Indicator, Rule, Rulebook
from compliance.model.task import Task, TaskChange, TaskChangeKind, TaskStatus
from compliance.storage.db import Database
from compliance.storage.tasks import apply_changes

D = dt.date
OPENED_ON = D(2023, 7, 3)
DUE_ON = D(2023, 7, 17)


def directory(**overrides: Agency) -> AgencyDirectory:
    agencies = {
        "ubnd-tinh": Agency(
            "ubnd-tinh",
            "UBND tỉnh Tiền Giang",
            "province",
            None,
            "Lê Hoàng Phúc",
            "Chủ tịch",
            "chutich@example.gov.vn",
            cc=("vanphong@example.gov.vn",),
        ),
        "so-tnmt": Agency(
            "so-tnmt",
            "Sở Tài nguyên và Môi trường",
            "department",
            "ubnd-tinh",
            "Nguyễn Thanh Hải",
            "Giám đốc",
            "giamdoc.sotnmt@example.gov.vn",
            cc=("vanthu.sotnmt@example.gov.vn",),
        ),
        "so-noivu": Agency(
            "so-noivu",
            "Sở Nội vụ",
            "department",
            "ubnd-tinh",
            "Trần Thị Bích Ngọc",
            "Giám đốc",
            "giamdoc.sonoivu@example.gov.vn",
        ),
        "h-caibe": Agency(
            "h-caibe",
            "UBND huyện Cái Bè",
            "district",
            "ubnd-tinh",
            "Châu Văn Đức",
            "Chủ tịch",
            "chutich.caibe@example.gov.vn",
        ),
    }
    agencies.update(overrides)
    return AgencyDirectory.of(agencies.values())


def rulebook() -> Rulebook:
    indicators = {
        "online_payment": Indicator(
            id="online_payment", name="Tỷ lệ hồ sơ thanh toán trực tuyến", kind="ratio"
        ),
        "on_time": Indicator(id="on_time", name="Tỷ lệ hồ sơ giải quyết đúng hạn", kind="ratio"),
        "db_land": Indicator(
            id="db_land",
            name="Cơ sở dữ liệu đất đai",
            kind="milestone",
            stages=("planned", "built", "connected", "shared"),
        ),
    }
    rules = {
        "online-payment-30": Rule.model_validate(
            {
                "id": "online-payment-30",
                "title": "Tỷ lệ hồ sơ thanh toán trực tuyến đạt tối thiểu 30%",
                "indicator": "online_payment",
                "target": {"op": ">=", "value": "30%"},
                "basis": "Nghị quyết số 01/NQ-CP ngày 06/01/2023 của Chính phủ",
            }
        ),
        "on-time-95": Rule.model_validate(
            {
                "id": "on-time-95",
                "title": "Tỷ lệ hồ sơ giải quyết đúng hạn đạt tối thiểu 95%",
                "indicator": "on_time",
                "target": {"op": ">=", "value": "95%"},
            }
        ),
        "db-land-shared": Rule.model_validate(
            {
                "id": "db-land-shared",
                "kind": "milestone",
                "title": "Xây dựng, kết nối, chia sẻ CSDL đất đai đúng tiến độ",
                "indicator": "db_land",
                "milestones": [{"stage": "connected", "by": "2023-06-30"}],
            }
        ),
    }
    return Rulebook(indicators=indicators, rules=rules, files={}, revision="0" * 64)


def task(
    task_id: int | None,
    agency: str = "so-tnmt",
    rule: str = "online-payment-30",
    *,
    opened_on: dt.date = OPENED_ON,
    due_on: dt.date = DUE_ON,
    status: TaskStatus = TaskStatus.OPEN,
    value: float | str | None = 0.3125,
    target: float | str | None = 0.3,
    **more: Any,
) -> Task:
    head = directory().get(agency)
    return Task(
        id=task_id,
        rule=rule,
        agency=agency,
        status=status,
        opened_on=opened_on,
        due_on=due_on,
        period="2023-06",
        last_period="2023-06",
        value=value,
        target=target,
        assignee=head.head_email if head else f"{agency}@example.gov.vn",
        assignee_name=head.head_name if head else "",
        **more,
    )


def config(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    data: dict[str, Any] = {
        "deployment": {"name": "UBND tỉnh Tiền Giang — CCHC, CĐS, Đề án 06"},
        "notify": {"holidays": ["2023-01-02"], "escalation_default_to": "vanphong@example.gov.vn"},
        "email": {"sender": "cchc@example.gov.vn", "outbox_dir": "var/outbox"},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return Config.model_validate({**data, "base_dir": tmp_path})


def deployment(tmp_path: Path, **sections: dict[str, Any]) -> Deployment:
    return Deployment(config(tmp_path, **sections), directory(), rulebook())


def store_tasks(db: Database, tasks: Iterable[Task], *, on: dt.date = OPENED_ON) -> list[Task]:
    """Insert tasks through the tasks repository, as an evaluation run would; returns them with ids."""
    changes = [TaskChange(TaskChangeKind.OPENED, t) for t in tasks]
    with db.begin() as conn:
        applied = apply_changes(conn, changes, at="2023-07-03T00:00:00Z", on=on, run_id="r-test")
    return [c.task for c in applied]


@pytest.fixture
def world(tmp_path: Path) -> Deployment:
    return deployment(tmp_path)
