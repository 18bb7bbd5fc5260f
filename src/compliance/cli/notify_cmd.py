"""`compliance notify` (queue what is due at D, send what is queued) and `compliance notifications …`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from rich.table import Table

from compliance.cli import cli
from compliance.cli.context import AppContext, emit_json, pass_app
from compliance.errors import NotFoundError

__all__ = ["notifications", "notify"]

_STATUS_VI = {"queued": "chờ gửi", "sending": "đang gửi", "sent": "đã gửi", "failed": "gửi lỗi"}
_NOT_RENDERED = "chưa soạn: nội dung xem trước theo mẫu thư hiện tại, thư được soạn khi gửi"
_KIND_VI = {
    "task-opened": "nhiệm vụ mới",
    "reminder": "nhắc việc",
    "escalation": "báo cáo cấp trên",
    "task-resolved": "đã hoàn thành",
    "digest": "tổng hợp hằng tuần",
}


@cli.command("notify")
@click.option(
    "--at",
    "at",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Notify as if it were 07:30 on this date (YYYY-MM-DD) in the deployment's time zone.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {sent, failed, queued} as JSON.")
@pass_app
def notify(app: AppContext, at: dt.datetime | None, as_json: bool) -> None:
    """Queue the emails due at D (reminders, escalations, digests) and send everything queued."""
    from compliance.clock import Clock, FixedClock, SystemClock
    from compliance.notify.backends import make_backend
    from compliance.pipeline.notify import notify_run
    from compliance.pipeline.run import load_rules

    config = app.config
    tz = config.deployment.tz
    clock: Clock
    if at is not None:
        on = at.date()
        clock = FixedClock(dt.datetime.combine(on, dt.time(7, 30), tzinfo=tz))
    else:
        clock = SystemClock()
        on = clock.today(tz)
    backend = make_backend(config)
    rules = load_rules(app.db, config, clock=clock, audit=False)
    result = notify_run(app.db, rules.deployment, backend, on, clock=clock)
    if as_json:
        emit_json(result.as_json())
        return
    app.out.print(
        f"Email ngày {on:%d/%m/%Y}: {result.sent} đã gửi, {result.failed} gửi lỗi, {result.queued} đang chờ gửi",
        markup=False,
    )
    if result.possible_duplicates:
        app.err.print(
            f"{result.possible_duplicates} thư bị gián đoạn lần trước đã được gửi lại (có thể trùng lặp)",
            markup=False,
        )
    if result.failed:
        app.err.print("Xem lý do: compliance notifications list --status failed", markup=False)


@cli.group("notifications")
def notifications() -> None:
    """The outbox: every email, its state and its send result."""


def _as_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "to": [a["email"] for a in row.to],
        "cc": [a["email"] for a in row.cc],
        "subject": row.subject,
        "task_ids": list(row.task_ids),
        "status": row.status,
        "attempts": row.attempts,
        "sent_at": row.sent_at,
        "error": row.error,
        "possible_duplicate": row.possible_duplicate,
        "key": row.key,
        "due_on": row.due_on.isoformat(),
        "agency": row.agency,
        "provider_id": row.provider_id,
        "created_at": row.created_at,
        "next_attempt_at": row.next_attempt_at,
    }


def _preview(app: AppContext, rows: list[Any], *, bodies: bool) -> list[Any]:
    """Messages not rendered yet (they are rendered when sent) as they would be rendered now, with the
    rules and agencies in force; as they are (no subject) when those cannot be loaded."""
    if all(r.rendered or r.status != "queued" for r in rows):
        return rows
    from compliance.clock import SystemClock
    from compliance.errors import ComplianceError
    from compliance.pipeline.notify import head_secret_from_env, render_preview
    from compliance.pipeline.run import load_rules

    try:
        deployment = load_rules(app.db, app.config, clock=SystemClock(), audit=False).deployment
    except ComplianceError:  # invalid rules or agencies: the outbox is still listed
        return rows
    try:
        secret = head_secret_from_env(app.config) if bodies else None
    except ComplianceError:
        secret = None
    return render_preview(deployment, rows, bodies=bodies, head_secret=secret)


@notifications.command("list")
@click.option(
    "--status",
    type=click.Choice(["queued", "sending", "sent", "failed"]),
    help="Only messages in this state.",
)
@click.option("--kind", type=click.Choice(list(_KIND_VI)), help="Only messages of this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print the messages as a JSON list.")
@pass_app
def list_cmd(app: AppContext, status: str | None, kind: str | None, as_json: bool) -> None:
    """Every message in the outbox with its state (queued, sending, sent, failed).

    A message not rendered yet (it is rendered when it is sent) shows the subject it would have now."""
    from compliance.storage.outbox import list_notifications

    with app.db.read() as conn:
        rows = list_notifications(conn, status=status, kind=kind)
    rows = _preview(app, rows, bodies=False)
    if as_json:
        emit_json([_as_json(r) for r in rows])
        return
    if not rows:
        app.out.print("Không có thư nào.")
        return
    table = Table(show_lines=False)
    for column, wrap in (
        ("Số", False),
        ("Loại", True),
        ("Ngày gửi", False),
        ("Người nhận", True),
        ("Nhiệm vụ", True),
        ("Trạng thái", False),
        ("Lần", False),
        ("Tiêu đề, ghi chú", True),
    ):
        table.add_column(column, no_wrap=not wrap, overflow="fold")
    for r in rows:
        notes = [r.subject]
        if not r.rendered and r.status == "queued":
            notes.append(_NOT_RENDERED)
        if r.possible_duplicate:
            notes.append("có thể trùng lặp (gửi lại sau khi bị gián đoạn)")
        if r.error:
            notes.append(f"lỗi: {r.error}")
        table.add_row(
            str(r.id),
            _KIND_VI.get(r.kind, r.kind),
            f"{r.due_on:%d/%m/%Y}",
            ", ".join(a["email"] for a in r.to),
            ", ".join(str(t) for t in r.task_ids),
            _STATUS_VI.get(r.status, r.status),
            str(r.attempts),
            "\n".join(notes),
        )
    app.out.print(table)


@notifications.command("show")
@click.argument("notification_id", type=int)
@click.option("--html", "as_html", is_flag=True, help="Print the HTML part instead of the plain text.")
@pass_app
def show_cmd(app: AppContext, notification_id: int, as_html: bool) -> None:
    """One message: its headers and its plain-text (or HTML) body (for a message not rendered yet, as it
    would be rendered now)."""
    from compliance.storage.outbox import get_notification

    with app.db.read() as conn:
        row = get_notification(conn, notification_id)
    if row is None:
        raise NotFoundError(f"không có thư số {notification_id}")
    [row] = _preview(app, [row], bodies=True)
    if as_html:
        click.echo(row.body_html, nl=False)
        return
    lines = [
        f"Trạng thái: {_STATUS_VI.get(row.status, row.status)} (lần gửi: {row.attempts})",
        f"Người nhận: {', '.join(a['email'] for a in row.to)}",
    ]
    if row.cc:
        lines.append(f"Đồng gửi: {', '.join(a['email'] for a in row.cc)}")
    lines.append(f"Tiêu đề: {row.subject}")
    if not row.rendered and row.status == "queued":
        lines.append(f"Ghi chú: {_NOT_RENDERED}")
    if row.error:
        lines.append(f"Lỗi: {row.error}")
    lines.append("")
    click.echo("\n".join(lines))
    click.echo(row.body_text, nl=False)
