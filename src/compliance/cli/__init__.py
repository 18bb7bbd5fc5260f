"""The `compliance` command line: the only place that prints or exits (SPEC §7).

Exit codes: 0 ok, 1 the user's input is wrong or a check failed, 2 usage, 3 internal error
(traceback to a log file, one line to stderr).
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from compliance.cli.context import AppContext, pass_app
from compliance.errors import ComplianceError

__all__ = ["cli", "main", "pass_app"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="COMPLIANCE_CONFIG",
    default="config.toml",
    show_default=True,
    help="The deployment's config.toml.",
)
@click.version_option(package_name="compliance")
@click.pass_context
def cli(ctx: click.Context, config_path: Path) -> None:
    """compliance: holds agencies to their targets (rules, tasks, emails, audit log)."""
    ctx.obj = AppContext(config_path)
    ctx.call_on_close(ctx.obj.close)


def _register() -> None:
    # Each module defines its commands and adds them to the group; one module per command family.
    from compliance.cli import (  # noqa: F401  (imported for their side effect of registering)
        audit_cmd,
        check_cmd,
        config_cmd,
        evaluate_cmd,
        ingest_cmd,
        notify_cmd,
        run_cmd,
        tasks_cmd,
        test_cmd,
        web_cmd,
    )


_register()


def main(argv: list[str] | None = None) -> None:
    try:
        # Outside standalone mode click returns (not raises) the code of `ctx.exit(n)` / `Exit(n)`.
        code = cli.main(args=argv, prog_name="compliance", standalone_mode=False)
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        exc.show()
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(1)
    except ComplianceError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # an internal error: keep the traceback, show one line
        log = Path.cwd() / "compliance-error.log"
        try:
            with log.open("a", encoding="utf-8") as f:
                traceback.print_exc(file=f)
            where = f" (traceback in {log})"
        except OSError:
            where = ""
        click.echo(f"internal error: {type(exc).__name__}: {exc}{where}", err=True)
        sys.exit(3)
    sys.exit(0)
