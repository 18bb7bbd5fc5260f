"""The auditors' pages: the rule-evaluation log (filters, CSV, verify), the rules and their revisions."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from compliance.audit import ENTRY_FIELDS, KINDS, AuditEntry, canonical_json
from compliance.model.rules import Rule, Rulebook
from compliance.storage import auditlog
from compliance.web import format as fmt
from compliance.web.pages import LEVEL_LABELS, not_found
from compliance.web.queries import AuditFilters, audit_page, revisions, run_ids
from compliance.web.site import Site

__all__ = ["CSV_COLUMNS", "audit_csv", "audit_view", "revision_view", "rules_view"]

PAGE_ENTRIES = 100
CSV_COLUMNS = ENTRY_FIELDS


def _site(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def _date_arg(raw: str) -> tuple[dt.date | None, str | None]:
    if not raw:
        return None, None
    try:
        return dt.date.fromisoformat(raw), None
    except ValueError:
        return None, f"“{raw}” không phải là ngày hợp lệ (NĂM-THÁNG-NGÀY, ví dụ 2023-07-05)."


def _filters(request: Request) -> tuple[AuditFilters, list[str]]:
    q = request.query_params
    errors: list[str] = []
    since, err = _date_arg(q.get("since", "").strip())
    if err:
        errors.append(err)
    until, err = _date_arg(q.get("until", "").strip())
    if err:
        errors.append(err)
    kind = q.get("kind", "").strip() or None
    if kind is not None and kind not in KINDS:
        errors.append(f"Không có loại bản ghi “{kind}”.")
        kind = None
    return (
        AuditFilters(
            rule=q.get("rule", "").strip() or None,
            agency=q.get("agency", "").strip() or None,
            kind=kind,
            since=since,
            until=until,
            run_id=q.get("run", "").strip() or None,
        ),
        errors,
    )


def _summary(entry: AuditEntry) -> str:
    """A one-line Vietnamese gist of an entry's data; the full JSON is one click away."""
    d = entry.data
    if entry.kind == "evaluation-run":
        counts = d.get("counts") or d.get("outcomes") or {}
        if isinstance(counts, dict):
            return ", ".join(
                f"{fmt.OUTCOME_LABELS.get(k, k)}: {fmt.fmt_number(v)}" for k, v in counts.items()
            )
    if entry.kind in ("snapshot-ingested", "snapshot-rejected"):
        name = d.get("file") or d.get("name")
        rows = d.get("rows")
        return f"{name or ''}" + (f" ({fmt.fmt_number(rows)} dòng)" if isinstance(rows, int) else "")
    if entry.kind == "evaluation":
        inputs = d.get("inputs")
        kind = (
            inputs.get("kind") if isinstance(inputs, dict) and isinstance(inputs.get("kind"), str) else None
        )
        bits = []
        if d.get("value") is not None:
            bits.append(f"giá trị {fmt.fmt_value(d['value'], kind)}")
        if d.get("target") is not None:
            bits.append(f"chỉ tiêu {fmt.fmt_value(d['target'], kind)}")
        if isinstance(d.get("streak"), int) and d["streak"]:
            bits.append(f"{d['streak']} kỳ không đạt liên tiếp")
        return "; ".join(bits)
    if entry.kind in ("rules-loaded", "rules-rejected") and isinstance(d.get("files"), dict):
        return "Tệp: " + ", ".join(sorted(d["files"]))
    if entry.kind in ("waiver-added", "task-waived"):
        return _waiver_summary(d)
    if entry.kind.startswith("task-") and "task_id" in d:
        return f"Nhiệm vụ số {d['task_id']}"
    if entry.kind.startswith("notification-"):
        subject = d.get("subject")
        return str(subject) if subject else ""
    return ""


def _waiver_summary(d: dict[str, object]) -> str:
    # waiver-added: {waiver_id, until, reason, by, added_on}; task-waived adds task_id and waived_on.
    bits = [f"Nhiệm vụ số {d['task_id']}"] if "task_id" in d else []
    if "waiver_id" in d:
        bits.append(f"tạm miễn số {d['waiver_id']}")
    until = d.get("until")
    if isinstance(until, str):
        try:
            bits.append(f"đến hết ngày {fmt.fmt_date(until)}")
        except ValueError:
            bits.append(f"đến hết ngày {until}")
    if isinstance(d.get("reason"), str):
        bits.append(f"lý do: {d['reason']}")
    if isinstance(d.get("by"), str):
        bits.append(f"người quyết định: {d['by']}")
    text = "; ".join(bits)
    return text[:1].upper() + text[1:]


def audit_view(request: Request) -> Response:
    site = _site(request)
    who = site.require(request, "office", "auditor")
    f, errors = _filters(request)
    before_raw = request.query_params.get("before", "")
    before = int(before_raw) if before_raw.isdigit() else None
    with site.db.read() as conn:
        entries, total = audit_page(conn, f, tz=site.tz, before=before, limit=PAGE_ENTRIES)
        head_seq, head_hash = auditlog.head(conn)
        runs = run_ids(conn)
    verified = site.verify(force=request.query_params.get("verify") == "now")
    args = f.query_args()
    older = (
        "/audit?" + urlencode({**args, "before": entries[-1].seq})
        if len(entries) == PAGE_ENTRIES and entries[-1].seq > 1
        else None
    )
    return site.render(
        request,
        "audit.html",
        {
            "entries": [
                (e, _summary(e), json.dumps(e.data, ensure_ascii=False, indent=2, sort_keys=True))
                for e in entries
            ],
            "total": total,
            "filters": f,
            "errors": errors,
            "kinds": [(k, fmt.AUDIT_KIND_LABELS.get(k, k)) for k in KINDS],
            "runs": runs,
            "csv_href": "/audit.csv" + ("?" + urlencode(args) if args else ""),
            "first_href": "/audit" + ("?" + urlencode(args) if args else ""),
            "older_href": older,
            "paged": before is not None,
            "head_seq": head_seq,
            "head_hash": head_hash,
            "verified": verified,
        },
        principal=who,
    )


def audit_csv(request: Request) -> Response:
    """The filtered log as CSV, the columns of `compliance audit list --csv`, streamed in seq order."""
    site = _site(request)
    site.require(request, "office", "auditor")
    f, errors = _filters(request)
    if errors:
        return Response("\n".join(errors) + "\n", status_code=400, media_type="text/plain; charset=utf-8")

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        yield "\ufeff" + buf.getvalue()  # a BOM, so a spreadsheet opens the Vietnamese text as UTF-8
        with site.db.read() as conn:
            for e in auditlog.iter_entries(
                conn,
                rule=f.rule,
                agency=f.agency,
                kind=f.kind,
                since=f.since,
                until=f.until,
                run_id=f.run_id,
                tz=site.tz,
            ):
                buf.seek(0)
                buf.truncate()
                writer.writerow(
                    [
                        e.seq,
                        e.at,
                        e.run_id or "",
                        e.kind,
                        e.rule or "",
                        e.agency or "",
                        e.period or "",
                        e.outcome or "",
                        canonical_json(e.data),
                        e.rules_revision or "",
                        e.prev_hash,
                        e.hash,
                    ]
                )
                yield buf.getvalue()

    stamp = site.today().isoformat()
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="nhat-ky-danh-gia-{stamp}.csv"'},
    )


def _target_text(rule: Rule, book: Rulebook) -> str:
    indicator = book.indicators.get(rule.indicator)
    kind = indicator.kind if indicator else None
    if rule.kind == "milestone":
        return "; ".join(f"{m.stage} trước hết ngày {fmt.fmt_date(m.by)}" for m in rule.milestones)
    target = rule.target
    if target is None:
        return "—"
    if target.value is not None:
        return fmt.fmt_target(float(target.value), kind, target.op)
    steps = [
        f"từ {fmt.fmt_date(s.from_)}: {fmt.fmt_target(float(s.value), kind, target.op)}"
        for s in target.ramp or ()
    ]
    return "; ".join(steps)


def _scope_text(rule: Rule) -> str:
    parts: list[str] = []
    if rule.scope.levels:
        parts.append("cấp: " + ", ".join(LEVEL_LABELS.get(lv, lv) for lv in rule.scope.levels))
    if rule.scope.agencies:
        parts.append("cơ quan: " + ", ".join(rule.scope.agencies))
    if rule.scope.tags:
        parts.append("nhóm: " + ", ".join(rule.scope.tags))
    if rule.scope.exclude:
        parts.append("trừ: " + ", ".join(rule.scope.exclude))
    return "; ".join(parts) or "tất cả cơ quan, đơn vị"


def _rule_rows(book: Rulebook | None) -> list[dict[str, object]]:
    if book is None:
        return []
    out = []
    for rule in book.rules.values():
        indicator = book.indicators.get(rule.indicator)
        out.append(
            {
                "rule": rule,
                "indicator": indicator.name if indicator else rule.indicator,
                "target": _target_text(rule, book),
                "scope": _scope_text(rule),
            }
        )
    return out


def rules_view(request: Request) -> Response:
    site = _site(request)
    who = site.require(request, "office", "auditor")
    with site.db.read() as conn:
        revision = site.revision_in_force(conn)
        book = site.rulebook(conn, revision)
        history = revisions(conn)
    return site.render(
        request,
        "rules.html",
        {"revision": revision, "book": book, "rules": _rule_rows(book), "history": history},
        principal=who,
    )


def revision_view(request: Request) -> Response:
    site = _site(request)
    who = site.require(request, "office", "auditor")
    revision = request.path_params["revision"]
    with site.db.read() as conn:
        book = site.rulebook(conn, revision)
        in_force = site.revision_in_force(conn)
        history = {r.revision: r for r in revisions(conn)}
    if book is None:
        return not_found(request, site, who)
    return site.render(
        request,
        "revision.html",
        {
            "book": book,
            "rules": _rule_rows(book),
            "in_force": in_force == revision,
            "info": history.get(revision),
        },
        principal=who,
    )
