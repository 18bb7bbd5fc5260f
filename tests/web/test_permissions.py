"""Who may see and do what (SPEC §10): every role against every page and every action, on both databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from urllib.parse import quote

import pytest
from sqlalchemy import select

from compliance.storage.schema import audit_log, task_events, tasks
from compliance.storage.users import remove_user
from tests.support.web_data import D
from tests.web.conftest import AUDITOR, Web, csrf_of

ROLES = ("anonymous", "office", "auditor", "head:so-a")
PAGES = (
    "overview",
    "agency_a",
    "agency_b",
    "task_a",
    "task_b",
    "audit",
    "audit_csv",
    "rules",
    "revision",
    "waivers",
)

# What each role gets on each page: 200, 403, or a redirect (303) to where.
EXPECTED: dict[str, dict[str, int | str]] = {
    "anonymous": {p: "login" for p in PAGES},
    "office": {p: 200 for p in PAGES},
    "auditor": {p: 200 for p in PAGES},
    "head:so-a": {
        "overview": "/agencies/so-a",
        "agency_a": 200,
        "agency_b": 403,
        "task_a": 200,
        "task_b": 403,
        "audit": 403,
        "audit_csv": 403,
        "rules": 403,
        "revision": 403,
        "waivers": 403,
    },
}


def page_path(web: Web, page: str) -> str:
    return {
        "overview": "/",
        "agency_a": "/agencies/so-a",
        "agency_b": "/agencies/so-b",
        "task_a": f"/tasks/{web.s.overdue}",
        "task_b": f"/tasks/{web.s.resolved}",
        "audit": "/audit",
        "audit_csv": "/audit.csv",
        "rules": "/rules",
        "revision": f"/rules/revisions/{web.s.old_revision}",
        "waivers": "/waivers",
    }[page]


def status_of(web: Web, task_id: int) -> str:
    with web.db.read() as conn:
        return str(conn.execute(select(tasks.c.status).where(tasks.c.id == task_id)).scalar_one())


def audit_count(web: Web) -> int:
    with web.db.read() as conn:
        return len(conn.execute(select(audit_log.c.seq)).all())


@pytest.mark.parametrize("role", ROLES)
def test_every_role_on_every_page(web: Web, role: str) -> None:
    client = web.as_role(role)
    for page in PAGES:
        path = page_path(web, page)
        r = client.get(path)
        expected = EXPECTED[role][page]
        if expected == "login":
            assert (r.status_code, r.headers["location"]) == (303, "/login?next=" + quote(path, safe="")), (
                page
            )
            assert r.text == ""
        elif isinstance(expected, str):
            assert (r.status_code, r.headers["location"]) == (303, expected), page
        else:
            assert r.status_code == expected, f"{role} {page}: {r.status_code}"
        if r.status_code == 403:
            # A refusal carries no data: neither the other agency's name nor any task's rule title.
            assert "Bạn không có quyền truy cập trang này." in r.text
            assert "Sở B" not in r.text and "Tỷ lệ hồ sơ" not in r.text and "Nhật ký nguyên vẹn" not in r.text


@pytest.mark.parametrize("role", ["anonymous", "office", "auditor", "head:so-b", "head:huyen-x"])
def test_only_the_agencys_own_head_acknowledges(web: Web, role: str) -> None:
    client = web.as_role(role)
    token = (
        csrf_of(client.get("/login").text)
        if role == "anonymous"
        else csrf_of(
            client.get(
                "/agencies/" + (role.removeprefix("head:") if role.startswith("head:") else "so-a")
            ).text
        )
    )
    before = audit_count(web)
    r = client.post(f"/tasks/{web.s.overdue}/ack", data={"csrf_token": token, "note": "x"})
    assert r.status_code == 403
    expected = {
        "anonymous": "Bạn cần đăng nhập để thực hiện thao tác này.",
    }.get(role, "Chỉ người đứng đầu cơ quan, đơn vị được giao nhiệm vụ mới xác nhận được nhiệm vụ này.")
    assert expected in r.text
    assert status_of(web, web.s.overdue) == "open"
    assert audit_count(web) == before


def test_the_head_acknowledges_their_own_task(web: Web) -> None:
    client = web.head("so-a")
    page = client.get(f"/tasks/{web.s.overdue}")
    assert "Xác nhận đã tiếp nhận nhiệm vụ" in page.text
    before = audit_count(web)
    r = client.post(
        f"/tasks/{web.s.overdue}/ack", data={"csrf_token": csrf_of(page.text), "note": "Đã giao Phòng CNTT"}
    )
    assert (r.status_code, r.headers["location"]) == (303, f"/tasks/{web.s.overdue}")
    assert status_of(web, web.s.overdue) == "acknowledged"
    assert audit_count(web) == before + 1
    with web.db.read() as conn:
        entry = conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).one()
        event = conn.execute(
            select(task_events)
            .where(task_events.c.task_id == web.s.overdue)
            .order_by(task_events.c.id.desc())
        ).first()
    assert (entry.kind, entry.rule, entry.agency) == ("task-acknowledged", "online-payment-30", "so-a")
    assert event is not None and event.kind == "task-acknowledged"
    after = client.get(f"/tasks/{web.s.overdue}")
    assert "Đã ghi nhận xác nhận tiếp nhận nhiệm vụ. Trân trọng cảm ơn." in after.text
    assert "ngày 05/07/2023, giamdoc.soa@example.gov.vn: “Đã giao Phòng CNTT”" in after.text
    assert "Xác nhận đã tiếp nhận nhiệm vụ</button>" not in after.text


def test_acknowledging_twice_changes_nothing(web: Web) -> None:
    client = web.head("huyen-x")
    page = client.get(f"/tasks/{web.s.huyen}")
    assert "Xác nhận đã tiếp nhận nhiệm vụ</button>" not in page.text  # already acknowledged: no form
    before = audit_count(web)
    r = client.post(f"/tasks/{web.s.huyen}/ack", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    assert audit_count(web) == before
    assert (
        "Nhiệm vụ này không còn ở trạng thái chờ xác nhận; không có thay đổi nào."
        in client.get(f"/tasks/{web.s.huyen}").text
    )


def test_a_removed_account_is_signed_out_at_its_next_request(web: Web) -> None:
    client = web.signed_in(AUDITOR)
    assert client.get("/audit").status_code == 200
    with web.db.begin() as conn:
        remove_user(conn, AUDITOR[0])
    assert client.get("/audit").status_code == 303


def test_a_heads_session_ends_when_the_link_expires(make_web: Callable[[dt.date], Web]) -> None:
    today = make_web(D)
    client = today.client()
    client.get(today.head_path("so-a", expires_on=D + dt.timedelta(days=2)))
    assert client.get("/agencies/so-a").status_code == 200
    later = make_web(D + dt.timedelta(days=3))
    late_client = later.client()
    late_client.cookies.update(client.cookies)
    r = late_client.get("/agencies/so-a")
    assert r.status_code == 403
    assert "Đường dẫn của ông/bà đã hết hạn hoặc không còn hiệu lực." in r.text
    assert "Danh sách nhiệm vụ" not in r.text
