"""`compliance tasks list|show|ack`, `compliance waivers add|list` and `compliance audit explain TASK_ID`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from rich.table import Table

from compliance.cli import cli
from compliance.cli.audit_cmd import audit
from compliance.cli.context import AppContext, emit_json, pass_app
from compliance.cli.evaluate_cmd import DATE, unknown_name
from compliance.clock import SystemClock
from compliance.errors import ComplianceError
from compliance.explain import STATUS_WORDS, fmt_date, fmt_figure
from compliance.model.task import Task, TaskStatus, Waiver

__all__ = ["task_json", "tasks", "waivers"]

_STATUSES = tuple(s.value for s in TaskStatus)
_EVENT_WORDS = {
    "task-opened": "giao nhiệm vụ",
    "task-updated": "cập nhật",
    "task-resolved": "tự động hoàn thành",
    "task-waived": "tạm miễn áp dụng",
    "task-acknowledged": "xác nhận đã tiếp nhận",
    "task-escalated": "báo cáo cấp trên",
}


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None


def task_json(task: Task) -> dict[str, Any]:
    """A task as `tasks list --json` prints it (SPEC §7 fields first, then the rest)."""
    return {
        "id": task.id,
        "rule": task.rule,
        "agency": task.agency,
        "status": task.status.value,
        "opened_on": _iso(task.opened_on),
        "due_on": _iso(task.due_on),
        "resolved_on": _iso(task.resolved_on),
        "period": task.period,
        "last_period": task.last_period,
        "value": task.value,
        "target": task.target,
        "assignee": task.assignee,
        "escalated_on": _iso(task.escalated_on),
        "assignee_name": task.assignee_name,
        "streak": task.streak,
        "acknowledged_on": _iso(task.acknowledged_on),
        "acknowledged_by": task.acknowledged_by,
        "note": task.note,
        "waived_on": _iso(task.waived_on),
        "previous_task_id": task.previous_task_id,
        "opened_run_id": task.opened_run_id,
    }


def _today(app: AppContext, at: dt.date | None) -> dt.date:
    return at if at is not None else SystemClock().today(app.config.deployment.tz)


def _kinds(app: AppContext) -> tuple[dict[str, str], dict[str, str]]:
    """(rule id -> indicator kind, agency id -> name) from the deployment, for readable output."""
    from compliance.loading.deployment import load_deployment

    deployment = load_deployment(app.config)
    book = deployment.rulebook
    kinds: dict[str, str] = {
        r.id: book.indicators[r.indicator].kind for r in book.rules.values() if r.indicator in book.indicators
    }
    return kinds, {a.id: a.name for a in deployment.directory}


# --- tasks ----------------------------------------------------------------------------------------


@cli.group("tasks")
def tasks() -> None:
    """Tasks: one per rule x agency while it fails (open, acknowledged, resolved, waived)."""


@tasks.command("list")
@click.option("--agency", default=None, help="Only this agency (id).")
@click.option("--rule", default=None, help="Only this rule (id).")
@click.option("--status", type=click.Choice(_STATUSES), default=None, help="Only tasks in this status.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@pass_app
def tasks_list(
    app: AppContext, agency: str | None, rule: str | None, status: str | None, as_json: bool
) -> None:
    """The tasks, oldest first, optionally filtered."""
    from compliance.loading.deployment import load_deployment
    from compliance.storage.tasks import list_tasks

    deployment = load_deployment(app.config)
    if agency is not None and agency not in deployment.directory:
        raise unknown_name("cơ quan, đơn vị", agency, deployment.directory.agencies)
    if rule is not None and rule not in deployment.rulebook.rules:
        raise unknown_name("quy tắc đánh giá", rule, deployment.rulebook.rules)
    with app.db.read() as conn:
        found = list_tasks(conn, agency=agency, rule=rule, status=status)
    if as_json:
        emit_json([task_json(t) for t in found])
        return
    if not found:
        app.out.print("Không có nhiệm vụ nào.", markup=False)
        return
    book = deployment.rulebook
    kinds: dict[str, str] = {
        r.id: book.indicators[r.indicator].kind for r in book.rules.values() if r.indicator in book.indicators
    }
    table = Table(title="Nhiệm vụ")
    for header in (
        "Số",
        "Cơ quan, đơn vị",
        "Quy tắc",
        "Trạng thái",
        "Kỳ",
        "Kết quả",
        "Chỉ tiêu",
        "Giao ngày",
        "Thời hạn",
    ):
        table.add_column(header, overflow="fold")
    for t in found:
        known = deployment.directory.get(t.agency)
        table.add_row(
            str(t.id),
            known.name if known is not None else t.agency,
            t.rule,
            STATUS_WORDS.get(t.status.value, t.status.value),
            t.last_period or "—",
            fmt_figure(t.value, kinds.get(t.rule)),
            fmt_figure(t.target, kinds.get(t.rule)),
            fmt_date(t.opened_on),
            fmt_date(t.due_on),
        )
    app.out.print(table)
    app.out.print(f"{len(found)} nhiệm vụ.", markup=False)


@tasks.command("show")
@click.argument("task_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@pass_app
def tasks_show(app: AppContext, task_id: int, as_json: bool) -> None:
    """One task with its history."""
    from compliance.storage.tasks import get_task, task_history

    with app.db.read() as conn:
        task = get_task(conn, task_id)
        history = task_history(conn, task_id)
    if as_json:
        emit_json(
            {
                **task_json(task),
                "history": [
                    {"at": h.at, "on": h.on.isoformat(), "kind": h.kind, "run_id": h.run_id, "data": h.data}
                    for h in history
                ],
            }
        )
        return
    kinds, names = _kinds(app)
    kind = kinds.get(task.rule)
    out = app.out
    lines = [
        f"Nhiệm vụ số {task.id}: {names.get(task.agency, task.agency)} ({task.agency}) — quy tắc {task.rule}",
        f"Trạng thái: {STATUS_WORDS.get(task.status.value, task.status.value)}",
        f"Giao ngày: {fmt_date(task.opened_on)}; thời hạn hoàn thành: {fmt_date(task.due_on)}",
        f"Kỳ báo cáo khi giao: {task.period or '—'}; kỳ gần nhất: {task.last_period or '—'}",
        f"Kết quả: {fmt_figure(task.value, kind)}; chỉ tiêu: {fmt_figure(task.target, kind)}; "
        f"chuỗi không đạt: {task.streak} kỳ",
        f"Người đứng đầu: {task.assignee_name} <{task.assignee}>"
        if task.assignee_name
        else f"Người đứng đầu: {task.assignee}",
    ]
    if task.acknowledged_on is not None:
        note = f" — ghi chú: {task.note}" if task.note else ""
        lines.append(f"Xác nhận đã tiếp nhận: {fmt_date(task.acknowledged_on)}, {task.acknowledged_by}{note}")
    if task.resolved_on is not None:
        lines.append(f"Tự động hoàn thành: {fmt_date(task.resolved_on)}")
    if task.waived_on is not None:
        lines.append(f"Tạm miễn áp dụng từ: {fmt_date(task.waived_on)}")
    if task.escalated_on is not None:
        lines.append(f"Báo cáo cấp trên: {fmt_date(task.escalated_on)}")
    if task.previous_task_id is not None:
        lines.append(f"Tiếp nối nhiệm vụ số {task.previous_task_id}")
    for line in lines:
        out.print(line, markup=False)
    table = Table(title="Diễn biến")
    table.add_column("Ngày")
    table.add_column("Sự kiện")
    table.add_column("Lượt đánh giá", overflow="fold")
    for h in history:
        table.add_row(fmt_date(h.on), _EVENT_WORDS.get(h.kind, h.kind), h.run_id or "")
    out.print(table)


@tasks.command("ack")
@click.argument("task_id", type=int)
@click.option("--by", "by", required=True, help="Who acknowledges (the head's email).")
@click.option("--note", default=None, help="A note from the head.")
@click.option(
    "--at", "at", type=DATE, default=None, help="The date it is recorded on (default: today, local)."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@pass_app
def tasks_ack(
    app: AppContext, task_id: int, by: str, note: str | None, at: dt.date | None, as_json: bool
) -> None:
    """Acknowledge an open task: the head has seen it (it stays open for every other purpose)."""
    from compliance.pipeline.evaluate import acknowledge_task

    task = acknowledge_task(app.db, task_id, by=by, note=note, on=_today(app, at), clock=SystemClock())
    if as_json:
        emit_json(task_json(task))
        return
    app.out.print(
        f"Nhiệm vụ số {task.id}: đã xác nhận tiếp nhận ngày {fmt_date(task.acknowledged_on)} ({task.acknowledged_by}).",
        markup=False,
    )


# --- waivers --------------------------------------------------------------------------------------


def _waiver_json(w: Waiver) -> dict[str, Any]:
    return {
        "id": w.id,
        "rule": w.rule,
        "agency": w.agency,
        "until": w.until.isoformat(),
        "reason": w.reason,
        "by": w.by,
        "created_at": w.created_at.strftime("%Y-%m-%dT%H:%M:%SZ") if w.created_at is not None else None,
    }


@cli.group("waivers")
def waivers() -> None:
    """Waivers: a rule x agency exempted until a date, with a reason."""


@waivers.command("add")
@click.option("--rule", required=True, help="The rule (id).")
@click.option("--agency", required=True, help="The agency (id).")
@click.option("--until", "until", type=DATE, required=True, help="Last day of the waiver (YYYY-MM-DD).")
@click.option("--reason", required=True, help="Why (shown to auditors).")
@click.option("--by", "by", required=True, help="Who grants it (email).")
@click.option(
    "--at", "at", type=DATE, default=None, help="The date it is granted on (default: today, local)."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@pass_app
def waivers_add(
    app: AppContext,
    rule: str,
    agency: str,
    until: dt.date,
    reason: str,
    by: str,
    at: dt.date | None,
    as_json: bool,
) -> None:
    """Exempt a rule x agency until a date; its active task, if any, is waived at once."""
    from compliance.loading.deployment import load_deployment
    from compliance.pipeline.evaluate import add_waiver

    deployment = load_deployment(app.config)
    stored, change = add_waiver(
        app.db,
        deployment,
        Waiver(rule=rule, agency=agency, until=until, reason=reason, by=by),
        on=_today(app, at),
        clock=SystemClock(),
    )
    if as_json:
        emit_json({**_waiver_json(stored), "waived_task_id": change.task.id if change is not None else None})
        return
    app.out.print(
        f"Đã tạm miễn áp dụng quy tắc {stored.rule} cho {stored.agency} đến hết ngày {fmt_date(stored.until)} "
        f"(số {stored.id}).",
        markup=False,
    )
    if change is not None:
        app.out.print(f"Nhiệm vụ số {change.task.id} chuyển sang tạm miễn áp dụng.", markup=False)


@waivers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@pass_app
def waivers_list(app: AppContext, as_json: bool) -> None:
    """Every waiver, with its end date."""
    from compliance.storage.runs import list_waivers

    with app.db.read() as conn:
        found = list_waivers(conn)
    if as_json:
        emit_json([_waiver_json(w) for w in found])
        return
    if not found:
        app.out.print("Không có quyết định tạm miễn áp dụng nào.", markup=False)
        return
    table = Table(title="Tạm miễn áp dụng")
    for header in ("Số", "Quy tắc", "Cơ quan, đơn vị", "Đến hết ngày", "Lý do", "Người quyết định"):
        table.add_column(header, overflow="fold")
    for w in found:
        table.add_row(str(w.id), w.rule, w.agency, fmt_date(w.until), w.reason, w.by)
    app.out.print(table)


# --- audit explain --------------------------------------------------------------------------------


@audit.command("explain")
@click.argument("task_id", type=int)
@pass_app
def audit_explain(app: AppContext, task_id: int) -> None:
    """Why a task exists: the rows, the rule text in force, the target, the streak, what followed."""
    from compliance.pipeline.evaluate import explanation

    names: dict[str, str] = {}
    try:
        _, names = _kinds(app)
    except ComplianceError:  # the log alone suffices; names are a courtesy when the directory loads
        names = {}
    with app.db.read() as conn:
        paragraphs = explanation(conn, task_id, agency_names=names, tz=app.config.deployment.tz)
    app.out.print("\n\n".join(paragraphs), markup=False, highlight=False)
