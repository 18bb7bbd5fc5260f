"""`compliance check`: validate config, agencies, indicators, rules and templates; print every problem."""

from __future__ import annotations

import importlib
from collections.abc import Callable

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


def run_checks(app: AppContext) -> tuple[list[Problem], dict[str, int] | None]:
    """Every problem of the deployment (errors and warnings), and the counts when there is no error."""
    try:
        config = app.config
    except ConfigError as exc:
        return list(exc.problems), None
    from compliance.loading.deployment import check_deployment

    deployment, problems = check_deployment(config)
    problems = problems + _template_problems(config)
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
