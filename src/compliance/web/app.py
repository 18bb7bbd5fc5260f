"""The Starlette application: routes, signed sessions, sign-in, heads' links, error pages, security headers.

`create_app(config, db, clock=..., secret=...)` is all `compliance serve` and the tests need.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from compliance.clock import Clock
from compliance.model.config import Config
from compliance.signing import MIN_SECRET_LENGTH, BadLinkError, read_head_token
from compliance.storage.db import Database
from compliance.storage.users import get_user
from compliance.web import pages, records, waivers
from compliance.web.auth import Principal, csrf_valid, principal_to_session, verify_password
from compliance.web.site import STATIC_DIR, Forbidden, NeedSignIn, Site, sign_in_url

__all__ = ["SESSION_COOKIE", "SESSION_MAX_AGE", "create_app"]

SESSION_COOKIE = "compliance_session"
SESSION_MAX_AGE = 12 * 3600  # an office working day; heads' sessions also end with their link


def _site(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def _safe_next(target: str | None) -> str:
    # Only a path on this site: never an open redirect to another host.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def sign_in_form(request: Request) -> Response:
    site = _site(request)
    who = site.principal(request)
    if who is not None and who.is_staff:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return site.render(
        request,
        "login.html",
        {"next": _safe_next(request.query_params.get("next")), "error": None, "email": ""},
        principal=None,
    )


async def sign_in(request: Request) -> Response:
    site = _site(request)
    form = await request.form()
    if not csrf_valid(request.session, form.get("csrf_token")):
        raise Forbidden("Biểu mẫu đã hết hiệu lực hoặc không hợp lệ. Vui lòng tải lại trang và thử lại.")
    email = str(form.get("email") or "").strip().lower()
    password = str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or "/"))

    def check() -> Principal | None:
        with site.db.read() as conn:
            user = get_user(conn, email) if email else None
        if not verify_password(user.password_hash if user else None, password) or user is None:
            return None
        return Principal(user.role, user.email)

    principal = await run_in_threadpool(check)
    if principal is None:
        return site.render(
            request,
            "login.html",
            {"next": target, "error": "Thư điện tử hoặc mật khẩu không đúng.", "email": email},
            principal=None,
            status_code=401,
        )
    request.session.clear()  # a new session for the new identity, with a fresh CSRF token
    request.session["who"] = principal_to_session(principal)
    return RedirectResponse(target, status_code=303)


async def sign_out(request: Request) -> Response:
    form = await request.form()
    if not csrf_valid(request.session, form.get("csrf_token")):
        raise Forbidden("Biểu mẫu đã hết hiệu lực hoặc không hợp lệ. Vui lòng tải lại trang và thử lại.")
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def head_link(request: Request) -> Response:
    """A head's personal link from an email: check it, start their session, show their agency."""
    site = _site(request)
    try:
        grant = read_head_token(request.path_params["token"], secret=site.secret)
    except BadLinkError as exc:
        raise Forbidden(
            "Đường dẫn không hợp lệ. Vui lòng mở đúng đường dẫn trong thư của Văn phòng."
        ) from exc
    if not grant.valid_on(site.today()):
        raise Forbidden("Đường dẫn đã hết hạn. Vui lòng dùng đường dẫn trong thư mới nhất của Văn phòng.")
    agency = site.directory().get(grant.agency_id)
    if agency is None or agency.head_email.strip().lower() != grant.head_email:
        raise Forbidden(
            "Đường dẫn không còn hiệu lực: người nhận không còn là người đứng đầu cơ quan, đơn vị này."
        )
    request.session.clear()
    request.session["who"] = principal_to_session(
        Principal("head", grant.head_email, grant.agency_id, grant.expires_on)
    )
    task = request.query_params.get("task", "")
    target = f"/tasks/{int(task)}" if task.isdigit() else f"/agencies/{grant.agency_id}"
    return RedirectResponse(target, status_code=303)


async def _on_need_sign_in(request: Request, exc: Exception) -> Response:
    if request.method == "GET":
        return RedirectResponse(sign_in_url(request), status_code=303)
    return await _on_forbidden(request, Forbidden("Bạn cần đăng nhập để thực hiện thao tác này."))


async def _on_forbidden(request: Request, exc: Exception) -> Response:
    site = _site(request)
    message = exc.message if isinstance(exc, Forbidden) else "Bạn không có quyền truy cập trang này."
    try:
        who = site.principal(request)
    except Forbidden:
        who = None
    return site.render(
        request,
        "error.html",
        {"title": "Không có quyền truy cập", "message": message},
        principal=who,
        status_code=403,
    )


async def _on_http(request: Request, exc: Exception) -> Response:
    site = _site(request)
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    titles = {404: "Không tìm thấy", 405: "Thao tác không được hỗ trợ"}
    messages = {
        404: "Không tìm thấy trang hoặc dữ liệu được yêu cầu.",
        405: "Trang này không nhận thao tác đó.",
    }
    return site.render(
        request,
        "error.html",
        {
            "title": titles.get(status, "Có lỗi"),
            "message": messages.get(status, "Yêu cầu không thực hiện được."),
        },
        principal=None,
        status_code=status,
    )


class SecurityHeaders:
    """Headers on every response: no scripts at all, no framing, no referrer (heads' links hold tokens)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                headers += [
                    (
                        b"content-security-policy",
                        b"default-src 'none'; style-src 'self'; img-src 'self' data:; "
                        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                    ),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if not is_static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(config: Config, db: Database, *, clock: Clock, secret: str) -> Starlette:
    """The web pages over `db`, for the deployment of `config`; `secret` signs sessions and heads' links."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"the web secret must be at least {MIN_SECRET_LENGTH} characters long")
    site = Site(config, db, clock=clock, secret=secret)
    routes = [
        Route("/", pages.overview, methods=["GET"]),
        Route("/login", sign_in_form, methods=["GET"]),
        Route("/login", sign_in, methods=["POST"]),
        Route("/logout", sign_out, methods=["POST"]),
        Route("/h/{token}", head_link, methods=["GET"]),
        Route("/agencies/{agency_id}", pages.agency_page, methods=["GET"]),
        Route("/tasks/{task_id:int}", pages.task_page, methods=["GET"]),
        Route("/tasks/{task_id:int}/ack", pages.acknowledge, methods=["POST"]),
        Route("/tasks/{task_id:int}/waive", waivers.waive_task, methods=["POST"]),
        Route("/waivers", waivers.waivers_view, methods=["GET"]),
        Route("/waivers", waivers.add_waiver_view, methods=["POST"]),
        Route("/audit", records.audit_view, methods=["GET"]),
        Route("/audit.csv", records.audit_csv, methods=["GET"]),
        Route("/rules", records.rules_view, methods=["GET"]),
        Route("/rules/revisions/{revision}", records.revision_view, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
    https = config.deployment.base_url.startswith("https://")
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=secret,
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE,
            same_site="lax",
            https_only=https,
        ),
    ]
    handlers: dict[Any, Any] = {
        NeedSignIn: _on_need_sign_in,
        Forbidden: _on_forbidden,
        HTTPException: _on_http,
    }
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)
    app.state.site = site
    return app
