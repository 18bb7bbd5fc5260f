"""Heads' personal links in the emails (SPEC §10): signed for the recipient, expiring, read back from the
real .eml files the file backend writes, and followed into the real web app."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.applications import Starlette
from tests.conftest import Cli
from tests.notify.conftest import deployment as notify_deployment
from tests.notify.conftest import store_tasks, task
from tests.notify.test_cli import make_deployment
from tests.support.deployment import write_deployment
from tests.support.web_data import Scenario, populate

from compliance.clock import FixedClock
from compliance.errors import ComplianceError
from compliance.loading.config import load_config
from compliance.loading.deployment import load_deployment
from compliance.model.config import Config
from compliance.model.task import TaskChange, TaskChangeKind
from compliance.notify.backends.file import FileBackend
from compliance.notify.render import check_templates
from compliance.pipeline.notify import copy_key, notify_run, run_messages_hook
from compliance.signing import SECRET_ENV, HeadGrant, link_expiry, read_head_token
from compliance.storage import outbox
from compliance.storage.db import Database
from compliance.storage.tasks import get_task
from compliance.web.app import create_app

D = dt.date
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
BASE = "https://cchc.example.gov.vn"
SECRET = "links-test-secret-0123456789abcdef"
RUN_DAY = D(2023, 7, 5)  # a Wednesday: the evaluation run that opens and resolves tasks
MONDAY = D(2023, 7, 10)  # reminders, escalations and the weekly digest
PARENT = "chutich@tinh.example.gov.vn"
HEAD_A = "giamdoc.soa@example.gov.vn"
CC_A = "vanthu.soa@example.gov.vn"
HEAD_LINK = re.compile(re.escape(BASE) + r"/h/([A-Za-z0-9_.\-]+)(?:\?task=(\d+))?")
PLAIN_LINK = re.compile(re.escape(BASE) + r"/(tasks|agencies)/([a-z0-9-]+)")


def clock(day: dt.date, hour: int = 7) -> FixedClock:
    return FixedClock(dt.datetime.combine(day, dt.time(hour, 30), tzinfo=TZ))


@dataclass(frozen=True)
class Eml:
    """One .eml file of the outbox folder, parsed back as a mail client would."""

    path: Path
    kind: str
    key: str
    to: list[str]
    cc: list[str]
    subject: str
    task_ids: list[int]
    text: str
    html: str

    def head_links(self, part: str = "text") -> set[tuple[str, int | None]]:
        body = self.text if part == "text" else self.html
        return {(m.group(1), int(m.group(2)) if m.group(2) else None) for m in HEAD_LINK.finditer(body)}

    def plain_links(self) -> set[tuple[str, str]]:
        return {(m.group(1), m.group(2)) for m in PLAIN_LINK.finditer(self.text)}


def read_outbox(folder: Path) -> list[Eml]:
    out: list[Eml] = []
    for path in sorted(folder.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        text_part, html_part = msg.get_body(("plain",)), msg.get_body(("html",))
        assert text_part is not None and html_part is not None
        out.append(
            Eml(
                path=path,
                kind=str(msg["X-Compliance-Kind"]),
                key=str(msg["X-Compliance-Key"]),
                to=[a.addr_spec for a in msg["To"].addresses],
                cc=[a.addr_spec for a in msg["Cc"].addresses] if msg["Cc"] else [],
                subject=str(msg["Subject"]),
                task_ids=[int(t) for t in str(msg["X-Compliance-Tasks"]).split(",")],
                text=text_part.get_content(),
                html=html_part.get_content(),
            )
        )
    return out


def with_base_url(config: Config, base_url: str) -> Config:
    return config.model_copy(
        update={"deployment": config.deployment.model_copy(update={"base_url": base_url})}
    )


@dataclass(frozen=True)
class Sent:
    config: Config
    db: Database
    s: Scenario
    emails: list[Eml]

    def one(self, kind: str, to: str) -> Eml:
        [found] = [e for e in self.emails if e.kind == kind and e.to == [to]]
        return found


def send_all_kinds(tmp_path: Path, db: Database, *, head_secret: str | None = SECRET) -> Sent:
    """The web tests' populated deployment (tasks of so-a, so-b, huyen-x) with a base_url: the run of
    05/07 opens two tasks of so-a and resolves so-b's; `notify` on Monday 10/07 then sends everything,
    including reminders, the escalations of the overdue tasks and the weekly digests."""
    config = with_base_url(load_config(write_deployment(tmp_path)), BASE)
    scenario = populate(db, tmp_path)
    deployment = load_deployment(config)
    with db.read() as conn:
        opened = [get_task(conn, scenario.db_land), get_task(conn, scenario.par)]
        resolved = get_task(conn, scenario.resolved)
    changes = [TaskChange(TaskChangeKind.OPENED, t) for t in opened if t is not None]
    changes += [TaskChange(TaskChangeKind.RESOLVED, resolved)] if resolved is not None else []
    hook = run_messages_hook(deployment, clock=clock(RUN_DAY), head_secret=head_secret)
    with db.begin() as conn:
        assert hook(conn, changes, "r-links", RUN_DAY)
    notify_run(
        db,
        deployment,
        FileBackend(config.outbox_dir),
        MONDAY,
        clock=clock(MONDAY),
        head_secret=head_secret,
    )
    return Sent(config, db, scenario, read_outbox(config.outbox_dir))


@pytest.fixture
def sent(tmp_path: Path, db: Database) -> Sent:
    return send_all_kinds(tmp_path, db)


HEADS = {
    "so-a": HEAD_A,
    "so-b": "giamdoc.sob@example.gov.vn",
    "huyen-x": "chutich.huyenx@example.gov.vn",
}


def test_every_email_to_a_head_carries_their_own_signed_expiring_links(sent: Sent) -> None:
    by_head = [e for e in sent.emails if e.kind != "escalation" and not e.key.endswith(":copy")]
    assert {e.kind for e in by_head} == {"task-opened", "task-resolved", "reminder", "digest"}
    for e in by_head:
        [head] = e.to
        agency = next(a for a, h in HEADS.items() if h == head)
        sent_on = RUN_DAY if e.kind in ("task-opened", "task-resolved") else MONDAY
        expected = HeadGrant(agency, head, link_expiry(sent_on))
        links = e.head_links()
        # One link per task (to the task's page) and one to the agency's action list, each the head's.
        assert {task_id for _, task_id in links} == {*e.task_ids, None}, e.key
        assert len(links) == len(e.task_ids) + 1
        for token, _ in links:
            assert read_head_token(token, secret=SECRET) == expected, e.key
        assert e.head_links("html") == links  # the HTML part carries the very same links
        assert e.plain_links() == set()  # no link that needs a sign-in: the head has no account
        assert e.cc == []  # the body with the links is for the head alone (see the copy test)
        assert f"có hiệu lực đến hết ngày {link_expiry(sent_on):%d/%m/%Y}" in e.text
    reminder = sent.one("reminder", HEAD_A)
    assert f"   - Xem chi tiết, xác nhận đã tiếp nhận: {BASE}/h/" in reminder.text
    assert link_expiry(MONDAY) == D(2023, 8, 9)


def test_the_escalation_to_the_parent_head_carries_no_head_token(sent: Sent) -> None:
    escalations = [e for e in sent.emails if e.kind == "escalation"]
    assert sorted((e.to, e.cc) for e in escalations) == [
        ([PARENT], ["chutich.huyenx@example.gov.vn"]),
        ([PARENT], [HEAD_A, CC_A]),
    ]
    for e in escalations:
        # Not the child head's link (the parent would act as them), nor the parent's own.
        assert "/h/" not in e.text + e.html
        assert not HEAD_LINK.search(e.text + e.html)
        about = "so-a" if HEAD_A in e.cc else "huyen-x"
        assert e.plain_links() == {*(("tasks", str(t)) for t in e.task_ids), ("agencies", about)}
        assert "Xem chi tiết: " in e.text
        assert "xác nhận đã tiếp nhận:" not in e.text


def test_cc_readers_get_a_separate_copy_with_plain_links_only(sent: Sent) -> None:
    copies = [e for e in sent.emails if e.key.endswith(":copy")]
    assert sorted(e.kind for e in copies) == ["digest", "reminder", "task-opened"]  # so-a's, whose cc is set
    for c in copies:
        head = next(e for e in sent.emails if e.key == c.key.removesuffix(":copy"))
        assert (head.to, head.cc, c.to, c.cc) == ([HEAD_A], [], [CC_A], [])
        assert (c.subject, c.task_ids) == (head.subject, head.task_ids)
        assert "/h/" not in c.text + c.html
        assert c.plain_links() == {*(("tasks", str(t)) for t in c.task_ids), ("agencies", "so-a")}
        assert c.text.startswith("[Bản sao để biết] Các đường dẫn trong bản sao cần đăng nhập;")
        assert "Kính gửi: Ông/Bà Trần Thị An, Giám đốc Sở A" in c.text  # the same letter
        assert "xác nhận đã tiếp nhận:" not in c.text
        assert f"Bản sao thư này (không kèm đường dẫn riêng) đã gửi: {CC_A}." in head.text
    # Unit with no cc: one email, no copy.
    assert not [e for e in sent.emails if e.key.endswith(":copy") and e.to != [CC_A]]


class Browser:
    """A synchronous face on httpx's in-process ASGI client, at the deployment's https base_url (the
    session cookie is Secure there): cookies kept, redirects not followed."""

    def __init__(self, app: Starlette, portal: BlockingPortal) -> None:
        self._portal = portal
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)

    def get(self, url: str) -> httpx.Response:
        return self._portal.call(self._client.get, url)

    def close(self) -> None:
        self._portal.call(self._client.aclose)


@contextmanager
def browser(app: Starlette) -> Iterator[Browser]:
    with start_blocking_portal() as portal:
        b = Browser(app, portal)
        try:
            yield b
        finally:
            b.close()


def _path(link: str) -> str:
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _link(e: Eml, task_id: int | None) -> str:
    token = next(t for t, tid in e.head_links() if tid == task_id)
    return f"{BASE}/h/{token}" + (f"?task={task_id}" if task_id is not None else "")


def test_the_link_from_a_real_email_opens_the_heads_pages_and_nothing_else(sent: Sent) -> None:
    app = create_app(sent.config, sent.db, clock=clock(MONDAY, 12), secret=SECRET)
    reminder = sent.one("reminder", HEAD_A)
    with browser(app) as head:
        r = head.get(_path(_link(reminder, None)))
        assert (r.status_code, r.headers["location"]) == (303, "/agencies/so-a")
        page = head.get("/agencies/so-a")
        assert page.status_code == 200 and "Sở A" in page.text
        assert head.get("/agencies/so-b").status_code == 403
        assert head.get(f"/tasks/{sent.s.resolved}").status_code == 403  # so-b's task
        r = head.get(_path(_link(reminder, sent.s.overdue)))
        assert (r.status_code, r.headers["location"]) == (303, f"/tasks/{sent.s.overdue}")
        task_page = head.get(f"/tasks/{sent.s.overdue}")
        assert task_page.status_code == 200 and 'name="csrf_token"' in task_page.text  # the acknowledge form
    # The parent head's escalation and the cc'd copy: plain links, which ask for a sign-in.
    escalation = next(e for e in sent.emails if e.kind == "escalation" and HEAD_A in e.cc)
    copy = next(e for e in sent.emails if e.key.endswith(":copy"))
    for e in (escalation, copy):
        with browser(app) as reader:
            r = reader.get(f"/tasks/{e.task_ids[0]}")
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_a_link_stops_working_after_its_last_valid_day(sent: Sent) -> None:
    reminder = sent.one("reminder", HEAD_A)
    last_day = create_app(sent.config, sent.db, clock=clock(D(2023, 8, 9), 12), secret=SECRET)
    after = create_app(sent.config, sent.db, clock=clock(D(2023, 8, 10), 12), secret=SECRET)
    with browser(last_day) as c:
        assert c.get(_path(_link(reminder, None))).status_code == 303
    with browser(after) as c:
        r = c.get(_path(_link(reminder, None)))
        assert r.status_code == 403 and "Đường dẫn đã hết hạn" in r.text


def test_without_the_secret_every_link_is_plain_and_the_cc_shares_the_email(
    tmp_path: Path, db: Database
) -> None:
    sent = send_all_kinds(tmp_path, db, head_secret=None)
    assert not [e for e in sent.emails if e.key.endswith(":copy")]
    reminder = sent.one("reminder", HEAD_A)
    assert reminder.cc == [CC_A]
    assert "/h/" not in reminder.text + reminder.html
    assert ("tasks", str(sent.s.overdue)) in reminder.plain_links()
    assert "có hiệu lực đến hết ngày" not in reminder.text


def test_the_secret_comes_from_the_environment_by_default(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep = notify_deployment(tmp_path, deployment={"base_url": BASE})
    [t] = store_tasks(db, [task(None)])
    monkeypatch.setenv(SECRET_ENV, SECRET)
    day = D(2023, 7, 14)
    result = notify_run(db, dep, FileBackend(dep.config.outbox_dir), day, clock=clock(day))
    assert result.as_json()["sent"] == 2  # the head's reminder, and its copy for the unit's cc
    head, copy = sorted(read_outbox(dep.config.outbox_dir), key=lambda e: e.key)
    assert (head.key, copy.key) == (f"reminder:2023-07-14:{t.id}", f"reminder:2023-07-14:{t.id}:copy")
    grants = {read_head_token(token, secret=SECRET) for token, _ in head.head_links()}
    assert grants == {HeadGrant("so-tnmt", "giamdoc.sotnmt@example.gov.vn", D(2023, 8, 13))}
    assert copy.to == ["vanthu.sotnmt@example.gov.vn"] and "/h/" not in copy.text

    monkeypatch.setenv(SECRET_ENV, "too-short")
    with pytest.raises(ComplianceError) as raised:
        run_messages_hook(dep, clock=clock(day))
    assert str(raised.value) == (
        "COMPLIANCE_WEB_SECRET is too short: use at least 16 characters "
        "(it signs the agency heads' links in the emails)"
    )


def test_without_a_base_url_the_secret_adds_nothing(tmp_path: Path, db: Database) -> None:
    dep = notify_deployment(tmp_path)
    store_tasks(db, [task(None)])
    day = D(2023, 7, 14)
    notify_run(db, dep, FileBackend(dep.config.outbox_dir), day, clock=clock(day), head_secret=SECRET)
    [only] = read_outbox(dep.config.outbox_dir)
    assert (only.to, only.cc) == (["giamdoc.sotnmt@example.gov.vn"], ["vanthu.sotnmt@example.gov.vn"])
    assert "http" not in only.text


def test_a_secret_set_between_two_runs_of_a_day_sends_no_second_letter_to_the_cc(
    tmp_path: Path, db: Database
) -> None:
    dep = notify_deployment(tmp_path, deployment={"base_url": BASE})
    store_tasks(db, [task(None)])
    day = D(2023, 7, 14)
    backend = FileBackend(dep.config.outbox_dir)
    notify_run(db, dep, backend, day, clock=clock(day), head_secret=None)
    again = notify_run(db, dep, backend, day, clock=clock(day), head_secret=SECRET)
    assert again.as_json()["new"] == 0
    with db.read() as conn:
        assert [r.key.endswith(":copy") for r in outbox.list_notifications(conn)] == [False]


def test_copy_keys_fit_the_outbox() -> None:
    assert copy_key("reminder:2023-07-14:12") == "reminder:2023-07-14:12:copy"
    long = "digest:2023-07-24:" + "x" * 380
    assert copy_key(long).startswith("copy:sha256=") and len(copy_key(long)) <= 400


def test_check_templates_also_renders_the_personal_and_copy_branches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    own = tmp_path / "notifications"
    own.mkdir()
    (own / "base.txt.j2").write_text(
        "Kính gửi: {{ recipient.salutation }}\n{% block body %}{% endblock %}\n"
        "{% if personal_link_until %}{{ personal_link_until.nope }}{% endif %}\n",
        encoding="utf-8",
    )
    problems = [str(p) for p in check_templates(notify_deployment(tmp_path).config)]
    assert problems == [
        "notifications/base.txt.j2:3:1: templates.base.txt.j2: cannot render with sample data: "
        "'datetime.date object' has no attribute 'nope'"
    ]


@pytest.mark.slow
def test_compliance_notify_signs_with_the_environments_secret(cli: Cli, tmp_path: Path) -> None:
    task_id = make_deployment(tmp_path)  # base_url https://cchc.example.gov.vn; so-tnmt has a cc
    done = cli("notify", "--at", "2023-07-14", "--json", env={SECRET_ENV: SECRET})
    assert (done.returncode, done.stderr) == (0, "")
    head, copy = sorted(read_outbox(tmp_path / "var" / "outbox"), key=lambda e: e.key)
    assert copy.key == f"reminder:2023-07-14:{task_id}:copy"
    assert {read_head_token(t, secret=SECRET) for t, _ in head.head_links()} == {
        HeadGrant("so-tnmt", "giamdoc.sotnmt@example.gov.vn", D(2023, 8, 13))
    }
    assert "/h/" not in copy.text

    bad = cli("notify", "--at", "2023-07-15", env={SECRET_ENV: "short"})
    assert (bad.returncode, bad.stdout, bad.stderr) == (
        1,
        "",
        "COMPLIANCE_WEB_SECRET is too short: use at least 16 characters "
        "(it signs the agency heads' links in the emails)\n",
    )


@pytest.mark.parametrize(("at_run", "at_send"), [(None, SECRET), (SECRET, None)])
def test_a_body_queued_as_shared_never_gets_personal_links_when_sent(
    tmp_path: Path, db: Database, at_run: str | None, at_send: str | None
) -> None:
    """The evaluation run decides whether the head's email is personal (and then sends the cc a copy);
    its text is rendered when it is sent, with the secret of that moment."""
    dep = notify_deployment(tmp_path, deployment={"base_url": BASE})
    day = D(2023, 7, 14)
    [opened] = store_tasks(db, [task(None, opened_on=day)], on=day)
    hook = run_messages_hook(dep, clock=clock(day), head_secret=at_run)
    with db.begin() as conn:
        hook(conn, [TaskChange(TaskChangeKind.OPENED, opened)], "r-1", day)
    notify_run(db, dep, FileBackend(dep.config.outbox_dir), day, clock=clock(day), head_secret=at_send)
    emails = read_outbox(dep.config.outbox_dir)
    opened_mail = [e for e in emails if e.kind == "task-opened"]
    for e in opened_mail:
        assert "/h/" not in e.text + e.html  # shared with the cc, or no secret to sign with: plain links
        assert ("tasks", str(opened.id)) in e.plain_links()
    if at_run is None:  # one email, head and cc
        [shared] = opened_mail
        assert (shared.to, shared.cc) == (["giamdoc.sotnmt@example.gov.vn"], ["vanthu.sotnmt@example.gov.vn"])
    else:  # queued as the head's personal email and the cc's copy: both still go, each once
        assert sorted((e.to, e.cc) for e in opened_mail) == [
            (["giamdoc.sotnmt@example.gov.vn"], []),
            (["vanthu.sotnmt@example.gov.vn"], []),
        ]
