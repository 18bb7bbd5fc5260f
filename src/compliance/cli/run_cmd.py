"""`compliance run`: the daemon (APScheduler), or `--once`: ingest the inbox, evaluate, notify, exit."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

import click

from compliance.cli import cli
from compliance.cli.context import AppContext, emit_json, one_shot_process, pass_app

__all__ = ["run"]


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # APScheduler's INFO lines repeat ours ("Running job …"); keep its warnings (missed or skipped runs).
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # schema migrations at start


def _vn_date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _print_once(app: AppContext, data: dict[str, Any]) -> None:
    out, err = app.out, app.err
    on = dt.date.fromisoformat(data["on"])
    inbox = data["inbox"]
    counts = {s: sum(1 for f in inbox if f["status"] == s) for s in ("ingested", "duplicate", "rejected")}
    out.print(
        f"Hộp thư số liệu: {counts['ingested']} tệp đã nhập, {counts['duplicate']} tệp trùng, "
        f"{counts['rejected']} tệp bị từ chối"
    )
    for f in inbox:
        if f["status"] == "rejected":
            err.print(f"Tệp {f['file']} bị từ chối (chuyển vào {f['moved_to']}):", markup=False)
            for line in f["errors"]:
                err.print(f"  {line}", markup=False)
    rules = data["rules"]
    if rules["rejected"]:
        err.print(
            f"Tệp quy tắc không hợp lệ; tiếp tục dùng phiên bản hợp lệ gần nhất {rules['kept_revision'][:12]}:",
            markup=False,
        )
        for line in rules["rejected"]:
            err.print(f"  {line}", markup=False)
    evaluation = data["evaluation"]
    outcomes = evaluation.get("outcomes", {})
    tasks = evaluation.get("tasks", {})
    out.print(
        f"Đánh giá ngày {_vn_date(on)}: {outcomes.get('pass', 0)} đạt, {outcomes.get('fail', 0)} không đạt, "
        f"{outcomes.get('insufficient', 0)} chưa đủ số liệu, {outcomes.get('no_data', 0)} chưa có số liệu, "
        f"{outcomes.get('stale', 0)} số liệu chưa cập nhật, {outcomes.get('not_applicable', 0)} không áp dụng"
    )
    out.print(
        f"Nhiệm vụ: {tasks.get('opened', 0)} mới, {tasks.get('resolved', 0)} đã hoàn thành, "
        f"{tasks.get('open', 0)} đang mở"
    )
    notify = data["notify"]
    out.print(
        f"Email: {notify.get('sent', 0)} đã gửi, {notify.get('failed', 0)} gửi lỗi, "
        f"{notify.get('queued', 0)} đang chờ gửi"
    )


@cli.command("run")
@click.option("--once", is_flag=True, help="Ingest the inbox, evaluate, notify, then exit.")
@click.option(
    "--at",
    "at",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="With --once: run as if it were 07:00 on this date (YYYY-MM-DD) in the deployment's time zone.",
)
@click.option("--json", "as_json", is_flag=True, help="With --once: the result as JSON on stdout.")
@click.option(
    "--poll",
    "poll_s",
    type=click.FloatRange(min=0.05),
    default=5.0,
    show_default=True,
    help="Daemon: seconds between two tries of a standby daemon to take the lock.",
)
@pass_app
def run(app: AppContext, once: bool, at: dt.datetime | None, as_json: bool, poll_s: float) -> None:
    """The daemon: the [schedule] jobs in the deployment's time zone (see docs/daemon.md)."""
    from compliance.clock import Clock, FixedClock, SystemClock

    if not once:
        if at is not None:
            raise click.UsageError("--at needs --once: the daemon runs on the real clock")
        if as_json:
            raise click.UsageError("--json needs --once")
        from compliance.scheduler import run_daemon

        _ = app.config  # an invalid config.toml: every located error, exit 1, before any logging starts
        _setup_logging()
        raise click.exceptions.Exit(run_daemon(app.config_path, poll_s=poll_s))

    from compliance.pipeline.run import run_once

    config = app.config
    clock: Clock = SystemClock()
    on: dt.date | None = None
    if at is not None:
        on = at.date()
        clock = FixedClock(dt.datetime.combine(on, dt.time(7, 0), tzinfo=config.deployment.tz))
    one_shot_process()
    result = run_once(config, on=on, clock=clock, db=app.db)
    data = result.as_json()
    if as_json:
        emit_json(data)
    else:
        _print_once(app, data)
    if not result.ok:
        raise click.exceptions.Exit(1)
