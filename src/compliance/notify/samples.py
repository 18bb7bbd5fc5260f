"""Sample data for the template check and previews: a rulebook, two agencies and three tasks, and one
planned message of every kind over them (`compliance check` renders every template against these)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from compliance.model.agency import Agency, AgencyDirectory
from compliance.model.rules import Indicator, Rule, Rulebook
from compliance.model.task import Task, TaskStatus
from compliance.notify.planning import PlannedMessage, Recipient

__all__ = ["sample_messages", "sample_world"]


def _task(**fields: Any) -> Task:
    """A task of the sample department, assigned to its head."""
    return Task(
        agency="so-tnmt", assignee="giamdoc.sotnmt@example.gov.vn", assignee_name="Nguyễn Thanh Hải", **fields
    )


def sample_world() -> tuple[Rulebook, AgencyDirectory, list[Task], dt.date]:
    indicators = {
        "online_payment": Indicator(
            id="online_payment",
            name="Tỷ lệ hồ sơ thanh toán trực tuyến",
            kind="ratio",
            numerator="Số hồ sơ đã thanh toán trực tuyến",
            denominator="Số hồ sơ có phí",
        ),
        "db_land": Indicator(
            id="db_land",
            name="Cơ sở dữ liệu đất đai",
            kind="milestone",
            stages=("planned", "built", "connected", "shared"),
        ),
        "dossiers": Indicator(id="dossiers", name="Số hồ sơ tồn đọng", kind="value"),
    }
    rules = {
        "online-payment-30": Rule.model_validate(
            {
                "id": "online-payment-30",
                "title": "Tỷ lệ hồ sơ thanh toán trực tuyến đạt tối thiểu 30%",
                "indicator": "online_payment",
                "target": {"op": ">=", "value": "30%"},
                "severity": "high",
                "basis": "Nghị quyết số 01/NQ-CP ngày 06/01/2023 của Chính phủ",
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
        "backlog": Rule.model_validate(
            {
                "id": "backlog",
                "title": "Không để tồn đọng quá 1.000 hồ sơ",
                "indicator": "dossiers",
                "target": {"op": "<=", "value": 1000},
            }
        ),
    }
    rulebook = Rulebook(indicators=indicators, rules=rules, files={}, revision="0" * 64)
    directory = AgencyDirectory.of(
        [
            Agency(
                "ubnd-tinh",
                "UBND tỉnh Tiền Giang",
                "province",
                None,
                "Lê Hoàng Phúc",
                "Chủ tịch",
                "chutich@example.gov.vn",
                cc=("vanphong@example.gov.vn",),
            ),
            Agency(
                "so-tnmt",
                "Sở Tài nguyên và Môi trường",
                "department",
                "ubnd-tinh",
                "Nguyễn Thanh Hải",
                "Giám đốc",
                "giamdoc.sotnmt@example.gov.vn",
                cc=("vanthu.sotnmt@example.gov.vn",),
            ),
        ]
    )
    on = dt.date(2023, 7, 5)
    tasks = [
        _task(
            id=12,
            rule="online-payment-30",
            status=TaskStatus.OPEN,
            opened_on=dt.date(2023, 6, 5),
            due_on=dt.date(2023, 7, 5),
            period="2023-05",
            last_period="2023-06",
            value=0.2625,
            target=0.3,
        ),
        _task(
            id=13,
            rule="db-land-shared",
            status=TaskStatus.ACKNOWLEDGED,
            opened_on=dt.date(2023, 7, 1),
            due_on=dt.date(2023, 7, 31),
            period="2023-06",
            last_period="2023-06",
            value="built",
            target="connected",
            acknowledged_by="vanthu.sotnmt@example.gov.vn",
        ),
        _task(
            id=14,
            rule="backlog",
            status=TaskStatus.OPEN,
            opened_on=dt.date(2023, 5, 1),
            due_on=dt.date(2023, 5, 31),
            period="2023-Q1",
            last_period="2023-Q2",
            value=1305,
            target=1000,
            escalated_on=dt.date(2023, 6, 7),
        ),
    ]
    return rulebook, directory, tasks, on


def sample_messages() -> tuple[Rulebook, AgencyDirectory, dt.date, list[PlannedMessage]]:
    """One planned message of every kind over sample data, for `check` and previews."""
    rulebook, directory, tasks, on = sample_world()
    head = Recipient("giamdoc.sotnmt@example.gov.vn", "Nguyễn Thanh Hải", "Giám đốc", "so-tnmt")
    parent = Recipient("chutich@example.gov.vn", "Lê Hoàng Phúc", "Chủ tịch", "ubnd-tinh")
    cc = (Recipient("vanthu.sotnmt@example.gov.vn"),)
    resolved = tasks[0].with_(status=TaskStatus.RESOLVED, resolved_on=on, value=0.325)
    messages = [
        PlannedMessage("task-opened", "sample:task-opened", on, head, cc, (tasks[0], tasks[1])),
        PlannedMessage("reminder", "sample:reminder", on, head, cc, (tasks[2], tasks[0])),
        PlannedMessage(
            "escalation", "sample:escalation", on, parent, (head, *cc), (tasks[2],), about="so-tnmt"
        ),
        PlannedMessage("task-resolved", "sample:task-resolved", on, head, cc, (resolved,)),
        PlannedMessage("digest", "sample:digest", on, head, cc, (tasks[2], tasks[0], tasks[1])),
    ]
    return rulebook, directory, on, messages
