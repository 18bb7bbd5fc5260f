"""The Tạm miễn page (every waiver, active and expired, and the office's form to add one) and the office's
waive action on a task's page. Both record through pipeline.evaluate.add_waiver, as `compliance waivers
add` does: the waiver, its audit entries and the waived active task in one transaction.

A waiver can name the rules of the revision in force (the ones the pages show: the latest run's) and
the agencies of the directory; its `by` is the signed-in office account, its date today.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from compliance.errors import ComplianceError
from compliance.loading.deployment import Deployment
from compliance.model.rules import Rulebook
from compliance.model.task import TaskChange, Waiver
from compliance.storage.runs import list_waivers
from compliance.web import format as fmt
from compliance.web.auth import Principal
from compliance.web.pages import agency_name, form_sender, load_task, not_found, rule_title, show_task
from compliance.web.site import Forbidden, Site
from compliance.web.waiverform import REASON_MAX, WaiverForm, agency_choices

__all__ = ["add_waiver_view", "waive_task", "waivers_view"]


def _site(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


@dataclass(frozen=True)
class WaiverRow:
    waiver: Waiver
    rule_title: str
    agency_name: str


def waivers_view(request: Request) -> Response:
    """Office and auditors read the list; only the office gets the form (prefilled by ?rule=&agency=)."""
    site = _site(request)
    who = site.require(request, "office", "auditor")
    q = request.query_params
    form = WaiverForm(rule=q.get("rule", "").strip(), agency=q.get("agency", "").strip())
    flash = request.session.pop("flash", None)
    return _render(
        request,
        site,
        who,
        form,
        search=q.get("tim", "").strip(),
        flash=flash if isinstance(flash, str) else None,
    )


def _render(
    request: Request,
    site: Site,
    who: Principal,
    form: WaiverForm,
    *,
    search: str = "",
    flash: str | None = None,
    status_code: int = 200,
) -> Response:
    today = site.today()
    directory = site.directory()
    with site.db.read() as conn:
        book = site.rulebook(conn, site.revision_in_force(conn))
        found = list_waivers(conn)

    def row(w: Waiver) -> WaiverRow:
        return WaiverRow(w, rule_title(book, w.rule), agency_name(directory, w.agency))

    # Active ones by the day they end (the next to lapse first), expired ones the latest first.
    ordered = sorted(found, key=lambda w: (w.until, w.id or 0))
    active = [row(w) for w in ordered if w.until >= today]
    expired = [row(w) for w in reversed(ordered) if w.until < today]
    return site.render(
        request,
        "waivers.html",
        {
            "active": active,
            "expired": expired,
            "form": form if who.can_waive else None,
            "rules": [(r.id, r.title) for r in book.rules.values()] if book else [],
            "choices": agency_choices(directory, today=today, search=search, selected=form.agency)
            if who.can_waive
            else None,
            "search": search,
            "flash": flash,
            "reason_max": REASON_MAX,
        },
        principal=who,
        status_code=status_code,
    )


async def _office(request: Request, site: Site, form: FormData) -> Principal:
    """The signed-in office account sending a valid form; anybody else is refused (403), nothing stored."""
    who = await form_sender(request, site, form)
    if not who.can_waive:
        raise Forbidden("Chỉ cán bộ Văn phòng mới thêm được tạm miễn áp dụng.")
    return who


def _grant(site: Site, form: WaiverForm, by: str) -> tuple[Waiver, TaskChange | None, Rulebook] | None:
    """Check the form and record the waiver; None (the reasons in `form.errors`) when nothing was stored."""
    today = site.today()
    directory = site.directory()
    with site.db.read() as conn:
        book = site.rulebook(conn, site.revision_in_force(conn))
    until = form.check(rules=book.rules if book else {}, directory=directory, today=today)
    if until is None or book is None:
        return None
    from compliance.pipeline.evaluate import add_waiver  # the engine loads only when a waiver is added

    deployment = Deployment(site.config, directory, book)
    waiver = Waiver(rule=form.rule, agency=form.agency, until=until, reason=form.reason, by=by)
    try:
        stored, change = add_waiver(site.db, deployment, waiver, on=today, clock=site.clock)
    except ComplianceError as exc:  # checked above already; e.g. an account email the pipeline refuses
        form.errors["form"] = f"Chưa lưu được tạm miễn: {exc}"
        return None
    return stored, change, book


def _done(site: Site, stored: Waiver, change: TaskChange | None, book: Rulebook) -> str:
    text = (
        f"Đã tạm miễn áp dụng quy tắc “{rule_title(book, stored.rule)}” cho "
        f"{agency_name(site.directory(), stored.agency)} đến hết ngày {fmt.fmt_date(stored.until)} "
        f"(tạm miễn số {stored.id})."
    )
    if change is not None:
        text += f" Nhiệm vụ số {change.task.id} chuyển sang tạm miễn áp dụng."
    return text


async def add_waiver_view(request: Request) -> Response:
    """POST /waivers: the form of the Tạm miễn page."""
    site = _site(request)
    data = await request.form()
    who = await _office(request, site, data)
    form = WaiverForm.from_form(data)
    done = await run_in_threadpool(_grant, site, form, who.email)
    if done is None:
        search = data.get("tim")  # the agency search the form was filled after, kept for the retry
        return await run_in_threadpool(
            lambda: _render(
                request,
                site,
                who,
                form,
                search=search.strip() if isinstance(search, str) else "",
                status_code=400,
            )
        )
    request.session["flash"] = _done(site, *done)
    return RedirectResponse("/waivers", status_code=303)


async def waive_task(request: Request) -> Response:
    """POST /tasks/{id}/waive: the form of a task's page, for the task's own rule and agency."""
    site = _site(request)
    task_id = int(request.path_params["task_id"])
    data = await request.form()
    who = await _office(request, site, data)
    task = await run_in_threadpool(load_task, site, task_id)
    if task is None:
        return not_found(request, site, who)
    form = WaiverForm.from_form(data)
    form.rule, form.agency = task.rule, task.agency  # the task says which; the posted fields do not
    done = await run_in_threadpool(_grant, site, form, who.email)
    if done is None:
        return await run_in_threadpool(lambda: show_task(request, task_id, waiver=form, status_code=400))
    request.session["flash"] = _done(site, *done)
    return RedirectResponse(f"/tasks/{task_id}", status_code=303)
