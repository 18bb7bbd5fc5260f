"""evaluate_run on SQLite and PostgreSQL: the log of a run, change-only entries, no-op repeats, time, dry runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import Connection, insert
from sqlalchemy.exc import IntegrityError

from compliance.engine import get_backend
from compliance.errors import ComplianceError, NotFoundError, StateError
from compliance.model.task import TaskChange, TaskChangeKind, TaskStatus, Waiver
from compliance.pipeline.evaluate import (
    RunResult,
    acknowledge_task,
    add_waiver,
    evaluate_run,
    evaluation_digest,
)
from compliance.storage import runs, schema
from compliance.storage import tasks as task_store
from compliance.storage.db import Database
from tests.pipeline.evalsupport import clock_on, deployment_in, entries, ingest, pay_rows, table_counts

D1 = dt.date(2023, 1, 31)
D2 = dt.date(2023, 2, 28)
D3 = dt.date(2023, 3, 31)
PY = get_backend("python")


def run(db: Database, deployment: object, on: dt.date, **kw: object) -> RunResult:
    return evaluate_run(db, deployment, PY, on, clock=clock_on(on), **kw)  # type: ignore[arg-type]


@pytest.fixture
def dep(tmp_path: Path):  # type: ignore[no-untyped-def]
    return deployment_in(tmp_path / "deployment")


def test_a_first_run_logs_the_rules_every_evaluation_and_the_run(db: Database, dep, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ingest(db, dep, tmp_path, pay_rows("so-a", {"2023-01": (10, 100)}), on=D1)
    result = run(db, dep, D1)
    assert result.outcomes == {
        "pass": 0,
        "fail": 1,
        "insufficient": 0,
        "no_data": 4,
        "stale": 0,
        "not_applicable": 0,
    }
    assert result.tasks == {"opened": 0, "resolved": 0, "waived": 0, "updated": 0, "open": 0}
    assert (result.evaluations, result.logged, result.repeat, result.at) == (5, 5, False, D1)
    log = entries(db, run_id=result.run_id)
    assert [e.kind for e in log] == ["rules-loaded"] + ["evaluation"] * 5 + ["evaluation-run"]
    loaded = log[0]
    assert loaded.rules_revision == dep.rulebook.revision
    assert loaded.data["files"] == dep.rulebook.files
    assert [(e.rule, e.agency) for e in log[1:6]] == [
        ("pay", "huyen-x"),
        ("pay", "so-a"),
        ("pay", "so-b"),
        ("pay-once", "so-a"),
        ("pay-once", "so-b"),
    ]
    fail = log[2]
    assert (fail.outcome, fail.period, fail.data["value"], fail.data["streak"]) == ("fail", "2023-01", 0.1, 1)
    assert fail.data["inputs"]["rows"][0]["numerator"] == 10
    assert fail.data["evaluated_on"] == "2023-01-31"
    summary = log[-1].data
    assert summary["evaluated_on"] == "2023-01-31"
    assert summary["counts"] == result.outcomes
    assert summary["digest"] == result.digest == evaluation_digest(result.details)
    with db.read() as conn:
        assert runs.rule_revision_exists(conn, dep.rulebook.revision)
        state = runs.read_state(conn, rule="pay", agency="so-a")
    assert [(s.outcome, s.period, s.value, s.streak, s.run_id) for s in state] == [
        ("fail", "2023-01", 0.1, 1, result.run_id)
    ]


def test_evaluating_twice_at_the_same_date_with_the_same_data_changes_nothing(
    db: Database,
    dep,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    ingest(db, dep, tmp_path, pay_rows("so-a", {"2023-01": (10, 100), "2023-02": (11, 100)}), on=D2)
    first = run(db, dep, D2)
    assert first.tasks["opened"] == 1
    before = table_counts(db)
    again = evaluate_run(db, dep, PY, D2, clock=clock_on(D2, hour=9))
    assert again.repeat is True
    assert (again.run_id, again.outcomes, again.digest) == (first.run_id, first.outcomes, first.digest)
    assert again.tasks == {**first.tasks, "open": 1}
    assert table_counts(db) == before


def test_a_new_day_without_new_data_costs_one_entry(db: Database, dep, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ingest(db, dep, tmp_path, pay_rows("so-a", {"2023-01": (10, 100)}), on=D1)
    run(db, dep, D1)
    before = table_counts(db)
    result = run(db, dep, D1 + dt.timedelta(days=1))
    assert (result.repeat, result.logged) == (False, 0)
    assert [e.kind for e in entries(db, run_id=result.run_id)] == ["evaluation-run"]
    after = table_counts(db)
    assert after["audit_log"] == before["audit_log"] + 1
    assert after["runs"] == before["runs"] + 1


def test_only_changed_evaluations_are_logged(db: Database, dep, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ingest(
        db,
        dep,
        tmp_path,
        pay_rows("so-a", {"2023-01": (10, 100)}) + "\n" + pay_rows("so-b", {"2023-01": (50, 100)}),
        on=D1,
    )
    run(db, dep, D1)
    ingest(db, dep, tmp_path, pay_rows("so-b", {"2023-02": (60, 100)}), on=D2)
    result = run(db, dep, D2)
    logged = [(e.kind, e.rule, e.agency, e.period) for e in entries(db, run_id=result.run_id)]
    assert logged == [("evaluation", "pay", "so-b", "2023-02"), ("evaluation-run", None, None, None)]
    assert result.logged == 1


def test_rules_loaded_is_logged_again_only_for_a_new_revision(db: Database, tmp_path: Path) -> None:
    first = deployment_in(tmp_path / "one")
    ingest(db, first, tmp_path, pay_rows("so-a", {"2023-01": (60, 100)}, indicator="full_online"), on=D1)
    run(db, first, D1)
    run(db, first, D2)
    changed = deployment_in(
        tmp_path / "two", rules_yaml=first.rulebook.files["rules.yaml"].replace("50%", "55%")
    )
    result = run(db, changed, D3)
    loaded = entries(db, kind="rules-loaded")
    assert [e.rules_revision for e in loaded] == [first.rulebook.revision, changed.rulebook.revision]
    assert loaded[-1].run_id == result.run_id
    # Every pay-once evaluation changed (its target is part of the inputs): logged again.
    assert {e.rule for e in entries(db, run_id=result.run_id, kind="evaluation")} == {"pay-once"}


def test_time_moving_backwards_is_refused(db: Database, dep) -> None:  # type: ignore[no-untyped-def]
    first = run(db, dep, D2)
    before = table_counts(db)
    with pytest.raises(StateError) as exc:
        run(db, dep, D1)
    assert str(exc.value) == (
        "không thể đánh giá tại ngày 31/01/2023: lần đánh giá gần nhất "
        f"({first.run_id}) đã đánh giá tại ngày 28/02/2023 và thời gian chỉ đi tới "
        "(dùng --dry-run để xem kết quả tại một ngày trước đó mà không ghi gì)"
    )
    assert table_counts(db) == before


def test_a_dry_run_evaluates_any_date_and_writes_nothing(db: Database, dep, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ingest(db, dep, tmp_path, pay_rows("so-a", {"2023-01": (10, 100), "2023-02": (10, 100)}), on=D2)
    run(db, dep, D2)
    ingest(
        db,
        dep,
        tmp_path,
        pay_rows("so-a", {"2023-03": (11, 100)})
        + "\n"
        + pay_rows("so-b", {"2023-02": (1, 100), "2023-03": (1, 100)}),
        on=D3,
    )
    before = table_counts(db)
    calls: list[object] = []
    earlier = run(db, dep, D1, dry_run=True, queue_run_messages=lambda *a: calls.append(a))
    later = run(db, dep, D3, dry_run=True, queue_run_messages=lambda *a: calls.append(a))
    assert table_counts(db) == before
    assert calls == []
    assert earlier.dry_run and earlier.outcomes["fail"] == 1
    assert later.tasks == {"opened": 1, "resolved": 0, "waived": 0, "updated": 1, "open": 2}
    assert [(c.kind, c.task.agency, c.task.id) for c in later.changes] == [
        (TaskChangeKind.UPDATED, "so-a", 1),
        (TaskChangeKind.OPENED, "so-b", None),
    ]


def test_task_changes_are_applied_logged_and_handed_to_the_message_hook(
    db: Database, dep, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[list[TaskChange], str, dt.date, bool]] = []

    def hook(conn: Connection, changes: Sequence[TaskChange], run_id: str, on: dt.date) -> None:
        seen.append((list(changes), run_id, on, conn.in_transaction()))

    ingest(db, dep, tmp_path, pay_rows("so-a", {"2023-01": (10, 100), "2023-02": (12, 100)}), on=D2)
    result = run(db, dep, D2, queue_run_messages=hook)
    [(changes, run_id, on, in_tx)] = seen
    assert (run_id, on, in_tx) == (result.run_id, D2, True)
    [change] = changes
    assert change.kind is TaskChangeKind.OPENED and change.task.id is not None
    [opened] = entries(db, kind="task-opened")
    assert (opened.run_id, opened.rule, opened.agency, opened.period, opened.outcome) == (
        result.run_id,
        "pay",
        "so-a",
        "2023-02",
        "fail",
    )
    assert opened.data["task_id"] == change.task.id
    assert opened.data["due_on"] == "2023-03-30"
    assert opened.data["assignee"] == "giamdoc.soa@example.gov.vn"
    with db.read() as conn:
        history = task_store.task_history(conn, change.task.id)
    assert [(h.kind, h.on, h.run_id) for h in history] == [("task-opened", D2, result.run_id)]
    # The repeat run hands nothing to the hook.
    run(db, dep, D2, queue_run_messages=hook)
    assert len(seen) == 1


def test_the_database_holds_at_most_one_active_task_per_identity(db: Database, dep, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ingest(db, dep, tmp_path, pay_rows("so-a", {"2023-01": (10, 100), "2023-02": (12, 100)}), on=D2)
    run(db, dep, D2)
    with db.read() as conn:
        [task] = task_store.active_tasks(conn).values()
    row = {
        "rule": "pay",
        "agency": "so-a",
        "status": "acknowledged",
        "opened_on": D2,
        "due_on": D3,
        "streak": 0,
        "assignee": "x@example.gov.vn",
        "assignee_name": "",
    }
    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.execute(insert(schema.tasks).values(**row))
    with db.begin() as conn:  # a closed task beside the active one is fine
        conn.execute(insert(schema.tasks).values(**{**row, "status": "resolved"}))
    assert task.status is TaskStatus.OPEN


def test_an_agency_leaving_its_window_leaves_the_matrix_and_keeps_its_task(
    db: Database, tmp_path: Path
) -> None:
    rules = """version: 1
rules:
  - id: commune-pay
    title: Thanh toán trực tuyến cấp xã
    indicator: online_payment
    scope: {levels: [commune]}
    target: {op: ">=", value: "30%"}
"""
    dep = deployment_in(tmp_path / "d", rules_yaml=rules)
    ingest(db, dep, tmp_path, pay_rows("xa-x3", {"2023-03": (1, 100)}), on=D3)
    first = run(db, dep, D3)
    assert first.tasks["opened"] == 1
    second = run(db, dep, D3 + dt.timedelta(days=1))  # xa-x3 is active until 2023-03-31
    with db.read() as conn:
        agencies = [s.agency for s in runs.read_state(conn)]
        active = task_store.active_tasks(conn)
    assert agencies == ["xa-x1", "xa-x2"]
    assert list(active) == [("commune-pay", "xa-x3")]
    assert second.evaluations == 2


# --- waivers and acknowledgement ------------------------------------------------------------------


def _waiver(**kw: object) -> Waiver:
    base: dict[str, object] = dict(
        rule="pay",
        agency="so-a",
        until=dt.date(2023, 3, 31),
        reason="Nâng cấp hệ thống",
        by="vanphong@example.gov.vn",
    )
    base.update(kw)
    return Waiver(**base)  # type: ignore[arg-type]


def test_a_waiver_waives_the_active_task_at_once(db: Database, dep, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ingest(db, dep, tmp_path, pay_rows("so-a", {"2023-01": (10, 100), "2023-02": (12, 100)}), on=D2)
    run(db, dep, D2)
    day = dt.date(2023, 3, 5)
    stored, change = add_waiver(db, dep, _waiver(), on=day, clock=clock_on(day))
    assert stored.id is not None and change is not None
    assert (change.kind, change.task.status, change.task.waived_on) == (
        TaskChangeKind.WAIVED,
        TaskStatus.WAIVED,
        day,
    )
    tail = entries(db)[-2:]
    assert [(e.kind, e.rule, e.agency) for e in tail] == [
        ("waiver-added", "pay", "so-a"),
        ("task-waived", "pay", "so-a"),
    ]
    assert tail[0].data == {
        "waiver_id": stored.id,
        "until": "2023-03-31",
        "reason": "Nâng cấp hệ thống",
        "by": "vanphong@example.gov.vn",
        "added_on": "2023-03-05",
    }
    assert tail[1].data["task_id"] == change.task.id
    with db.read() as conn:
        assert task_store.active_tasks(conn) == {}
        assert [w.id for w in runs.list_waivers(conn, active_on=day)] == [stored.id]
        assert runs.list_waivers(conn, active_on=dt.date(2023, 4, 1)) == []


def test_a_waiver_without_a_task_logs_only_itself(db: Database, dep) -> None:  # type: ignore[no-untyped-def]
    stored, change = add_waiver(db, dep, _waiver(), on=D1, clock=clock_on(D1))
    assert change is None
    assert [e.kind for e in entries(db)] == ["waiver-added"]


@pytest.mark.parametrize(
    ("waiver", "message"),
    [
        (_waiver(rule="pya"), "không có quy tắc đánh giá 'pya'\n  hint: did you mean 'pay'?"),
        (_waiver(agency="so-aa"), "không có cơ quan, đơn vị 'so-aa'\n  hint: did you mean 'so-a'?"),
        (
            _waiver(until=dt.date(2023, 1, 30)),
            "thời hạn tạm miễn (30/01/2023) đã qua: phải từ ngày 31/01/2023 trở đi",
        ),
        (_waiver(by="vanphong"), "'vanphong' không phải là địa chỉ email hợp lệ"),
    ],
)
def test_a_waiver_is_checked_before_anything_is_written(
    db: Database, dep, waiver: Waiver, message: str
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ComplianceError) as exc:
        add_waiver(db, dep, waiver, on=D1, clock=clock_on(D1))
    assert str(exc.value) == message
    assert table_counts(db)["waivers"] == 0


def test_acknowledging_records_who_when_and_the_note(db: Database, dep, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ingest(db, dep, tmp_path, pay_rows("so-a", {"2023-01": (10, 100), "2023-02": (12, 100)}), on=D2)
    run(db, dep, D2)
    day = dt.date(2023, 3, 2)
    task = acknowledge_task(
        db, 1, by="giamdoc.soa@example.gov.vn", note="Đã giao phòng chuyên môn", on=day, clock=clock_on(day)
    )
    assert (task.status, task.acknowledged_on, task.acknowledged_by, task.note) == (
        TaskStatus.ACKNOWLEDGED,
        day,
        "giamdoc.soa@example.gov.vn",
        "Đã giao phòng chuyên môn",
    )
    [entry] = entries(db, kind="task-acknowledged")
    assert entry.data == {
        "task_id": 1,
        "by": "giamdoc.soa@example.gov.vn",
        "note": "Đã giao phòng chuyên môn",
        "acknowledged_on": "2023-03-02",
    }
    with pytest.raises(StateError) as exc:
        acknowledge_task(db, 1, by="giamdoc.soa@example.gov.vn", note=None, on=day, clock=clock_on(day))
    assert str(exc.value) == (
        "nhiệm vụ số 1 đang ở trạng thái 'acknowledged': chỉ xác nhận được nhiệm vụ đang mở (open)"
    )
    with pytest.raises(ComplianceError) as bad:
        acknowledge_task(db, 2, by="giam doc", note=None, on=day, clock=clock_on(day))
    assert str(bad.value) == "'giam doc' không phải là địa chỉ email hợp lệ"
    with pytest.raises(NotFoundError) as missing:
        acknowledge_task(db, 99, by="giamdoc.soa@example.gov.vn", note=None, on=day, clock=clock_on(day))
    assert str(missing.value) == "không có nhiệm vụ số 99"
    # Still active: the next failing evaluation updates it and opens nothing new.
    ingest(db, dep, tmp_path, pay_rows("so-a", {"2023-03": (13, 100)}), on=D3)
    result = run(db, dep, D3)
    assert (result.tasks["opened"], result.tasks["updated"], result.tasks["open"]) == (0, 1, 1)
    with db.read() as conn:
        [after] = task_store.active_tasks(conn).values()
    assert (after.status, after.last_period, after.note) == (
        TaskStatus.ACKNOWLEDGED,
        "2023-03",
        "Đã giao phòng chuyên môn",
    )
