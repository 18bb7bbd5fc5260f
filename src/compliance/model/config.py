"""The deployment's config.toml as a pydantic model (SPEC §3.1). Unknown keys are errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

__all__ = [
    "Config",
    "DatabaseConfig",
    "DeploymentConfig",
    "EmailConfig",
    "EngineConfig",
    "NotifyConfig",
    "PathsConfig",
    "ScheduleConfig",
    "SendGridConfig",
    "SmtpConfig",
    "TasksConfig",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeploymentConfig(_Section):
    name: str
    timezone: str = "Asia/Ho_Chi_Minh"
    locale: str = "vi_VN"
    base_url: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone '{v}' (e.g. Asia/Ho_Chi_Minh)") from exc
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class PathsConfig(_Section):
    rules: str = "rules"
    agencies: str = "rules/agencies.csv"
    inbox: str = "data/inbox"
    templates: str = "notifications"


class DatabaseConfig(_Section):
    url: str = "sqlite:///var/compliance.db"


class EngineConfig(_Section):
    backend: Literal["durable", "python"] = "durable"


class ScheduleConfig(_Section):
    ingest: str = "*/15 * * * *"
    evaluate: str = "0 7 * * *"
    notify: str = "30 7 * * 1-5"
    digest: str = "0 7 * * 1"

    @field_validator("ingest", "evaluate", "notify", "digest")
    @classmethod
    def _cron(cls, v: str) -> str:
        from compliance.model.cron import parse_cron

        parse_cron(v)
        return v


class TasksConfig(_Section):
    default_due_days: Annotated[int, Field(ge=1)] = 14


class NotifyConfig(_Section):
    remind_before_due: tuple[Annotated[int, Field(ge=1)], ...] = (3, 1)
    overdue_every_days: Annotated[int, Field(ge=1)] = 7
    escalate_after_days: Annotated[int, Field(ge=0)] = 7
    working_days: str = "mon-fri"
    holiday_calendar: str | None = "VN"
    holidays: tuple[dt.date, ...] = ()
    working_saturdays: tuple[dt.date, ...] = ()
    escalation_default_to: EmailStr | None = None

    @field_validator("working_days")
    @classmethod
    def _days(cls, v: str) -> str:
        from compliance.model.calendar import parse_weekdays

        parse_weekdays(v)
        return v


class SmtpConfig(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    starttls: bool = False
    ssl: bool = False
    username: str = ""
    password_env: str = "SMTP_PASSWORD"
    timeout_s: Annotated[float, Field(gt=0)] = 30


class SendGridConfig(_Section):
    api_key_env: str = "SENDGRID_API_KEY"
    host: str = "https://api.sendgrid.com"
    sandbox: bool = False
    timeout_s: Annotated[float, Field(gt=0)] = 10
    max_attempts: Annotated[int, Field(ge=1)] = 8


class EmailConfig(_Section):
    backend: Literal["file", "smtp", "sendgrid"] = "file"
    sender: EmailStr = "cchc@example.gov.vn"
    sender_name: str = ""
    cc: tuple[EmailStr, ...] = ()
    outbox_dir: str = "var/outbox"
    max_attempts: Annotated[int, Field(ge=1)] = 8
    smtp: SmtpConfig = SmtpConfig()
    sendgrid: SendGridConfig = SendGridConfig()


class Config(_Section):
    deployment: DeploymentConfig
    paths: PathsConfig = PathsConfig()
    database: DatabaseConfig = DatabaseConfig()
    engine: EngineConfig = EngineConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    tasks: TasksConfig = TasksConfig()
    notify: NotifyConfig = NotifyConfig()
    email: EmailConfig = EmailConfig()
    # Set by the loader, not the file: where config.toml lives; every relative path is relative to it.
    base_dir: Path = Field(default=Path("."), exclude=True)

    def path(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def rules_dir(self) -> Path:
        return self.path(self.paths.rules)

    @property
    def agencies_file(self) -> Path:
        return self.path(self.paths.agencies)

    @property
    def inbox_dir(self) -> Path:
        return self.path(self.paths.inbox)

    @property
    def templates_dir(self) -> Path:
        return self.path(self.paths.templates)

    @property
    def outbox_dir(self) -> Path:
        return self.path(self.email.outbox_dir)
