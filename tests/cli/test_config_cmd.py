"""`compliance config show`: the effective configuration, with every secret shown as <secret>."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from tests.conftest import Cli
from tests.support.deployment import write_deployment

SECRETS = {
    "SMTP_PASSWORD": "smtp-hunter2",
    "SENDGRID_API_KEY": "SG.very-secret",
    "COMPLIANCE_DATABASE_URL": "postgresql+psycopg://office:db-pass-123@db.example/compliance",
}


def test_show_masks_secrets_and_applies_the_environment(cli: Cli, tmp_path: Path) -> None:
    write_deployment(tmp_path, config_extra='[email]\nbackend = "smtp"\n')
    result = cli("config", "show", env=SECRETS)
    assert result.returncode == 0, result.stderr
    for secret in ("smtp-hunter2", "SG.very-secret", "db-pass-123"):
        assert secret not in result.stdout
    assert 'url = "postgresql+psycopg://office:<secret>@db.example/compliance"' in result.stdout
    assert "# database url from COMPLIANCE_DATABASE_URL" in result.stdout
    assert "# email.smtp.password_env: SMTP_PASSWORD = <secret>" in result.stdout
    assert "# email.sendgrid.api_key_env: SENDGRID_API_KEY = <secret>" in result.stdout
    shown = tomllib.loads(result.stdout)  # the output is TOML: it can be pasted back into a config.toml
    assert shown["email"]["backend"] == "smtp"
    assert shown["email"]["smtp"]["password_env"] == "SMTP_PASSWORD"
    assert shown["notify"]["remind_before_due"] == [3, 1]


def test_unset_secrets_are_said_to_be_unset(cli: Cli, tmp_path: Path) -> None:
    write_deployment(tmp_path)
    result = cli("config", "show")
    assert "# email.smtp.password_env: SMTP_PASSWORD = not set" in result.stdout
    assert 'url = "sqlite:///var/compliance.db"' in result.stdout
    assert "# database url from config.toml" in result.stdout


def test_show_json(cli: Cli, tmp_path: Path) -> None:
    write_deployment(tmp_path)
    data = json.loads(cli("config", "show", "--json", env=SECRETS).stdout)
    assert data["database"] == {
        "url": "postgresql+psycopg://office:<secret>@db.example/compliance",
        "url_from": "COMPLIANCE_DATABASE_URL",
    }
    assert data["email"]["smtp"]["password"] == "<secret>"
    assert data["email"]["sendgrid"]["api_key"] == "<secret>"
    assert data["base_dir"] == str(tmp_path.resolve())
    assert "smtp-hunter2" not in json.dumps(data)


def test_an_invalid_config_is_reported(cli: Cli, tmp_path: Path) -> None:
    write_deployment(tmp_path, config_extra="[tasks]\ndefault_due_days = 0\n")
    result = cli("config", "show")
    assert result.returncode == 1
    assert (
        result.stderr
        == "config.toml:8:20: tasks.default_due_days: Input should be greater than or equal to 1\n"
    )
