"""`compliance run --once`: the inbox ingested and emptied, one evaluation, the emails written by the file backend."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
from pathlib import Path

from sqlalchemy import func, select

from compliance.storage import auditlog
from compliance.storage.db import open_database
from compliance.storage.schema import audit_log, runs, snapshot_files, tasks
from tests.conftest import Cli
from tests.support.deployment import RULES_YAML, write_deployment

HEADER = "period,agency,indicator,numerator,denominator,value,status,as_of"
# so-a and huyen-x miss 30% online payment in January 2023; so-b reaches it.
JANUARY = f"{HEADER}\n2023-01,so-a,online_payment,20,100,,,\n2023-01,so-b,online_payment,50,100,,,\n2023-01,huyen-x,online_payment,10,100,,,\n"
PAR_2022 = f"{HEADER}\n2022,so-a,par_index,,,85.5,,\n2022,so-b,par_index,,,90,,\n"
BAD = f"{HEADER}\n2023-01,so-z,online_payment,5,10,,,\n2023-01,so-b,online_payment,50,40,,,\n"


def deployment(tmp_path: Path, url: str | None = None, engine: str = "python") -> Path:
    config = write_deployment(
        tmp_path,
        database_url=url or "sqlite:///var/compliance.db",
        config_extra=f'[engine]\nbackend = "{engine}"\n',
        extra_files={
            "data/inbox/2023-01.csv": JANUARY,
            "data/inbox/2022-par.csv": PAR_2022,
            "data/inbox/bad.csv": BAD,
            "data/inbox/notes.txt": "not a snapshot",
        },
    )
    return config


def test_run_once_end_to_end(cli: Cli, tmp_path: Path, db_url: str) -> None:
    deployment(tmp_path, db_url, engine="durable")  # the default engine, end to end
    inbox = tmp_path / "data" / "inbox"
    # The same bytes under another name: already stored by the time it is reached (names in order).
    shutil.copy(inbox / "2023-01.csv", inbox / "z-copy-of-january.csv")

    result = cli("run", "--once", "--at", "2023-02-07", "--json")
    assert result.returncode == 1, result.stderr  # a file was rejected: the office must look at it
    data = json.loads(result.stdout)
    assert data["on"] == "2023-02-07"
    assert [(f["file"], f["status"], f["rows"], f["moved_to"]) for f in data["inbox"]] == [
        ("2022-par.csv", "ingested", 2, "processed/2022-par.csv"),
        ("2023-01.csv", "ingested", 3, "processed/2023-01.csv"),
        ("bad.csv", "rejected", 0, "rejected/bad.csv"),
        ("z-copy-of-january.csv", "duplicate", 3, "processed/z-copy-of-january.csv"),
    ]
    bad = data["inbox"][2]
    assert bad["errors"] == [
        "data/inbox/bad.csv:2: agency: unknown agency 'so-z'\n  hint: did you mean 'so-b'?",
        "data/inbox/bad.csv:3: numerator: numerator 50 is greater than denominator 40",
    ]
    errors_file = inbox / "rejected" / "bad.csv.errors.txt"
    assert errors_file.read_text(encoding="utf-8") == "\n".join(bad["errors"]) + "\n"
    assert sorted(p.name for p in inbox.iterdir()) == ["notes.txt", "processed", "rejected"]
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == [
        "2022-par.csv",
        "2023-01.csv",
        "z-copy-of-january.csv",
    ]

    assert data["rules"]["rejected"] == []
    assert data["evaluation"]["at"] == "2023-02-07"
    assert data["evaluation"]["tasks"]["opened"] == 2
    assert data["notify"]["sent"] == 2  # one task-opened email per head; Tuesday: no digest
    assert data["notify"]["failed"] == 0

    emls = sorted((tmp_path / "var" / "outbox").glob("*.eml"))
    assert len(emls) == 2
    messages = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in emls]
    assert sorted(str(m["To"]) for m in messages) == [
        "Phạm Văn Xuân <chutich.huyenx@example.gov.vn>",
        "Trần Thị An <giamdoc.soa@example.gov.vn>",
    ]
    assert {str(m["X-Compliance-Kind"]) for m in messages} == {"task-opened"}

    db = open_database(db_url)
    try:
        with db.read() as conn:
            assert conn.execute(select(func.count()).select_from(runs)).scalar() == 1
            assert conn.execute(select(func.count()).select_from(snapshot_files)).scalar() == 2
            assert sorted(conn.execute(select(tasks.c.rule, tasks.c.agency, tasks.c.status))) == [
                ("online-payment-30", "huyen-x", "open"),
                ("online-payment-30", "so-a", "open"),
            ]
            kinds = list(conn.execute(select(audit_log.c.kind).order_by(audit_log.c.seq)).scalars())
    finally:
        db.dispose()
    assert kinds.count("snapshot-ingested") == 2
    assert kinds.count("snapshot-rejected") == 1
    assert kinds.count("notification-sent") == 2

    # Once more at the same D: nothing new to ingest, evaluate or send.
    again = cli("run", "--once", "--at", "2023-02-07", "--json")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["inbox"] == []
    assert second["evaluation"]["repeat"] is True
    assert second["notify"]["sent"] == 0
    assert len(list((tmp_path / "var" / "outbox").glob("*.eml"))) == 2


def test_run_once_human_output(cli: Cli, tmp_path: Path) -> None:
    deployment(tmp_path)
    (tmp_path / "data" / "inbox" / "bad.csv").unlink()
    result = cli("run", "--once", "--at", "2023-02-07")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Hộp thư số liệu: 2 tệp đã nhập, 0 tệp trùng, 0 tệp bị từ chối",
        "Đánh giá ngày 07/02/2023: 3 đạt, 2 không đạt, 0 chưa đủ số liệu, 1 chưa có số liệu, "
        "0 số liệu chưa cập nhật, 1 không áp dụng",
        "Nhiệm vụ: 2 mới, 0 đã hoàn thành, 2 đang mở",
        "Email: 2 đã gửi, 0 gửi lỗi, 0 đang chờ gửi",
    ]


def test_invalid_rules_keep_the_last_valid_revision(cli: Cli, tmp_path: Path) -> None:
    deployment(tmp_path)
    (tmp_path / "data" / "inbox" / "bad.csv").unlink()
    first = cli("run", "--once", "--at", "2023-02-07", "--json")
    assert first.returncode == 0, first.stderr
    revision = json.loads(first.stdout)["rules"]["revision"]

    # A typo saved by mistake: the next run keeps the revision in force and logs rules-rejected.
    (tmp_path / "rules" / "rules.yaml").write_text(
        RULES_YAML.replace("indicator: online_payment", "indicator: online_paymnet"), encoding="utf-8"
    )
    (tmp_path / "data" / "inbox" / "2023-02.csv").write_text(
        f"{HEADER}\n2023-02,so-a,online_payment,40,100,,,\n", encoding="utf-8"
    )
    second = cli("run", "--once", "--at", "2023-03-01", "--json")
    assert second.returncode == 1
    data = json.loads(second.stdout)
    assert data["rules"]["revision"] == revision
    assert data["rules"]["kept_revision"] == revision
    assert data["rules"]["rejected"] == [
        "rules/rules.yaml:5:16: rules[0].indicator: unknown indicator 'online_paymnet'\n"
        "  hint: did you mean 'online_payment'?"
    ]
    assert [f["status"] for f in data["inbox"]] == ["ingested"]
    assert data["evaluation"]["rules_revision"] == revision
    assert data["evaluation"]["tasks"]["resolved"] == 1  # so-a reached 40% in February

    human = cli("run", "--once", "--at", "2023-03-02")
    assert human.returncode == 1
    assert "Tệp quy tắc không hợp lệ; tiếp tục dùng phiên bản hợp lệ gần nhất" in human.stderr
    assert "rules/rules.yaml:5:16: rules[0].indicator: unknown indicator 'online_paymnet'" in human.stderr

    db = open_database(f"sqlite:///{tmp_path / 'var' / 'compliance.db'}")
    try:
        with db.read() as conn:
            entries = list(
                conn.execute(
                    select(audit_log).where(audit_log.c.kind == "rules-rejected").order_by(audit_log.c.seq)
                )
            )
            _count, _head, broken = auditlog.verify(conn)
    finally:
        db.dispose()
    assert broken is None
    assert len(entries) == 2
    assert entries[0].rules_revision == revision
    logged = json.loads(entries[0].data)
    assert logged["kept_revision"] == revision
    assert logged["errors"] == data["rules"]["rejected"]
    assert "online_paymnet" in logged["files"]["rules.yaml"]


def test_invalid_rules_without_an_earlier_revision_fail(cli: Cli, tmp_path: Path) -> None:
    deployment(tmp_path)
    (tmp_path / "rules" / "rules.yaml").write_text(
        RULES_YAML.replace("indicator: online_payment", "indicator: online_paymnet"), encoding="utf-8"
    )
    result = cli("run", "--once", "--at", "2023-02-07")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "rules/rules.yaml:5:16: rules[0].indicator: unknown indicator 'online_paymnet'",
        "  hint: did you mean 'online_payment'?",
    ]
    # Nothing was ingested: the inbox waits for valid rules.
    assert (tmp_path / "data" / "inbox" / "2023-01.csv").exists()


def test_usage_errors(cli: Cli, tmp_path: Path) -> None:
    deployment(tmp_path)
    result = cli("run", "--at", "2023-02-07")
    assert result.returncode == 2
    assert "--at needs --once: the daemon runs on the real clock" in result.stderr
    result = cli("run", "--once", "--at", "07/02/2023")
    assert result.returncode == 2
    assert "'07/02/2023' does not match the format '%Y-%m-%d'" in result.stderr
