"""`compliance test [FILES]`: run rule tests on a throw-away store; last line `N passed, N failed`."""

from __future__ import annotations

from pathlib import Path

import click

from compliance.cli import cli
from compliance.cli.context import AppContext, emit_json, pass_app

__all__ = ["test"]


@cli.command("test")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--backend",
    type=click.Choice(["durable", "python"]),
    default=None,
    help="Engine backend (default: engine.backend of config.toml).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@pass_app
def test(app: AppContext, files: tuple[Path, ...], backend: str | None, as_json: bool) -> None:
    """Run rule tests (default: rules/tests/*.yaml): snapshots, evaluation dates, expected outcomes and tasks.

    Exits 1 when any test fails. The file format is described in docs/ruletests.md.
    """
    from compliance.pipeline.ruletest import default_test_files, run_test_files

    config = app.config
    paths = list(files) or default_test_files(config)
    if not paths:
        click.echo(f"no rule tests found in {config.rules_dir / 'tests'}", err=True)
        click.echo("0 passed, 0 failed")
        raise click.exceptions.Exit(1)
    results = run_test_files(paths, config, backend=backend)
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    if as_json:
        emit_json(
            {
                "passed": passed,
                "failed": failed,
                "files": [
                    {
                        "file": r.file,
                        "errors": [str(p) for p in r.problems],
                        "tests": [
                            {"name": t.name, "passed": t.passed, "failures": t.failures} for t in r.tests
                        ],
                    }
                    for r in results
                ],
            }
        )
    else:
        for r in results:
            for problem in r.problems:
                click.echo(str(problem))
            for t in r.tests:
                click.echo(f"{'PASS' if t.passed else 'FAIL'} {r.file}: {t.name}")
                for failure in t.failures:
                    click.echo(f"  {failure}")
        click.echo(f"{passed} passed, {failed} failed")
    if failed:
        raise click.exceptions.Exit(1)
