"""The MIME message every backend sends, header injection, and the file backend's .eml files."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from tests.notify.conftest import config

from compliance.errors import SendError
from compliance.notify.backends import make_backend
from compliance.notify.backends.file import FileBackend, file_name_for
from compliance.notify.message import Address, OutgoingEmail, clean_header, to_mime

SENDER = Address("cchc@example.gov.vn", "UBND tỉnh Tiền Giang — CCHC, CĐS, Đề án 06")


def message(**changes: object) -> OutgoingEmail:
    base: dict[str, object] = {
        "key": "task-opened:2023-07-05:12,13",
        "kind": "task-opened",
        "sender": SENDER,
        "to": (Address("giamdoc.sotnmt@example.gov.vn", "Nguyễn Thanh Hải"),),
        "cc": (Address("vanthu.sotnmt@example.gov.vn"),),
        "subject": "[CCHC] 02 nhiệm vụ mới cần khắc phục – Sở Tài nguyên và Môi trường",
        "text": "Kính gửi: Ông/Bà Nguyễn Thanh Hải\n\nTỷ lệ 31,25%.\n",
        "html": "<p>Kính gửi: Ông/Bà Nguyễn Thanh Hải</p><p>Tỷ lệ <strong>31,25%</strong>.</p>",
        "task_ids": (12, 13),
        "date": dt.datetime(2023, 7, 5, 0, 30, tzinfo=dt.UTC),
    }
    base.update(changes)
    return OutgoingEmail(**base)  # type: ignore[arg-type]


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_mime_is_multipart_alternative_plain_first_utf8() -> None:
    parsed = parse(to_mime(message()).as_bytes())
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    assert (
        parts[0].get_content().replace("\r\n", "\n") == "Kính gửi: Ông/Bà Nguyễn Thanh Hải\n\nTỷ lệ 31,25%.\n"
    )
    assert str(parsed["Subject"]) == "[CCHC] 02 nhiệm vụ mới cần khắc phục – Sở Tài nguyên và Môi trường"
    assert str(parsed["To"]) == "Nguyễn Thanh Hải <giamdoc.sotnmt@example.gov.vn>"
    assert str(parsed["Cc"]) == "vanthu.sotnmt@example.gov.vn"
    assert str(parsed["Date"]) == "Wed, 05 Jul 2023 00:30:00 +0000"
    assert str(parsed["X-Compliance-Tasks"]) == "12,13"
    assert parsed["X-Compliance-Possible-Duplicate"] is None


INJECTIONS = [
    "Sở X\r\nBcc: attacker@evil.example",
    "Sở X\nBcc: attacker@evil.example",
    "Sở X\rBcc: attacker@evil.example",
    "Sở X\u2028Bcc: attacker@evil.example",
    "Sở X\x85Bcc: attacker@evil.example",
]


@pytest.mark.parametrize("evil", INJECTIONS)
def test_no_cr_or_lf_from_data_reaches_a_header(evil: str) -> None:
    crafted = message(
        subject=f"[CCHC] 01 nhiệm vụ – {evil}",
        to=(Address("giamdoc.sotnmt@example.gov.vn", evil),),
        cc=(Address("vanthu.sotnmt@example.gov.vn", evil),),
        sender=Address("cchc@example.gov.vn", evil),
        key=f"k:{evil}",
    )
    raw = to_mime(crafted).as_bytes()
    parsed = parse(raw)
    assert parsed["Bcc"] is None
    headers = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    # Every header line is a header or a folded continuation of one: nothing starts with "Bcc".
    assert not [h for h in headers if h.lower().startswith(b"bcc")]
    for name in ("Subject", "To", "Cc", "From", "X-Compliance-Key"):
        value = str(parsed[name])
        assert "\r" not in value and "\n" not in value and "\u2028" not in value
        assert "Bcc: attacker@evil.example" in value  # kept as harmless text on the same line
    assert str(parsed["Subject"]) == "[CCHC] 01 nhiệm vụ – Sở X Bcc: attacker@evil.example"


@pytest.mark.parametrize(
    "address",
    [
        "giamdoc@example.gov.vn\r\nBcc: attacker@evil.example",
        "a b@example.gov.vn",
        "<a@example.gov.vn>",
        "a@",
        "a@@b.vn",
    ],
)
def test_an_address_that_could_carry_a_header_is_refused_permanently(address: str) -> None:
    with pytest.raises(SendError) as info:
        to_mime(message(to=(Address(address),)))
    assert info.value.retryable is False
    assert str(info.value).startswith("địa chỉ email không hợp lệ: ")
    assert "\n" not in str(info.value)


def test_clean_header_collapses_controls_and_whitespace() -> None:
    assert clean_header("  a\t\r\n b\x00c  ") == "a b c"


def test_file_backend_writes_one_eml_per_message_named_from_the_key(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path / "outbox")
    result = backend.send(message())
    files = sorted((tmp_path / "outbox").iterdir())
    assert [f.name for f in files] == [file_name_for("task-opened:2023-07-05:12,13")]
    assert files[0].name.startswith("task-opened_2023-07-05_12_13-") and files[0].suffix == ".eml"
    parsed = parse(files[0].read_bytes())
    assert str(parsed["Message-ID"]) == result.provider_id
    assert str(parsed["Subject"]) == "[CCHC] 02 nhiệm vụ mới cần khắc phục – Sở Tài nguyên và Môi trường"
    assert b"\r\n" in files[0].read_bytes()  # RFC 5322 line ends


def test_file_backend_resending_a_message_replaces_its_file_and_marks_it(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path)
    backend.send(message())
    backend.send(message(possible_duplicate=True))
    files = list(tmp_path.glob("*.eml"))
    assert len(files) == 1
    assert str(parse(files[0].read_bytes())["X-Compliance-Possible-Duplicate"]) == "yes"
    assert not list(tmp_path.glob(".tmp-*"))  # no temporary file left behind


def test_file_backend_failure_is_temporary(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(SendError) as info:
        FileBackend(blocker / "outbox").send(message())
    assert info.value.retryable is True


def test_make_backend_reads_secrets_from_the_named_environment_variable(tmp_path: Path) -> None:
    cfg = config(tmp_path, email={"backend": "sendgrid"})
    with pytest.raises(Exception) as info:
        make_backend(cfg, env={})
    assert str(info.value) == (
        "config.toml: email.sendgrid.api_key_env: biến môi trường SENDGRID_API_KEY chưa được đặt: khóa bí mật chỉ "
        "được đọc từ biến môi trường\n  hint: export SENDGRID_API_KEY=…  (tên biến đặt ở email.sendgrid.api_key_env)"
    )
    assert make_backend(cfg, env={"SENDGRID_API_KEY": "SG.x"}).name == "sendgrid"
    assert make_backend(config(tmp_path)).name == "file"
