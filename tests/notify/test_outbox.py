"""The outbox and delivery on real databases (SQLite and PostgreSQL): once, retried, never lost; queued
with their facts, rendered once before the first attempt."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, update
from tests.notify.conftest import config, deployment, directory, rulebook, store_tasks, task
from tests.support.sendgrid_server import API_KEY, Reply, SendGridServer

from compliance.clock import FixedClock
from compliance.errors import SendError
from compliance.loading.deployment import Deployment
from compliance.model.agency import Agency
from compliance.model.task import Task, TaskChange, TaskChangeKind, TaskStatus
from compliance.notify import render
from compliance.notify.backends import make_backend
from compliance.notify.backends.file import FileBackend
from compliance.notify.facts import decode_facts
from compliance.notify.message import OutgoingEmail, SendResult
from compliance.pipeline.notify import NotifyResult, RetryPolicy, notify_run, queue_due, run_messages_hook
from compliance.storage import auditlog, outbox
from compliance.storage.db import Database
from compliance.storage.schema import notifications
from compliance.storage.schema import tasks as tasks_table
from compliance.storage.tasks import get_task, task_history
from compliance.web.pages import task_timeline

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


def queue_opened(conn: Connection, dep: Deployment, opened: Task, day: dt.date) -> None:
    """The task-opened email of `opened`, queued by the evaluation run of `day` in its transaction."""
    run_messages_hook(dep, clock=clock(day))(conn, [TaskChange(TaskChangeKind.OPENED, opened)], "r-1", day)


def run(db: Database, dep: Deployment, day: dt.date, backend: Any = None, **kwargs: Any) -> NotifyResult:
    backend = backend or FileBackend(dep.config.outbox_dir)
    return notify_run(db, dep, backend, day, clock=clock(day), **kwargs)


class Killed(BaseException):
    """The process dying there (a SIGKILL): nothing after it runs, not even the run's own cleanup."""


class DiesAfterWriting(FileBackend):
    """Writes the batch (the "provider" has the messages), then the process dies before recording."""

    def send_batch(self, emails: Sequence[OutgoingEmail]) -> list[SendResult | SendError]:
        super().send_batch(emails)
        raise Killed


def die_mid_send(db: Database, dep: Deployment, day: dt.date) -> None:
    with pytest.raises(Killed):
        run(db, dep, day, DiesAfterWriting(dep.config.outbox_dir))


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
    # Queued with the facts the emails will state, not yet rendered (no Jinja in the run's transaction).
    queued = sorted((r.kind, r.due_on, r.task_ids, r.subject, r.rendered) for r in rows(db))
    assert queued == [
        ("task-opened", D(2023, 7, 10), [opened[0].id, opened[1].id], "", False),
        ("task-opened", D(2023, 7, 10), [opened[2].id], "", False),
    ]
    first = rows(db)[0]
    stored = decode_facts(first.facts or "", kind=first.kind, key=first.key)
    assert stored.on == saturday
    assert [(t.id, t.value, t.due_on) for t in stored.message.tasks] == [
        (opened[0].id, 0.3125, D(2023, 7, 24)),
        (opened[1].id, 0.3125, D(2023, 7, 24)),
    ]
    # Queued on Saturday, sent on Monday (with Monday's digests): a run on Sunday sends nothing, and
    # renders nothing either (only what is due is rendered).
    assert run(db, dep, D(2023, 7, 9)).as_json()["sent"] == 0
    assert not [r for r in rows(db) if r.rendered]
    assert run(db, dep, D(2023, 7, 10)).as_json()["sent"] == 4
    sent = sorted((r.kind, r.subject, r.rendered, r.facts) for r in rows(db, status="sent"))
    assert [(kind, subject) for kind, subject, _, _ in sent if kind == "task-opened"] == [
        ("task-opened", "[CCHC] 01 nhiệm vụ mới cần khắc phục – Sở Nội vụ"),
        ("task-opened", "[CCHC] 02 nhiệm vụ mới cần khắc phục – Sở Tài nguyên và Môi trường"),
    ]
    assert sorted(kind for kind, *_ in sent) == ["digest", "digest", "task-opened", "task-opened"]
    assert all(rendered and facts is None for _, _, rendered, facts in sent)  # the facts gave way to the text


def test_an_email_states_the_facts_as_at_the_run_not_as_at_sending(db: Database, tmp_path: Path) -> None:
    dep = deployment(tmp_path)
    saturday = D(2023, 7, 8)
    [opened] = store_tasks(db, [task(None, opened_on=saturday, due_on=D(2023, 7, 24))], on=saturday)
    with db.begin() as conn:
        queue_opened(conn, dep, opened, saturday)
        # A later run finds a new figure before Monday's notify sends the task-opened email.
        conn.execute(update(tasks_table).where(tasks_table.c.id == opened.id).values(value="0.2875"))
    run(db, dep, D(2023, 7, 10))
    [task_opened] = rows(db, kind="task-opened")
    [digest] = rows(db, kind="digest")
    assert "kết quả: 31,25%" in task_opened.body_text  # what the run found
    assert "Kết quả đánh giá ngày 08 tháng 7 năm 2023" in task_opened.body_text
    assert "kết quả: 28,75%" in digest.body_text  # the digest, queued on Monday, says what is true then


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
    die_mid_send(db, dep, D(2023, 7, 14))  # claimed, handed to the provider, and the process died
    [row] = rows(db)
    assert (row.status, row.attempts, row.rendered) == ("sending", 1, True)
    [eml] = dep.config.outbox_dir.glob("*.eml")
    first = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    # The templates change before the resend: the resend still carries the text of the first attempt.
    own = tmp_path / "notifications"
    own.mkdir()
    (own / "reminder.txt.j2").write_text(
        '{% extends "base.txt.j2" %}{% set subject %}Khác{% endset %}{% block body %}Khác{% endblock %}',
        encoding="utf-8",
    )
    result = run(db, dep, D(2023, 7, 14))
    assert (result.sent, result.possible_duplicates) == (1, 1)
    [after] = rows(db)
    assert (after.status, after.attempts, after.possible_duplicate) == ("sent", 2, True)
    assert (after.subject, after.body_text, after.body_html) == (row.subject, row.body_text, row.body_html)
    [eml] = dep.config.outbox_dir.glob("*.eml")
    parsed = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert str(parsed["X-Compliance-Possible-Duplicate"]) == "yes"
    for part in ("plain", "html"):
        again, before = parsed.get_body((part,)), first.get_body((part,))
        assert again is not None and before is not None
        assert again.get_content() == before.get_content()
    assert str(parsed["Subject"]) == str(first["Subject"])
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
    die_mid_send(db, dep, D(2023, 7, 14))
    [row] = rows(db)
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


def test_a_message_that_cannot_be_rendered_fails_visibly_and_the_others_go_out(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shipped reminder template itself broken (a deployment's broken override falls back to it).
    shipped = tmp_path / "shipped"
    shutil.copytree(render.DEFAULT_TEMPLATES, shipped)
    (shipped / "reminder.txt.j2").write_text("{{ no_such_variable }}", encoding="utf-8")
    monkeypatch.setattr(render, "DEFAULT_TEMPLATES", shipped)
    dep = deployment(tmp_path)
    [head_a, head_b] = store_tasks(db, [task(None), task(None, agency="so-noivu")])
    queue_due(db, dep, D(2023, 7, 14), clock=clock(D(2023, 7, 14)))
    with db.begin() as conn:  # and one message whose stored facts are not of a form this version reads
        conn.execute(
            update(notifications)
            .where(notifications.c.key.like("%:" + str(head_b.id)))
            .values(facts='{"v":99}')
        )
    friday = D(2023, 7, 14)  # the day's evaluation run opens a task of another head
    [opened] = store_tasks(db, [task(None, agency="h-caibe", opened_on=friday)], on=friday)
    with db.begin() as conn:
        queue_opened(conn, dep, opened, friday)
    result = run(db, dep, D(2023, 7, 14))
    assert (result.sent, result.failed, result.queued) == (1, 2, 0)
    failed = {r.task_ids[0]: r for r in rows(db, status="failed")}
    assert failed[head_a.id or 0].error == (
        "không soạn được nội dung thư (reminder) từ mẫu thư: UndefinedError: 'no_such_variable' is "
        "undefined; kiểm tra mẫu thư bằng `compliance check`"
    )
    assert failed[head_b.id or 0].error == (
        "không đọc được dữ liệu để soạn thư (reminder): unknown form of the stored facts (version 99)"
    )
    assert all(r.attempts == 0 and r.facts is not None for r in failed.values())  # never sent; facts kept
    [sent] = rows(db, status="sent")
    assert (sent.kind, sent.task_ids) == ("task-opened", [opened.id])
    logged = audit(db, "notification-failed")
    assert sorted(e["error"] for e in logged) == sorted(r.error for r in failed.values())
    assert run(db, dep, D(2023, 7, 14)).as_json() == {  # failed stays failed: nothing lost, nothing resent
        "sent": 0,
        "failed": 0,
        "queued": 0,
        "new": 0,
        "possible_duplicates": 0,
    }
    verified(db)


def test_the_task_page_timeline_says_a_queued_email_is_rendered_when_sent(
    db: Database, tmp_path: Path
) -> None:
    dep = deployment(tmp_path)
    saturday = D(2023, 7, 8)
    [opened] = store_tasks(db, [task(None, opened_on=saturday, due_on=D(2023, 7, 24))], on=saturday)
    with db.begin() as conn:
        queue_opened(conn, dep, opened, saturday)

    def mail_lines() -> list[str]:
        with db.read() as conn:
            notes = outbox.notifications_for_task(conn, opened.id or 0)
        return [i.detail for i in task_timeline(opened, [], notes, "ratio") if i.css == "mail"]

    assert mail_lines() == [
        "Gửi Nguyễn Thanh Hải <giamdoc.sotnmt@example.gov.vn> (đồng gửi vanthu.sotnmt@example.gov.vn): "
        "(nội dung soạn khi gửi) — chờ gửi"
    ]
    run(db, dep, D(2023, 7, 10))
    assert "“[CCHC] 01 nhiệm vụ mới cần khắc phục – Sở Tài nguyên và Môi trường”" in mail_lines()[0]
