"""Sending at scale: the RFC 5322 bytes written directly, and the file backend's batches (claimed,
written, synced and recorded a batch at a time), on real databases and through a real killed process."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import Cli
from tests.notify.conftest import deployment
from tests.notify.test_cli import AGENCIES, CONFIG, RULES

from compliance.clock import FixedClock
from compliance.notify.backends.file import FileBackend, file_name_for
from compliance.notify.message import Address, OutgoingEmail, mime_bytes
from compliance.pipeline.notify import notify_run
from compliance.storage import auditlog, outbox
from compliance.storage.db import Database, open_database

D = dt.date
ON = D(2023, 7, 14)
AT = dt.datetime(2023, 7, 14, 0, 30, tzinfo=dt.UTC)
LONG_NAME = "Ủy ban nhân dân tỉnh Tiền Giang — Văn phòng Cải cách hành chính, Chuyển đổi số, Đề án 06"


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


MESSAGE = OutgoingEmail(
    key="digest:2023-07-14:giamdoc.sotnmt@example.gov.vn:12,13",
    kind="digest",
    sender=Address("cchc@example.gov.vn", LONG_NAME),
    to=(Address("giamdoc.sotnmt@example.gov.vn", "Nguyễn Thanh Hải"),),
    cc=(
        Address("vanthu.sotnmt@example.gov.vn", 'Văn thư "Sở", phòng 1'),
        Address("a.b@example.gov.vn"),
    ),
    subject="[CCHC] Danh sách nhiệm vụ cần xử lý (02 nhiệm vụ) – " + LONG_NAME,
    text="Kính gửi: Ông/Bà Nguyễn Thanh Hải\n\n" + "Tỷ lệ 31,25%; chỉ tiêu ≥ 30%.\n" * 40,
    html="<p>Kính gửi: Ông/Bà Nguyễn Thanh Hải</p>" + "<p>Tỷ lệ <strong>31,25%</strong></p>" * 40,
    task_ids=(12, 13),
    date=AT,
)


def message(**changes: Any) -> OutgoingEmail:
    return dataclasses.replace(MESSAGE, **changes)


def test_bytes_are_ascii_with_short_lines_and_read_back_exactly() -> None:
    data = mime_bytes(message())
    text = data.decode("ascii")  # RFC 2047 words and base64 bodies: nothing needs 8BITMIME or SMTPUTF8
    lines = text.split("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert max(len(line) for line in lines) <= 76
    parsed = parse(data)
    assert str(parsed["Subject"]) == "[CCHC] Danh sách nhiệm vụ cần xử lý (02 nhiệm vụ) – " + LONG_NAME
    assert str(parsed["To"]) == "Nguyễn Thanh Hải <giamdoc.sotnmt@example.gov.vn>"
    assert [(a.display_name, a.addr_spec) for a in parsed["Cc"].addresses] == [
        ('Văn thư "Sở", phòng 1', "vanthu.sotnmt@example.gov.vn"),
        ("", "a.b@example.gov.vn"),
    ]
    assert parsed["From"].addresses[0].addr_spec == "cchc@example.gov.vn"
    assert str(parsed["X-Compliance-Key"]) == "digest:2023-07-14:giamdoc.sotnmt@example.gov.vn:12,13"
    assert str(parsed["Date"]) == "Fri, 14 Jul 2023 00:30:00 +0000"
    plain, html = parsed.iter_parts()
    assert plain.get_content().replace("\r\n", "\n") == message().text
    assert html.get_content().replace("\r\n", "\n") == message().html + "\n"


def test_every_encoded_word_decodes_on_its_own() -> None:
    # RFC 2047: a word never splits a character, so each one is valid UTF-8 by itself.
    data = mime_bytes(message(subject="ệ" * 200)).decode("ascii")
    subject = re.search(r"^Subject:(.*?)\r\n(?! )", data, re.S | re.M)
    assert subject is not None
    words = re.findall(r"=\?utf-8\?b\?([A-Za-z0-9+/=]+)\?=", subject.group(1))
    assert len(words) > 5
    assert "".join(base64.b64decode(w).decode("utf-8") for w in words) == "ệ" * 200
    assert str(parse(data.encode("ascii"))["Subject"]) == "ệ" * 200


def test_ascii_text_that_looks_like_an_encoded_word_stays_text() -> None:
    parsed = parse(
        mime_bytes(message(subject="=?utf-8?b?SGk=?= x", to=(Address("a@example.gov.vn", "=?x?="),)))
    )
    assert str(parsed["Subject"]) == "=?utf-8?b?SGk=?= x"
    assert parsed["To"].addresses[0].display_name == "=?x?="


def test_a_very_long_task_list_is_folded_within_the_line_limit() -> None:
    ids = tuple(range(100_000, 100_400))
    data = mime_bytes(message(task_ids=ids))
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    listed = str(parse(data)["X-Compliance-Tasks"])
    assert [int(t) for t in listed.split(",")] == list(ids)


def queue_many(db: Database, n: int, on: dt.date = ON) -> list[str]:
    messages = [
        outbox.NewNotification(
            key=f"reminder:{on.isoformat()}:{i}",
            kind="reminder",
            due_on=on,
            to=[{"email": f"head{i}@example.gov.vn", "name": "Trần Thị Bích Ngọc"}],
            cc=[{"email": "vanphong@example.gov.vn", "name": ""}],
            subject=f"[CCHC] Nhắc việc số {i} – Sở Nội vụ",
            body_text=f"Kính gửi: Ông/Bà Trần Thị Bích Ngọc\n\nNhắc việc {i}.\n",
            body_html=f"<p>Nhắc việc {i}.</p>",
            task_ids=[i],
            agency="so-noivu",
        )
        for i in range(n)
    ]
    with db.begin() as conn:
        return outbox.queue(conn, messages, at=AT)


def test_a_run_sends_hundreds_in_batches_each_once_and_logged(db: Database, tmp_path: Path) -> None:
    dep = deployment(tmp_path)
    keys = queue_many(db, 450)  # more than two batches
    clock = FixedClock(AT)
    result = notify_run(db, dep, FileBackend(dep.config.outbox_dir), ON, clock=clock)
    assert (result.sent, result.failed, result.queued, result.possible_duplicates) == (450, 0, 0, 0)
    files = sorted(p.name for p in dep.config.outbox_dir.iterdir())
    assert files == sorted(file_name_for(k) for k in keys)  # no temporary file left behind
    with db.read() as conn:
        rows = outbox.list_notifications(conn)
        sent = [e.data for e in auditlog.iter_entries(conn, kind="notification-sent")]
        _count, _head, broken = auditlog.verify(conn)
    assert broken is None
    assert {(r.status, r.attempts, r.sent_at) for r in rows} == {("sent", 1, "2023-07-14T00:30:00Z")}
    assert [e["key"] for e in sent] == keys  # in queue order, one entry each
    again = notify_run(db, dep, FileBackend(dep.config.outbox_dir), ON, clock=clock)
    assert (again.sent, again.new) == (0, 0)


def test_an_unwritable_outbox_leaves_the_batch_queued_with_the_reason(db: Database, tmp_path: Path) -> None:
    dep = deployment(tmp_path)
    queue_many(db, 3)
    dep.config.outbox_dir.parent.mkdir(parents=True, exist_ok=True)
    dep.config.outbox_dir.write_text("not a folder")
    sleeps: list[float] = []
    result = notify_run(
        db, dep, FileBackend(dep.config.outbox_dir), ON, clock=FixedClock(AT), sleep=sleeps.append
    )
    assert (result.sent, result.failed, result.queued) == (0, 0, 3)
    with db.read() as conn:
        rows = outbox.list_notifications(conn)
    assert {r.status for r in rows} == {"queued"}
    assert all(r.error is not None and r.error.startswith("không ghi được tệp ") for r in rows)
    dep.config.outbox_dir.unlink()  # fixed: the next run sends them
    later = notify_run(db, dep, FileBackend(dep.config.outbox_dir), ON, clock=FixedClock(AT))
    assert (later.sent, later.queued) == (3, 0)


def test_a_bad_address_in_a_batch_fails_alone(db: Database, tmp_path: Path) -> None:
    dep = deployment(tmp_path)
    queue_many(db, 2)
    bad = outbox.NewNotification(
        key="reminder:2023-07-14:bad",
        kind="reminder",
        due_on=ON,
        to=[{"email": "a b@example.gov.vn", "name": ""}],
        cc=[],
        subject="x",
        body_text="x",
        body_html="x",
        task_ids=[99],
    )
    with db.begin() as conn:
        outbox.queue(conn, [bad], at=AT)
    result = notify_run(db, dep, FileBackend(dep.config.outbox_dir), ON, clock=FixedClock(AT))
    assert (result.sent, result.failed) == (2, 1)
    with db.read() as conn:
        [failed] = outbox.list_notifications(conn, status="failed")
    assert failed.key == "reminder:2023-07-14:bad"
    assert failed.error == "địa chỉ email không hợp lệ: 'a b@example.gov.vn'"


@pytest.mark.slow
@pytest.mark.parametrize("point", ["notify.claimed:1", "notify.sent:2"])
def test_killed_mid_batch_the_next_run_rewrites_the_batch_flagged_and_loses_nothing(
    cli: Cli, tmp_path: Path, point: str
) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "config.toml").write_text(CONFIG.format(backend="file"), encoding="utf-8")
    (tmp_path / "rules" / "agencies.csv").write_text(AGENCIES, encoding="utf-8")
    (tmp_path / "rules" / "targets.yaml").write_text(RULES, encoding="utf-8")
    db = open_database("sqlite:///var/compliance.db", base_dir=tmp_path)
    try:
        keys = queue_many(db, 250)  # a batch of 200, then 50
        killed = cli("notify", "--at", "2023-07-14", env={"COMPLIANCE_FAULT_POINT": point})
        assert killed.returncode == -9, killed.stderr
        with db.read() as conn:
            assert outbox.count_by_status(conn) == {"queued": 50, "sending": 200, "sent": 0, "failed": 0}
        rerun = cli("notify", "--at", "2023-07-14")
        assert rerun.returncode == 0, rerun.stderr
        with db.read() as conn:
            rows = outbox.list_notifications(conn)
            sent = [e.data["key"] for e in auditlog.iter_entries(conn, kind="notification-sent")]
            _count, _head, broken = auditlog.verify(conn)
    finally:
        db.dispose()
    assert broken is None
    assert sorted(sent) == sorted(keys)  # each recorded once
    assert {r.status for r in rows} == {"sent"}
    flagged = {r.key for r in rows if r.possible_duplicate}
    assert flagged == set(keys[:200])  # the interrupted batch, and only it
    outbox_dir = tmp_path / "var" / "outbox"
    assert sorted(p.name for p in outbox_dir.iterdir()) == sorted(file_name_for(k) for k in keys)
    for key in (keys[0], keys[-1]):
        parsed = parse((outbox_dir / file_name_for(key)).read_bytes())
        expected = "yes" if key in flagged else None
        assert (None if parsed["X-Compliance-Possible-Duplicate"] is None else "yes") == expected
