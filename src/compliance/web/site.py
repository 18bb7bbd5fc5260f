"""What every page shares: config, database, clock, templates, the directory and rulebooks, access checks."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError
from sqlalchemy import Connection, select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from compliance.audit import ChainBreak
from compliance.clock import Clock
from compliance.errors import InputError
from compliance.loading.agencies import load_agencies
from compliance.loading.yamlpos import YamlSyntaxError, load_yaml
from compliance.model.agency import AgencyDirectory
from compliance.model.config import Config
from compliance.model.rules import Indicator, Rule, Rulebook, RuleFile
from compliance.storage import auditlog
from compliance.storage.db import Database
from compliance.storage.runs import last_run
from compliance.storage.schema import rule_revisions
from compliance.storage.users import get_user
from compliance.web import format as fmt
from compliance.web.auth import Principal, csrf_token, principal_from_session

__all__ = ["Forbidden", "NeedSignIn", "Site", "VerifyResult", "rulebook_from_files"]

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"


class NeedSignIn(Exception):
    """No one is signed in: pages redirect to the sign-in page, actions get 403."""


class Forbidden(Exception):
    """Signed in, but this is not theirs to see or do; `message` says why, in Vietnamese, without data."""

    def __init__(self, message: str = "Bạn không có quyền truy cập trang này.") -> None:
        super().__init__(message)
        self.message = message


VERIFY_FOR = 300  # seconds a verification result is shown before the chain is walked again


@dataclass(frozen=True)
class VerifyResult:
    count: int
    head_hash: str
    broken: ChainBreak | None
    checked_at: dt.datetime


def rulebook_from_files(files: dict[str, str], revision: str) -> Rulebook:
    """The rulebook of a stored revision, rebuilt from its files' text (it was valid when loaded)."""
    indicators: dict[str, Indicator] = {}
    rules: dict[str, Rule] = {}
    for name in sorted(files):
        try:
            doc = load_yaml(files[name], name)
            parsed = RuleFile.model_validate(doc)
        except (YamlSyntaxError, ValidationError):
            continue  # shown as text only; the page still lists what the other files hold
        for ind in parsed.indicators:
            indicators.setdefault(ind.id, ind)
        for rule in parsed.rules:
            rules.setdefault(rule.id, rule)
    return Rulebook(indicators=indicators, rules=rules, files=dict(files), revision=revision)


class Site:
    """The app's state. The agency directory is re-read when its file changes; rulebooks come from the
    database by revision, so every page shows the rules the evaluations actually used."""

    def __init__(self, config: Config, db: Database, *, clock: Clock, secret: str) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self.secret = secret
        self.tz = config.deployment.tz
        env = Environment(
            loader=FileSystemLoader(str(TEMPLATES_DIR)),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(
            date=fmt.fmt_date,
            instant=lambda v: fmt.fmt_instant(v, self.tz),
            period=fmt.fmt_period,
            percent=fmt.fmt_percent,
            number=fmt.fmt_number,
            outcome=lambda v: fmt.OUTCOME_LABELS.get(v, v),
            task_status=lambda v: fmt.TASK_STATUS_LABELS.get(str(v), str(v)),
            audit_kind=lambda v: fmt.AUDIT_KIND_LABELS.get(v, v),
            role=lambda v: fmt.ROLE_LABELS.get(v, v),
            short=lambda v, n=12: (v or "")[:n],
        )
        env.globals["deployment_name"] = config.deployment.name
        self.templates = Jinja2Templates(env=env)
        self._lock = threading.Lock()
        self._directory: tuple[tuple[int, int], AgencyDirectory] | None = None
        self._rulebooks: dict[str, Rulebook] = {}
        self._verified: tuple[tuple[int, str], VerifyResult] | None = None

    # --- time and data -----------------------------------------------------------------------------

    def today(self) -> dt.date:
        return self.clock.today(self.tz)

    def directory(self) -> AgencyDirectory:
        path = self.config.agencies_file
        stat = path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._directory is not None and self._directory[0] == key:
                return self._directory[1]
        try:
            directory = load_agencies(path)
        except InputError:
            # The office is editing the file and saved it half-done: keep the last good directory,
            # as the daemon keeps the last valid rules; `compliance check` names the errors.
            if self._directory is not None:
                return self._directory[1]
            raise
        with self._lock:
            self._directory = (key, directory)
        return directory

    def revision_in_force(self, conn: Connection) -> str | None:
        """The revision of the latest evaluation run; before any run, the latest one loaded."""
        run = last_run(conn)
        if run is not None:
            return run.rules_revision
        row = conn.execute(
            select(rule_revisions.c.revision).order_by(rule_revisions.c.loaded_at.desc()).limit(1)
        ).first()
        return None if row is None else str(row[0])

    def rulebook(self, conn: Connection, revision: str | None) -> Rulebook | None:
        if revision is None:
            return None
        with self._lock:
            cached = self._rulebooks.get(revision)
        if cached is not None:
            return cached
        from compliance.storage.runs import get_rule_revision

        files = get_rule_revision(conn, revision)
        if files is None:
            return None
        book = rulebook_from_files(files, revision)
        with self._lock:
            self._rulebooks[revision] = book
        return book

    def verify(self, *, force: bool = False) -> VerifyResult:
        """`audit verify`, remembered for VERIFY_FOR seconds while the head does not move (a long chain
        takes seconds to walk); `force` walks it again now. The page shows when it was checked."""
        with self.db.read() as conn:
            head = auditlog.head(conn)
        now = self.clock.now()
        with self._lock:
            cached = self._verified
        if (
            not force
            and cached is not None
            and cached[0] == head
            and 0 <= (now - cached[1].checked_at).total_seconds() < VERIFY_FOR
        ):
            return cached[1]
        with self.db.snapshot() as conn:
            count, head_hash, broken = auditlog.verify(conn)
        result = VerifyResult(count, head_hash, broken, now)
        if broken is None:  # a broken chain is walked again on every visit
            with self._lock:
                self._verified = (head, result)
        return result

    # --- who is asking -----------------------------------------------------------------------------

    def principal(self, request: Request) -> Principal | None:
        """The signed-in person; a head's link is re-checked on every request (expiry, still the head)."""
        principal = principal_from_session(request.session.get("who"))
        if principal is None:
            return None
        if principal.is_staff:
            with self.db.read() as conn:
                user = get_user(conn, principal.email)
            if user is None or user.role != principal.kind:  # removed or changed since signing in
                request.session.pop("who", None)
                return None
        if principal.kind == "head":
            agency = self.directory().get(principal.agency_id or "")
            expired = principal.expires_on is None or self.today() > principal.expires_on
            if expired or agency is None or agency.head_email.strip().lower() != principal.email:
                request.session.pop("who", None)
                raise Forbidden(
                    "Đường dẫn của ông/bà đã hết hạn hoặc không còn hiệu lực. "
                    "Vui lòng dùng đường dẫn trong thư mới nhất của Văn phòng."
                )
        return principal

    def require(self, request: Request, *kinds: str, agency: str | None = None) -> Principal:
        """The principal, if their role is one of `kinds` (and, for a head, `agency` is theirs)."""
        principal = self.principal(request)
        if principal is None:
            raise NeedSignIn()
        if principal.kind not in kinds:
            raise Forbidden()
        if principal.kind == "head" and (agency is None or principal.agency_id != agency):
            raise Forbidden()
        return principal

    # --- rendering ---------------------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        *,
        principal: Principal | None,
        status_code: int = 200,
    ) -> Response:
        base = {
            "who": principal,
            "csrf_token": csrf_token(request.session),
            "today": self.today(),
            "nav": template.split(".")[0],
            "fmt": fmt,
        }
        response: HTMLResponse = self.templates.TemplateResponse(
            request, template, {**base, **context}, status_code=status_code
        )
        return response


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")
