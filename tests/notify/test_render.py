"""Rendering: Vietnamese formats, autoescaping, links, template overrides and the template check."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from tests.notify.conftest import config, directory, rulebook, task

from compliance.model.agency import Agency
from compliance.model.task import Task, TaskStatus
from compliance.notify.filters import (
    vn_count,
    vn_date,
    vn_date_long,
    vn_measure,
    vn_number,
    vn_percent,
    vn_period,
)
from compliance.notify.planning import PlannedMessage, Recipient
from compliance.notify.render import DEFAULT_TEMPLATES, TEMPLATE_NAMES, Renderer, check_templates

D = dt.date
REPO = Path(__file__).resolve().parents[2]
HEAD = Recipient("giamdoc.sotnmt@example.gov.vn", "Nguyễn Thanh Hải", "Giám đốc", "so-tnmt")


def opened(*tasks: Task, to: Recipient = HEAD) -> PlannedMessage:
    return PlannedMessage("task-opened", "k", D(2023, 7, 5), to, (), tasks)


def test_vietnamese_numbers_and_dates() -> None:
    assert vn_percent(0.3125) == "31,25%"
    assert vn_percent(0.3) == "30%"
    assert vn_number(1305) == "1.305"
    assert vn_number(82.58) == "82,58"
    assert vn_number(1234567.891) == "1.234.567,89"
    assert vn_count(2) == "02"
    assert vn_count(12) == "12"
    assert vn_count(1305) == "1.305"
    assert vn_date(D(2023, 7, 5)) == "05/07/2023"
    assert vn_date_long(D(2023, 7, 5)) == "ngày 05 tháng 7 năm 2023"
    assert vn_date_long(D(2023, 1, 2)) == "ngày 02 tháng 01 năm 2023"  # months 1–2 take a zero (Decree 30)
    assert vn_date_long(D(2023, 12, 25)) == "ngày 25 tháng 12 năm 2023"
    assert vn_measure("built", "milestone") == "“built”"
    assert vn_measure(None, "ratio") == "chưa có số liệu"


@pytest.mark.parametrize(
    ("label", "text"),
    [
        ("2023-06", "tháng 6/2023"),
        ("2023-Q2", "quý II/2023"),
        ("2023-H1", "6 tháng đầu năm 2023"),
        ("2023-H2", "6 tháng cuối năm 2023"),
        ("2023", "năm 2023"),
        (None, "—"),
    ],
)
def test_periods_in_words(label: str | None, text: str) -> None:
    assert vn_period(label) == text


def test_task_opened_email_in_vietnamese(tmp_path: Path) -> None:
    renderer = Renderer(config(tmp_path))
    out = renderer.render(
        opened(task(12), task(13, rule="db-land-shared", value="built", target="connected")),
        rulebook=rulebook(),
        directory=directory(),
        on=D(2023, 7, 5),
    )
    assert out.subject == "[CCHC] 02 nhiệm vụ mới cần khắc phục – Sở Tài nguyên và Môi trường"
    lines = out.text.splitlines()
    assert lines[0] == "Kính gửi: Ông/Bà Nguyễn Thanh Hải, Giám đốc Sở Tài nguyên và Môi trường"
    assert lines[2].startswith(
        "Kết quả đánh giá ngày 05 tháng 7 năm 2023 cho thấy Sở Tài nguyên và Môi trường có 02 "
    )
    assert "1. Tỷ lệ hồ sơ thanh toán trực tuyến đạt tối thiểu 30%" in lines
    assert "   - Kỳ báo cáo: tháng 6/2023; kết quả: 31,25%; chỉ tiêu: ≥ 30%" in lines
    assert "   - Thời hạn hoàn thành: 17/07/2023" in lines
    assert "   - Căn cứ: Nghị quyết số 01/NQ-CP ngày 06/01/2023 của Chính phủ" in lines
    assert "   - Kỳ báo cáo: tháng 6/2023; kết quả: “built”; chỉ tiêu: đạt giai đoạn “connected”" in lines
    closing = lines.index("Trân trọng.")
    assert lines[closing + 1] == "UBND tỉnh Tiền Giang — CCHC, CĐS, Đề án 06"
    assert "<strong>31,25%</strong> (chỉ tiêu: ≥ 30%)" in out.html
    assert "<title>[CCHC] 02 nhiệm vụ mới cần khắc phục – Sở Tài nguyên và Môi trường</title>" in out.html
    assert "/tasks/" not in out.text + out.html  # no base_url, no links


def test_every_kind_has_its_subject(tmp_path: Path) -> None:
    renderer = Renderer(config(tmp_path))
    rb, dirx, on = rulebook(), directory(), D(2023, 7, 25)
    overdue = task(12, due_on=D(2023, 7, 17))
    parent = Recipient("chutich@example.gov.vn", "Lê Hoàng Phúc", "Chủ tịch", "ubnd-tinh")
    cases = {
        PlannedMessage(
            "reminder", "k", on, HEAD, (), (overdue,)
        ): "[CCHC] Nhắc việc: nhiệm vụ quá hạn từ ngày 17/07/2023 – Sở Tài nguyên và Môi trường",
        PlannedMessage(
            "reminder", "k", on, HEAD, (), (task(1, due_on=D(2023, 7, 28)),)
        ): "[CCHC] Nhắc việc: nhiệm vụ đến hạn ngày 28/07/2023 – Sở Tài nguyên và Môi trường",
        PlannedMessage(
            "reminder", "k", on, HEAD, (), (overdue, task(1, rule="on-time-95"))
        ): "[CCHC] Nhắc việc: 02 nhiệm vụ chưa hoàn thành – Sở Tài nguyên và Môi trường",
        PlannedMessage(
            "escalation", "k", on, parent, (HEAD,), (overdue,), about="so-tnmt"
        ): "[CCHC] Báo cáo cấp trên: 01 nhiệm vụ quá hạn – Sở Tài nguyên và Môi trường",
        PlannedMessage(
            "task-resolved", "k", on, HEAD, (), (task(1, status=TaskStatus.RESOLVED),)
        ): "[CCHC] 01 nhiệm vụ đã hoàn thành – Sở Tài nguyên và Môi trường",
        PlannedMessage(
            "digest", "k", on, HEAD, (), (overdue, task(1))
        ): "[CCHC] Danh sách nhiệm vụ cần xử lý (02 nhiệm vụ) – Sở Tài nguyên và Môi trường",
    }
    for message, subject in cases.items():
        assert renderer.render(message, rulebook=rb, directory=dirx, on=on).subject == subject
    escalation = renderer.render(
        next(m for m in cases if m.kind == "escalation"), rulebook=rb, directory=dirx, on=on
    )
    assert escalation.text.startswith("Kính gửi: Ông/Bà Lê Hoàng Phúc, Chủ tịch UBND tỉnh Tiền Giang\n")
    assert (
        "Người đứng đầu cơ quan, đơn vị: Ông/Bà Nguyễn Thanh Hải, Giám đốc Sở Tài nguyên và Môi trường "
        "(giamdoc.sotnmt@example.gov.vn), đồng gửi thư này."
    ) in escalation.text
    assert "(quá hạn 8 ngày)" in escalation.text


def test_html_is_autoescaped_and_plain_text_is_not(tmp_path: Path) -> None:
    evil = Agency(
        "so-tnmt",
        "<script>alert(1)</script> Sở & Ban",
        "department",
        "ubnd-tinh",
        "A <b>B</b>",
        "Giám đốc",
        "giamdoc.sotnmt@example.gov.vn",
    )
    to = Recipient(evil.head_email, evil.head_name, evil.head_title, "so-tnmt")
    out = Renderer(config(tmp_path)).render(
        opened(task(12), to=to),
        rulebook=rulebook(),
        directory=directory(**{"so-tnmt": evil}),
        on=D(2023, 7, 5),
    )
    assert "<script>" not in out.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Sở &amp; Ban" in out.html
    assert "A &lt;b&gt;B&lt;/b&gt;" in out.html
    assert "<script>alert(1)</script> Sở & Ban" in out.text
    assert "&lt;" not in out.text


def test_links_to_the_task_pages_when_base_url_is_set(tmp_path: Path) -> None:
    cfg = config(tmp_path, deployment={"base_url": "https://cchc.tiengiang.gov.vn/"})
    out = Renderer(cfg).render(opened(task(12)), rulebook=rulebook(), directory=directory(), on=D(2023, 7, 5))
    assert (
        "   - Xem chi tiết, xác nhận đã tiếp nhận: https://cchc.tiengiang.gov.vn/tasks/12"
        in out.text.splitlines()
    )
    assert '<a href="https://cchc.tiengiang.gov.vn/tasks/12"' in out.html
    assert "https://cchc.tiengiang.gov.vn/agencies/so-tnmt" in out.text


def test_link_for_hook_replaces_the_default_link(tmp_path: Path) -> None:
    cfg = config(tmp_path, deployment={"base_url": "https://cchc.example.gov.vn"})
    renderer = Renderer(cfg, link_for=lambda t: f"https://cchc.example.gov.vn/t/{t.id}?sig=a&b")
    out = renderer.render(opened(task(12)), rulebook=rulebook(), directory=directory(), on=D(2023, 7, 5))
    assert '<a href="https://cchc.example.gov.vn/t/12?sig=a&amp;b"' in out.html
    assert "https://cchc.example.gov.vn/t/12?sig=a&b" in out.text


def test_a_failing_value_never_looks_like_its_target(tmp_path: Path) -> None:
    out = Renderer(config(tmp_path)).render(
        opened(task(12, value=0.299999)), rulebook=rulebook(), directory=directory(), on=D(2023, 7, 5)
    )
    assert "kết quả: 29,9999%; chỉ tiêu: ≥ 30%" in out.text


def test_shipped_templates_are_the_repository_notifications_folder() -> None:
    repo = {p.name: p.read_bytes() for p in (REPO / "notifications").glob("*.j2")}
    package = {p.name: p.read_bytes() for p in DEFAULT_TEMPLATES.glob("*.j2")}
    assert sorted(repo) == sorted(TEMPLATE_NAMES)
    assert repo == package


def test_a_deployment_template_overrides_the_default_file_by_file(tmp_path: Path) -> None:
    own = tmp_path / "notifications"
    own.mkdir()
    (own / "reminder.txt.j2").write_text(
        "{% set subject %}NHẮC {{ tasks|length }}{% endset %}Riêng: {{ recipient.name }}\n", encoding="utf-8"
    )
    renderer = Renderer(config(tmp_path))
    reminder = PlannedMessage("reminder", "k", D(2023, 7, 14), HEAD, (), (task(1),))
    out = renderer.render(reminder, rulebook=rulebook(), directory=directory(), on=D(2023, 7, 14))
    assert (out.subject, out.text) == ("NHẮC 1", "Riêng: Nguyễn Thanh Hải\n")
    assert "Kính gửi:" in out.html  # reminder.html.j2 still comes from the defaults
    assert check_templates(config(tmp_path)) == []


def test_an_edited_template_is_used_by_the_next_run_not_looked_at_per_email(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "notifications"
    own.mkdir()
    layout = own / "base.txt.j2"  # a layout: looked up by every email through `extends`
    layout.write_text("Một {% block body %}{% endblock %}\n", encoding="utf-8")
    reminder = PlannedMessage("reminder", "k", D(2023, 7, 14), HEAD, (), (task(1),))

    def text(renderer: Renderer) -> str:
        return renderer.render(reminder, rulebook=rulebook(), directory=directory(), on=D(2023, 7, 14)).text

    first = Renderer(config(tmp_path))
    assert text(first).startswith("Một ")
    looked: list[str] = []
    real_getmtime = os.path.getmtime
    monkeypatch.setattr(os.path, "getmtime", lambda p: looked.append(str(p)) or real_getmtime(p))
    text(first)
    assert looked == []  # within a run Jinja does not stat the files again (auto_reload off)
    layout.write_text("Hai, đã sửa {% block body %}{% endblock %}\n", encoding="utf-8")
    assert text(Renderer(config(tmp_path))).startswith("Hai, đã sửa ")  # the next run sees the edit


def test_check_templates_passes_on_the_shipped_templates(tmp_path: Path) -> None:
    assert check_templates(config(tmp_path)) == []


def test_check_templates_locates_an_undefined_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    own = tmp_path / "notifications"
    own.mkdir()
    (own / "digest.html.j2").write_text(
        '{% extends "base.html.j2" %}\n{% block body %}\n<p>{{ tasks|length }}</p>\n<p>{{ agncy_name }}</p>\n'
        "{% endblock %}\n",
        encoding="utf-8",
    )
    problems = check_templates(config(tmp_path))
    assert [str(p) for p in problems] == [
        "notifications/digest.html.j2:4:1: templates.digest.html.j2: cannot render with sample data: "
        "'agncy_name' is undefined"
    ]


def test_check_templates_locates_a_syntax_error_and_a_missing_subject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    own = tmp_path / "notifications"
    own.mkdir()
    (own / "escalation.txt.j2").write_text(
        "{% set subject %}X{% endset %}\nKính gửi\n{% if tasks %}\n", encoding="utf-8"
    )
    (own / "digest.txt.j2").write_text("Chỉ có nội dung\n", encoding="utf-8")
    (own / "remider.txt.j2").write_text("x", encoding="utf-8")
    problems = [str(p) for p in check_templates(config(tmp_path))]
    assert problems == [
        "notifications/escalation.txt.j2:3:1: templates.escalation.txt.j2: template syntax error: Unexpected end "
        "of template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. The innermost block "
        "that needs to be closed is 'if'.",
        "notifications/digest.txt.j2:1:1: templates.digest.txt.j2: the plain-text template must set a non-empty "
        "`subject` ({% set subject %}…{% endset %}) at top level",
        "notifications/remider.txt.j2: warning: templates: this file overrides no template\n"
        "  hint: did you mean 'reminder.txt.j2'?",
    ]


def test_a_broken_override_falls_back_to_the_shipped_template(tmp_path: Path) -> None:
    own = tmp_path / "notifications"
    own.mkdir()
    (own / "reminder.html.j2").write_text("<p>{{ no_such_variable }}</p>", encoding="utf-8")
    reminder = PlannedMessage("reminder", "k", D(2023, 7, 14), HEAD, (), (task(1),))
    out = Renderer(config(tmp_path)).render(
        reminder, rulebook=rulebook(), directory=directory(), on=D(2023, 7, 14)
    )
    assert "Kính gửi: Ông/Bà Nguyễn Thanh Hải" in out.html
    assert [p.key for p in check_templates(config(tmp_path))] == ["templates.reminder.html.j2"]
