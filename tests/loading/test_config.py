"""config.toml loading: defaults, base_dir, located errors, the database URL and secrets from the environment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from compliance.errors import ConfigError
from compliance.loading.config import database_url, load_config, mask_url, read_secret
from compliance.loading.validation import keys_of
from compliance.model.config import Config
from compliance.model.rules import Indicator, Rule
from tests.conftest import REPO
from tests.support.deployment import write_deployment


def test_loads_with_defaults_and_the_file_directory_as_base(tmp_path: Path) -> None:
    config = load_config(write_deployment(tmp_path))
    assert config.base_dir == tmp_path.resolve()
    assert config.rules_dir == tmp_path.resolve() / "rules"
    assert config.agencies_file == tmp_path.resolve() / "rules" / "agencies.csv"
    assert config.database.url == "sqlite:///var/compliance.db"
    assert config.notify.remind_before_due == (3, 1)
    assert config.engine.backend == "durable"


def test_every_problem_is_located(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[deployment]\nname = "x"\n\n[tasks]\ndefault_due_days = "mười"\nextra = 1\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [str(p) for p in info.value.problems] == [
        f"{path}:5:20: tasks.default_due_days: Input should be a valid integer, unable to parse string as an integer",
        f"{path}:6:1: tasks.extra: unknown key",
    ]


def test_base_dir_cannot_be_set_by_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('base_dir = "/"\n[deployment]\nname = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [(p.key, p.message, p.location.line) for p in info.value.problems] == [
        ("base_dir", "unknown key", 1)
    ]


def test_a_missing_file_names_the_path_and_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert str(info.value) == (
        f"{tmp_path / 'nope.toml'}: config file not found; run compliance in the deployment's directory "
        "or give the file with --config PATH (or COMPLIANCE_CONFIG)"
    )


def test_environment_database_url_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write_deployment(tmp_path))
    monkeypatch.delenv("COMPLIANCE_DATABASE_URL", raising=False)
    assert database_url(config) == "sqlite:///var/compliance.db"
    monkeypatch.setenv("COMPLIANCE_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert database_url(config) == "postgresql+psycopg://u@h/db"


def test_secrets_come_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TEST_SECRET", "s3cret")
    monkeypatch.setenv("X_TEST_EMPTY", "")
    monkeypatch.delenv("X_TEST_UNSET", raising=False)
    assert read_secret("X_TEST_SECRET") == "s3cret"
    assert read_secret("X_TEST_EMPTY") is None
    assert read_secret("X_TEST_UNSET") is None
    assert read_secret("") is None


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql+psycopg://user:p%40ss@db.example:5432/x",
            "postgresql+psycopg://user:<secret>@db.example:5432/x",
        ),
        ("postgresql+psycopg://user@db/x", "postgresql+psycopg://user@db/x"),
        ("sqlite:///var/compliance.db", "sqlite:///var/compliance.db"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def _documented_keys(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.extend(_documented_keys(annotation, f"{prefix}.{name}" if prefix else name))
        else:
            out.append((prefix, field.alias or name))
    return out


def test_every_config_key_is_documented() -> None:
    docs = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    sections = {
        s.strip("`[]"): body
        for s, body in re.findall(r"^#+ (`\[[a-z.]+\]`)[^\n]*\n(.*?)(?=^#|\Z)", docs, re.M | re.S)
    }
    for section, key in _documented_keys(Config):
        assert f"`{key}`" in sections[section], f"[{section}] {key} is not in docs/config.md"


def test_every_rule_and_indicator_key_is_documented() -> None:
    docs = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    for model in (Rule, Indicator):
        for key in keys_of(model):
            assert f"`{key}`" in docs, f"{model.__name__}.{key} is not in docs/rules.md"
