"""End to end in a real headless Chromium: `compliance serve` as a subprocess, signed in, a head's link,
an acknowledgement that the pages then show. Screenshots go to var/screenshots/ (printed at the end).

Needs Debian's chromium (`apt-get install -y chromium`, /usr/bin/chromium) and the playwright package
(a dev extra); Playwright drives the system browser: `playwright install` is never run.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from compliance.signing import head_path
from compliance.storage.db import open_database
from tests.conftest import REPO, Cli
from tests.support.deployment import write_deployment
from tests.support.web_data import D, Scenario, populate

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


class Server:
    def __init__(self, base: str, proc: subprocess.Popen[str], scenario: Scenario, log: Path) -> None:
        self.base, self.proc, self.s, self.log = base, proc, scenario, log


@pytest.fixture
def server(tmp_path: Path, cli: Cli) -> Iterator[Server]:
    config = write_deployment(tmp_path)
    db = open_database("sqlite:///var/compliance.db", base_dir=tmp_path)
    scenario = populate(db, tmp_path)
    db.dispose()
    added = cli(
        "users", "add", "--role", "office", "--password-stdin", OFFICE[0], input_text=OFFICE[1] + "\n"
    )
    assert added.returncode == 0, added.stderr
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**cli.env, "COMPLIANCE_WEB_SECRET": SECRET}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "compliance",
                "--config",
                str(config),
                "serve",
                "--port",
                str(port),
                "--at",
                D.isoformat(),
            ],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
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
        yield Server(base, proc, scenario, log)
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

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # The office: sign in, land on the matrix.
            office = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
            page = office.new_page()
            page.goto(server.base + "/")
            expect(page).to_have_url(server.base + "/login?next=%2F")
            page.fill("#email", OFFICE[0])
            page.fill("#password", OFFICE[1])
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Bảng tổng hợp kết quả đánh giá")
            so_a = page.locator("tr", has=page.locator("th", has_text="Sở A"))
            expect(so_a.locator("td.o-fail").first).to_contain_text("20%")
            expect(page.locator("td.o-pass", has_text="31,25%")).to_have_count(1)
            shot(
                page, "01-overview-office.png", "the compliance matrix as the office sees it after signing in"
            )
            page.select_option("select[name=level]", "district")
            page.click("form.filters button[type=submit]")
            expect(page.locator("th[scope=row]")).to_have_count(1)
            expect(page.locator("th[scope=row]")).to_have_text("UBND huyện X")
            shot(page, "02-overview-filtered.png", "the matrix filtered to district level")

            # The head of Sở A: the personal link from an email, no password.
            link = server.base + head_path(
                "so-a", "giamdoc.soa@example.gov.vn", expires_on=D + dt.timedelta(days=30), secret=SECRET
            )
            head = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN", is_mobile=True)
            hpage = head.new_page()
            hpage.goto(link)
            expect(hpage).to_have_url(server.base + "/agencies/so-a")
            expect(hpage.locator("h1")).to_have_text("Sở A")
            shot(
                hpage,
                "03-head-agency-phone.png",
                "Sở A's action list on a phone, opened from the head's link",
            )
            hpage.click(f"a[href='/tasks/{server.s.overdue}'] >> nth=0")
            expect(hpage.locator(".status-open")).to_contain_text("Chưa xác nhận tiếp nhận")
            shot(
                hpage, "04-task-before-ack.png", "the overdue task with its timeline and the acknowledge form"
            )
            hpage.fill("#note", "Đã giao Phòng Hành chính triển khai thu phí trực tuyến")
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
            page.goto(server.base + "/agencies/so-a")
            row = page.locator("tr", has=page.locator(f"a[href='/tasks/{server.s.overdue}']")).first
            expect(row).to_contain_text("Đã xác nhận tiếp nhận")
            page.goto(server.base + "/audit?kind=task-acknowledged")
            expect(page.locator(".verify")).to_contain_text("Nhật ký nguyên vẹn")
            expect(page.locator("table.audit tbody tr").first).to_contain_text("so-a")
            shot(
                page,
                "06-audit-acknowledged.png",
                "the audit page: the new task-acknowledged entry, chain verified",
            )
        finally:
            browser.close()
    print("\nscreenshots:")
    for path, what in shots:
        print(f"  {path}: {what}")
    (SHOTS / "INDEX.txt").write_text("".join(f"{p.name}: {w}\n" for p, w in shots), encoding="utf-8")
