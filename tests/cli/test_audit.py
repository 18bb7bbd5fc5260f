"""`compliance audit list|verify` through the real command; tampering is caught and the seq named."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, update

from compliance.audit import AuditEntry, canonical_json, entry_hash
from compliance.storage import auditlog
from compliance.storage.auditlog import NewEntry
from compliance.storage.db import Database, open_database
from compliance.storage.schema import audit_log
from tests.conftest import Cli
from tests.support.deployment import write_deployment

# Local dates in Asia/Ho_Chi_Minh (UTC+7): 16:59:59Z is 23:59:59 the same day, 17:00Z is the next day.
ENTRIES = [
    ("2023-07-04T16:59:59Z", NewEntry("snapshot-ingested", data={"file": "data/june.csv", "rows": 3})),
    (
        "2023-07-04T17:00:00Z",
        NewEntry(
            "evaluation",
            run_id="run-1",
            rule="online-payment-30",
            agency="so-a",
            period="2023-06",
            outcome="fail",
            data={"value": 0.25},
        ),
    ),
    (
        "2023-07-04T17:00:00Z",
        NewEntry(
            "evaluation",
            run_id="run-1",
            rule="online-payment-30",
            agency="so-b",
            period="2023-06",
            outcome="pass",
            data={"value": 0.45},
        ),
    ),
    (
        "2023-07-04T17:00:01Z",
        NewEntry(
            "task-opened",
            run_id="run-1",
            rule="online-payment-30",
            agency="so-a",
            period="2023-06",
            data={"task_id": 1},
        ),
    ),
    (
        "2023-07-05T17:00:00Z",
        NewEntry(
            "evaluation",
            run_id="run-2",
            rule="db-land",
            agency="so-a",
            period="2023-06",
            outcome="not_applicable",
            data={"stage": "built"},
        ),
    ),
    (
        "2023-07-06T02:00:00Z",
        NewEntry(
            "waiver-added",
            rule="online-payment-30",
            agency="so-a",
            data={"until": "2023-09-30", "reason": "Sáp nhập đơn vị"},
        ),
    ),
]


@pytest.fixture
def logged(tmp_path: Path, db_url: str) -> Iterator[tuple[Database, list[AuditEntry]]]:
    write_deployment(tmp_path, database_url=db_url)
    db = open_database(db_url)
    entries: list[AuditEntry] = []
    for at, entry in ENTRIES:
        with db.begin() as conn:
            entries += auditlog.append(conn, [entry], at=at)
    yield db, entries
    db.dispose()


def test_verify_ok_then_a_modified_entry_is_named(
    cli: Cli, logged: tuple[Database, list[AuditEntry]]
) -> None:
    db, entries = logged
    ok = cli("audit", "verify")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, f"OK: 6 entries, head {entries[-1].hash}\n", "")
    as_json = cli("audit", "verify", "--json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == {"ok": True, "entries": 6, "head": entries[-1].hash, "broken": None}
    with db.begin() as conn:  # someone turns a failing evaluation into a passing one
        conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(outcome="pass"))
    broken = cli("audit", "verify")
    assert (broken.returncode, broken.stdout) == (1, "")
    assert (
        broken.stderr
        == "audit chain broken at seq 2: hash does not match the entry's content (it was altered)\n"
    )
    as_json = cli("audit", "verify", "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {
        "ok": False,
        "entries": 1,
        "head": entries[0].hash,
        "broken": {"seq": 2, "reason": "hash does not match the entry's content (it was altered)"},
    }


def test_a_deleted_entry_is_named(cli: Cli, logged: tuple[Database, list[AuditEntry]]) -> None:
    db, _entries = logged
    with db.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == 4))
    result = cli("audit", "verify")
    assert result.returncode == 1
    assert (
        result.stderr
        == "audit chain broken at seq 4: expected seq 4, found 5 (an entry was deleted or inserted)\n"
    )


def test_an_inserted_entry_is_named(cli: Cli, logged: tuple[Database, list[AuditEntry]]) -> None:
    db, entries = logged
    # A forged waiver slipped in after seq 3, well-formed and chained to seq 3; later entries moved up.
    forged = AuditEntry(
        4,
        "2023-07-04T17:00:02Z",
        "waiver-added",
        rule="online-payment-30",
        agency="so-a",
        data={"until": "2099-12-31"},
        prev_hash=entries[2].hash,
    )
    with db.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq >= 4).values(seq=audit_log.c.seq + 100))
        conn.execute(update(audit_log).where(audit_log.c.seq >= 104).values(seq=audit_log.c.seq - 99))
        conn.execute(
            insert(audit_log).values(
                **{**forged.as_dict(), "data": canonical_json(forged.data), "hash": entry_hash(forged)}
            )
        )
    result = cli("audit", "verify")
    assert result.returncode == 1
    assert (
        result.stderr == "audit chain broken at seq 5: prev_hash does not match the previous entry's hash\n"
    )


def test_entries_deleted_at_the_end_are_noticed(cli: Cli, logged: tuple[Database, list[AuditEntry]]) -> None:
    db, _entries = logged
    with db.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq >= 5))
    result = cli("audit", "verify")
    assert result.returncode == 1
    assert result.stderr == (
        "audit chain broken at seq 5: the log ends at seq 4 but its head is at seq 6 "
        "(entries at the end were deleted)\n"
    )


def _json(cli: Cli, *args: str) -> list[dict[str, object]]:
    result = cli("audit", "list", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_list_filters(cli: Cli, logged: tuple[Database, list[AuditEntry]]) -> None:
    _db, entries = logged
    everything = _json(cli)
    assert everything == [e.as_dict() for e in entries]

    def seqs(*args: str) -> list[object]:
        return [e["seq"] for e in _json(cli, *args)]

    # Each option is wired: in every call, each filter alone excludes an entry the others let through.
    assert seqs("--rule", "online-payment-30", "--agency", "so-a", "--until", "2023-07-05") == [2, 4]
    assert seqs("--kind", "evaluation", "--run", "run-1") == [2, 3]
    assert seqs("--since", "2023-07-05", "--until", "2023-07-05") == [2, 3, 4]
    assert seqs("--agency", "so-a", "--limit", "2") == [5, 6]


def test_list_as_csv_and_as_a_table(cli: Cli, logged: tuple[Database, list[AuditEntry]]) -> None:
    _db, entries = logged
    result = cli("audit", "list", "--csv", "--kind", "waiver-added")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    last = entries[-1]
    assert rows == [
        [
            "seq",
            "at",
            "run_id",
            "kind",
            "rule",
            "agency",
            "period",
            "outcome",
            "data",
            "rules_revision",
            "prev_hash",
            "hash",
        ],
        [
            "6",
            "2023-07-06T02:00:00Z",
            "",
            "waiver-added",
            "online-payment-30",
            "so-a",
            "",
            "",
            '{"reason":"Sáp nhập đơn vị","until":"2023-09-30"}',
            "",
            last.prev_hash,
            last.hash,
        ],
    ]
    table = cli("audit", "list", "--run", "run-1", env={"COLUMNS": "120"})
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert [line.split() for line in lines if "run" not in line and "2023-06" in line] == [
        ["2", "05/07/2023", "00:00", "evaluation", "online-payment-30", "so-a", "2023-06", "không", "đạt"],
        ["3", "05/07/2023", "00:00", "evaluation", "online-payment-30", "so-b", "2023-06", "đạt"],
        ["4", "05/07/2023", "00:00", "task-opened", "online-payment-30", "so-a", "2023-06"],
    ]
    assert lines[-1] == "3 mục nhật ký."


def test_list_refuses_bad_options(cli: Cli, tmp_path: Path) -> None:
    write_deployment(tmp_path)
    result = cli("audit", "list", "--kind", "evaluatoin")
    assert result.returncode == 2
    assert (
        "Invalid value for '--kind': 'evaluatoin' is not a kind of entry (did you mean 'evaluation'?)"
        in result.stderr
    )
    both = cli("audit", "list", "--json", "--csv")
    assert both.returncode == 2
    assert "choose one of --json and --csv" in both.stderr
    date = cli("audit", "list", "--since", "05/07/2023")
    assert date.returncode == 2
    assert "Invalid value for '--since': '05/07/2023' is not a date like 2023-07-15" in date.stderr


def test_audit_group_lists_its_commands(cli: Cli, tmp_path: Path) -> None:
    result = cli("audit", "--help")
    assert result.returncode == 0
    assert "list" in result.stdout and "verify" in result.stdout
