"""Sign-in, sessions, CSRF tokens and heads' links, case by case (SQLite: the storage calls here are the
same ones test_permissions.py runs on both databases)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.support.web_data import D
from tests.web.conftest import AUDITOR, HEADS, OFFICE, SECRET, Web, csrf_of
from tests.web.test_permissions import status_of


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'compliance.db'}"


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
    r = client.post(
        "/login",
        data={
            "email": OFFICE[0].upper(),
            "password": OFFICE[1],
            "csrf_token": csrf_of(page.text),
            "next": "/audit?kind=evaluation",
        },
    )
    assert (r.status_code, r.headers["location"]) == (303, "/audit?kind=evaluation")


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "audit"])
def test_sign_in_never_redirects_off_the_site(web: Web, target: str) -> None:
    client = web.client()
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"email": OFFICE[0], "password": OFFICE[1], "csrf_token": csrf_of(page.text), "next": target},
    )
    assert (r.status_code, r.headers["location"]) == (303, "/")


def test_a_forged_session_cookie_is_nobody(web: Web) -> None:
    client = web.client()
    client.cookies.set("compliance_session", "eyJ3aG8iOiB7ImsiOiAib2ZmaWNlIn19.forged.signature")
    assert client.get("/").status_code == 303


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
    assert (
        "Đường dẫn không còn hiệu lực: người nhận không còn là người đứng đầu cơ quan, đơn vị này." in r.text
    )
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
