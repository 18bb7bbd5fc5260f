"""`compliance config show`: the effective configuration, secrets shown only as `<secret>`."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import click

from compliance.cli import cli
from compliance.cli.context import AppContext, emit_json, pass_app
from compliance.loading.config import DATABASE_URL_ENV, database_url, mask_url, read_secret
from compliance.model.config import Config

__all__ = ["config_group", "effective_config"]

SECRET = "<secret>"
# (section path, key naming an environment variable, the key under which its secret is reported)
_SECRET_ENVS = (
    (("email", "smtp"), "password_env", "password"),
    (("email", "sendgrid"), "api_key_env", "api_key"),
)


def effective_config(config: Config) -> dict[str, Any]:
    """The configuration in force as plain data: env overrides applied, secrets masked."""
    data: dict[str, Any] = config.model_dump(mode="json")
    url = database_url(config)
    data["database"]["url"] = mask_url(url)
    data["database"]["url_from"] = DATABASE_URL_ENV if os.environ.get(DATABASE_URL_ENV) else "config.toml"
    for section, env_key, secret_key in _SECRET_ENVS:
        node = data
        for part in section:
            node = node[part]
        node[secret_key] = SECRET if read_secret(str(node[env_key])) else None
    return data


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _toml_lines(data: dict[str, Any], prefix: str = "") -> list[str]:
    lines: list[str] = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if prefix and scalars:
        lines.append(f"[{prefix}]")
    for key, value in scalars.items():
        lines.append(f"# {key}: not set" if value is None else f"{key} = {_toml_value(value)}")
    if prefix and scalars:
        lines.append("")
    for key, value in tables.items():
        lines.extend(_toml_lines(value, f"{prefix}.{key}" if prefix else key))
    return lines


def _show_lines(config: Config, source: Path) -> list[str]:
    data = effective_config(config)
    # Derived values are written as comments so the output stays valid TOML for config.toml's keys.
    url_from = data["database"].pop("url_from")
    secrets: list[tuple[str, str, str, str | None]] = []
    for section, env_key, secret_key in _SECRET_ENVS:
        node = data
        for part in section:
            node = node[part]
        secrets.append((".".join(section), env_key, str(node[env_key]), node.pop(secret_key)))
    lines = [f"# config: {source.resolve()}", f"# database url from {url_from}", ""]
    lines.extend(_toml_lines(data))
    lines.append("# secrets (read from the environment only)")
    for where, env_key, env_name, value in secrets:
        lines.append(f"# {where}.{env_key}: {env_name} = {value or 'not set'}")
    return lines


@cli.group("config")
def config_group() -> None:
    """Show the deployment's configuration."""


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@pass_app
def show(app: AppContext, as_json: bool) -> None:
    """Print the effective configuration (env overrides applied, secrets shown as <secret>)."""
    config = app.config
    if as_json:
        data = effective_config(config)
        data["base_dir"] = str(config.base_dir)
        emit_json(data)
        return
    for line in _show_lines(config, app.config_path):
        click.echo(line)
