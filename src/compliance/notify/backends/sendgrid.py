"""The SendGrid backend: the official `sendgrid` client (v3 POST /v3/mail/send), with our own timeout.

The client neither times out nor retries by itself; we pass a timeout on every call and map every way
a call can end to SendResult or SendError(retryable=…): 202 (and 200 in sandbox mode) is success;
429 is temporary and carries Retry-After / X-RateLimit-Reset; 5xx, a timeout, a refused or dropped
connection are temporary; 400, 401, 403, 404, 413 are permanent and keep SendGrid's `errors[]` text.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
from collections.abc import Callable, Mapping
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Category,
    Cc,
    CustomArg,
    From,
    HtmlContent,
    Mail,
    MailSettings,
    Personalization,
    PlainTextContent,
    SandBoxMode,
    Subject,
    To,
)

from compliance.errors import SendError
from compliance.notify.message import OutgoingEmail, SendResult

__all__ = ["SendGridBackend", "build_payload", "retry_after_seconds"]


def build_payload(message: OutgoingEmail, *, sandbox: bool = False) -> dict[str, Any]:
    """The v3 mail-send JSON for a message (plain text first, as SendGrid requires)."""
    m = message.sanitized()
    mail = Mail()
    mail.from_email = From(m.sender.email, m.sender.name or None)
    mail.subject = Subject(m.subject)
    personalization = Personalization()
    for a in m.to:
        personalization.add_to(To(a.email, a.name or None))
    for a in m.cc:
        personalization.add_cc(Cc(a.email, a.name or None))
    mail.add_personalization(personalization)
    mail.add_content(PlainTextContent(m.text))
    mail.add_content(HtmlContent(m.html))
    mail.add_category(Category("compliance"))
    mail.add_category(Category(m.kind))
    # custom_args come back in SendGrid's event webhook: enough to find the outbox row and the tasks.
    mail.add_custom_arg(CustomArg("kind", m.kind))
    mail.add_custom_arg(CustomArg("task_ids", ",".join(str(t) for t in m.task_ids)))
    mail.add_custom_arg(CustomArg("idempotency_key", m.key))
    if m.notification_id is not None:
        mail.add_custom_arg(CustomArg("notification_id", str(m.notification_id)))
    if m.possible_duplicate:
        mail.add_custom_arg(CustomArg("possible_duplicate", "true"))
    if sandbox:
        mail.mail_settings = MailSettings(sandbox_mode=SandBoxMode(True))
    payload: dict[str, Any] = mail.get()
    return payload


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    try:
        value = headers.get(name)
    except AttributeError:
        return None
    return None if value is None else str(value)


def retry_after_seconds(headers: Any, now: float) -> float | None:
    """Seconds to wait from Retry-After (seconds) or X-RateLimit-Reset (a Unix time), if either is set."""
    retry_after = _header(headers, "Retry-After")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    reset = _header(headers, "X-RateLimit-Reset")
    if reset is not None:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


def _errors_text(body: bytes | str | None) -> str:
    """SendGrid's `{"errors": [{"message", "field", "help"}]}` as one line."""
    if not body:
        return ""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        return text.strip()[:300]
    parts: list[str] = []
    errors = data.get("errors") if isinstance(data, Mapping) else None
    for err in errors if isinstance(errors, list) else []:
        if isinstance(err, Mapping):
            msg = str(err.get("message", "")).strip()
            fld = err.get("field")
            parts.append(f"{msg} ({fld})" if fld else msg)
    return "; ".join(p for p in parts if p)[:500]


class SendGridBackend:
    name = "sendgrid"

    def __init__(
        self,
        api_key: str,
        *,
        host: str = "https://api.sendgrid.com",
        timeout_s: float = 10,
        sandbox: bool = False,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.client = SendGridAPIClient(api_key=api_key, host=host.rstrip("/"))
        self.host = host
        self.timeout_s = timeout_s
        self.sandbox = sandbox
        # X-RateLimit-Reset is the provider's wall-clock time, so it is compared with ours, not the run's D.
        self._now = now

    def send(self, message: OutgoingEmail) -> SendResult:
        payload = build_payload(message, sandbox=self.sandbox)
        try:
            response = self.client.client.mail.send.post(request_body=payload, timeout=self.timeout_s)
        except HTTPError as exc:
            code = int(getattr(exc, "status_code", 0) or 0)
            detail = _errors_text(getattr(exc, "body", None))
            suffix = f": {detail}" if detail else ""
            if code == 429:
                wait = retry_after_seconds(getattr(exc, "headers", None), self._now())
                when = f", thử lại sau {wait:.0f} giây" if wait is not None else ""
                raise SendError(
                    f"SendGrid giới hạn tần suất gửi (HTTP 429){when}", retryable=True, retry_after_s=wait
                ) from exc
            if code >= 500:
                raise SendError(f"SendGrid lỗi máy chủ (HTTP {code}){suffix}", retryable=True) from exc
            # 408 and 425 ask the client to try again; every other 4xx is about the message or the key.
            raise SendError(
                f"SendGrid từ chối thư (HTTP {code}){suffix}", retryable=code in (408, 425)
            ) from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError | socket.timeout):
                raise SendError(
                    f"SendGrid không trả lời trong {self.timeout_s:g} giây", retryable=True
                ) from exc
            if isinstance(reason, ConnectionRefusedError):
                raise SendError(
                    f"không kết nối được tới {self.host}: connection refused", retryable=True
                ) from exc
            raise SendError(f"không kết nối được tới {self.host}: {reason}", retryable=True) from exc
        except TimeoutError as exc:
            raise SendError(f"SendGrid không trả lời trong {self.timeout_s:g} giây", retryable=True) from exc
        except (http.client.HTTPException, ConnectionError) as exc:
            raise SendError(
                f"kết nối tới {self.host} bị ngắt: {exc or type(exc).__name__}", retryable=True
            ) from exc
        status = int(response.status_code)
        message_id = _header(response.headers, "X-Message-Id")
        if status == 202:
            return SendResult(message_id, {"status": "202"})
        if status == 200:  # sandbox mode: valid, not delivered
            return SendResult(message_id or "sandbox", {"status": "200", "sandbox": "true"})
        raise SendError(f"SendGrid trả lời bất thường (HTTP {status})", retryable=status >= 500)

    def close(self) -> None:
        return None
