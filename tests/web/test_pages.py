"""Every page's content, in Vietnamese with vi_VN formats, over SQLite and PostgreSQL (SPEC §10)."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select, update

from compliance.storage.schema import audit_log
from tests.web.conftest import AUDITOR, OFFICE, Web


def cells(html: str) -> list[tuple[str, str, str]]:
    """(outcome, link, value) of every coloured cell of the matrix, in reading order."""
    return re.findall(
        r'<td class="o-([a-z_]+)" title="[^"]*"><a href="([^"]+)"><span class="cell-value">([^<]*)</span>',
        html,
    )


def row_names(html: str) -> list[str]:
    return re.findall(r'<th scope="row" class="agency-col"><a href="/agencies/[^"]+">([^<]+)</a>', html)


def test_overview_is_the_matrix_with_counts(web: Web) -> None:
    html = web.signed_in(OFFICE).get("/").text
    assert "<h1>Bảng tổng hợp kết quả đánh giá</h1>" in html
    assert "Kết quả lượt đánh giá ngày 05/07/2023" in html
    assert row_names(html) == ["Sở A", "Sở B", "UBND huyện X"]
    # columns in the rule files' order; a cell links to the open task, else to the agency
    assert cells(html) == [
        ("fail", f"/tasks/{web.s.overdue}", "20%"),
        ("fail", f"/tasks/{web.s.par}", "75"),
        ("fail", f"/tasks/{web.s.db_land}", "built"),
        ("pass", "/agencies/so-b", "40%"),
        ("no_data", "/agencies/so-b", "·"),
        ("pass", "/agencies/huyen-x", "31,25%"),
        ("fail", f"/tasks/{web.s.huyen}", "45%"),
    ]
    assert "<strong>7</strong> kết quả đánh giá" in html
    assert "Không đạt: <strong>4</strong>" in html
    assert "Đạt: <strong>2</strong>" in html
    assert "Chưa có số liệu: <strong>1</strong>" in html
    assert (
        'Nhiệm vụ đang thực hiện: <strong>4</strong>, trong đó <strong class="overdue">2 quá hạn</strong>'
        in html
    )


def test_overview_filters_by_level_rule_and_outcome(web: Web) -> None:
    client = web.signed_in(AUDITOR)
    html = client.get("/?level=district").text
    assert row_names(html) == ["UBND huyện X"]
    assert [c[0] for c in cells(html)] == ["pass", "fail"]
    assert '<option value="district" selected>Cấp huyện</option>' in html
    html = client.get("/?rule=par-index-80").text
    assert row_names(html) == ["Sở A", "Sở B"]
    assert [c[2] for c in cells(html)] == ["75", "·"]
    assert "<strong>2</strong> kết quả đánh giá" in html
    html = client.get("/?outcome=fail&level=department").text
    assert row_names(html) == ["Sở A"]
    assert "Không đạt: <strong>3</strong>" in html
    html = client.get("/?level=commune").text
    assert "Không có kết quả đánh giá nào phù hợp với điều kiện lọc." in html


def test_agency_page_lists_tasks_overdue_first_then_by_due_date(web: Web) -> None:
    html = web.signed_in(OFFICE).get("/agencies/so-a").text
    assert "<h1>Sở A</h1>" in html
    assert "Người đứng đầu: Trần Thị An, Giám đốc Sở A" in html
    action_list = html.split("Danh sách nhiệm vụ cần xử lý")[1].split("Kết quả đánh giá hiện tại")[0]
    ids = [
        int(i) for i in re.findall(r'<td data-label="Số"><a href="/tasks/(\d+)">\d+</a></td>', action_list)
    ]
    assert ids == [web.s.overdue, web.s.db_land, web.s.par]
    assert '31/05/2023 <strong class="overdue">Quá hạn 35 ngày</strong>' in action_list
    assert "25% / chỉ tiêu ≥ 30%" in action_list
    assert "75 / chỉ tiêu ≥ 80" in action_list


def test_agency_page_overdue_acknowledged_tasks_stay_on_the_list(web: Web) -> None:
    html = web.signed_in(OFFICE).get("/agencies/huyen-x").text
    action_list = html.split("Danh sách nhiệm vụ cần xử lý")[1].split("Kết quả đánh giá hiện tại")[0]
    assert f'<a href="/tasks/{web.s.huyen}">' in action_list
    assert "Đã xác nhận tiếp nhận" in action_list
    assert "Quá hạn 4 ngày" in action_list


def test_agency_page_draws_a_chart_per_rule(web: Web) -> None:
    html = web.signed_in(OFFICE).get("/agencies/so-a").text
    svgs = re.findall(r'<svg class="chart".*?</svg>', html, re.S)
    assert len(svgs) == 3
    payment = next(s for s in svgs if "thanh toán trực tuyến" in s)
    # six months: two reached 30% (green), four missed it (red); the target dashed at 30%
    assert payment.count('fill="#2f855a"') == 2
    assert payment.count('fill="#c53030"') == 4
    assert "<title>2023-06: 20% (chỉ tiêu 30%)</title>" in payment
    assert 'stroke-dasharray="4 3"' in payment
    assert "<script" not in html
    assert "<td>Tháng 6/2023</td><td>20%</td>" in html
    milestone = next(s for s in svgs if "CSDL đất đai" in s)
    assert "<title>2023-06: built (chỉ tiêu built)</title>" in milestone


def test_agency_page_rollup_chart_sums_the_units(web: Web) -> None:
    html = web.signed_in(OFFICE).get("/agencies/huyen-x").text
    # June: huyện 46/100 + xã X1 4/10 = 50/110
    assert "(tính chung cả các đơn vị trực thuộc)" in html
    assert "<td>Tháng 6/2023</td><td>45,45%</td>" in html


def test_agency_page_history_shows_closed_tasks(web: Web) -> None:
    html = web.signed_in(OFFICE).get("/agencies/so-b").text
    history = html.split("Lịch sử nhiệm vụ")[1]
    assert f'<a href="/tasks/{web.s.resolved}">' in history
    assert "05/06/2023" in history
    assert "Đã đạt chỉ tiêu, nhiệm vụ tự động hoàn thành" in history
    assert "Không có nhiệm vụ nào cần xử lý." in html


def test_task_page_explains_and_shows_the_timeline(web: Web) -> None:
    html = web.signed_in(AUDITOR).get(f"/tasks/{web.s.overdue}").text
    assert f"Nhiệm vụ số {web.s.overdue}: Tỷ lệ hồ sơ thanh toán trực tuyến đạt tối thiểu 30%" in html
    assert 'Chưa xác nhận tiếp nhận — <strong class="overdue">quá hạn 35 ngày</strong>' in html
    assert "25% / ≥ 30%" in html
    assert "Nghị quyết 01/NQ-CP ngày 06/01/2023" in html
    assert "Giải trình kết quả đánh giá" in html
    timeline = html.split("<h2>Diễn biến</h2>")[1]
    labels = re.findall(r"<time>([^<]+)</time> <strong>([^<]+)</strong>", timeline)
    assert labels == [
        ("01/05/2023 07:00", "Giao nhiệm vụ"),
        ("01/05/2023 08:00", "Thư thông báo nhiệm vụ mới"),
        ("01/06/2023 08:00", "Thư nhắc việc"),
    ]
    assert "kỳ Tháng 4/2023; giá trị 25%; chỉ tiêu 30%; thời hạn 31/05/2023" in timeline
    assert (
        "Gửi giamdoc.soa@example.gov.vn: “[CCHC] Nhắc việc: nhiệm vụ quá hạn từ ngày 31/5/2023” — đã gửi"
        in timeline
    )
    # staff see the related log entries; an auditor gets no acknowledge form
    assert "Bản ghi nhật ký đánh giá liên quan" in html
    assert '<form method="post" action="/tasks/' not in html


def test_task_page_of_an_acknowledged_task(web: Web) -> None:
    html = web.signed_in(OFFICE).get(f"/tasks/{web.s.huyen}").text
    assert (
        "ngày 03/06/2023, chutich.huyenx@example.gov.vn: “Đang chỉ đạo các xã đẩy mạnh tiếp nhận trực tuyến”"
        in html
    )
    assert "Xác nhận đã tiếp nhận</strong>" in html
    assert "người thực hiện chutich.huyenx@example.gov.vn" in html


def test_heads_see_no_audit_entries_on_their_task(web: Web) -> None:
    html = web.head("so-a").get(f"/tasks/{web.s.overdue}").text
    assert "Bản ghi nhật ký đánh giá liên quan" not in html
    assert "Nhiệm vụ của đơn vị" in html and "Nhật ký đánh giá</a>" not in html


def test_unknown_agency_task_or_revision_is_404_for_staff(web: Web) -> None:
    client = web.signed_in(OFFICE)
    for path in ("/agencies/khong-co", "/tasks/99999", "/rules/revisions/" + "0" * 64, "/no-such-page"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "Không tìm thấy trang hoặc dữ liệu được yêu cầu." in r.text


def test_audit_page_shows_the_log_verify_result_and_head(web: Web) -> None:
    html = web.signed_in(AUDITOR).get("/audit").text
    with web.db.read() as conn:
        head = conn.execute(
            select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc())
        ).first()
    assert head is not None
    assert f"<strong>Nhật ký nguyên vẹn</strong>: {head.seq} bản ghi" in html
    assert f'Mã băm đầu chuỗi (bản ghi số {head.seq}): <code class="hash">{head.hash}</code>' in html
    assert f"{head.seq} bản ghi phù hợp" in html
    seqs = [int(s) for s in re.findall(r"<tr>\s*<td data-label=\"Số\">(\d+)</td>", html)]
    assert seqs == list(range(head.seq, 0, -1))


def test_audit_page_filters_as_audit_list(web: Web) -> None:
    client = web.signed_in(AUDITOR)
    html = client.get("/audit?kind=task-opened").text
    assert "5 bản ghi phù hợp" in html
    html = client.get("/audit?rule=online-payment-30&agency=so-a").text
    assert "2 bản ghi phù hợp" in html  # its evaluation and its task-opened
    html = client.get("/audit?since=2023-07-03&until=2023-07-03").text
    assert "1 bản ghi phù hợp" in html and "2023-06.csv (37 dòng)" in html
    html = client.get("/audit?run=run-20230705-0001&kind=evaluation").text
    assert "7 bản ghi phù hợp" in html
    html = client.get("/audit?since=05/07/2023&kind=nope").text
    assert "“05/07/2023” không phải là ngày hợp lệ (NĂM-THÁNG-NGÀY, ví dụ 2023-07-05)." in html
    assert "Không có loại bản ghi “nope”." in html


def test_audit_page_pages_back_through_older_entries(web: Web) -> None:
    client = web.signed_in(AUDITOR)
    html = client.get("/audit?before=5").text
    assert [int(s) for s in re.findall(r"<tr>\s*<td data-label=\"Số\">(\d+)</td>", html)] == [4, 3, 2, 1]
    assert "đang xem các bản ghi cũ hơn" in html


def test_audit_csv_export(web: Web) -> None:
    r = web.signed_in(AUDITOR).get("/audit.csv?kind=task-opened")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="nhat-ky-danh-gia-2023-07-05.csv"'
    rows = list(csv.reader(io.StringIO(r.text.removeprefix("\ufeff"))))
    assert rows[0] == [
        "seq",
        "at",
        "run_id",
        "kind",
        "rule",
        "agency",
        "period",
        "outcome",
        "data",
        "rules_revision",
        "prev_hash",
        "hash",
    ]
    assert len(rows) == 6 and {row[3] for row in rows[1:]} == {"task-opened"}
    assert rows[1][8] == f'{{"due_on":"2023-03-31","task_id":{web.s.resolved}}}'
    bad = web.signed_in(AUDITOR).get("/audit.csv?until=tomorrow")
    assert bad.status_code == 400


def test_audit_page_names_the_first_broken_entry(web: Web) -> None:
    with web.db.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 5).values(outcome="pass"))
    html = web.signed_in(AUDITOR).get("/audit").text
    assert (
        "<strong>Phát hiện sai lệch tại bản ghi số 5</strong>: hash does not match the entry&#39;s content (it was altered)."
        in html
    )
    assert "Đã kiểm tra 4 bản ghi nguyên vẹn trước vị trí này." in html


def test_rules_page_shows_rules_in_force_and_revisions(web: Web) -> None:
    html = web.signed_in(OFFICE).get("/rules").text
    assert (
        f'<a href="/rules/revisions/{web.s.revision}"><code>{web.s.revision[:16]}</code></a> (phiên bản được dùng'
        in html
    )
    assert '<td data-label="Mức yêu cầu">≥ 30%</td>' in html
    assert "từ 01/01/2023: ≥ 50%; từ 01/07/2023: ≥ 60%" in html
    assert "built trước hết ngày 31/03/2023; connected trước hết ngày 30/06/2023" in html
    assert "cấp: Sở, ban, ngành, Cấp huyện" in html
    history = html.split("<h2>Các phiên bản</h2>")[1]
    assert history.index(web.s.revision[:16]) < history.index(web.s.old_revision[:16])
    assert "(đang áp dụng)" in history


def test_an_earlier_revision_shows_its_rule_text(web: Web) -> None:
    html = web.signed_in(AUDITOR).get(f"/rules/revisions/{web.s.old_revision}").text
    assert '<td data-label="Mức yêu cầu">≥ 25%</td>' in html
    assert "target: {op: &#34;&gt;=&#34;, value: &#34;25%&#34;}" in html
    assert "Đây là phiên bản đang áp dụng." not in html


def test_pages_carry_security_headers_and_no_script(web: Web) -> None:
    client = web.signed_in(OFFICE)
    for path in ("/", "/agencies/so-a", f"/tasks/{web.s.overdue}", "/audit", "/rules", "/login"):
        r = (web.client() if path == "/login" else client).get(path)
        assert r.status_code == 200
        assert r.headers["content-security-policy"].startswith("default-src 'none'; style-src 'self'")
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["cache-control"] == "no-store"
        assert "<script" not in r.text
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in r.text
        assert '<html lang="vi">' in r.text
    css = client.get("/static/site.css")
    assert css.status_code == 200 and "@media (max-width: 640px)" in css.text
    assert "http" not in css.text  # nothing loaded from the internet


def test_a_verification_is_shown_with_its_time_and_can_be_redone(web: Web) -> None:
    client = web.signed_in(AUDITOR)
    assert "<strong>Nhật ký nguyên vẹn</strong>" in client.get("/audit").text
    with web.db.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(data='{"file":"khac.csv"}'))
    remembered = client.get("/audit").text
    assert "Kiểm tra lúc 05/07/2023 12:00." in remembered
    again = client.get("/audit?verify=now").text
    assert "<strong>Phát hiện sai lệch tại bản ghi số 3</strong>" in again


def test_a_half_saved_directory_keeps_the_last_good_one(web: Web) -> None:
    client = web.signed_in(OFFICE)
    assert "<h1>Sở A</h1>" in client.get("/agencies/so-a").text
    csv_path = web.config.agencies_file
    csv_path.write_text(
        csv_path.read_text(encoding="utf-8") + "bad row without enough cells\n", encoding="utf-8"
    )
    assert "<h1>Sở A</h1>" in client.get("/agencies/so-a").text
