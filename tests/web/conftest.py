"""Fixtures of the web tests: a populated deployment, the app in-process, and signed-in clients per role."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from argon2 import PasswordHasher
from starlette.applications import Starlette

from compliance.clock import FixedClock
from compliance.loading.config import load_config
from compliance.model.config import Config
from compliance.signing import head_path
from compliance.storage.db import Database
from compliance.storage.users import add_user
from compliance.web.app import create_app
from tests.support.deployment import write_deployment
from tests.support.web_data import D, Scenario, populate

SECRET = "test-secret-for-the-web-pages-0123456789"
OFFICE = ("vanphong@example.gov.vn", "mat-khau-van-phong")
AUDITOR = ("thanhtra@example.gov.vn", "mat-khau-thanh-tra")
HEADS = {
    "so-a": "giamdoc.soa@example.gov.vn",
    "so-b": "giamdoc.sob@example.gov.vn",
    "huyen-x": "chutich.huyenx@example.gov.vn",
}
_HASHES: dict[str, str] = {}


# A real argon2id hash with the lowest cost argon2 allows: verifying reads the cost from the hash
# itself, so sign-ins in tests take microseconds instead of the production cost (~0.3 s each).
_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def password_hash(password: str) -> str:
    if password not in _HASHES:
        _HASHES[password] = _CHEAP.hash(password)
    return _HASHES[password]


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "the page has no form with a CSRF token"
    return m.group(1)


class Client:
    """A synchronous face on httpx's in-process ASGI client: cookies kept, redirects not followed."""

    def __init__(self, app: Starlette, portal: BlockingPortal) -> None:
        self._portal = portal
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self._portal.call(functools.partial(self._client.get, url, **kw))

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self._portal.call(functools.partial(self._client.post, url, **kw))

    @property
    def cookies(self) -> httpx.Cookies:
        return self._client.cookies

    def close(self) -> None:
        self._portal.call(self._client.aclose)


class Web:
    """The app over a populated database, and ways to be each kind of user."""

    def __init__(
        self, config: Config, db: Database, scenario: Scenario, portal: BlockingPortal, today: dt.date = D
    ) -> None:
        self.config = config
        self.db = db
        self.s = scenario
        self.portal = portal
        self.clock = FixedClock(dt.datetime.combine(today, dt.time(12), tzinfo=config.deployment.tz))
        self.app = create_app(config, db, clock=self.clock, secret=SECRET)
        self.clients: list[Client] = []

    def client(self) -> Client:
        c = Client(self.app, self.portal)
        self.clients.append(c)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()

    def signed_in(self, who: tuple[str, str]) -> Client:
        c = self.client()
        page = c.get("/login")
        r = c.post(
            "/login",
            data={"email": who[0], "password": who[1], "csrf_token": csrf_of(page.text), "next": "/"},
        )
        assert r.status_code == 303, r.text
        return c

    def head_path(
        self,
        agency: str,
        *,
        expires_on: dt.date | None = None,
        email: str | None = None,
        task_id: int | None = None,
        secret: str = SECRET,
    ) -> str:
        return head_path(
            agency,
            email or HEADS[agency],
            expires_on=expires_on or D + dt.timedelta(days=30),
            secret=secret,
            task_id=task_id,
        )

    def head(self, agency: str) -> Client:
        c = self.client()
        r = c.get(self.head_path(agency))
        assert r.status_code == 303, r.text
        return c

    def as_role(self, role: str) -> Client:
        if role == "anonymous":
            return self.client()
        if role == "office":
            return self.signed_in(OFFICE)
        if role == "auditor":
            return self.signed_in(AUDITOR)
        return self.head(role.removeprefix("head:"))


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as p:
        yield p


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    return write_deployment(tmp_path)


def add_accounts(db: Database) -> None:
    with db.begin() as conn:
        for (email, password), role in ((OFFICE, "office"), (AUDITOR, "auditor")):
            add_user(
                conn,
                email,
                role=role,
                password_hash=password_hash(password),  # type: ignore[arg-type]
                created_at="2023-01-02T00:00:00Z",
            )


@pytest.fixture
def make_web(deployment: Path, db: Database, portal: BlockingPortal) -> Iterator[Callable[[dt.date], Web]]:
    """Webs over one populated database, each with its own 'today' (link expiry, overdue days)."""
    config = load_config(deployment)
    scenario = populate(db, deployment.parent)
    add_accounts(db)
    made: list[Web] = []

    def make(today: dt.date = D) -> Web:
        w = Web(config, db, scenario, portal, today)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture
def web(make_web: Callable[[dt.date], Web]) -> Web:
    return make_web(D)
