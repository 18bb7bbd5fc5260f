"""A real SMTP peer for tests: aiosmtpd on 127.0.0.1, capturing every message; fixture `smtp_server`.

Failures are scriptable per test: `server.fail_next(451, "4.3.0 Try again later")` makes the next DATA
answer with that reply (4xx temporary, 5xx permanent), as a real mail server would.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["CapturedMail", "SmtpServer", "self_signed_certificate", "smtp_server", "start_smtp_server"]


@dataclass
class CapturedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    messages: list[CapturedMail] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.pop(0)
        self.messages.append(
            CapturedMail(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
        )
        return "250 2.0.0 Message accepted for delivery"


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False)


class SmtpServer:
    def __init__(self, controller: Controller, handler: _Handler, port: int) -> None:
        self.controller = controller
        self.handler = handler
        self.host = "127.0.0.1"
        self.port = port

    @property
    def messages(self) -> list[CapturedMail]:
        return self.handler.messages

    def fail_next(self, code: int, text: str) -> None:
        self.handler.replies.append(f"{code} {text}")

    def stop(self) -> None:
        self.controller.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), to offer STARTTLS; clients trust it as their CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def start_smtp_server(
    *, username: str | None = None, password: str | None = None, tls_files: tuple[Path, Path] | None = None
) -> SmtpServer:
    """Start aiosmtpd on a free port of 127.0.0.1: with AUTH LOGIN/PLAIN when a username is given, and
    STARTTLS required when a (certificate, key) pair is given."""
    handler = _Handler()
    kwargs: dict[str, Any] = {}
    if tls_files is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls_files[0]), str(tls_files[1]))
        kwargs.update(tls_context=context, require_starttls=True)
    if username is not None:
        # AUTH offered without TLS unless STARTTLS is on; not *required*, which aiosmtpd warns about.
        kwargs.update(
            authenticator=_Authenticator(username, password or ""), auth_require_tls=tls_files is not None
        )
    last: OSError | None = None
    for _ in range(5):  # the free port may be taken between probing and binding
        port = _free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        try:
            controller.start()
        except OSError as exc:
            last = exc
            continue
        return SmtpServer(controller, handler, port)
    raise RuntimeError(f"could not start the SMTP test server: {last}")


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = start_smtp_server()
    try:
        yield server
    finally:
        server.stop()
