"""`compliance check`: validate config, agencies, indicators, rules and templates; print every problem."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

import click

from compliance.cli import cli
from compliance.cli.context import AppContext, emit_json, pass_app
from compliance.errors import ConfigError, Problem
from compliance.model.config import Config

__all__ = ["check", "run_checks"]


def _template_problems(config: Config) -> list[Problem]:
    # ---- template checks: provided by the notifications engineer -------------------------------------
    # `compliance.notify.render.check_templates(config) -> list[Problem]`; until that module exists,
    # there is nothing to check. Only the absence of that module is tolerated, not errors inside it.
    try:
        module = importlib.import_module("compliance.notify.render")
    except ModuleNotFoundError as exc:
        if exc.name in ("compliance.notify", "compliance.notify.render"):
            return []
        raise
    check_templates: Callable[[Config], list[Problem]] | None = getattr(module, "check_templates", None)
    if check_templates is None:
        return []
    return list(check_templates(config))
    # ---- end of template checks --------------------------------------------------------------------


def _web_secret_problems(config_path: Path, config: Config) -> list[Problem]:
    """A warning when emails are to carry the heads' personal links (`base_url` is set) but the secret
    that signs them is missing (the links are then plain, sign-in links) or too short (notify then
    stops with an error). The conditions of pipeline.notify.head_secret_from_env, read here from the
    same constants without importing the pipeline."""
    if not config.deployment.base_url.strip():
        return []
    from compliance.loading.config import config_location
    from compliance.signing import MIN_SECRET_LENGTH, SECRET_ENV

    secret = os.environ.get(SECRET_ENV, "")
    if len(secret) >= MIN_SECRET_LENGTH:
        return []
    setting = f"[deployment] base_url trong {config_path.name}"
    if not secret:
        message = (
            f"đã đặt {setting} nhưng chưa có biến môi trường {SECRET_ENV}: thư gửi người đứng đầu "
            "cơ quan, đơn vị sẽ không có đường dẫn riêng, chỉ có đường dẫn cần đăng nhập"
        )
    else:
        message = (
            f"đã đặt {setting} nhưng biến môi trường {SECRET_ENV} chỉ có {len(secret)} ký tự, "
            f"cần ít nhất {MIN_SECRET_LENGTH} để ký đường dẫn riêng của người đứng đầu cơ quan, đơn vị: "
            "lệnh notify sẽ dừng và báo lỗi"
        )
    hint = (
        f"đặt {SECRET_ENV} (ít nhất {MIN_SECRET_LENGTH} ký tự, cùng giá trị với `compliance serve`) trong "
        f"môi trường chạy compliance, ví dụ: export {SECRET_ENV}=$(python -c 'import secrets; "
        "print(secrets.token_urlsafe(32))')"
    )
    where = config_location(config_path, ("deployment", "base_url"))
    return [Problem(where, "deployment.base_url", message, hint, warning=True)]


def run_checks(app: AppContext) -> tuple[list[Problem], dict[str, int] | None]:
    """Every problem of the deployment (errors and warnings), and the counts when there is no error."""
    try:
        config = app.config
    except ConfigError as exc:
        return list(exc.problems), None
    from compliance.loading.deployment import check_deployment

    deployment, problems = check_deployment(config)
    problems = _web_secret_problems(app.config_path, config) + problems + _template_problems(config)
    if deployment is None or any(not p.warning for p in problems):
        return problems, None
    counts = {
        "rules": len(deployment.rulebook.rules),
        "indicators": len(deployment.rulebook.indicators),
        "agencies": len(deployment.directory),
    }
    return problems, counts


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


@cli.command("check")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@pass_app
def check(app: AppContext, as_json: bool) -> None:
    """Validate config.toml, the agency directory, indicators, rules and templates.

    Prints every problem (not only the first), then `N errors in M files` and exits 1;
    or `OK: N rules, M indicators, K agencies`.
    """
    problems, counts = run_checks(app)
    errors = [p for p in problems if not p.warning]
    if as_json:
        emit_json(
            {
                "ok": counts is not None,
                "counts": counts,
                "errors": [_as_dict(p) for p in errors],
                "warnings": [_as_dict(p) for p in problems if p.warning],
            }
        )
    else:
        for problem in problems:
            click.echo(str(problem), err=True)
        if counts is None:
            files = {p.location.path for p in errors}
            click.echo(f"{_plural(len(errors), 'error')} in {_plural(len(files), 'file')}", err=True)
        else:
            click.echo(
                f"OK: {_plural(counts['rules'], 'rule')}, {_plural(counts['indicators'], 'indicator')}, "
                f"{_plural(counts['agencies'], 'agency', 'agencies')}"
            )
    if counts is None:
        raise click.exceptions.Exit(1)


def _as_dict(problem: Problem) -> dict[str, object]:
    loc = problem.location
    return {
        "path": loc.path,
        "line": loc.line,
        "col": loc.col,
        "row": loc.row,
        "key": problem.key,
        "message": problem.message,
        "hint": problem.hint,
        "text": str(problem),
    }
