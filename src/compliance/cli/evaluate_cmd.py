"""`compliance evaluate` (one evaluation run at D) and `compliance status` (the compliance matrix)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from compliance.cli import cli
from compliance.cli.context import AppContext, emit_json, one_shot_process, pass_app
from compliance.clock import SystemClock
from compliance.errors import NotFoundError
from compliance.explain import OUTCOME_WORDS, fmt_date, fmt_figure, fmt_int

__all__ = ["evaluate", "status"]

# Short words for a matrix cell; the full ones (GLOSSARY) are in the legend and in explanations.
CELL_WORDS = {
    "pass": "đạt",
    "fail": "không đạt",
    "insufficient": "chưa đủ số liệu",
    "no_data": "chưa có số liệu",
    "stale": "chưa cập nhật",
    "not_applicable": "không áp dụng",
}
CELL_STYLES = {
    "pass": "green",
    "fail": "bold red",
    "insufficient": "yellow",
    "no_data": "magenta",
    "stale": "magenta",
    "not_applicable": "dim",
}
_COUNT_ORDER = ("pass", "fail", "insufficient", "no_data", "stale", "not_applicable")


class DateParam(click.ParamType[dt.date]):
    """A local date written YYYY-MM-DD."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"'{value}' is not a date like 2023-07-15", param, ctx)


DATE = DateParam()


def unknown_name(what: str, name: str, known: Any) -> NotFoundError:
    """`không có quy tắc đánh giá 'x'` with a did-you-mean hint."""
    from compliance.loading.suggest import did_you_mean

    hint = did_you_mean(name, list(known))
    return NotFoundError(f"không có {what} '{name}'" + (f"\n  hint: {hint}" if hint else ""))


@cli.command("evaluate")
@click.option("--at", "at", type=DATE, default=None, help="The evaluation date D (default: today, local).")
@click.option("--dry-run", is_flag=True, help="Evaluate and show the result; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@pass_app
def evaluate(app: AppContext, at: dt.date | None, dry_run: bool, as_json: bool) -> None:
    """One evaluation run: every rule x agency at D, then the tasks it opens, updates or resolves.

    A D earlier than the last run's is refused (time moves forward); --dry-run evaluates any D and
    changes nothing. Evaluating again at the same D with the same data changes nothing.
    """
    from compliance.engine import get_backend
    from compliance.pipeline.evaluate import evaluate_run
    from compliance.pipeline.notify import run_messages_hook
    from compliance.pipeline.run import load_rules

    config = app.config
    clock = SystemClock()
    on = at if at is not None else clock.today(config.deployment.tz)
    db = app.db
    rules = load_rules(db, config, clock=clock, audit=not dry_run)
    for problem in rules.deployment.warnings:
        app.err.print(str(problem), markup=False)
    if rules.rejected:
        app.err.print(
            f"Quy tắc đánh giá hiện tại không hợp lệ: dùng bộ quy tắc đã nạp trước đó ({(rules.kept_revision or '')[:12]}).",
            markup=False,
        )
        for line in rules.rejected:
            app.err.print(line, markup=False)
    deployment = rules.deployment
    backend = get_backend(config.engine.backend)
    one_shot_process()
    with app.err.status("Đang đánh giá…", spinner="dots") if not as_json and app.err.is_terminal else _null():
        result = evaluate_run(
            db,
            deployment,
            backend,
            on,
            clock=clock,
            dry_run=dry_run,
            queue_run_messages=None if dry_run else run_messages_hook(deployment, clock=clock),
        )
    if as_json:
        emit_json(result.as_json())
        return
    out = app.out
    head = f"Đánh giá ngày {fmt_date(result.at)}"
    if result.dry_run:
        head += " (chạy thử: không ghi gì vào cơ sở dữ liệu)"
    else:
        head += f", lượt {result.run_id}"
    out.print(head, markup=False)
    if result.repeat:
        out.print(
            "Số liệu và quy tắc không đổi so với lượt đánh giá cùng ngày: không có gì thay đổi.", markup=False
        )
    out.print(f"Bộ quy tắc: {result.rules_revision[:12]}", markup=False)
    counts = ", ".join(f"{fmt_int(result.outcomes.get(k, 0))} {OUTCOME_WORDS[k]}" for k in _COUNT_ORDER)
    out.print(f"Kết quả ({fmt_int(result.evaluations)} lượt quy tắc × cơ quan): {counts}", markup=False)
    tasks = result.tasks
    out.print(
        f"Nhiệm vụ: {fmt_int(tasks.get('opened', 0))} giao mới, {fmt_int(tasks.get('resolved', 0))} tự động hoàn thành, "
        f"{fmt_int(tasks.get('open', 0))} đang mở",
        markup=False,
    )


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@cli.command("status")
@click.option("--agency", default=None, help="Only this agency (id).")
@click.option("--rule", default=None, help="Only this rule (id).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@pass_app
def status(app: AppContext, agency: str | None, rule: str | None, as_json: bool) -> None:
    """The current outcome of every rule x agency (the compliance matrix) as of the last run."""
    from compliance.loading.deployment import load_deployment
    from compliance.storage import runs
    from compliance.storage.tasks import active_tasks

    deployment = load_deployment(app.config)
    if agency is not None and agency not in deployment.directory:
        raise unknown_name("cơ quan, đơn vị", agency, deployment.directory.agencies)
    if rule is not None and rule not in deployment.rulebook.rules:
        raise unknown_name("quy tắc đánh giá", rule, deployment.rulebook.rules)
    with app.db.read() as conn:
        state = runs.read_state(conn, rule=rule, agency=agency)
        tasks = active_tasks(conn)
        last = runs.last_run(conn)
    rows: list[dict[str, Any]] = [
        {
            "rule": s.rule,
            "agency": s.agency,
            "outcome": s.outcome,
            "period": s.period,
            "value": s.value,
            "target": s.target,
            "streak": s.streak,
            "task_id": tasks[(s.rule, s.agency)].id if (s.rule, s.agency) in tasks else None,
            "run_id": s.run_id,
            "since": s.evaluated_on.isoformat(),  # the day this outcome and its inputs were logged
        }
        for s in state
    ]
    if as_json:
        emit_json(rows)
        return
    out = app.out
    if last is None:
        out.print("Chưa có lượt đánh giá nào: chạy `compliance evaluate` trước.", markup=False)
        return
    kinds = {
        r.id: deployment.rulebook.indicators[r.indicator].kind
        for r in deployment.rulebook.rules.values()
        if r.indicator in deployment.rulebook.indicators
    }
    rule_ids = sorted({r["rule"] for r in rows})
    agency_ids = [a.id for a in deployment.directory if any(r["agency"] == a.id for r in rows)]
    agency_ids += sorted({str(r["agency"]) for r in rows} - set(agency_ids))
    cells = {(r["agency"], r["rule"]): r for r in rows}
    table = Table(
        title=f"Bảng tổng hợp kết quả đánh giá — ngày {fmt_date(last.evaluated_on)}", show_lines=False
    )
    table.add_column("Cơ quan, đơn vị", overflow="fold")
    for rid in rule_ids:
        table.add_column(rid, overflow="fold")
    for aid in agency_ids:
        known = deployment.directory.get(aid)
        label = f"{known.name} ({aid})" if known is not None else aid
        line: list[Text | str] = [label]
        for rid in rule_ids:
            cell = cells.get((aid, rid))
            if cell is None:
                line.append("")
                continue
            outcome = str(cell["outcome"])
            word = CELL_WORDS.get(outcome, outcome)
            text = Text(word, style=CELL_STYLES.get(outcome, ""))
            if cell["value"] is not None and outcome in ("pass", "fail", "stale"):
                text.append(f" {fmt_figure(cell['value'], kinds.get(rid))}")
            if cell["task_id"] is not None:
                text.append(f" [NV {cell['task_id']}]")
            line.append(text)
        table.add_row(*line)
    out.print(table)
    total = {k: sum(1 for r in rows if r["outcome"] == k) for k in _COUNT_ORDER}
    out.print(
        "Tổng: "
        + ", ".join(f"{fmt_int(total[k])} {OUTCOME_WORDS[k]}" for k in _COUNT_ORDER)
        + f". Lượt đánh giá gần nhất: {last.id}.",
        markup=False,
    )
