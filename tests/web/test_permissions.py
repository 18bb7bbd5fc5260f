"""Who may see and do what (SPEC §10): every role against every page and action; links and CSRF."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from urllib.parse import quote

import pytest
from sqlalchemy import select

from compliance.storage.schema import audit_log, task_events, tasks
from compliance.storage.users import remove_user
from tests.support.web_data import D
from tests.web.conftest import AUDITOR, HEADS, OFFICE, SECRET, Web, csrf_of

ROLES = ("anonymous", "office", "auditor", "head:so-a")
PAGES = ("overview", "agency_a", "agency_b", "task_a", "task_b", "audit", "audit_csv", "rules", "revision")

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
            assert (r.status_code, r.headers["location"]) == (303, "/login?next=" + quote(path, safe="")), page
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
    token = csrf_of(client.get("/login").text) if role == "anonymous" else csrf_of(client.get("/agencies/" + (
        role.removeprefix("head:") if role.startswith("head:") else "so-a")).text)
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
    r = client.post(f"/tasks/{web.s.overdue}/ack", data={"csrf_token": csrf_of(page.text), "note": "Đã giao Phòng CNTT"})
    assert (r.status_code, r.headers["location"]) == (303, f"/tasks/{web.s.overdue}")
    assert status_of(web, web.s.overdue) == "acknowledged"
    assert audit_count(web) == before + 1
    with web.db.read() as conn:
        entry = conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).one()
        event = conn.execute(
            select(task_events).where(task_events.c.task_id == web.s.overdue).order_by(task_events.c.id.desc())
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
    assert "Nhiệm vụ này không còn ở trạng thái chờ xác nhận; không có thay đổi nào." in client.get(
        f"/tasks/{web.s.huyen}").text


@pytest.mark.parametrize("token", ["missing", "empty", "wrong", "another-session"])
def test_a_form_without_its_csrf_token_is_refused(web: Web, token: str) -> None:
    client = web.head("so-a")
    client.get(f"/tasks/{web.s.overdue}")
    data: dict[str, str] = {"note": "x"}
    if token == "empty":
        data["csrf_token"] = ""
    elif token == "wrong":
        data["csrf_token"] = "not-the-token"
    elif token == "another-session":
        other = web.head("so-a")
        data["csrf_token"] = csrf_of(other.get(f"/tasks/{web.s.overdue}").text)
    r = client.post(f"/tasks/{web.s.overdue}/ack", data=data)
    assert r.status_code == 403
    assert "Biểu mẫu đã hết hiệu lực hoặc không hợp lệ. Vui lòng tải lại trang và thử lại." in r.text
    assert status_of(web, web.s.overdue) == "open"


def test_sign_in_and_sign_out_need_the_csrf_token(web: Web) -> None:
    client = web.client()
    client.get("/login")
    r = client.post("/login", data={"email": OFFICE[0], "password": OFFICE[1]})
    assert r.status_code == 403
    office = web.signed_in(OFFICE)
    assert office.post("/logout", data={}).status_code == 403
    assert office.get("/").status_code == 200
    r = office.post("/logout", data={"csrf_token": csrf_of(office.get("/").text)})
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    assert office.get("/").status_code == 303


@pytest.mark.parametrize(
    ("email", "password"),
    [(OFFICE[0], "wrong-password"), ("nobody@example.gov.vn", OFFICE[1]), ("", ""), (OFFICE[0], AUDITOR[1])],
)
def test_a_wrong_sign_in_gets_no_session(web: Web, email: str, password: str) -> None:
    client = web.client()
    page = client.get("/login")
    r = client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 401
    assert "Thư điện tử hoặc mật khẩu không đúng." in r.text
    assert client.get("/").status_code == 303


def test_sign_in_is_case_insensitive_and_returns_to_the_page_asked_for(web: Web) -> None:
    client = web.client()
    page = client.get("/login?next=/audit%3Fkind%3Devaluation")
    assert 'name="next" value="/audit?kind=evaluation"' in page.text
    r = client.post("/login", data={"email": OFFICE[0].upper(), "password": OFFICE[1],
                                    "csrf_token": csrf_of(page.text), "next": "/audit?kind=evaluation"})
    assert (r.status_code, r.headers["location"]) == (303, "/audit?kind=evaluation")


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "audit"])
def test_sign_in_never_redirects_off_the_site(web: Web, target: str) -> None:
    client = web.client()
    page = client.get("/login")
    r = client.post("/login", data={"email": OFFICE[0], "password": OFFICE[1], "csrf_token": csrf_of(page.text),
                                    "next": target})
    assert (r.status_code, r.headers["location"]) == (303, "/")


def test_a_removed_account_is_signed_out_at_its_next_request(web: Web) -> None:
    client = web.signed_in(AUDITOR)
    assert client.get("/audit").status_code == 200
    with web.db.begin() as conn:
        remove_user(conn, AUDITOR[0])
    assert client.get("/audit").status_code == 303


def test_a_forged_session_cookie_is_nobody(web: Web) -> None:
    client = web.client()
    client.cookies.set("compliance_session", "eyJ3aG8iOiB7ImsiOiAib2ZmaWNlIn19.forged.signature")
    assert client.get("/").status_code == 303


# --- heads' links ------------------------------------------------------------------------------------


def test_a_heads_link_opens_their_agency_and_a_task_link_the_task(web: Web) -> None:
    client = web.client()
    r = client.get(web.head_path("so-a"))
    assert (r.status_code, r.headers["location"]) == (303, "/agencies/so-a")
    page = client.get("/agencies/so-a")
    assert page.status_code == 200 and "Danh sách nhiệm vụ cần xử lý" in page.text
    assert "Người đứng đầu cơ quan, đơn vị" in page.text
    r = client.get(web.head_path("so-a", task_id=web.s.db_land))
    assert (r.status_code, r.headers["location"]) == (303, f"/tasks/{web.s.db_land}")


def test_a_head_cannot_open_another_agencys_task_even_by_link(web: Web) -> None:
    client = web.client()
    r = client.get(web.head_path("so-b", task_id=web.s.overdue))  # so-b's link naming so-a's task
    assert (r.status_code, r.headers["location"]) == (303, f"/tasks/{web.s.overdue}")
    r = client.get(f"/tasks/{web.s.overdue}")
    assert r.status_code == 403
    assert "Trần Thị An" not in r.text and "Tỷ lệ hồ sơ" not in r.text
    assert client.get("/tasks/99999").status_code == 403  # and learns nothing about other ids


@pytest.mark.parametrize("days_left", [0, 1])
def test_a_link_works_through_its_last_day(web: Web, days_left: int) -> None:
    r = web.client().get(web.head_path("so-a", expires_on=D + dt.timedelta(days=days_left)))
    assert r.status_code == 303


def test_an_expired_link_is_refused(web: Web) -> None:
    client = web.client()
    r = client.get(web.head_path("so-a", expires_on=D - dt.timedelta(days=1)))
    assert r.status_code == 403
    assert "Đường dẫn đã hết hạn. Vui lòng dùng đường dẫn trong thư mới nhất của Văn phòng." in r.text
    assert client.get("/agencies/so-a").status_code == 303  # no session was made


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


@pytest.mark.parametrize("how", ["other-secret", "tampered-payload", "tampered-signature", "garbage"])
def test_a_forged_link_is_refused(web: Web, how: str) -> None:
    good = web.head_path("so-a").removeprefix("/h/")
    payload, _, signature = good.partition(".")
    token = {
        "other-secret": web.head_path("so-a", secret="another-secret-of-32-characters!!").removeprefix("/h/"),
        # the same signature on a payload naming so-b
        "tampered-payload": web.head_path("so-b").removeprefix("/h/").partition(".")[0] + "." + signature,
        "tampered-signature": payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:],
        "garbage": "not-a-token",
    }[how]
    client = web.client()
    r = client.get("/h/" + token)
    assert r.status_code == 403
    assert "Đường dẫn không hợp lệ. Vui lòng mở đúng đường dẫn trong thư của Văn phòng." in r.text
    assert client.get("/agencies/so-a").status_code == 303


def test_a_link_dies_when_its_holder_is_no_longer_the_head(web: Web) -> None:
    r = web.client().get(web.head_path("so-a", email="nguoicu.soa@example.gov.vn"))
    assert r.status_code == 403
    assert "Đường dẫn không còn hiệu lực: người nhận không còn là người đứng đầu cơ quan, đơn vị này." in r.text
    r = web.client().get(web.head_path("khong-co", email="ai@example.gov.vn"))
    assert r.status_code == 403


def test_heads_email_matching_ignores_case(web: Web) -> None:
    r = web.client().get(web.head_path("so-a", email=HEADS["so-a"].upper()))
    assert r.status_code == 303


def test_the_secret_signs_sessions_too(web: Web) -> None:
    assert len(SECRET) >= 16
    client = web.signed_in(OFFICE)
    cookie = client.cookies.get("compliance_session")
    assert cookie and OFFICE[0] not in cookie  # signed and encoded, not a plain email
