"""The outbox and delivery on real databases (SQLite and PostgreSQL): once, retried, never lost."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.notify.conftest import config, deployment, directory, rulebook, store_tasks, task
from tests.support.sendgrid_server import API_KEY, Reply, SendGridServer

from compliance.clock import FixedClock
from compliance.loading.deployment import Deployment
from compliance.model.agency import Agency
from compliance.model.task import TaskChange, TaskChangeKind, TaskStatus
from compliance.notify.backends import make_backend
from compliance.notify.backends.file import FileBackend
from compliance.pipeline.notify import NotifyResult, RetryPolicy, notify_run, queue_due, run_messages_hook
from compliance.storage import auditlog, outbox
from compliance.storage.db import Database
from compliance.storage.tasks import get_task, task_history

D = dt.date
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def clock(day: dt.date) -> FixedClock:
    return FixedClock(dt.datetime.combine(day, dt.time(7, 30), tzinfo=TZ))


def rows(db: Database, **filters: Any) -> list[outbox.NotificationRow]:
    with db.read() as conn:
        return outbox.list_notifications(conn, **filters)


def audit(db: Database, kind: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [e.data for e in auditlog.iter_entries(conn, kind=kind)]


def verified(db: Database) -> int:
    with db.read() as conn:
        count, _head, broken = auditlog.verify(conn)
    assert broken is None
    return count


def run(db: Database, dep: Deployment, day: dt.date, backend: Any = None, **kwargs: Any) -> NotifyResult:
    backend = backend or FileBackend(dep.config.outbox_dir)
    return notify_run(db, dep, backend, day, clock=clock(day), **kwargs)


def sendgrid_deployment(tmp_path: Path, server: SendGridServer, **sendgrid: Any) -> Deployment:
    return deployment(
        tmp_path,
        email={"backend": "sendgrid", "sendgrid": {"host": server.url, "timeout_s": 0.5, **sendgrid}},
    )


def sendgrid(dep: Deployment) -> Any:
    return make_backend(dep.config, env={"SENDGRID_API_KEY": API_KEY})


def test_notify_twice_sends_once(db: Database, tmp_path: Path) -> None:
    dep = deployment(tmp_path)
    [t] = store_tasks(db, [task(None)])
    first = run(db, dep, D(2023, 7, 14))
    second = run(db, dep, D(2023, 7, 14))
    assert first.as_json() == {"sent": 1, "failed": 0, "queued": 0, "new": 1, "possible_duplicates": 0}
    assert second.as_json() == {"sent": 0, "failed": 0, "queued": 0, "new": 0, "possible_duplicates": 0}
    [row] = rows(db)
    assert (row.kind, row.key, row.status, row.attempts, row.task_ids) == (
        "reminder",
        f"reminder:2023-07-14:{t.id}",
        "sent",
        1,
        [t.id],
    )
    assert row.sent_at == "2023-07-14T00:30:00Z"
    assert row.to == [{"email": "giamdoc.sotnmt@example.gov.vn", "name": "Nguyễn Thanh Hải"}]
    assert len(list(dep.config.outbox_dir.glob("*.eml"))) == 1
    [sent] = audit(db, "notification-sent")
    assert (sent["key"], sent["provider_id"], sent["task_ids"]) == (row.key, row.provider_id, [t.id])
    assert verified(db) == 1


def test_run_messages_are_queued_in_the_evaluation_transaction_once(db: Database, tmp_path: Path) -> None:
    dep = deployment(tmp_path)
    saturday = D(2023, 7, 8)
    opened = store_tasks(
        db,
        [
            task(None, opened_on=saturday, due_on=D(2023, 7, 24)),
            task(None, rule="on-time-95", opened_on=saturday, due_on=D(2023, 7, 24)),
            task(None, agency="so-noivu", opened_on=saturday, due_on=D(2023, 7, 24)),
        ],
        on=saturday,
    )
    changes = [TaskChange(TaskChangeKind.OPENED, t) for t in opened]
    hook = run_messages_hook(dep, clock=clock(saturday))
    with db.begin() as conn:
        assert len(hook(conn, changes, "r-1", saturday)) == 2
    with db.begin() as conn:
        assert hook(conn, changes, "r-1", saturday) == []  # the same run's messages again: nothing new
    queued = sorted((r.kind, r.due_on, r.task_ids, r.subject) for r in rows(db))
    assert queued == [
        (
            "task-opened",
            D(2023, 7, 10),
            [opened[0].id, opened[1].id],
            "[CCHC] 02 nhiệm vụ mới cần khắc phục – Sở Tài nguyên và Môi trường",
        ),
        ("task-opened", D(2023, 7, 10), [opened[2].id], "[CCHC] 01 nhiệm vụ mới cần khắc phục – Sở Nội vụ"),
    ]
    # Queued on Saturday, sent on Monday (with Monday's digests): a run on Sunday sends nothing.
    assert run(db, dep, D(2023, 7, 9)).as_json()["sent"] == 0
    assert run(db, dep, D(2023, 7, 10)).as_json()["sent"] == 4
    assert sorted(r.kind for r in rows(db, status="sent")) == [
        "digest",
        "digest",
        "task-opened",
        "task-opened",
    ]


def test_escalation_marks_the_task_once_and_is_logged(db: Database, tmp_path: Path) -> None:
    dep = deployment(tmp_path)
    [t] = store_tasks(db, [task(None)])
    result = run(db, dep, D(2023, 7, 24))  # a Monday: reminder (catch-up), escalation, weekly digest
    assert result.as_json()["sent"] == 3
    assert sorted(r.kind for r in rows(db)) == ["digest", "escalation", "reminder"]
    with db.read() as conn:
        stored = get_task(conn, t.id or 0)
        history = [e.kind for e in task_history(conn, t.id or 0)]
    assert stored.escalated_on == D(2023, 7, 24)
    assert history == ["task-opened", "task-escalated"]
    [logged] = audit(db, "task-escalated")
    assert (logged["task_id"], logged["to"], logged["escalated_on"]) == (
        t.id,
        "chutich@example.gov.vn",
        "2023-07-24",
    )
    escalation = rows(db, kind="escalation")[0]
    assert escalation.cc[0] == {"email": "giamdoc.sotnmt@example.gov.vn", "name": "Nguyễn Thanh Hải"}
    assert run(db, dep, D(2023, 7, 31)).as_json()["new"] == 2  # reminder and digest; no second escalation
    assert len(rows(db, kind="escalation")) == 1
    verified(db)


def test_a_message_interrupted_mid_send_is_sent_again_as_a_possible_duplicate(
    db: Database, tmp_path: Path
) -> None:
    dep = deployment(tmp_path)
    store_tasks(db, [task(None)])
    queue_due(db, dep, D(2023, 7, 14), clock=clock(D(2023, 7, 14)))
    [row] = rows(db)
    with db.begin() as conn:  # the process claimed it, handed it to the provider, and died
        assert outbox.claim(conn, row.id) is not None
    assert rows(db)[0].status == "sending"
    result = run(db, dep, D(2023, 7, 14))
    assert (result.sent, result.possible_duplicates) == (1, 1)
    [after] = rows(db)
    assert (after.status, after.attempts, after.possible_duplicate) == ("sent", 2, True)
    [eml] = dep.config.outbox_dir.glob("*.eml")
    parsed = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert str(parsed["X-Compliance-Possible-Duplicate"]) == "yes"
    assert audit(db, "notification-sent")[0]["possible_duplicate"] is True


def test_temporary_failures_are_retried_within_the_run_with_backoff(
    db: Database, tmp_path: Path, sendgrid_server: SendGridServer
) -> None:
    dep = sendgrid_deployment(tmp_path, sendgrid_server)
    store_tasks(db, [task(None)])
    sendgrid_server.script(500, 503, "hang")
    sleeps: list[float] = []
    result = run(db, dep, D(2023, 7, 14), sendgrid(dep), sleep=sleeps.append)
    assert (result.sent, result.failed, result.queued) == (1, 0, 0)
    assert sleeps == [1.0, 2.0, 4.0]
    [row] = rows(db)
    assert (row.status, row.attempts, row.provider_id, row.error) == ("sent", 4, "sg-msg-0001", None)
    assert [r.status for r in sendgrid_server.requests] == [500, 503, 202, 202]  # the hang answered too late


def test_429_waits_as_long_as_the_rate_limit_reset_says(
    db: Database, tmp_path: Path, sendgrid_server: SendGridServer
) -> None:
    dep = sendgrid_deployment(tmp_path, sendgrid_server)
    store_tasks(db, [task(None)])
    sendgrid_server.script(429)
    sleeps: list[float] = []
    assert run(db, dep, D(2023, 7, 14), sendgrid(dep), sleep=sleeps.append).sent == 1
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 2  # X-RateLimit-Reset is now + 2 s


def test_a_provider_that_stays_down_leaves_messages_queued_for_a_later_run(
    db: Database, tmp_path: Path, sendgrid_server: SendGridServer
) -> None:
    dep = sendgrid_deployment(tmp_path, sendgrid_server)
    store_tasks(
        db,
        [
            task(None),
            task(None, agency="so-noivu"),
            task(None, agency="h-caibe"),
            task(None, agency="ubnd-tinh"),
        ],
    )
    sendgrid_server.script(*([503] * 12))
    sleeps: list[float] = []
    first = run(db, dep, D(2023, 7, 14), sendgrid(dep), sleep=sleeps.append)
    assert (first.sent, first.failed, first.queued) == (0, 0, 4)
    # Three messages tried 4 times each (sleeps 1+2+4 each, 21 s < 60 s), then the run stops knocking.
    assert sleeps == [1.0, 2.0, 4.0] * 3
    assert sorted(r.attempts for r in rows(db)) == [0, 4, 4, 4]
    assert {r.error for r in rows(db) if r.attempts} == {
        "SendGrid lỗi máy chủ (HTTP 503): service unavailable"
    }
    second = run(db, dep, D(2023, 7, 14), sendgrid(dep), sleep=sleeps.append)  # later that day
    assert (second.sent, second.failed, second.queued) == (4, 0, 0)
    assert audit(db, "notification-failed") == []


def test_retries_stop_after_a_minute_of_waiting_and_keep_the_reset_time(
    db: Database, tmp_path: Path, sendgrid_server: SendGridServer
) -> None:
    dep = sendgrid_deployment(tmp_path, sendgrid_server)
    store_tasks(db, [task(None), task(None, agency="so-noivu")])
    too_many = Reply(
        429, {"errors": [{"field": None, "message": "too many requests"}]}, {"Retry-After": "50"}
    )
    sendgrid_server.script(too_many, too_many)
    sleeps: list[float] = []
    result = run(db, dep, D(2023, 7, 14), sendgrid(dep), sleep=sleeps.append)
    assert sleeps == [50.0]  # a second 50 s wait would pass the 60 s cap
    assert (result.sent, result.queued) == (0, 2)
    waiting = [r for r in rows(db) if r.attempts]
    assert [(r.attempts, r.next_attempt_at) for r in waiting] == [(2, "2023-07-14T00:30:50Z")]  # now + 50 s
    # The other message was never tried in the stopped run; a run before the reset time sends only it.
    assert sorted(r.attempts for r in rows(db)) == [0, 2]
    assert run(db, dep, D(2023, 7, 14), sendgrid(dep), sleep=sleeps.append).sent == 1
    assert sorted((r.status, r.attempts) for r in rows(db)) == [("queued", 2), ("sent", 1)]
    assert run(db, dep, D(2023, 7, 17), sendgrid(dep), sleep=sleeps.append).sent == 5  # + Monday's 4 new


def test_permanent_failure_is_recorded_with_the_reason_and_the_run_goes_on(
    db: Database, tmp_path: Path, sendgrid_server: SendGridServer
) -> None:
    dep = sendgrid_deployment(tmp_path, sendgrid_server)
    store_tasks(db, [task(None), task(None, agency="so-noivu")])
    sendgrid_server.script(403)
    result = run(db, dep, D(2023, 7, 14), sendgrid(dep), sleep=lambda s: None)
    assert (result.sent, result.failed, result.queued) == (1, 1, 0)
    [failed] = rows(db, status="failed")
    assert failed.attempts == 1
    assert failed.error is not None and failed.error.startswith(
        "SendGrid từ chối thư (HTTP 403): The from address"
    )
    [logged] = audit(db, "notification-failed")
    assert (logged["key"], logged["error"]) == (failed.key, failed.error)
    assert run(db, dep, D(2023, 7, 14), sendgrid(dep)).as_json()["sent"] == 0  # failed stays failed
    verified(db)


def test_max_attempts_in_all_then_failed(
    db: Database, tmp_path: Path, sendgrid_server: SendGridServer
) -> None:
    dep = sendgrid_deployment(tmp_path, sendgrid_server, max_attempts=3)
    store_tasks(db, [task(None)])
    sendgrid_server.script(*([500] * 10))
    retry = RetryPolicy(per_message=2)
    first = run(db, dep, D(2023, 7, 14), sendgrid(dep), sleep=lambda s: None, retry=retry)
    assert (first.failed, first.queued, rows(db)[0].attempts) == (0, 1, 2)
    second = run(db, dep, D(2023, 7, 14), sendgrid(dep), sleep=lambda s: None, retry=retry)
    assert (second.failed, second.queued) == (1, 0)
    [row] = rows(db)
    assert (row.status, row.attempts, row.error) == (
        "failed",
        3,
        "SendGrid lỗi máy chủ (HTTP 500): internal server error (đã thử 3 lần, tối đa 3)",
    )
    assert len(sendgrid_server.requests) == 3


def test_sandbox_mode_sends_nothing_but_validates(
    db: Database, tmp_path: Path, sendgrid_server: SendGridServer
) -> None:
    dep = sendgrid_deployment(tmp_path, sendgrid_server, sandbox=True)
    store_tasks(db, [task(None)])
    assert run(db, dep, D(2023, 7, 14), sendgrid(dep)).sent == 1
    assert rows(db)[0].provider_id == "sandbox"
    assert sendgrid_server.accepted == []


def test_acknowledged_and_resolved_tasks_follow_their_rules(db: Database, tmp_path: Path) -> None:
    dep = deployment(tmp_path)
    store_tasks(
        db,
        [
            task(None, status=TaskStatus.ACKNOWLEDGED, acknowledged_by="x@example.gov.vn"),
            task(None, agency="so-noivu", status=TaskStatus.RESOLVED, resolved_on=D(2023, 7, 10)),
        ],
    )
    assert run(db, dep, D(2023, 7, 14)).new == 0  # before due: acknowledged; resolved: never
    assert run(db, dep, D(2023, 7, 18)).new == 1  # overdue: acknowledged or not


def test_an_interrupted_last_attempt_is_failed_not_retried_forever(db: Database, tmp_path: Path) -> None:
    dep = deployment(tmp_path, email={"max_attempts": 1})
    store_tasks(db, [task(None)])
    queue_due(db, dep, D(2023, 7, 14), clock=clock(D(2023, 7, 14)))
    [row] = rows(db)
    with db.begin() as conn:
        outbox.claim(conn, row.id)
    result = run(db, dep, D(2023, 7, 14))
    assert (result.sent, result.failed) == (0, 1)
    [failed] = rows(db)
    assert (failed.status, failed.possible_duplicate, failed.error) == (
        "failed",
        True,
        "lần gửi thứ 1 bị gián đoạn giữa chừng, thư có thể đã được gửi; không thử lại (tối đa 1 lần)",
    )
    assert [e["key"] for e in audit(db, "notification-failed")] == [row.key]


def test_a_line_break_in_directory_data_never_reaches_a_header(db: Database, tmp_path: Path) -> None:
    evil = Agency(
        "so-tnmt",
        "Sở X\r\nBcc: attacker@evil.example",
        "department",
        "ubnd-tinh",
        "Hải\r\nBcc: attacker@evil.example",
        "Giám đốc",
        "giamdoc.sotnmt@example.gov.vn",
    )
    dep = Deployment(config(tmp_path), directory(**{"so-tnmt": evil}), rulebook())
    store_tasks(db, [task(None)])
    assert run(db, dep, D(2023, 7, 14)).sent == 1
    [eml] = dep.config.outbox_dir.glob("*.eml")
    parsed = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert str(parsed["Subject"]) == (
        "[CCHC] Nhắc việc: nhiệm vụ đến hạn ngày 17/07/2023 – Sở X Bcc: attacker@evil.example"
    )
    assert str(parsed["To"]) == '"Hải Bcc: attacker@evil.example" <giamdoc.sotnmt@example.gov.vn>'
    assert [r.subject for r in rows(db)] == [str(parsed["Subject"])]


def test_notifications_for_a_task_match_whole_ids(db: Database, tmp_path: Path) -> None:
    dep = deployment(tmp_path)
    agencies = ["so-tnmt", "so-noivu", "h-caibe", "ubnd-tinh"]
    rules_ = ["online-payment-30", "on-time-95", "db-land-shared"]
    stored = store_tasks(db, [task(None, agency=a, rule=r) for a in agencies for r in rules_])
    assert [t.id for t in stored] == list(range(1, 13))
    run(db, dep, D(2023, 7, 14))
    with db.read() as conn:
        first = outbox.notifications_for_task(conn, 1)
        eleventh = outbox.notifications_for_task(conn, 11)
    assert [(r.kind, r.task_ids) for r in first] == [("reminder", [1, 2, 3])]
    assert [(r.kind, r.task_ids) for r in eleventh] == [("reminder", [10, 11, 12])]
