"""A real SMTP peer for tests: aiosmtpd on 127.0.0.1, capturing every message; fixture `smtp_server`.

Failures are scriptable per test: `server.fail_next(451, "4.3.0 Try again later")` makes the next DATA
answer with that reply (4xx temporary, 5xx permanent), as a real mail server would.
"""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["CapturedMail", "SmtpServer", "smtp_server", "start_smtp_server"]


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
        self.messages.append(CapturedMail(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 2.0.0 Message accepted for delivery"


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
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


def start_smtp_server(*, username: str | None = None, password: str | None = None) -> SmtpServer:
    """Start aiosmtpd on a free port of 127.0.0.1 (with AUTH LOGIN/PLAIN when a username is given)."""
    handler = _Handler()
    kwargs: dict[str, Any] = {}
    if username is not None:
        kwargs.update(authenticator=_Authenticator(username, password or ""), auth_require_tls=False,
                      auth_required=True)
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
