"""The SMTP backend: smtplib with optional implicit TLS, STARTTLS and login (password from the env).

Reply codes decide retries as RFC 5321 means them: 4xx is temporary, 5xx permanent; a refused or
dropped connection and a timeout are temporary.
"""

from __future__ import annotations

import smtplib
import ssl

from compliance.errors import SendError
from compliance.notify.message import OutgoingEmail, SendResult, message_id_for, mime_bytes

__all__ = ["SmtpBackend"]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class SmtpBackend:
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool = False,
        use_ssl: bool = False,
        username: str = "",
        password: str | None = None,
        timeout_s: float = 30,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.starttls = starttls
        self.use_ssl = use_ssl
        self.username = username
        self.password = password
        self.timeout_s = timeout_s
        # smtplib's own default context does not check the server's certificate; ours does.
        self.ssl_context = ssl_context if ssl_context is not None else ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.use_ssl:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=self.ssl_context)
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)

    def send(self, message: OutgoingEmail) -> SendResult:
        safe = message.sanitized()
        data = mime_bytes(safe)
        recipients = [a.email for a in (*safe.to, *safe.cc)]
        where = f"{self.host}:{self.port}"
        try:
            with self._connect() as smtp:
                if self.starttls and not self.use_ssl:
                    smtp.starttls(context=self.ssl_context)
                if self.username:
                    try:
                        smtp.login(self.username, self.password or "")
                    except UnicodeEncodeError as exc:  # smtplib sends credentials as ASCII only
                        raise SendError(
                            f"tên đăng nhập hoặc mật khẩu SMTP cho {where} có ký tự ngoài ASCII; "
                            "smtplib chỉ gửi được tên đăng nhập và mật khẩu ASCII",
                            retryable=False,
                        ) from exc
                refused = smtp.sendmail(safe.sender.email, recipients, data)
        except smtplib.SMTPRecipientsRefused as exc:
            detail = "; ".join(f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in exc.recipients.items())
            temporary = all(400 <= code < 500 for code, _ in exc.recipients.values())
            raise SendError(
                f"máy chủ SMTP {where} từ chối người nhận: {detail}", retryable=temporary
            ) from exc
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
            raise SendError(
                f"máy chủ SMTP {where} trả lời {code}: {_text(exc.smtp_error)}", retryable=400 <= code < 500
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise SendError(f"máy chủ SMTP {where} không hỗ trợ: {exc}", retryable=False) from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise SendError(f"máy chủ SMTP {where} ngắt kết nối: {exc}", retryable=True) from exc
        except TimeoutError as exc:
            raise SendError(
                f"máy chủ SMTP {where} không trả lời trong {self.timeout_s:g} giây", retryable=True
            ) from exc
        except ConnectionRefusedError as exc:
            raise SendError(
                f"không kết nối được tới máy chủ SMTP {where}: connection refused", retryable=True
            ) from exc
        except ssl.SSLError as exc:
            raise SendError(f"lỗi TLS với máy chủ SMTP {where}: {exc}", retryable=False) from exc
        except OSError as exc:
            raise SendError(f"không kết nối được tới máy chủ SMTP {where}: {exc}", retryable=True) from exc
        if refused:
            # Accepted for some recipients: the message went out, so it is sent; say who was refused.
            detail = "; ".join(f"{addr}: {code}" for addr, (code, _msg) in refused.items())
            return SendResult(message_id_for(message.key, message.sender.email), {"refused": detail})
        return SendResult(message_id_for(message.key, message.sender.email))

    def close(self) -> None:
        return None
