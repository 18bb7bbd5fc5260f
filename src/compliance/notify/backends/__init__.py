"""Email backends behind one protocol (notify.message.EmailBackend): file (.eml), SMTP, SendGrid.

`make_backend(config)` builds the one config.toml names. Secrets (SMTP password, SendGrid API key) are
read only from the environment variable the config names, never from a file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from compliance.errors import ConfigError, Problem, SourceLocation
from compliance.model.config import Config
from compliance.notify.message import EmailBackend

__all__ = ["make_backend", "max_attempts"]


def max_attempts(config: Config) -> int:
    """Attempts a message gets in all, over every run, before it is marked failed."""
    if config.email.backend == "sendgrid":
        return config.email.sendgrid.max_attempts
    return config.email.max_attempts


def _missing(env_name: str, key: str) -> ConfigError:
    return ConfigError(
        [
            Problem(
                SourceLocation("config.toml"),
                key,
                f"biến môi trường {env_name} chưa được đặt: khóa bí mật chỉ được đọc từ biến môi trường",
                hint=f"export {env_name}=…  (tên biến đặt ở {key})",
            )
        ]
    )


def make_backend(config: Config, *, env: Mapping[str, str] | None = None) -> EmailBackend:
    environ = os.environ if env is None else env
    email = config.email
    if email.backend == "smtp":
        from compliance.notify.backends.smtp import SmtpBackend

        smtp = email.smtp
        password = environ.get(smtp.password_env) if smtp.username else None
        if smtp.username and password is None:
            raise _missing(smtp.password_env, "email.smtp.password_env")
        return SmtpBackend(
            smtp.host,
            smtp.port,
            starttls=smtp.starttls,
            use_ssl=smtp.ssl,
            username=smtp.username,
            password=password,
            timeout_s=smtp.timeout_s,
        )
    if email.backend == "sendgrid":
        from compliance.notify.backends.sendgrid import SendGridBackend

        sg = email.sendgrid
        api_key = environ.get(sg.api_key_env)
        if not api_key:
            raise _missing(sg.api_key_env, "email.sendgrid.api_key_env")
        return SendGridBackend(api_key, host=sg.host, timeout_s=sg.timeout_s, sandbox=sg.sandbox)
    from compliance.notify.backends.file import FileBackend

    return FileBackend(config.outbox_dir)
