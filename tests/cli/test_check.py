"""`compliance check` through the real command: every invalid input beside its exact messages, and OK."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, Cli
from tests.support.deployment import RULES_YAML, write_deployment

INVALID = Path(__file__).resolve().parent.parent / "data" / "invalid"
CASES = sorted(p.name for p in INVALID.iterdir() if p.is_dir())


def test_there_are_many_distinct_invalid_cases() -> None:
    assert len(CASES) >= 22
    assert [c for c in CASES if not (INVALID / c / "expected.txt").is_file()] == []
    texts = {(INVALID / c / "expected.txt").read_text(encoding="utf-8") for c in CASES}
    assert len(texts) == len(CASES)  # no two cases test the same thing


@pytest.mark.parametrize("case", CASES)
def test_invalid_input_is_reported_exactly(case: str, cli: Cli, tmp_path: Path) -> None:
    work = tmp_path / case
    shutil.copytree(INVALID / case, work)
    expected = (work / "expected.txt").read_text(encoding="utf-8")
    result = cli("check", cwd=work)
    assert result.stderr == expected
    assert result.stdout == ""
    assert result.returncode == 1


def test_a_valid_deployment_is_ok(cli: Cli, tmp_path: Path) -> None:
    write_deployment(tmp_path)
    result = cli("check")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "OK: 4 rules, 4 indicators, 7 agencies\n",
        "",
    )


def test_warnings_are_printed_and_the_check_still_passes(cli: Cli, tmp_path: Path) -> None:
    rules = RULES_YAML.replace("scope: {levels: [department]}", "scope: {levels: [departmnt]}")
    write_deployment(tmp_path, rules_yaml=rules)
    result = cli("check")
    assert result.returncode == 0
    assert result.stdout == "OK: 4 rules, 4 indicators, 7 agencies\n"
    assert result.stderr == (
        "rules/rules.yaml:19:12: warning: rules[2].scope: the scope selects no agency\n"
        "rules/rules.yaml:19:22: warning: rules[2].scope.levels[0]: no agency has level 'departmnt'\n"
        "  hint: did you mean 'department'?\n"
    )


def test_config_is_found_by_option_and_by_environment(cli: Cli, tmp_path: Path) -> None:
    deployment = tmp_path / "deployment"
    deployment.mkdir()
    config = write_deployment(deployment)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    by_option = cli("--config", str(config), "check", cwd=elsewhere)
    by_env = cli("check", cwd=elsewhere, env={"COMPLIANCE_CONFIG": str(config)})
    for result in (by_option, by_env):
        assert (result.returncode, result.stdout) == (0, "OK: 4 rules, 4 indicators, 7 agencies\n")


def test_paths_outside_the_working_directory_are_shown_in_full(cli: Cli, tmp_path: Path) -> None:
    deployment = tmp_path / "deployment"
    deployment.mkdir()
    config = write_deployment(deployment, agencies_csv=None)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = cli("--config", str(config), "check", cwd=elsewhere)
    assert result.returncode == 1
    assert result.stderr == (
        f"{deployment / 'rules' / 'agencies.csv'}: agency directory not found "
        "(see [paths] agencies in config.toml)\n1 error in 1 file\n"
    )


def test_json_output(cli: Cli, tmp_path: Path) -> None:
    write_deployment(tmp_path, rules_yaml=RULES_YAML.replace('value: "30%"', "value: 30"))
    result = cli("check", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["counts"] is None and data["warnings"] == []
    assert data["errors"] == [
        {
            "path": "rules/rules.yaml",
            "line": 7,
            "col": 31,
            "row": None,
            "key": "rules[0].target.value",
            "message": 'Input should be a fraction between 0 and 1 or a percentage like "30%"',
            "hint": 'write "30%" or 0.30',
            "text": "rules/rules.yaml:7:31: rules[0].target.value: Input should be a fraction between 0 and 1 "
            'or a percentage like "30%"\n  hint: write "30%" or 0.30',
        }
    ]
    write_deployment(tmp_path)
    ok = json.loads(cli("check", "--json").stdout)
    assert ok == {
        "ok": True,
        "counts": {"rules": 4, "indicators": 4, "agencies": 7},
        "errors": [],
        "warnings": [],
    }


def test_the_shipped_example_passes(cli: Cli) -> None:
    result = cli("check", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: ")


BASE_URL = 'base_url = "https://cchc.example.gov.vn"\n'


def _with_base_url(config: Path, line: str = BASE_URL) -> None:
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("\n\n[database]", "\n" + line + "\n[database]", 1), encoding="utf-8")


def test_base_url_without_the_web_secret_is_a_warning(cli: Cli, tmp_path: Path) -> None:
    _with_base_url(write_deployment(tmp_path))
    result = cli("check")
    assert (result.returncode, result.stdout) == (0, "OK: 4 rules, 4 indicators, 7 agencies\n")
    assert result.stderr == (
        "config.toml:3:12: warning: deployment.base_url: đã đặt [deployment] base_url trong config.toml "
        "nhưng chưa có biến môi trường COMPLIANCE_WEB_SECRET: thư gửi người đứng đầu cơ quan, đơn vị "
        "sẽ không có đường dẫn riêng, chỉ có đường dẫn cần đăng nhập\n"
        "  hint: đặt COMPLIANCE_WEB_SECRET (ít nhất 16 ký tự, cùng giá trị với `compliance serve`) trong "
        "môi trường chạy compliance, ví dụ: export COMPLIANCE_WEB_SECRET=$(python -c 'import secrets; "
        "print(secrets.token_urlsafe(32))')\n"
    )
    # An empty variable is a missing one, as for notify.
    assert cli("check", env={"COMPLIANCE_WEB_SECRET": ""}).stderr == result.stderr


def test_a_web_secret_too_short_to_sign_links_is_a_warning(cli: Cli, tmp_path: Path) -> None:
    config = write_deployment(tmp_path)
    _with_base_url(config)
    result = cli("--config", str(config), "check", "--json", env={"COMPLIANCE_WEB_SECRET": "x" * 15})
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["errors"] == []
    [warning] = data["warnings"]
    assert (warning["path"], warning["line"], warning["col"], warning["key"]) == (
        "config.toml",
        3,
        12,
        "deployment.base_url",
    )
    assert warning["message"] == (
        "đã đặt [deployment] base_url trong config.toml nhưng biến môi trường COMPLIANCE_WEB_SECRET chỉ có "
        "15 ký tự, cần ít nhất 16 để ký đường dẫn riêng của người đứng đầu cơ quan, đơn vị: "
        "lệnh notify sẽ dừng và báo lỗi"
    )


@pytest.mark.parametrize(
    ("base_url", "secret"),
    [
        (BASE_URL, "x" * 16),  # a secret long enough
        ("", ""),  # no base_url: no links to sign
        ('base_url = "  "\n', ""),  # a blank base_url is none
    ],
)
def test_no_warning_when_links_can_be_signed_or_there_are_none(
    cli: Cli, tmp_path: Path, base_url: str, secret: str
) -> None:
    config = write_deployment(tmp_path)
    if base_url:
        _with_base_url(config, base_url)
    result = cli("check", env={"COMPLIANCE_WEB_SECRET": secret} if secret else None)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "OK: 4 rules, 4 indicators, 7 agencies\n",
        "",
    )


@pytest.mark.parametrize("secret", [None, "", "x" * 15, "x" * 16])
@pytest.mark.parametrize("base_url", ["", " ", "https://cchc.example.gov.vn"])
def test_the_warning_matches_what_notify_does_with_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_url: str, secret: str | None
) -> None:
    """Warned exactly when notify would send no personal links although base_url asks for links
    (head_secret_from_env gives None) or would stop on the secret (it raises)."""
    from compliance.cli.check_cmd import _web_secret_problems
    from compliance.errors import ComplianceError
    from compliance.loading.config import load_config
    from compliance.pipeline.notify import head_secret_from_env

    config_path = write_deployment(tmp_path)
    _with_base_url(config_path, f'base_url = "{base_url}"\n')
    config = load_config(config_path)
    monkeypatch.delenv("COMPLIANCE_WEB_SECRET", raising=False)
    if secret is not None:
        monkeypatch.setenv("COMPLIANCE_WEB_SECRET", secret)
    try:
        unsigned = head_secret_from_env(config) is None
    except ComplianceError:
        unsigned = True
    wants_links = bool(base_url.strip())
    assert bool(_web_secret_problems(config_path, config)) == (wants_links and unsigned)
