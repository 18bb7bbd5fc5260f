"""A populated deployment for the web tests: the small deployment of support/deployment.py, with a run,
its matrix, tasks in every state, their history, emails and a valid audit chain, written through the
real storage functions (inserts into the schema's tables only where no repository exists yet).

D = 2023-07-05 (Asia/Ho_Chi_Minh). What it holds (`Scenario` has the ids):

    matrix    online-payment-30: so-a fail 20%, so-b pass 40%, huyen-x pass 31,25%
              full-online: huyen-x fail 45%;  par-index-80: so-a fail 75, so-b no_data
              db-land: so-a fail (built; connected required)
    tasks     overdue   (online-payment-30, so-a) open, due 2023-05-31
              db_land   (db-land, so-a) open, due 2023-07-20
              par       (par-index-80, so-a) open, due 2023-08-04
              huyen     (full-online, huyen-x) acknowledged
              resolved  (online-payment-30, so-b) resolved 2023-06-05
    emails    task-opened + reminder for `overdue`; task-opened for `huyen`
    audit     rules-loaded (two revisions), snapshot-ingested, evaluation-run, evaluations, task-*,
              notification-sent: a chain that verifies
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select

from compliance.loading.rules import rules_revision
from compliance.model.period import parse_period
from compliance.model.task import Task, TaskChange, TaskChangeKind, TaskStatus
from compliance.storage import auditlog, outbox
from compliance.storage.auditlog import NewEntry
from compliance.storage.db import Database
from compliance.storage.runs import RunRecord, StateRow, insert_run, store_rule_revision, write_state
from compliance.storage.schema import notifications, snapshot_files, snapshot_rows
from compliance.storage.tasks import apply_changes
from tests.support.deployment import INDICATORS_YAML, RULES_YAML

__all__ = ["D", "OLD_RULES_YAML", "RUN_ID", "Scenario", "populate"]

D = dt.date(2023, 7, 5)
RUN_ID = "run-20230705-0001"
OLD_RULES_YAML = RULES_YAML.replace('value: "30%"', 'value: "25%"')


@dataclass(frozen=True)
class Scenario:
    overdue: int
    db_land: int
    par: int
    huyen: int
    resolved: int
    revision: str
    old_revision: str


def _at(day: dt.date, hour: int = 0) -> str:
    # 07:00 local is 00:00 UTC in Asia/Ho_Chi_Minh.
    return f"{day.isoformat()}T{hour:02d}:00:00Z"


def _snapshot_rows(file_id: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    n = 0

    def add(agency: str, indicator: str, period: str, **cells: object) -> None:
        nonlocal n
        n += 1
        end = parse_period(period).end_on
        rows.append(
            {
                "file_id": file_id,
                "row_no": n + 1,
                "agency": agency,
                "indicator": indicator,
                "period": period,
                "period_end": end,
                "as_of": cells.pop("as_of", end),
                "numerator": cells.get("numerator"),
                "denominator": cells.get("denominator"),
                "value": cells.get("value"),
                "status": cells.get("status"),
            }
        )

    so_a = [(35, 100), (33, 100), (28, 100), (25, 100), (22, 100), (20, 100)]
    for month, (num, den) in enumerate(so_a, start=1):
        add("so-a", "online_payment", f"2023-{month:02d}", numerator=num, denominator=den)
        add("so-b", "online_payment", f"2023-{month:02d}", numerator=40, denominator=100)
        add(
            "huyen-x",
            "online_payment",
            f"2023-{month:02d}",
            numerator=25 + month,
            denominator=96 - month * 2 + 2,
        )
    for month in range(1, 7):
        add("huyen-x", "full_online", f"2023-{month:02d}", numerator=40 + month, denominator=100)
        add("xa-x1", "full_online", f"2023-{month:02d}", numerator=4, denominator=10)
    add("so-a", "par_index", "2022", value="75")
    for month, stage in enumerate(["planned", "planned", "built", "built", "built", "built"], start=1):
        add("so-a", "db_land", f"2023-{month:02d}", status=stage)
    return rows


def populate(db: Database, deployment_dir: Path) -> Scenario:
    """Fill `db` for the deployment written by write_deployment() in `deployment_dir`."""
    files = {
        "indicators.yaml": (deployment_dir / "rules" / "indicators.yaml").read_text(encoding="utf-8"),
        "rules.yaml": (deployment_dir / "rules" / "rules.yaml").read_text(encoding="utf-8"),
    }
    old_files = {"indicators.yaml": INDICATORS_YAML, "rules.yaml": OLD_RULES_YAML}
    revision, old_revision = rules_revision(files), rules_revision(old_files)
    at = _at(D)
    with db.begin() as conn:
        store_rule_revision(conn, old_revision, old_files, at=_at(dt.date(2023, 1, 3)))
        auditlog.append(
            conn,
            [NewEntry("rules-loaded", data={"files": old_files}, rules_revision=old_revision)],
            at=_at(dt.date(2023, 1, 3)),
        )
        store_rule_revision(conn, revision, files, at=_at(dt.date(2023, 6, 1)))
        auditlog.append(
            conn,
            [NewEntry("rules-loaded", data={"files": files}, rules_revision=revision)],
            at=_at(dt.date(2023, 6, 1)),
        )
        file_id = int(
            conn.execute(
                insert(snapshot_files)
                .values(sha256="ab" * 32, name="2023-06.csv", rows=0, ingested_at=_at(dt.date(2023, 7, 3)))
                .returning(snapshot_files.c.id)
            ).scalar_one()
        )
        rows = _snapshot_rows(file_id)
        conn.execute(insert(snapshot_rows), rows)
        auditlog.append(
            conn,
            [
                NewEntry(
                    "snapshot-ingested", data={"file": "2023-06.csv", "rows": len(rows), "sha256": "ab" * 32}
                )
            ],
            at=_at(dt.date(2023, 7, 3)),
        )

        counts = {"pass": 2, "fail": 4, "insufficient": 0, "no_data": 1, "stale": 0, "not_applicable": 0}
        insert_run(
            conn,
            RunRecord(RUN_ID, D, at, at, revision, "python", {"outcomes": counts}, "cd" * 32),
        )

        def state(
            rule: str,
            agency: str,
            outcome: str,
            period: str | None,
            value: float | str | None,
            target: float | str | None,
            streak: int,
        ) -> StateRow:
            return StateRow(rule, agency, outcome, period, value, target, streak, "f" * 64, RUN_ID, D)

        matrix = [
            state("online-payment-30", "so-a", "fail", "2023-06", 0.2, 0.3, 4),
            state("online-payment-30", "so-b", "pass", "2023-06", 0.4, 0.3, 0),
            state("online-payment-30", "huyen-x", "pass", "2023-06", 0.3125, 0.3, 0),
            state("full-online", "huyen-x", "fail", "2023-06", 0.45, 0.5, 6),
            state("par-index-80", "so-a", "fail", "2022", 75, 80, 1),
            state("par-index-80", "so-b", "no_data", None, None, 80, 0),
            state("db-land", "so-a", "fail", "2023-06", "built", "connected", 1),
        ]
        write_state(conn, inserted=matrix, changed=[], removed=[])

        def task(
            rule: str,
            agency: str,
            opened: dt.date,
            due: dt.date,
            period: str,
            value: float | str,
            target: float | str,
            email: str,
            name: str,
        ) -> Task:
            return Task(
                None,
                rule,
                agency,
                TaskStatus.OPEN,
                opened,
                due,
                period,
                period,
                value,
                target,
                email,
                name,
                streak=1,
                opened_run_id=RUN_ID,
            )

        opening = [
            TaskChange(
                TaskChangeKind.OPENED,
                task(
                    "online-payment-30",
                    "so-b",
                    dt.date(2023, 3, 1),
                    dt.date(2023, 3, 31),
                    "2023-02",
                    0.28,
                    0.3,
                    "giamdoc.sob@example.gov.vn",
                    "Lê Văn Bình",
                ),
                {"period": "2023-02", "value": 0.28, "target": 0.3, "due_on": "2023-03-31"},
            ),
            TaskChange(
                TaskChangeKind.OPENED,
                task(
                    "online-payment-30",
                    "so-a",
                    dt.date(2023, 5, 1),
                    dt.date(2023, 5, 31),
                    "2023-04",
                    0.25,
                    0.3,
                    "giamdoc.soa@example.gov.vn",
                    "Trần Thị An",
                ),
                {"period": "2023-04", "value": 0.25, "target": 0.3, "due_on": "2023-05-31"},
            ),
            TaskChange(
                TaskChangeKind.OPENED,
                task(
                    "full-online",
                    "huyen-x",
                    dt.date(2023, 6, 1),
                    dt.date(2023, 7, 1),
                    "2023-05",
                    0.45,
                    0.5,
                    "chutich.huyenx@example.gov.vn",
                    "Phạm Văn Xuân",
                ),
                {"period": "2023-05", "value": 0.45, "target": 0.5, "due_on": "2023-07-01"},
            ),
            TaskChange(
                TaskChangeKind.OPENED,
                task(
                    "db-land",
                    "so-a",
                    dt.date(2023, 7, 1),
                    dt.date(2023, 7, 20),
                    "2023-06",
                    "built",
                    "connected",
                    "giamdoc.soa@example.gov.vn",
                    "Trần Thị An",
                ),
                {"period": "2023-06", "value": "built", "target": "connected", "due_on": "2023-07-20"},
            ),
            TaskChange(
                TaskChangeKind.OPENED,
                task(
                    "par-index-80",
                    "so-a",
                    D,
                    dt.date(2023, 8, 4),
                    "2022",
                    75,
                    80,
                    "giamdoc.soa@example.gov.vn",
                    "Trần Thị An",
                ),
                {"period": "2022", "value": 75, "target": 80, "due_on": "2023-08-04"},
            ),
        ]
        # Each task's history starts on the day it was opened (07:00 local = 00:00 UTC).
        opened = [
            apply_changes(conn, [c], at=_at(c.task.opened_on), on=c.task.opened_on, run_id=RUN_ID)[0]
            for c in opening
        ]
        ids = [c.task.id for c in opened]
        resolved_id, overdue_id, huyen_id, db_land_id, par_id = (int(i or 0) for i in ids)
        resolved = opened[0].task.with_(status=TaskStatus.RESOLVED, resolved_on=dt.date(2023, 6, 5))
        acked = opened[2].task.with_(
            status=TaskStatus.ACKNOWLEDGED,
            acknowledged_on=dt.date(2023, 6, 3),
            acknowledged_by="chutich.huyenx@example.gov.vn",
            note="Đang chỉ đạo các xã đẩy mạnh tiếp nhận trực tuyến",
        )
        apply_changes(
            conn,
            [TaskChange(TaskChangeKind.RESOLVED, resolved, {"period": "2023-05", "value": 0.4})],
            at=_at(dt.date(2023, 6, 5)),
            on=dt.date(2023, 6, 5),
            run_id=None,
        )
        apply_changes(
            conn,
            [
                TaskChange(
                    TaskChangeKind.ACKNOWLEDGED,
                    acked,
                    {"by": acked.acknowledged_by, "note": acked.note, "acknowledged_on": "2023-06-03"},
                )
            ],
            at=_at(dt.date(2023, 6, 3), 2),
            on=dt.date(2023, 6, 3),
            run_id=None,
        )
        entries = [
            NewEntry(
                "evaluation-run",
                run_id=RUN_ID,
                data={"at": D.isoformat(), "counts": counts},
                rules_revision=revision,
            )
        ]
        for s in matrix:
            entries.append(
                NewEntry(
                    "evaluation",
                    run_id=RUN_ID,
                    rule=s.rule,
                    agency=s.agency,
                    period=s.period,
                    outcome=s.outcome,
                    data={"value": s.value, "target": s.target, "streak": s.streak},
                    rules_revision=revision,
                )
            )
        for change in opened:
            t = change.task
            entries.append(
                NewEntry(
                    "task-opened",
                    run_id=RUN_ID,
                    rule=t.rule,
                    agency=t.agency,
                    period=t.period,
                    data={"task_id": t.id, "due_on": t.due_on.isoformat()},
                    rules_revision=revision,
                )
            )
        entries.append(
            NewEntry(
                "task-resolved", rule=resolved.rule, agency=resolved.agency, data={"task_id": resolved_id}
            )
        )
        entries.append(
            NewEntry(
                "task-acknowledged",
                rule=acked.rule,
                agency=acked.agency,
                data={"task_id": huyen_id, "by": acked.acknowledged_by, "note": acked.note},
            )
        )

        def email(kind: str, day: dt.date, to: str, subject: str, task_ids: list[int], agency: str) -> int:
            # Queued, claimed and marked sent as the notify pipeline does, at 08:00 local.
            sent_at = dt.datetime.combine(day, dt.time(1), tzinfo=dt.UTC)
            key = f"{kind}:{day.isoformat()}:{','.join(map(str, task_ids))}"
            outbox.queue(
                conn,
                [
                    outbox.NewNotification(
                        key,
                        kind,
                        day,
                        [{"email": to, "name": ""}],
                        [],
                        subject,
                        "…",
                        "<p>…</p>",
                        task_ids,
                        agency,
                    )
                ],
                at=sent_at,
            )
            nid = int(conn.execute(select(notifications.c.id).where(notifications.c.key == key)).scalar_one())
            outbox.claim(conn, nid)
            outbox.mark_sent(conn, nid, provider_id=f"<{key}@example.gov.vn>", at=sent_at)
            return nid

        n1 = email(
            "task-opened",
            dt.date(2023, 5, 1),
            "giamdoc.soa@example.gov.vn",
            "[CCHC] 01 nhiệm vụ mới cần khắc phục – Sở A",
            [overdue_id],
            "so-a",
        )
        n2 = email(
            "reminder",
            dt.date(2023, 6, 1),
            "giamdoc.soa@example.gov.vn",
            "[CCHC] Nhắc việc: nhiệm vụ quá hạn từ ngày 31/5/2023",
            [overdue_id],
            "so-a",
        )
        n3 = email(
            "task-opened",
            dt.date(2023, 6, 1),
            "chutich.huyenx@example.gov.vn",
            "[CCHC] 01 nhiệm vụ mới cần khắc phục – UBND huyện X",
            [huyen_id],
            "huyen-x",
        )
        for nid, ids_ in ((n1, [overdue_id]), (n2, [overdue_id]), (n3, [huyen_id])):
            entries.append(NewEntry("notification-sent", data={"notification_id": nid, "task_ids": ids_}))
        auditlog.append(conn, entries, at=at)
    return Scenario(overdue_id, db_land_id, par_id, huyen_id, resolved_id, revision, old_revision)
