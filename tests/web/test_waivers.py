"""The office's waivers on the web: the Tạm miễn page, its form and the task page's form (SPEC §3, §4, §7),
who may use them, CSRF, every validation error, and what a waiver records — over SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from compliance.storage import auditlog
from compliance.storage.runs import list_waivers
from compliance.storage.schema import audit_log, tasks, waivers
from compliance.web import waiverform
from tests.support.web_data import D
from tests.web.conftest import AUDITOR, OFFICE, Client, Web, csrf_of

FORM_EXPIRED = "Biểu mẫu đã hết hiệu lực hoặc không hợp lệ. Vui lòng tải lại trang và thử lại."
ONLY_OFFICE = "Chỉ cán bộ Văn phòng mới thêm được tạm miễn áp dụng."
NEED_SIGN_IN = "Bạn cần đăng nhập để thực hiện thao tác này."


def stored(web: Web) -> tuple[int, int, str]:
    """(waivers, audit entries, status of the overdue task): what a refused form must leave alone."""
    with web.db.read() as conn:
        n_waivers = int(conn.execute(select(func.count()).select_from(waivers)).scalar_one())
        n_audit = int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
        status = str(conn.execute(select(tasks.c.status).where(tasks.c.id == web.s.overdue)).scalar_one())
    return n_waivers, n_audit, status


def last_entries(web: Web, n: int) -> list[Any]:
    with web.db.read() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(n)).all()
    return list(reversed(rows))


def field_error(html: str, name: str) -> str | None:
    """The error shown next to a field (right above it, and named by its aria-describedby)."""
    m = re.search(rf'<p class="field-error" id="w-{name}-error">([^<]*)</p>', html)
    return htmllib.unescape(m.group(1)) if m else None


def valid(**over: str) -> dict[str, str]:
    return {
        "rule": "online-payment-30",
        "agency": "so-a",
        "until": "31/12/2023",
        "reason": "Công văn số 12/UBND-KSTT: hệ thống thanh toán của Sở đang nâng cấp",
        **over,
    }


def post_form(client: Client, path: str, page: str, **over: str) -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **valid(**over)})


# --- success -----------------------------------------------------------------------------------------


def test_the_office_adds_a_waiver_on_the_waivers_page(web: Web) -> None:
    office = web.signed_in(OFFICE)
    page = office.get("/waivers")
    assert page.status_code == 200
    assert "<h1>Tạm miễn áp dụng quy tắc đánh giá</h1>" in page.text
    assert '<a href="/waivers" aria-current="page">Tạm miễn</a>' in page.text
    # the lists: every rule in force, every agency active today (xa-x3 was merged in March)
    assert re.findall(r'<select id="w-rule".*?</select>', page.text, flags=re.S)
    assert re.findall(r'<option value="([^"]+)">[^<]*</option>', page.text) == [
        "online-payment-30",
        "full-online",
        "par-index-80",
        "db-land",
        "tinh",
        "so-a",
        "so-b",
        "huyen-x",
        "xa-x1",
        "xa-x2",
    ]
    assert "Không có tạm miễn nào đang có hiệu lực." in page.text
    n_waivers, n_audit, _ = stored(web)

    r = office.post("/waivers", data={"csrf_token": csrf_of(page.text), **valid()})
    assert (r.status_code, r.headers["location"]) == (303, "/waivers")

    # the waiver, by the signed-in office account, dated today; the active task is waived at once
    with web.db.read() as conn:
        [w] = list_waivers(conn)
        count, head_hash, broken = auditlog.verify(conn)
    assert (w.rule, w.agency, w.until, w.by) == (
        "online-payment-30",
        "so-a",
        dt.date(2023, 12, 31),
        OFFICE[0],
    )
    assert w.reason == valid()["reason"]
    assert stored(web) == (n_waivers + 1, n_audit + 2, "waived")
    added, waived = last_entries(web, 2)
    assert (added.kind, added.rule, added.agency) == ("waiver-added", "online-payment-30", "so-a")
    assert (waived.kind, waived.rule, waived.agency) == ("task-waived", "online-payment-30", "so-a")
    assert '"task_id":' + str(web.s.overdue) in waived.data.replace(" ", "")
    assert broken is None and count == n_audit + 2

    after = office.get("/waivers").text
    assert (
        "Đã tạm miễn áp dụng quy tắc “Tỷ lệ hồ sơ thanh toán trực tuyến đạt tối thiểu 30%” cho Sở A "
        f"đến hết ngày 31/12/2023 (tạm miễn số {w.id}). Nhiệm vụ số {web.s.overdue} chuyển sang tạm miễn "
        "áp dụng." in htmllib.unescape(after)
    )
    active = after.split("<h2>Đang có hiệu lực</h2>")[1].split("<h2>Đã hết hạn</h2>")[0]
    assert "31/12/2023" in active and "(còn 179 ngày)" in active and OFFICE[0] in active
    assert "Công văn số 12/UBND-KSTT" in active and '<a href="/agencies/so-a">Sở A</a>' in active
    assert "Đã tạm miễn" not in office.get("/waivers").text  # the message is shown once


def test_a_waiver_without_an_active_task_waives_nothing(web: Web) -> None:
    office = web.signed_in(OFFICE)
    _, n_audit, _ = stored(web)
    r = post_form(office, "/waivers", "/waivers", rule="par-index-80", agency="so-b", until="2023-07-05")
    assert r.status_code == 303  # ISO accepted; the last day may be today
    assert [e.kind for e in last_entries(web, 1)] == ["waiver-added"]
    assert stored(web)[1:] == (n_audit + 1, "open")
    flash = htmllib.unescape(office.get("/waivers").text)
    assert "cho Sở B đến hết ngày 05/07/2023" in flash and "(hết hạn hôm nay)" in flash
    assert "chuyển sang tạm miễn" not in flash


def test_the_office_waives_from_the_task_page(web: Web) -> None:
    office = web.signed_in(OFFICE)
    path = f"/tasks/{web.s.overdue}"
    page = office.get(path).text
    assert f'action="/tasks/{web.s.overdue}/waive#tam-mien"' in page
    assert "<summary>Tạm miễn áp dụng quy tắc này cho Sở A</summary>" in page
    assert '<details class="card waive" id="tam-mien">' in page  # closed until there is an error
    # the task decides the rule and agency: fields posted for another pair are ignored
    r = office.post(
        path + "/waive",
        data={
            "csrf_token": csrf_of(page),
            **valid(rule="par-index-80", agency="so-b", until="1/1/2024", reason="Sáp nhập đơn vị"),
        },
    )
    assert (r.status_code, r.headers["location"]) == (303, path)
    added, waived = last_entries(web, 2)
    assert (added.kind, added.rule, added.agency) == ("waiver-added", "online-payment-30", "so-a")
    assert waived.kind == "task-waived"
    after = htmllib.unescape(office.get(path).text)
    assert "Nhiệm vụ số " + str(web.s.overdue) + " chuyển sang tạm miễn áp dụng." in after
    assert '<dd class="status-waived">Tạm miễn áp dụng</dd>' in after
    assert "từ ngày 05/07/2023" in after
    assert "lý do: Sáp nhập đơn vị; đến hết ngày 01/01/2024" in after  # the timeline
    assert 'id="tam-mien"' not in after  # a waived task has no form any more
    # the task's related log entries now hold both, the waiver's entry included
    related = after.split("Bản ghi nhật ký đánh giá liên quan")[1]
    assert '<td data-label="Loại">Thêm tạm miễn áp dụng</td>' in related
    assert '<td data-label="Loại">Tạm miễn áp dụng</td>' in related


def test_the_audit_page_shows_the_waiver_entries(web: Web) -> None:
    office = web.signed_in(OFFICE)
    assert post_form(office, "/waivers", "/waivers").status_code == 303
    with web.db.read() as conn:
        [w] = list_waivers(conn)
    for kind, label, summary in (
        (
            "waiver-added",
            "Thêm tạm miễn áp dụng",
            f"Tạm miễn số {w.id}; đến hết ngày 31/12/2023; lý do: Công văn số 12/UBND-KSTT",
        ),
        (
            "task-waived",
            "Tạm miễn áp dụng",
            f"Nhiệm vụ số {web.s.overdue}; tạm miễn số {w.id}; đến hết ngày 31/12/2023; lý do: Công văn",
        ),
    ):
        html = htmllib.unescape(web.signed_in(AUDITOR).get(f"/audit?kind={kind}").text)
        assert "1 bản ghi phù hợp" in html
        row = html.split("<tbody>")[1].split("</tbody>")[0]
        assert f'<td data-label="Loại">{label}</td>' in row
        assert "online-payment-30" in row and "so-a" in row
        assert summary in row and f"người quyết định: {OFFICE[0]}" in row
        assert "Nhật ký nguyên vẹn" in html


def test_an_expired_waiver_is_listed_as_expired(make_web: Callable[[dt.date], Web]) -> None:
    web = make_web(D)
    assert post_form(web.signed_in(OFFICE), "/waivers", "/waivers", until="06/07/2023").status_code == 303
    later = make_web(D + dt.timedelta(days=2)).signed_in(AUDITOR).get("/waivers").text
    active, expired = later.split("<h2>Đang có hiệu lực</h2>")[1].split("<h2>Đã hết hạn</h2>")
    assert "Không có tạm miễn nào đang có hiệu lực." in active
    assert "06/07/2023" in expired and "Sở A" in expired and "còn" not in expired


# --- who may ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["office", "auditor", "head:so-a", "anonymous"])
def test_who_sees_the_waivers_page_and_the_forms(web: Web, role: str) -> None:
    client = web.as_role(role)
    r = client.get("/waivers")
    task = client.get(f"/tasks/{web.s.overdue}")
    if role == "anonymous":
        assert (r.status_code, r.headers["location"]) == (303, "/login?next=%2Fwaivers")
        return
    if role.startswith("head:"):
        assert r.status_code == 403 and "Bạn không có quyền truy cập trang này." in r.text
        assert "Tạm miễn" not in r.text.split("<main>")[0]  # not in the head's menu either
        assert task.status_code == 200 and "/waive" not in task.text
        return
    assert r.status_code == 200 and "Đang có hiệu lực" in r.text
    has_form = 'action="/waivers"' in r.text
    on_task = f'action="/tasks/{web.s.overdue}/waive#tam-mien"' in task.text
    assert (has_form, on_task) == (role == "office", role == "office")
    # auditors read the list (the reasons are for them) but get no form, nor the agency page's link
    agency = client.get("/agencies/so-a").text
    assert ("Thêm tạm miễn áp dụng cho đơn vị này" in agency) == (role == "office")


@pytest.mark.parametrize("role", ["anonymous", "auditor", "head:so-a"])
@pytest.mark.parametrize("action", ["page", "task"])
def test_only_the_office_adds_a_waiver(web: Web, role: str, action: str) -> None:
    client = web.as_role(role)
    # a valid token of the client's own session, from a page it may open
    page = {"anonymous": "/login", "auditor": "/waivers", "head:so-a": "/agencies/so-a"}[role]
    token = csrf_of(client.get(page).text)
    before = stored(web)
    path = "/waivers" if action == "page" else f"/tasks/{web.s.overdue}/waive"
    r = client.post(path, data={"csrf_token": token, **valid()})
    assert r.status_code == 403
    assert (NEED_SIGN_IN if role == "anonymous" else ONLY_OFFICE) in r.text
    assert stored(web) == before


@pytest.mark.parametrize("token", [None, "", "forged-token", "another session's"])
@pytest.mark.parametrize("action", ["page", "task"])
def test_the_office_needs_the_sessions_csrf_token(web: Web, token: str | None, action: str) -> None:
    if token == "another session's":  # valid, but for another office session
        token = csrf_of(web.signed_in(OFFICE).get("/waivers").text)
    office = web.signed_in(OFFICE)
    office.get("/waivers")
    before = stored(web)
    path = "/waivers" if action == "page" else f"/tasks/{web.s.overdue}/waive"
    data = valid() if token is None else {"csrf_token": token, **valid()}
    r = office.post(path, data=data)
    assert r.status_code == 403 and FORM_EXPIRED in r.text
    assert stored(web) == before


# --- validation ------------------------------------------------------------------------------------

LONG = "x" * (waiverform.REASON_MAX + 1)
INVALID = [
    ("rule", {"rule": ""}, "Vui lòng chọn quy tắc đánh giá."),
    (
        "rule",
        {"rule": "online-payment-99"},
        "Không có quy tắc đánh giá “online-payment-99” trong các quy tắc",
    ),
    ("agency", {"agency": ""}, "Vui lòng chọn cơ quan, đơn vị."),
    ("agency", {"agency": "so-z"}, "Không có cơ quan, đơn vị “so-z” trong danh sách cơ quan, đơn vị."),
    (
        "until",
        {"until": ""},
        "Vui lòng nhập ngày hết hạn tạm miễn theo dạng ngày/tháng/năm, ví dụ 31/12/2023.",
    ),
    (
        "until",
        {"until": "cuối năm"},
        "“cuối năm” không phải là ngày hợp lệ: vui lòng nhập theo dạng ngày/tháng/năm, ví dụ 31/12/2023.",
    ),
    ("until", {"until": "12/31/2023"}, "Không có ngày 12/31/2023 trong lịch"),
    ("until", {"until": "29/02/2023"}, "Không có ngày 29/02/2023 trong lịch"),
    ("until", {"until": "31/12/23"}, "“31/12/23”: vui lòng ghi năm đủ 4 chữ số, ví dụ 31/12/2023."),
    (
        "until",
        {"until": "04/07/2023"},
        "Ngày 04/07/2023 đã qua: thời hạn tạm miễn phải từ hôm nay (05/07/2023) trở đi.",
    ),
    ("until", {"until": "2023-07-04"}, "Ngày 04/07/2023 đã qua"),
    ("reason", {"reason": ""}, "Vui lòng nhập lý do tạm miễn (căn cứ, văn bản cho phép)."),
    ("reason", {"reason": "   \n "}, "Vui lòng nhập lý do tạm miễn"),
    ("reason", {"reason": LONG}, "Lý do dài 2.001 ký tự, quá giới hạn 2.000 ký tự: vui lòng rút gọn."),
]


def test_every_error_is_shown_next_to_its_field_and_nothing_is_stored(web: Web) -> None:
    office = web.signed_in(OFFICE)
    token = csrf_of(office.get("/waivers").text)
    before = stored(web)
    for name, over, message in INVALID:
        r = office.post("/waivers", data={"csrf_token": token, **valid(**over)})
        case = f"{name} {over}"
        assert r.status_code == 400, case
        assert "Chưa lưu tạm miễn: vui lòng sửa các mục có thông báo lỗi bên dưới." in r.text, case
        error = field_error(r.text, name)
        assert error is not None and error.startswith(message), (case, error)
        assert [n for n in ("rule", "agency", "until", "reason") if field_error(r.text, n)] == [name], case
        # the field is marked, and what was typed comes back
        assert re.search(rf'name="{name}"[^>]*aria-invalid="true" aria-describedby="w-{name}-error"', r.text)
        if name != "until":
            assert 'value="31/12/2023"' in r.text, case
        if name != "reason":
            assert "Công văn số 12/UBND-KSTT" in r.text, case
        assert stored(web) == before, case


def test_all_errors_at_once(web: Web) -> None:
    office = web.signed_in(OFFICE)
    token = csrf_of(office.get("/waivers").text)
    r = office.post(
        "/waivers", data={"csrf_token": token, "rule": "", "agency": "", "until": "", "reason": ""}
    )
    assert r.status_code == 400
    assert all(field_error(r.text, n) for n in ("rule", "agency", "until", "reason"))


def test_a_refused_task_form_comes_back_open_on_the_task_page(web: Web) -> None:
    office = web.signed_in(OFFICE)
    path = f"/tasks/{web.s.overdue}"
    before = stored(web)
    r = post_form(office, path + "/waive", path, until="01/07/2023", reason="")
    assert r.status_code == 400
    assert f"<h1>Nhiệm vụ số {web.s.overdue}: " in r.text
    assert '<details class="card waive" id="tam-mien" open>' in r.text
    assert field_error(r.text, "until") == (
        "Ngày 01/07/2023 đã qua: thời hạn tạm miễn phải từ hôm nay (05/07/2023) trở đi."
    )
    assert field_error(r.text, "reason") == "Vui lòng nhập lý do tạm miễn (căn cứ, văn bản cho phép)."
    assert 'value="01/07/2023"' in r.text
    assert stored(web) == before


def test_waiving_an_unknown_task_is_not_found(web: Web) -> None:
    office = web.signed_in(OFFICE)
    before = stored(web)
    r = post_form(office, "/tasks/999999/waive", "/waivers")
    assert r.status_code == 404
    assert stored(web) == before


# --- a country's directory --------------------------------------------------------------------------


def test_a_long_agency_list_is_searched(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waiverform, "AGENCY_CHOICES", 2)
    office = web.signed_in(OFFICE)

    def agencies(html: str) -> list[str]:
        select_html = re.search(r'<select id="w-agency".*?</select>', html, flags=re.S)
        assert select_html is not None
        return re.findall(r'<option value="([^"]+)"', select_html.group(0))

    page = htmllib.unescape(office.get("/waivers").text)
    assert 'name="tim"' in page
    assert agencies(page) == ["tinh", "so-a"]
    assert "Có 6 cơ quan, đơn vị phù hợp; danh sách chỉ hiện 2 đơn vị đầu tiên." in page
    # without Vietnamese marks, by name or id; the chosen rule and agency are kept
    found = office.get("/waivers", params={"tim": "ubnd xa", "rule": "full-online", "agency": "so-b"}).text
    assert agencies(found) == ["so-b", "xa-x1", "xa-x2"]
    assert '<option value="full-online" selected>' in found and '<option value="so-b" selected>' in found
    assert agencies(office.get("/waivers", params={"tim": "HUYEN-X"}).text) == ["huyen-x"]
    none = htmllib.unescape(office.get("/waivers", params={"tim": "không có"}).text)
    assert agencies(none) == [] and "Không có cơ quan, đơn vị nào khớp “không có”." in none
    # a refused form comes back with the same search
    r = office.post(
        "/waivers", data={"csrf_token": csrf_of(found), "tim": "ubnd xa", **valid(agency="xa-x2", reason="")}
    )
    assert r.status_code == 400
    assert '<input type="hidden" name="tim" value="ubnd xa">' in r.text
    assert agencies(r.text) == ["xa-x1", "xa-x2"] and '<option value="xa-x2" selected>' in r.text


def test_fold_drops_vietnamese_marks() -> None:
    assert waiverform.fold("UBND xã Đông Hòa Bình") == "ubnd xa dong hoa binh"


def test_a_refusal_from_the_pipeline_is_shown_on_the_form(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    from compliance.errors import ComplianceError
    from compliance.pipeline import evaluate

    def refuse(*args: object, **kwargs: object) -> None:
        raise ComplianceError("'vanphong' không phải là địa chỉ email hợp lệ")

    monkeypatch.setattr(evaluate, "add_waiver", refuse)
    office = web.signed_in(OFFICE)
    before = stored(web)
    r = post_form(office, "/waivers", "/waivers")
    assert r.status_code == 400
    assert (
        '<p class="error" role="alert">Chưa lưu được tạm miễn: '
        "&#39;vanphong&#39; không phải là địa chỉ email hợp lệ</p>"
    ) in r.text
    assert "vui lòng sửa các mục" not in r.text
    assert stored(web) == before
