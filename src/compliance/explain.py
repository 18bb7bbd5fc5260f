"""Why a task exists, in plain Vietnamese, from the audit entries about it (pure: entries in, text out).

`explain_task(task, entries)` reads only what the log recorded at the time: the rule text of the
revision in force (the `rules-loaded` entry), the `evaluation` entry that decided, the task's own
entries and the emails sent about it. So the explanation stays true when the rule files change later.
Also the vi_VN formats the CLI shares: dd/mm/yyyy dates, 1.305, 31,25%.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal, format_percent
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from compliance.audit import AuditEntry
from compliance.model.task import Task

__all__ = [
    "EMAIL_KIND_WORDS",
    "OUTCOME_WORDS",
    "STATUS_WORDS",
    "RuleText",
    "explain_task",
    "fmt_date",
    "fmt_figure",
    "fmt_int",
    "fmt_number",
    "fmt_percent",
    "rule_text",
]

LOCALE = "vi_VN"
DEFAULT_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

OUTCOME_WORDS = {
    "pass": "đạt",
    "fail": "không đạt",
    "insufficient": "chưa đủ số liệu để đánh giá",
    "no_data": "chưa có số liệu",
    "stale": "số liệu chưa được cập nhật",
    "not_applicable": "không áp dụng",
}
STATUS_WORDS = {
    "open": "đang mở, chưa xác nhận tiếp nhận",
    "acknowledged": "đã xác nhận tiếp nhận",
    "resolved": "đã đạt chỉ tiêu, nhiệm vụ tự động hoàn thành",
    "waived": "tạm miễn áp dụng",
}
EMAIL_KIND_WORDS = {
    "task-opened": "thông báo nhiệm vụ mới",
    "reminder": "nhắc việc",
    "escalation": "báo cáo cấp trên",
    "task-resolved": "thông báo nhiệm vụ hoàn thành",
    "digest": "danh sách nhiệm vụ cần xử lý",
}
_OPS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}


# --- formats --------------------------------------------------------------------------------------


def fmt_date(day: dt.date | str | None) -> str:
    """05/07/2023; '—' for none."""
    if day is None:
        return "—"
    if isinstance(day, str):
        try:
            return f"{dt.date.fromisoformat(day[:10]):%d/%m/%Y}"
        except ValueError:
            return day
    return f"{day:%d/%m/%Y}"


def fmt_int(n: int | None) -> str:
    return "—" if n is None else format_decimal(n, format="#,##0", locale=LOCALE)


def fmt_number(x: float | str | None) -> str:
    """79,86; 1.305 (up to 4 decimals, no trailing zeros)."""
    if x is None:
        return "—"
    try:
        return format_decimal(float(x), format="#,##0.####", locale=LOCALE)
    except (TypeError, ValueError):
        return str(x)


def fmt_percent(x: float | str | None) -> str:
    """A fraction as 31,25% (up to 2 decimals, no trailing zeros: 30%)."""
    if x is None:
        return "—"
    try:
        return format_percent(float(x), format="#,##0.##%", locale=LOCALE)
    except (TypeError, ValueError):
        return str(x)


def fmt_figure(value: float | str | None, kind: str | None) -> str:
    """A value or target as the reader expects it: a ratio as a percentage, a stage by its name."""
    if value is None:
        return "—"
    if isinstance(value, str) and kind != "ratio" and kind != "value":
        return value
    if kind == "ratio":
        return fmt_percent(value)
    return fmt_number(value)


def _local_day(at: str, tz: ZoneInfo) -> str:
    try:
        instant = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return at
    return fmt_date(instant.astimezone(tz).date())


# --- the rule text of a revision ------------------------------------------------------------------


@dataclass(frozen=True)
class RuleText:
    """One rule as a revision's files held it: the file, its YAML block, and the parsed mapping."""

    file: str
    block: str
    rule: dict[str, Any]
    indicator: dict[str, Any]


def _load(text: str) -> Any:
    yaml = YAML(typ="rt")
    try:
        return yaml.load(io.StringIO(text))
    except YAMLError:
        return None


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def rule_text(files: Mapping[str, str], rule_id: str) -> RuleText | None:
    """Find `rule_id` in a revision's files: its YAML block exactly as written, and its indicator."""
    found: tuple[str, str, dict[str, Any], str] | None = None
    indicators: dict[str, dict[str, Any]] = {}
    for name in sorted(files):
        text = files[name]
        doc = _load(text)
        if not isinstance(doc, Mapping):
            continue
        for item in doc.get("indicators") or []:
            if isinstance(item, Mapping) and "id" in item:
                indicators[str(item["id"])] = _plain(item)
        rules = doc.get("rules") or []
        for i, item in enumerate(rules):
            if not (isinstance(item, Mapping) and item.get("id") == rule_id) or found is not None:
                continue
            lines = text.splitlines()
            start: int = getattr(item, "lc").line  # noqa: B009  (ruamel's line info, not in the type)
            after: Any = rules[i + 1] if i + 1 < len(rules) else None
            end: int = after.lc.line if hasattr(after, "lc") else _end_of_list(lines, start)
            chosen = lines[start:end]
            while chosen and (not chosen[-1].strip() or chosen[-1].lstrip().startswith("#")):
                chosen.pop()
            found = (name, "\n".join(_dedent(chosen)), _plain(item), str(item.get("indicator", "")))
    if found is None:
        return None
    name, block, rule, indicator_id = found
    return RuleText(name, block, rule, indicators.get(indicator_id, {"id": indicator_id}))


def _end_of_list(lines: list[str], start: int) -> int:
    """The line after the last item of the list starting at `start` (the next top-level key, or the end)."""
    for n in range(start + 1, len(lines)):
        line = lines[n]
        if line and not line[0].isspace() and not line.startswith(("-", "#")):
            return n
    return len(lines)


def _dedent(block: list[str]) -> list[str]:
    if not block:
        return block
    first = block[0]
    # The item's first line carries the list dash ("  - id: x"); keep the block as the file shows it
    # but drop the common indentation so it reads well when printed.
    indent = len(first) - len(first.lstrip())
    return [line[indent:] if line[:indent].strip() == "" else line for line in block]


# --- the explanation ------------------------------------------------------------------------------


def _task_entries(task: Task, entries: Sequence[AuditEntry]) -> list[AuditEntry]:
    out = []
    for e in entries:
        if e.kind.startswith("task-") and e.data.get("task_id") == task.id:
            out.append(e)
        elif e.kind.startswith("notification-"):
            ids = e.data.get("task_ids")
            if e.data.get("task_id") == task.id or (isinstance(ids, list) and task.id in ids):
                out.append(e)
    return sorted(out, key=lambda e: e.seq)


def _deciding_evaluation(task: Task, entries: Sequence[AuditEntry], before: int) -> AuditEntry | None:
    best: AuditEntry | None = None
    for e in entries:
        if e.kind == "evaluation" and e.rule == task.rule and e.agency == task.agency and e.seq < before:
            if best is None or e.seq > best.seq:
                best = e
    return best


def _rules_loaded(entries: Sequence[AuditEntry], revision: str | None) -> AuditEntry | None:
    for e in entries:
        if e.kind == "rules-loaded" and (e.rules_revision == revision or e.data.get("revision") == revision):
            return e
    return None


def _target_words(op: str | None, target: Any, kind: str | None) -> str:
    sign = _OPS.get(op or "", op or "")
    return f"{sign} {fmt_figure(target, kind)}".strip()


def _agency_label(agency: str, names: Mapping[str, str]) -> str:
    name = names.get(agency)
    return f"{name} ({agency})" if name else agency


def _row_line(
    row: Mapping[str, Any], kind: str | None, names: Mapping[str, str], files: Mapping[int, str]
) -> str:
    parts = [f"{_agency_label(str(row.get('agency')), names)}, kỳ {row.get('period')}"]
    if row.get("denominator") is not None:
        parts.append(f"tử số {fmt_int(row.get('numerator'))}, mẫu số {fmt_int(row.get('denominator'))}")
    elif row.get("value") is not None:
        parts.append(f"giá trị {fmt_number(row.get('value'))}")
    elif row.get("status") is not None:
        parts.append(f"giai đoạn {row.get('status')}")
    parts.append(f"số liệu ngày {fmt_date(row.get('as_of'))}")
    row_id = row.get("id")
    if isinstance(row_id, int) and row_id in files:
        parts.append(f"tệp {files[row_id]}")
    return "- " + "; ".join(parts)


def explain_task(
    task: Task,
    entries: Sequence[AuditEntry],
    *,
    agency_names: Mapping[str, str] | None = None,
    row_files: Mapping[int, str] | None = None,
    tz: ZoneInfo = DEFAULT_TZ,
) -> list[str]:
    """Paragraphs saying why `task` exists and what followed, from the log entries about it.

    `entries` should hold the task's own entries, the evaluation entries of its rule x agency, the
    `rules-loaded` entry of the revision in force when it opened, and the notification entries naming it;
    others are ignored. `row_files` names the snapshot file of each row id, where known.
    """
    names = agency_names or {}
    files = row_files or {}
    own = _task_entries(task, entries)
    opened = next((e for e in own if e.kind == "task-opened"), None)
    revision = opened.rules_revision if opened is not None else None
    loaded = _rules_loaded(entries, revision)
    text = rule_text(loaded.data.get("files", {}), task.rule) if loaded is not None else None
    rule = text.rule if text is not None else {}
    kind = str(text.indicator.get("kind")) if text is not None and text.indicator.get("kind") else None
    title = str(rule.get("title") or task.rule)
    agency = _agency_label(task.agency, names)

    out: list[str] = []
    head = f"Nhiệm vụ số {task.id}: {agency} — {title} (quy tắc đánh giá {task.rule})."
    status = STATUS_WORDS.get(task.status.value, task.status.value)
    head += (
        f"\nTrạng thái: {status}. Giao ngày {fmt_date(task.opened_on)}, "
        f"thời hạn hoàn thành {fmt_date(task.due_on)}; người đứng đầu: "
        f"{task.assignee_name + ' <' + task.assignee + '>' if task.assignee_name else task.assignee}."
    )
    if task.previous_task_id is not None:
        head += f"\nNhiệm vụ này tiếp nối nhiệm vụ số {task.previous_task_id} (đã kết thúc trước đó)."
    out.append(head)

    evaluation = _deciding_evaluation(task, entries, opened.seq if opened is not None else 1 << 62)
    why = _why(task, evaluation, opened, rule, kind, tz)
    out.append(why)
    if rule.get("basis"):
        out.append(f"Căn cứ: {rule['basis']}.")

    if evaluation is not None:
        rows = evaluation.data.get("inputs", {}).get("rows") or []
        if rows:
            lines = ["Số liệu đã sử dụng:"]
            lines += [_row_line(r, kind, names, files) for r in rows if isinstance(r, Mapping)]
            out.append("\n".join(lines))
        else:
            out.append("Số liệu đã sử dụng: không có số liệu của kỳ báo cáo nào tại ngày đánh giá.")

    if text is not None:
        rev = revision[:12] if revision else "—"
        out.append(
            f"Quy tắc đánh giá có hiệu lực khi đó (bộ quy tắc {rev}, tệp {text.file}):\n"
            + "\n".join("    " + line for line in text.block.splitlines())
        )
    else:
        out.append("Không tìm thấy nội dung quy tắc đánh giá có hiệu lực khi đó trong nhật ký đánh giá.")

    followed = [_event_line(e, kind, tz) for e in own if e is not opened]
    if followed:
        out.append("Diễn biến sau đó:\n" + "\n".join(followed))
    else:
        out.append("Diễn biến sau đó: chưa có.")
    return out


def _why(
    task: Task,
    evaluation: AuditEntry | None,
    opened: AuditEntry | None,
    rule: Mapping[str, Any],
    kind: str | None,
    tz: ZoneInfo,
) -> str:
    data = opened.data if opened is not None else {}
    period = data.get("period", task.period)
    outcome = str(data.get("outcome") or "fail")
    streak = int(data.get("streak") or task.streak or 0)
    needed = int(data.get("for") or rule.get("for") or 1)
    value = data.get("value", task.value)
    target = data.get("target", task.target)
    inputs: Mapping[str, Any] = evaluation.data.get("inputs", {}) if evaluation is not None else {}
    target_spec = rule.get("target")
    op = inputs.get("op") or (target_spec.get("op") if isinstance(target_spec, Mapping) else None)
    on = data.get("opened_on") or task.opened_on.isoformat()
    run = opened.run_id if opened is not None else task.opened_run_id
    text = f"Vì sao có nhiệm vụ này: lượt đánh giá {run or '—'} ngày {fmt_date(on)}"
    if outcome == "fail" and inputs.get("kind") == "milestone":
        text += (
            f" ghi nhận giai đoạn báo cáo là '{inputs.get('reported') or 'chưa báo cáo'}', "
            f"trong khi chậm nhất ngày {fmt_date(inputs.get('by'))} phải đạt giai đoạn "
            f"'{inputs.get('required')}': không đạt tiến độ."
        )
        return text
    if outcome == "fail":
        figure = fmt_figure(value, kind)
        if evaluation is not None and evaluation.data.get("denominator") is not None:
            n, d = fmt_int(evaluation.data.get("numerator")), fmt_int(evaluation.data.get("denominator"))
            if inputs.get("rollup_agencies"):
                # A roll-up: the ratio of the sums over the unit and the units below it that reported.
                figure += f" ({n}/{d}, tính chung cả các đơn vị trực thuộc có số liệu)"
            else:
                figure += f" ({n}/{d})"
        text += (
            f" đánh giá kỳ báo cáo {period or '—'}: đạt {figure}, không đạt chỉ tiêu "
            f"{_target_words(op, target, kind)} (so sánh chính xác, không làm tròn)."
        )
    elif outcome == "no_data":
        text += " không tìm thấy số liệu nào; quy tắc coi việc không báo cáo số liệu là không đạt."
    elif outcome == "stale":
        text += (
            f" thấy số liệu mới nhất là của kỳ {period or '—'}, quá {inputs.get('max_age_days', '—')} ngày "
            "chưa được cập nhật; quy tắc coi số liệu chưa được cập nhật là không đạt."
        )
    else:
        text += f" ghi nhận kết quả {OUTCOME_WORDS.get(outcome, outcome)}."
    periods = inputs.get("streak_periods") or []
    if streak >= 1 and outcome == "fail":
        text += f"\nChuỗi không đạt: {streak} kỳ liên tiếp"
        if periods:
            text += f" ({', '.join(str(p) for p in periods)})"
        skipped = inputs.get("skipped_periods") or []
        if skipped:
            text += f"; bỏ qua các kỳ chưa đủ số liệu: {', '.join(str(p) for p in skipped)}"
        text += f". Quy tắc giao nhiệm vụ khi không đạt từ {needed} kỳ liên tiếp trở lên."
    resolve = rule.get("resolve")
    if isinstance(resolve, Mapping):
        text += (
            f"\nNhiệm vụ tự động hoàn thành khi kết quả đạt {_OPS.get(str(resolve.get('op')), resolve.get('op'))} "
            f"{fmt_figure(_as_fraction(resolve.get('value')), kind)}."
        )
    elif outcome == "fail":
        text += "\nNhiệm vụ tự động hoàn thành khi kết quả đạt chỉ tiêu."
    return text


def _as_fraction(raw: Any) -> Any:
    if isinstance(raw, str) and raw.strip().endswith("%"):
        try:
            return float(raw.strip()[:-1].replace(",", ".")) / 100
        except ValueError:
            return raw
    return raw


def _event_line(entry: AuditEntry, kind: str | None, tz: ZoneInfo) -> str:
    d = entry.data
    day = _local_day(entry.at, tz)
    if entry.kind == "task-updated":
        to = d.get("to", {}) if isinstance(d.get("to"), Mapping) else {}
        day = fmt_date(d.get("updated_on")) if d.get("updated_on") else day
        outcome = OUTCOME_WORDS.get(str(d.get("outcome")), str(d.get("outcome")))
        line = f"- {day}: cập nhật theo kỳ {to.get('last_period') or '—'}: {fmt_figure(to.get('value'), kind)} ({outcome}"
        if to.get("streak"):
            line += f", chuỗi {to.get('streak')} kỳ không đạt liên tiếp"
        return line + ")."
    if entry.kind == "task-acknowledged":
        note = f", ghi chú: “{d.get('note')}”" if d.get("note") else ""
        return f"- {fmt_date(d.get('acknowledged_on')) if d.get('acknowledged_on') else day}: {d.get('by')} xác nhận đã tiếp nhận{note}."
    if entry.kind == "task-resolved":
        return (
            f"- {fmt_date(d.get('resolved_on')) if d.get('resolved_on') else day}: kỳ {d.get('period') or '—'} "
            f"đạt {fmt_figure(d.get('value'), kind)}: đã đạt chỉ tiêu, nhiệm vụ tự động hoàn thành."
        )
    if entry.kind == "task-waived":
        return (
            f"- {fmt_date(d.get('waived_on')) if d.get('waived_on') else day}: tạm miễn áp dụng đến hết ngày "
            f"{fmt_date(d.get('until'))} (lý do: {d.get('reason')}; người quyết định: {d.get('by')})."
        )
    if entry.kind == "task-escalated":
        return f"- {day}: báo cáo cấp trên" + (f" ({_recipients(d)})" if _recipients(d) else "") + "."
    if entry.kind == "notification-sent":
        what = EMAIL_KIND_WORDS.get(str(d.get("kind") or d.get("message_kind")), "thư")
        return f"- {day}: đã gửi thư {what}" + (f" tới {_recipients(d)}" if _recipients(d) else "") + "."
    if entry.kind == "notification-failed":
        what = EMAIL_KIND_WORDS.get(str(d.get("kind") or d.get("message_kind")), "thư")
        reason = f" ({d.get('error')})" if d.get("error") else ""
        return f"- {day}: gửi thư {what} không thành công{reason}."
    return f"- {day}: {entry.kind}."


def _recipients(data: Mapping[str, Any]) -> str:
    to = data.get("to")
    if isinstance(to, list):
        return ", ".join(str(x) for x in to)
    return str(to) if to else ""
