"""End to end in a real headless Chromium on the shipped example deployment, played through the real
pipeline (`run --once` month by month, with a base_url and the web secret, so the emails carry the heads'
links): `compliance serve` as a subprocess, the office signs in and filters the matrix, a head follows
the personal link of the latest email in the outbox and acknowledges a task, the pages then show it.
Screenshots go to var/screenshots/ (printed at the end, listed in INDEX.txt).

Needs Debian's chromium (`apt-get install -y chromium`, /usr/bin/chromium) and the playwright package
(a dev extra); Playwright drives the system browser: `playwright install` is never run.
"""

from __future__ import annotations

import csv
import email
import email.policy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, Cli

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("COMPLIANCE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "browser-test-secret-0123456789abcdef"
OFFICE = ("vanphong@example.gov.vn", "mat-khau-van-phong")
SHOTS = Path(os.environ.get("COMPLIANCE_SCREENSHOTS", str(REPO / "var" / "screenshots")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The README's main job, month by month: (snapshot dropped into the inbox, the day `run --once` runs).
PLAY = [
    ("2023-01.csv", "2023-02-06"),
    ("2023-02.csv", "2023-03-06"),
    ("2023-03.csv", "2023-04-05"),
    ("2023-04.csv", "2023-05-05"),
    ("2023-04-revised.csv", "2023-05-11"),
    ("2023-05.csv", "2023-06-05"),
    ("2023-06.csv", "2023-07-05"),
]
TODAY = "2023-07-05"


@dataclass(frozen=True)
class OpenTask:
    id: int
    agency: str
    agency_name: str
    head_email: str
    link: str  # the head's personal link to their agency, from the latest email they were sent


class Server:
    def __init__(self, base: str, task: OpenTask) -> None:
        self.base, self.task = base, task


def _latest_head_link(outbox: Path, base: str, head_email: str) -> str:
    """The agency link of the newest email in the outbox addressed to `head_email` (as the head would
    click it in their mailbox)."""
    found: list[tuple[str, str]] = []
    for path in outbox.glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if [a.addr_spec for a in msg["To"].addresses] != [head_email]:
            continue
        body = msg.get_body(("plain",))
        assert body is not None
        m = re.search(re.escape(base) + r"/h/[A-Za-z0-9_.\-]+(?=\s)", body.get_content())
        if m:
            day = str(msg["X-Compliance-Key"]).split(":")[1]
            found.append((day, m.group(0)))
    assert found, f"no email to {head_email} carries a personal link"
    return max(found)[1]


def _example(tmp_path: Path, cli: Cli, base: str) -> OpenTask:
    """The shipped example deployment with `base_url` set, played through the real pipeline up to TODAY."""
    for name in ("config.toml", "rules", "notifications"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy(source, tmp_path / name)
    config = tmp_path / "config.toml"
    text = config.read_text(encoding="utf-8")
    shipped = re.search(r'^base_url = "[^"]*"', text, flags=re.M)
    assert shipped is not None
    config.write_text(text.replace(shipped.group(0), f'base_url = "{base}"'), encoding="utf-8")
    inbox = tmp_path / "data" / "inbox"
    inbox.mkdir(parents=True)
    for snapshot, day in PLAY:
        shutil.copy(REPO / "examples" / "snapshots" / snapshot, inbox / snapshot)
        ran = cli("run", "--once", "--at", day, timeout=300, env={"COMPLIANCE_WEB_SECRET": SECRET})
        assert ran.returncode == 0, ran.stderr
    listed = cli("tasks", "list", "--status", "open", "--json")
    assert listed.returncode == 0, listed.stderr
    task = json.loads(listed.stdout)[0]
    with (tmp_path / "rules" / "agencies.csv").open(encoding="utf-8-sig", newline="") as f:
        agency = next(row for row in csv.DictReader(f) if row["id"] == task["agency"])
    link = _latest_head_link(tmp_path / "var" / "outbox", base, agency["head_email"])
    return OpenTask(int(task["id"]), agency["id"], agency["name"], agency["head_email"], link)


@pytest.fixture
def server(tmp_path: Path, cli: Cli) -> Iterator[Server]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    task = _example(tmp_path, cli, base)
    added = cli(
        "users", "add", "--role", "office", "--password-stdin", OFFICE[0], input_text=OFFICE[1] + "\n"
    )
    assert added.returncode == 0, added.stderr
    log = tmp_path / "serve.log"
    env = {**cli.env, "COMPLIANCE_WEB_SECRET": SECRET}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "compliance", "serve", "--port", str(port), "--at", TODAY],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/login", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"compliance serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield Server(base, task)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_sign_in_matrix_head_link_and_acknowledge(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)"
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    shots: list[tuple[Path, str]] = []

    def shot(page: object, name: str, what: str) -> None:
        path = SHOTS / name
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        shots.append((path, what))

    task = server.task
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # The office: sign in, land on the matrix, filter it.
            office = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
            page = office.new_page()
            page.goto(server.base + "/")
            expect(page).to_have_url(server.base + "/login?next=%2F")
            page.fill("#email", OFFICE[0])
            page.fill("#password", OFFICE[1])
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Bảng tổng hợp kết quả đánh giá")
            expect(page.locator("th[scope=row]", has_text="Sở Tài nguyên và Môi trường")).to_have_count(1)
            # the open task's cell is coloured as a failure and links to it
            expect(page.locator(f"td.o-fail a[href='/tasks/{task.id}']")).to_have_count(1)
            shot(
                page,
                "01-overview-office.png",
                "the example's compliance matrix on 05/07/2023, signed in as the office",
            )
            page.select_option("select[name=level]", "district")
            page.click("form.filters button[type=submit]")
            expect(page.locator("th[scope=row]")).to_have_count(11)
            expect(page.locator("th[scope=row]", has_text="Sở Nội vụ")).to_have_count(0)
            shot(page, "02-overview-districts.png", "the matrix filtered to the 11 district-level units")

            # The agency head: the personal link of their latest email, no password, on a phone.
            head = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN", is_mobile=True)
            hpage = head.new_page()
            hpage.goto(task.link)
            expect(hpage).to_have_url(server.base + f"/agencies/{task.agency}")
            expect(hpage.locator("h1")).to_have_text(task.agency_name)
            shot(
                hpage,
                "03-head-agency-phone.png",
                "the agency's action list on a phone, opened from its head's link",
            )
            hpage.click(f"a[href='/tasks/{task.id}'] >> nth=0")
            expect(hpage.locator(".status-open")).to_contain_text("Chưa xác nhận tiếp nhận")
            expect(hpage.locator(".explain")).to_contain_text(f"Nhiệm vụ số {task.id}")
            shot(hpage, "04-task-before-ack.png", "the task: explanation, timeline and the acknowledge form")
            hpage.fill("#note", "Đã giao bộ phận chuyên môn khắc phục trong tháng 7")
            hpage.click("text=Xác nhận đã tiếp nhận nhiệm vụ")
            expect(hpage.locator("p.notice.ok")).to_have_text(
                "Đã ghi nhận xác nhận tiếp nhận nhiệm vụ. Trân trọng cảm ơn."
            )
            expect(hpage.locator(".status-acknowledged")).to_contain_text("Đã xác nhận tiếp nhận")
            expect(hpage.locator("form.ack")).to_have_count(0)
            shot(hpage, "05-task-acknowledged.png", "the same task after the head acknowledged it")
            # The head cannot reach the office's pages.
            response = hpage.goto(server.base + "/audit")
            assert response is not None and response.status == 403
            expect(hpage.locator("h1")).to_have_text("Không có quyền truy cập")

            # The office sees the change: the task's status, and the log entry in a chain that verifies.
            page.goto(server.base + f"/agencies/{task.agency}")
            row = page.locator("tr", has=page.locator(f"a[href='/tasks/{task.id}']")).first
            expect(row).to_contain_text("Đã xác nhận tiếp nhận")
            page.goto(server.base + "/audit?kind=task-acknowledged")
            expect(page.locator(".verify")).to_contain_text("Nhật ký nguyên vẹn")
            expect(page.locator("table.audit tbody tr")).to_have_count(1)
            expect(page.locator("table.audit tbody tr").first).to_contain_text(task.agency)
            shot(
                page,
                "06-audit-acknowledged.png",
                "the audit page: the new task-acknowledged entry, chain verified",
            )

            # The office waives the task on a phone: a refused form first (errors next to the fields,
            # nothing stored), then the waiver, the task waived at once, the list and the log.
            mobile = browser.new_context(
                viewport={"width": 390, "height": 844}, locale="vi-VN", is_mobile=True
            )
            wpage = mobile.new_page()
            wpage.goto(server.base + f"/login?next=%2Ftasks%2F{task.id}")
            wpage.fill("#email", OFFICE[0])
            wpage.fill("#password", OFFICE[1])
            wpage.click("button[type=submit]")
            wpage.click("details.waive > summary")
            wpage.fill("#w-until", "30/06/2023")
            wpage.click("details.waive button[type=submit]")
            expect(wpage.locator("#w-until-error")).to_have_text(
                "Ngày 30/06/2023 đã qua: thời hạn tạm miễn phải từ hôm nay (05/07/2023) trở đi."
            )
            expect(wpage.locator("#w-reason-error")).to_contain_text("Vui lòng nhập lý do tạm miễn")
            shot(wpage, "07-waiver-form-errors-phone.png", "the task page's waiver form refused on a phone")
            wpage.fill("#w-until", "31/12/2023")
            wpage.fill("#w-reason", "Văn bản số 45/UBND-KSTT: đơn vị đang chuyển đổi hệ thống")
            wpage.click("details.waive button[type=submit]")
            expect(wpage.locator("p.notice.ok")).to_contain_text("chuyển sang tạm miễn áp dụng")
            expect(wpage.locator(".status-waived")).to_have_text("Tạm miễn áp dụng")
            wpage.goto(server.base + "/waivers")
            expect(wpage.locator("table.waivers tbody tr")).to_have_count(1)
            expect(wpage.locator("table.waivers tbody tr").first).to_contain_text(task.agency_name)
            shot(wpage, "08-waivers-phone.png", "the Tạm miễn page on a phone: the new waiver and the form")
            wpage.goto(server.base + "/audit?kind=task-waived")
            expect(wpage.locator("table.audit tbody tr")).to_have_count(1)
            expect(wpage.locator(".verify")).to_contain_text("Nhật ký nguyên vẹn")
        finally:
            browser.close()
    print("\nscreenshots:")
    for path, what in shots:
        print(f"  {path}: {what}")
    (SHOTS / "INDEX.txt").write_text("".join(f"{p.name}: {w}\n" for p, w in shots), encoding="utf-8")
