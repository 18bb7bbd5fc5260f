"""The error tree of compliance, and SourceLocation for errors that point into a user's file.

ComplianceError                  anything the user can act on (CLI exit 1)
├── InputError                   one or more located problems in the user's files
│     (carries a list of Problem: location + key path + message + hint)
├── ConfigError                  config.toml is missing, unreadable or invalid (an InputError)
├── NotFoundError                a task, rule, agency or run id that does not exist
├── StateError                   the request conflicts with stored state (time moving backwards …)
└── SendError                    an email backend failed (retryable or permanent)
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ComplianceError",
    "ConfigError",
    "InputError",
    "NotFoundError",
    "Problem",
    "SendError",
    "SourceLocation",
    "StateError",
]


@dataclass(frozen=True, order=True)
class SourceLocation:
    """Where a problem is: a file, and a line/column (YAML, TOML) or a spreadsheet row (CSV, XLSX)."""

    path: str
    line: int | None = None
    col: int | None = None
    row: int | None = None

    def __str__(self) -> str:
        if self.row is not None:
            return f"{self.path}:{self.row}"
        if self.line is not None:
            return f"{self.path}:{self.line}:{self.col or 1}"
        return self.path


@dataclass(frozen=True)
class Problem:
    """One located problem: `path:line:col: key.path: message` (CSV: `path:row: column: message`)."""

    location: SourceLocation
    key: str
    message: str
    hint: str | None = None
    warning: bool = False

    def __str__(self) -> str:
        head = (
            f"{self.location}: {self.key}: {self.message}" if self.key else f"{self.location}: {self.message}"
        )
        if self.warning:
            head = (
                f"{self.location}: warning: {self.key}: {self.message}"
                if self.key
                else f"{self.location}: warning: {self.message}"
            )
        return head + (f"\n  hint: {self.hint}" if self.hint else "")


class ComplianceError(Exception):
    """An error the user can act on; the CLI prints it and exits 1."""


@dataclass
class InputError(ComplianceError):
    """The user's files have problems; every one of them is listed."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class ConfigError(InputError):
    """config.toml is missing or invalid."""


class NotFoundError(ComplianceError):
    """A task, rule, agency, run or revision that does not exist."""


class StateError(ComplianceError):
    """The request conflicts with what is stored (e.g. evaluating at a date before the last run)."""


class SendError(ComplianceError):
    """An email backend failed. `retryable` says whether a later attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s
