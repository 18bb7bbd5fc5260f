"""config.toml -> Config, every error located as `config.toml:line:col: key.path: message`; env overrides.

Secrets never live in the file: it names environment variables (`password_env`, `api_key_env`) and
`read_secret` reads them. `COMPLIANCE_DATABASE_URL` wins over `[database] url`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from compliance.errors import ConfigError, Problem, SourceLocation
from compliance.loading.suggest import did_you_mean
from compliance.loading.tomlpos import TomlLocator
from compliance.loading.validation import display_path, friendly, key_path, keys_of
from compliance.model.config import Config

__all__ = ["DATABASE_URL_ENV", "config_location", "database_url", "load_config", "mask_url", "read_secret"]

DATABASE_URL_ENV = "COMPLIANCE_DATABASE_URL"
_TOML_POSITION = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)\s*$", re.S)
_URL_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*):(?P<password>[^@/?#]*)@")


def load_config(path: Path) -> Config:
    """Read and validate config.toml; raise ConfigError listing every problem, each located."""
    shown = display_path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "not found"
        raise ConfigError(
            [
                Problem(
                    SourceLocation(shown),
                    "",
                    f"config file {what}; run compliance in the deployment's directory "
                    "or give the file with --config PATH (or COMPLIANCE_CONFIG)",
                )
            ]
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [Problem(SourceLocation(shown), "", f"cannot read the file: {exc.strerror}")]
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [
                Problem(
                    SourceLocation(shown, line, 1),
                    "",
                    "the file is not UTF-8; save it with the UTF-8 encoding",
                )
            ]
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_POSITION.match(str(exc))
        if m is None:
            raise ConfigError(
                [Problem(SourceLocation(shown, 1, 1), "", f"TOML syntax error: {exc}")]
            ) from exc
        location = SourceLocation(shown, int(m["line"]), int(m["col"]))
        raise ConfigError([Problem(location, "", f"TOML syntax error: {m['msg']}")]) from exc

    locator = TomlLocator(text)
    problems: list[Problem] = []
    # `base_dir` is a field the loader sets, never a key of the file.
    if "base_dir" in data:
        line, col = locator.locate(("base_dir",), at_key=True)
        hint = did_you_mean("base_dir", keys_of(Config))
        problems.append(Problem(SourceLocation(shown, line, col), "base_dir", "unknown key", hint))
        del data["base_dir"]
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            nice = friendly(err, Config)
            missing = err["type"] == "missing"
            line, col = locator.locate(err["loc"], at_key=nice.at_key, missing=missing)
            problems.append(
                Problem(SourceLocation(shown, line, col), key_path(err["loc"]), nice.message, nice.hint)
            )
    if problems:
        problems.sort(key=lambda p: (p.location.line or 0, p.location.col or 0))
        raise ConfigError(problems)
    return config.model_copy(update={"base_dir": path.resolve().parent})


def config_location(path: Path, key: Sequence[str]) -> SourceLocation:
    """Where `key` (("deployment", "base_url")) is written in the config file, for a problem found after
    loading (a missing key: its table); just the file when it cannot be read again."""
    shown = display_path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return SourceLocation(shown)
    line, col = TomlLocator(text).locate(key)
    return SourceLocation(shown, line, col)


def database_url(config: Config) -> str:
    """The database URL in force: env COMPLIANCE_DATABASE_URL, else `[database] url`."""
    return os.environ.get(DATABASE_URL_ENV) or config.database.url


def read_secret(env_name: str) -> str | None:
    """A secret from the environment variable the config names; None when unset or empty."""
    if not env_name:
        return None
    return os.environ.get(env_name) or None


def mask_url(url: str) -> str:
    """The URL with its password shown as `<secret>` (postgresql://user:<secret>@host/db)."""
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}:<secret>@", url)
