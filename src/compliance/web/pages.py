"""The pages of the office and the heads: the compliance matrix, an agency's action list, a task."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from compliance.errors import NotFoundError, StateError
from compliance.model.agency import Agency, AgencyDirectory
from compliance.model.rules import Indicator, Rule, Rulebook, compare
from compliance.model.task import Task
from compliance.storage import tasks as task_store
from compliance.storage.outbox import NotificationRow, notifications_for_task
from compliance.storage.runs import last_run, list_waivers, read_state
from compliance.web import format as fmt
from compliance.web import queries
from compliance.web.auth import Principal, csrf_valid
from compliance.web.charts import ChartPoint, line_chart
from compliance.web.queries import PeriodFigure, indicator_series, task_audit_entries
from compliance.web.site import Forbidden, Site
from compliance.web.waiverform import REASON_MAX, WaiverForm

__all__ = [
    "FORM_EXPIRED",
    "LEVEL_LABELS",
    "acknowledge",
    "agency_page",
    "form_sender",
    "load_task",
    "overview",
    "show_task",
    "task_page",
]

PAGE_AGENCIES = 100
NOTE_MAX = 2000
FORM_EXPIRED = "Biểu mẫu đã hết hiệu lực hoặc không hợp lệ. Vui lòng tải lại trang và thử lại."
LEVEL_LABELS = {
    "province": "Cấp tỉnh",
    "department": "Sở, ban, ngành",
    "district": "Cấp huyện",
    "commune": "Cấp xã",
}
NOTIFICATION_KIND_LABELS = {
    "task-opened": "Thư thông báo nhiệm vụ mới",
    "reminder": "Thư nhắc việc",
    "escalation": "Thư báo cáo cấp trên",
    "task-resolved": "Thư thông báo nhiệm vụ hoàn thành",
    "digest": "Thư tổng hợp danh sách nhiệm vụ hằng tuần",
}
NOTIFICATION_STATUS_LABELS = {
    "queued": "chờ gửi",
    "sending": "đang gửi",
    "sent": "đã gửi",
    "failed": "gửi không thành công",
}


def _site(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def _int_arg(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


# --- values as the pages show them -------------------------------------------------------------------


def indicator_kind(book: Rulebook | None, rule_id: str) -> str | None:
    if book is None or rule_id not in book.rules:
        return None
    ind = book.indicators.get(book.rules[rule_id].indicator)
    return ind.kind if ind is not None else None


def target_op(book: Rulebook | None, rule_id: str) -> str | None:
    rule = book.rules.get(rule_id) if book is not None else None
    return rule.target.op if rule is not None and rule.target is not None else None


def rule_title(book: Rulebook | None, rule_id: str) -> str:
    rule = book.rules.get(rule_id) if book is not None else None
    return rule.title if rule is not None else rule_id


def agency_name(directory: AgencyDirectory, agency_id: str) -> str:
    agency = directory.get(agency_id)
    return agency.name if agency is not None else agency_id


# --- Tổng quan: the compliance matrix ----------------------------------------------------------------


@dataclass
class Cell:
    outcome: str
    text: str
    href: str
    title: str


@dataclass
class MatrixRow:
    agency_id: str
    name: str
    level: str
    cells: list[Cell | None] = field(default_factory=list)


def overview(request: Request) -> Response:
    site = _site(request)
    who = site.principal(request)
    if who is not None and who.kind == "head":  # a head's home is their own agency
        return RedirectResponse(f"/agencies/{who.agency_id}", status_code=303)
    who = site.require(request, "office", "auditor")
    level = request.query_params.get("level", "")
    rule_filter = request.query_params.get("rule", "")
    outcome_filter = request.query_params.get("outcome", "")
    page = _int_arg(request, "page", 1)
    directory = site.directory()
    today = site.today()
    with site.db.read() as conn:
        run = last_run(conn)
        book = site.rulebook(conn, site.revision_in_force(conn))
        per_agency = queries.matrix_counts(conn, rule=rule_filter or None, outcome=outcome_filter or None)
        position = {a.id: i for i, a in enumerate(directory)}

        def keep(agency_id: str) -> bool:
            agency = directory.get(agency_id)
            return not level or (agency is not None and agency.level == level)

        agency_ids = sorted(
            (a for a in per_agency if keep(a)), key=lambda a: (position.get(a, len(position)), a)
        )
        pages = max(1, -(-len(agency_ids) // PAGE_AGENCIES))
        page = min(page, pages)
        shown = agency_ids[(page - 1) * PAGE_AGENCIES : page * PAGE_AGENCIES]
        rows = queries.matrix_cells(conn, shown, rule=rule_filter or None, outcome=outcome_filter or None)
        present = queries.matrix_rules(
            conn, agency_ids if level else None, rule=rule_filter or None, outcome=outcome_filter or None
        )
        active = queries.active_tasks_of(conn, shown)
        task_counts = queries.active_task_counts(conn, today=today, rule=rule_filter or None)
    rule_ids = [r for r in (book.rules if book else {}) if r in present]
    rule_ids += sorted(present - set(rule_ids))
    by_key = {(s.agency, s.rule): s for s in rows}
    matrix: list[MatrixRow] = []
    for agency_id in shown:
        agency = directory.get(agency_id)
        mrow = MatrixRow(agency_id, agency.name if agency else agency_id, agency.level if agency else "")
        for rule_id in rule_ids:
            s = by_key.get((agency_id, rule_id))
            if s is None:
                mrow.cells.append(None)
                continue
            task = active.get((rule_id, agency_id))
            kind = indicator_kind(book, rule_id)
            text = fmt.fmt_value(s.value, kind) if s.value is not None else ""
            title = (
                f"{mrow.name} — {rule_title(book, rule_id)}: {fmt.OUTCOME_LABELS.get(s.outcome, s.outcome)}"
                + (f", {text}" if text else "")
                + (f" ({fmt.fmt_period(s.period)})" if s.period else "")
            )
            href = f"/tasks/{task.id}" if task is not None else f"/agencies/{agency_id}"
            if task is not None:
                title += f"; nhiệm vụ số {task.id}"
            mrow.cells.append(Cell(s.outcome, text, href, title))
        matrix.append(mrow)
    counts: Counter[str] = Counter()
    for agency_id in agency_ids:
        counts.update(per_agency[agency_id])
    # Tasks are counted for the agencies in view; an outcome filter narrows cells, not tasks.
    tasks_open = sum(task_counts.get(a, (0, 0))[0] for a in agency_ids)
    tasks_overdue = sum(task_counts.get(a, (0, 0))[1] for a in agency_ids)
    levels = sorted(
        {a.level for a in directory},
        key=lambda lv: (list(LEVEL_LABELS).index(lv) if lv in LEVEL_LABELS else 99, lv),
    )
    return site.render(
        request,
        "overview.html",
        {
            "run": run,
            "book": book,
            "rules": [(r, rule_title(book, r)) for r in rule_ids],
            "all_rules": [(r.id, r.title) for r in (book.rules.values() if book else [])],
            "matrix": matrix,
            "counts": counts,
            "total": sum(counts.values()),
            "tasks_open": tasks_open,
            "tasks_overdue": tasks_overdue,
            "levels": [(lv, LEVEL_LABELS.get(lv, lv)) for lv in levels],
            "level": level,
            "rule_filter": rule_filter,
            "outcome_filter": outcome_filter,
            "page": page,
            "pages": pages,
            "agencies_total": len(agency_ids),
            "query": {
                k: v for k, v in (("level", level), ("rule", rule_filter), ("outcome", outcome_filter)) if v
            },
        },
        principal=who,
    )


# --- Agency page: action list, results, charts, history ----------------------------------------------


def _fraction(fig: PeriodFigure, kind: str, rule: Rule) -> float | None:
    if kind == "ratio":
        if fig.numerator is None or not fig.denominator:
            return None
        return fig.numerator / fig.denominator
    if kind == "value" and fig.value is not None:
        try:
            return float(Decimal(fig.value))
        except InvalidOperation:
            return None
    return None


def _chart(book: Rulebook, rule: Rule, series: list[PeriodFigure]) -> Any:
    indicator: Indicator | None = book.indicators.get(rule.indicator)
    if indicator is None or not series:
        return None
    points: list[ChartPoint] = []
    if indicator.kind == "milestone":
        stages = list(indicator.stages)
        for fig in series:
            idx = stages.index(fig.status) + 1 if fig.status in stages else 0
            required = [m.stage for m in rule.milestones if m.by < fig.period_end]
            req_idx = stages.index(required[-1]) + 1 if required and required[-1] in stages else None
            points.append(
                ChartPoint(
                    label=fig.period,
                    value=float(idx),
                    target=None if req_idx is None else float(req_idx),
                    passed=None if req_idx is None else idx >= req_idx,
                    value_text=fig.status or "chưa có",
                    target_text=required[-1] if required else "",
                )
            )
        stage_axis = [(0.0, "—")] + [(float(i + 1), s[:10]) for i, s in enumerate(stages)]
        return line_chart(points, title=rule.title, axis=stage_axis)
    for fig in series:
        value = _fraction(fig, indicator.kind, rule)
        target = rule.target.value_for(fig.period_end) if rule.target is not None else None
        decisive = (
            value is not None
            and target is not None
            and (indicator.kind != "ratio" or (fig.denominator or 0) >= rule.min_denominator)
        )
        passed = None
        if decisive and rule.target is not None and target is not None and value is not None:
            exact = (
                Decimal(fig.numerator or 0) / Decimal(fig.denominator or 1)
                if indicator.kind == "ratio"
                else Decimal(fig.value or "0")
            )
            passed = compare(exact, rule.target.op, target)
        points.append(
            ChartPoint(
                label=fig.period,
                value=value,
                target=None if target is None else float(target),
                passed=passed,
                value_text=fmt.fmt_value(value, indicator.kind) if value is not None else "",
                target_text=fmt.fmt_value(float(target), indicator.kind) if target is not None else "",
            )
        )
    if indicator.kind == "ratio":
        axis = [(0.0, "0%"), (0.5, "50%"), (1.0, "100%")]
    else:  # a value indicator: label the lowest and highest figure or target shown
        shown = [v for p in points for v in (p.value, p.target) if v is not None]
        axis = [(v, fmt.fmt_number(v)) for v in sorted({min(shown), max(shown)})] if shown else []
    return line_chart(points, title=rule.title, axis=axis)


def _action_order(today: dt.date) -> Any:
    # Overdue first, then by due date (SPEC §10: the agency's action list).
    return lambda t: (t.due_on >= today, t.due_on, t.id or 0)


def agency_page(request: Request) -> Response:
    site = _site(request)
    agency_id = request.path_params["agency_id"]
    who = site.require(request, "office", "auditor", "head", agency=agency_id)
    directory = site.directory()
    agency: Agency | None = directory.get(agency_id)
    if agency is None:
        return not_found(request, site, who)
    today = site.today()
    with site.db.read() as conn:
        book = site.rulebook(conn, site.revision_in_force(conn))
        all_tasks = task_store.list_tasks(conn, agency=agency_id)
        state = read_state(conn, agency=agency_id)
        waivers = [w for w in list_waivers(conn) if w.agency == agency_id]
        charts = []
        for s in state:
            rule = book.rules.get(s.rule) if book else None
            if rule is None or book is None:
                continue
            members = [agency_id, *directory.descendants(agency_id)] if rule.rollup else [agency_id]
            series = indicator_series(conn, members, rule.indicator, on=today, rollup=rule.rollup)
            chart = _chart(book, rule, series)
            if chart is not None:
                kind = indicator_kind(book, s.rule)
                table = [
                    (
                        f.period,
                        fmt.fmt_value(_fraction(f, kind or "", rule), kind)
                        if kind != "milestone"
                        else (f.status or "—"),
                    )
                    for f in series
                ]
                charts.append({"rule": rule, "svg": chart, "table": table, "rollup": rule.rollup})
    active = sorted((t for t in all_tasks if t.status.is_active), key=_action_order(today))
    closed = sorted(
        (t for t in all_tasks if not t.status.is_active), key=lambda t: (t.opened_on, t.id or 0), reverse=True
    )
    parent = directory.get(agency.parent) if agency.parent else None
    return site.render(
        request,
        "agency.html",
        {
            "agency": agency,
            "level_label": LEVEL_LABELS.get(agency.level, agency.level),
            "parent": parent,
            "book": book,
            "active": active,
            "closed": closed,
            "state": state,
            "charts": charts,
            "waivers": waivers,
            "kind_of": lambda r: indicator_kind(book, r),
            "op_of": lambda r: target_op(book, r),
            "title_of": lambda r: rule_title(book, r),
        },
        principal=who,
    )


# --- Task page: explanation, timeline, acknowledge ---------------------------------------------------


@dataclass
class TimelineItem:
    at: str  # UTC ISO instant, for ordering
    on: dt.date | None
    label: str
    detail: str
    css: str = ""


def _event_detail(kind: str, data: dict[str, Any], value_kind: str | None) -> str:
    """One line of a task's history in words: the figures it carried, who, why."""
    # task-updated carries {"from": {...}, "to": {...}}: the new state is what the reader wants.
    now = data["to"] if isinstance(data.get("to"), dict) else data
    bits: list[str] = []
    period = now.get("last_period") if now is not data else (data.get("period") or data.get("last_period"))
    if isinstance(period, str):
        bits.append(f"kỳ {fmt.fmt_period(period)}")
    if isinstance(data.get("outcome"), str):
        bits.append(fmt.OUTCOME_LABELS.get(data["outcome"], data["outcome"]).lower())
    if isinstance(now.get("value"), int | float | str):
        bits.append(f"giá trị {fmt.fmt_value(now['value'], value_kind)}")
    if isinstance(now.get("target"), int | float | str):
        bits.append(f"chỉ tiêu {fmt.fmt_value(now['target'], value_kind)}")
    if isinstance(now.get("streak"), int) and now["streak"] > 0 and kind != "task-resolved":
        bits.append(f"{now['streak']} kỳ không đạt liên tiếp")
    if isinstance(data.get("due_on"), str):
        bits.append(f"thời hạn {fmt.fmt_date(data['due_on'])}")
    if kind == "task-escalated" and isinstance(data.get("to"), str):
        bits.append(f"gửi {data['to']}")
    if isinstance(data.get("by"), str):
        bits.append(f"người thực hiện {data['by']}")
    if isinstance(data.get("note"), str) and data["note"]:
        bits.append(f"ghi chú: “{data['note']}”")
    if isinstance(data.get("reason"), str):
        bits.append(f"lý do: {data['reason']}")
    if isinstance(data.get("until"), str):
        bits.append(f"đến hết ngày {fmt.fmt_date(data['until'])}")
    return "; ".join(bits)


def _address(a: dict[str, str] | str) -> str:
    if isinstance(a, str):
        return a
    name, email = a.get("name", ""), a.get("email", "")
    return f"{name} <{email}>" if name else email


def task_timeline(
    task: Task, events: list[task_store.TaskEvent], notes: list[NotificationRow], value_kind: str | None
) -> list[TimelineItem]:
    items = [
        TimelineItem(
            e.at,
            e.on,
            fmt.AUDIT_KIND_LABELS.get(e.kind, e.kind),
            _event_detail(e.kind, e.data, value_kind),
            e.kind,
        )
        for e in events
    ]
    for n in notes:
        to = ", ".join(map(_address, n.to))
        if n.cc:
            to += f" (đồng gửi {', '.join(map(_address, n.cc))})"
        status = NOTIFICATION_STATUS_LABELS.get(n.status, n.status)
        # A message the evaluation run queued is rendered when it is sent: no subject before that.
        subject = f"“{n.subject}”" if n.rendered else "(nội dung soạn khi gửi)"
        detail = f"Gửi {to}: {subject} — {status}"
        if n.error:
            detail += f" ({n.error})"
        if n.possible_duplicate:
            detail += " — có thể trùng lặp"
        items.append(
            TimelineItem(
                n.sent_at or n.created_at,
                n.due_on,
                NOTIFICATION_KIND_LABELS.get(n.kind, n.kind),
                detail,
                "mail",
            )
        )
    items.sort(key=lambda i: i.at)
    return items


def _explanation(conn: Any, site: Site, task: Task) -> list[str]:
    """The paragraphs of `audit explain TASK_ID`, as the CLI prints them."""
    from compliance.pipeline.evaluate import explanation  # the engine loads only when a task is shown

    names = {a.id: a.name for a in site.directory()}
    return explanation(conn, task.id or 0, agency_names=names, tz=site.tz)


def task_page(request: Request) -> Response:
    return show_task(request, int(request.path_params["task_id"]))


def show_task(
    request: Request, task_id: int, *, waiver: WaiverForm | None = None, status_code: int = 200
) -> Response:
    """The task's page; `waiver` is the office's waiver form as it was sent back with its errors."""
    site = _site(request)
    who = site.principal(request)
    if who is None:
        site.require(request)  # raises NeedSignIn
    with site.db.read() as conn:
        try:
            task = task_store.get_task(conn, task_id)
        except NotFoundError:
            task = None
        if task is None:
            if who is not None and who.kind == "head":
                raise Forbidden()  # a head learns nothing about ids outside their agency
            return not_found(request, site, who)
        who = site.require(request, "office", "auditor", "head", agency=task.agency)
        book = site.rulebook(conn, site.revision_in_force(conn))
        events = task_store.task_history(conn, task_id)
        notes = notifications_for_task(conn, task_id)
        entries = task_audit_entries(
            conn, task_id, task.rule, task.agency, notification_ids=[n.id for n in notes]
        )
        explanation = _explanation(conn, site, task)
    kind = indicator_kind(book, task.rule)
    directory = site.directory()
    flash = request.session.pop("flash", None)
    # The office may waive the rule for the agency while the task is active and both still exist.
    can_waive = (
        who.can_waive
        and task.status.is_active
        and book is not None
        and task.rule in book.rules
        and task.agency in directory
    )
    if can_waive and waiver is None:
        waiver = WaiverForm(rule=task.rule, agency=task.agency)
    return site.render(
        request,
        "task.html",
        {
            "task": task,
            "agency_name": agency_name(directory, task.agency),
            "rule_title": rule_title(book, task.rule),
            "rule": book.rules.get(task.rule) if book else None,
            "value_text": fmt.fmt_value(task.value, kind),
            "target_text": fmt.fmt_target(task.target, kind, target_op(book, task.rule)),
            "timeline": task_timeline(task, events, notes, kind),
            "entries": entries,
            "explanation": explanation,
            "overdue_days": (site.today() - task.due_on).days
            if task.status.is_active and task.due_on < site.today()
            else 0,
            "can_ack": who.can_acknowledge(task.agency) and task.status.value == "open",
            "flash": flash if isinstance(flash, str) else None,
            "note_max": NOTE_MAX,
            "waiver": waiver if can_waive else None,
            "reason_max": REASON_MAX,
        },
        principal=who,
        status_code=status_code,
    )


def _acknowledge(site: Site, task_id: int, by: str, note: str | None) -> None:
    # The same function as `compliance tasks ack`: the task, its history and the log in one transaction.
    from compliance.pipeline.evaluate import acknowledge_task

    acknowledge_task(site.db, task_id, by=by, note=note, on=site.today(), clock=site.clock)


async def form_sender(request: Request, site: Site, form: FormData) -> Principal:
    """Who posted `form`: a signed-in person with the session's CSRF token; anybody else is refused (403).
    What each may do is for the action to check."""
    who = await run_in_threadpool(site.principal, request)
    if who is None:
        raise Forbidden("Bạn cần đăng nhập để thực hiện thao tác này.")
    if not csrf_valid(request.session, form.get("csrf_token")):
        raise Forbidden(FORM_EXPIRED)
    return who


def load_task(site: Site, task_id: int) -> Task | None:
    with site.db.read() as conn:
        try:
            return task_store.get_task(conn, task_id)
        except NotFoundError:
            return None


async def acknowledge(request: Request) -> Response:
    site = _site(request)
    task_id = int(request.path_params["task_id"])
    form = await request.form()
    who = await form_sender(request, site, form)
    task = await run_in_threadpool(load_task, site, task_id)
    if task is None or not who.can_acknowledge(task.agency):
        raise Forbidden(
            "Chỉ người đứng đầu cơ quan, đơn vị được giao nhiệm vụ mới xác nhận được nhiệm vụ này."
        )
    raw_note = form.get("note")
    note = raw_note.strip()[:NOTE_MAX] if isinstance(raw_note, str) and raw_note.strip() else None
    try:
        await run_in_threadpool(_acknowledge, site, task_id, who.email, note)
    except StateError:
        request.session["flash"] = "Nhiệm vụ này không còn ở trạng thái chờ xác nhận; không có thay đổi nào."
        return RedirectResponse(f"/tasks/{task_id}", status_code=303)
    request.session["flash"] = "Đã ghi nhận xác nhận tiếp nhận nhiệm vụ. Trân trọng cảm ơn."
    return RedirectResponse(f"/tasks/{task_id}", status_code=303)


def not_found(request: Request, site: Site, who: Any) -> Response:
    return site.render(
        request,
        "error.html",
        {"title": "Không tìm thấy", "message": "Không tìm thấy trang hoặc dữ liệu được yêu cầu."},
        principal=who,
        status_code=404,
    )
