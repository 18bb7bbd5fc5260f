"""The SMTP backend against aiosmtpd on 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
from tests.notify.conftest import config
from tests.notify.test_message import message
from tests.support.smtp_server import SmtpServer, self_signed_certificate, start_smtp_server

from compliance.errors import SendError
from compliance.notify.backends import make_backend
from compliance.notify.backends.smtp import SmtpBackend


def test_message_arrives_with_cc_and_vietnamese_subject(smtp_server: SmtpServer) -> None:
    result = SmtpBackend(smtp_server.host, smtp_server.port, timeout_s=5).send(message())
    [mail] = smtp_server.messages
    assert mail.mail_from == "cchc@example.gov.vn"
    assert mail.rcpt_tos == ["giamdoc.sotnmt@example.gov.vn", "vanthu.sotnmt@example.gov.vn"]
    parsed = mail.message
    assert str(parsed["Subject"]) == "[CCHC] 02 nhiệm vụ mới cần khắc phục – Sở Tài nguyên và Môi trường"
    assert str(parsed["Message-ID"]) == result.provider_id
    assert parsed.get_content_type() == "multipart/alternative"
    html = parsed.get_body(("html",))
    assert html is not None and "<strong>31,25%</strong>" in html.get_content()


def test_4xx_reply_is_temporary_and_5xx_permanent(smtp_server: SmtpServer) -> None:
    backend = SmtpBackend(smtp_server.host, smtp_server.port, timeout_s=5)
    smtp_server.fail_next(451, "4.3.0 Try again later")
    with pytest.raises(SendError) as temporary:
        backend.send(message())
    smtp_server.fail_next(554, "5.7.1 Message rejected")
    with pytest.raises(SendError) as permanent:
        backend.send(message())
    where = f"{smtp_server.host}:{smtp_server.port}"
    assert (temporary.value.retryable, str(temporary.value)) == (
        True,
        f"máy chủ SMTP {where} trả lời 451: 4.3.0 Try again later",
    )
    assert (permanent.value.retryable, str(permanent.value)) == (
        False,
        f"máy chủ SMTP {where} trả lời 554: 5.7.1 Message rejected",
    )
    assert smtp_server.messages == []


def test_login_with_the_password_from_the_environment(tmp_path: Path) -> None:
    server = start_smtp_server(username="cchc", password="mat-khau-2023")
    try:
        cfg = config(
            tmp_path,
            email={
                "backend": "smtp",
                "smtp": {
                    "host": server.host,
                    "port": server.port,
                    "username": "cchc",
                    "password_env": "CCHC_SMTP_PW",
                },
            },
        )
        make_backend(cfg, env={"CCHC_SMTP_PW": "mat-khau-2023"}).send(message())
        assert len(server.messages) == 1
        with pytest.raises(SendError) as ascii_only:
            make_backend(cfg, env={"CCHC_SMTP_PW": "mật-khẩu"}).send(message())
        assert (ascii_only.value.retryable, str(ascii_only.value)) == (
            False,
            f"tên đăng nhập hoặc mật khẩu SMTP cho {server.host}:{server.port} có ký tự ngoài ASCII; "
            "smtplib chỉ gửi được tên đăng nhập và mật khẩu ASCII",
        )
        with pytest.raises(SendError) as info:
            make_backend(cfg, env={"CCHC_SMTP_PW": "sai"}).send(message())
        assert info.value.retryable is False
        assert str(info.value).startswith(f"máy chủ SMTP {server.host}:{server.port} trả lời 535")
    finally:
        server.stop()


def test_connection_refused_is_temporary() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SendError) as info:
        SmtpBackend("127.0.0.1", port, timeout_s=2).send(message())
    assert (info.value.retryable, str(info.value)) == (
        True,
        f"không kết nối được tới máy chủ SMTP 127.0.0.1:{port}: connection refused",
    )


def test_starttls_with_a_verified_certificate_then_login(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server = start_smtp_server(username="cchc", password="mat-khau-2023", tls_files=(cert, key))
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        backend = SmtpBackend(
            server.host,
            server.port,
            starttls=True,
            username="cchc",
            password="mat-khau-2023",
            timeout_s=5,
            ssl_context=trusted,
        )
        backend.send(message())
        assert len(server.messages) == 1
        # Without STARTTLS the server refuses the mail (530); with an untrusted certificate, TLS fails.
        with pytest.raises(SendError) as plain:
            SmtpBackend(server.host, server.port, timeout_s=5).send(message())
        assert plain.value.retryable is False and " trả lời 530" in str(plain.value)
        with pytest.raises(SendError) as untrusted:
            SmtpBackend(server.host, server.port, starttls=True, timeout_s=5).send(message())
        assert untrusted.value.retryable is False
        assert str(untrusted.value).startswith(f"lỗi TLS với máy chủ SMTP {server.host}:{server.port}: ")
        assert len(server.messages) == 1
    finally:
        server.stop()
