"""The child process of the crash test: `compliance run --once` through the real CLI entry point.

The crash test forks its runs from a multiprocessing forkserver that imports this module first, so every
run starts with the package imported and warmed (migrations read, holiday tables built, templates
loaded): a run then costs its own work, not Python's start-up, and 40 killed and repeated runs stay
within seconds. Each run is still a process of its own, killed by a real SIGKILL.
"""

from __future__ import annotations

import email.generator  # noqa: F401
import os
import smtplib  # noqa: F401

import holidays

import compliance.cli
import compliance.engine.python_backend
import compliance.loading.snapshots
import compliance.notify.backends.smtp
import compliance.notify.render
import compliance.pipeline.evaluate
import compliance.pipeline.notify
import compliance.pipeline.run
import compliance.storage.snapshots  # noqa: F401
from compliance.storage.migrate import head_revision

__all__ = ["run_cli"]


def _warm_up() -> None:
    """One whole run in a throw-away deployment: fills every cache a run fills on first use (Jinja
    templates, the email package's header machinery, migrations, …), so that forked runs start warm."""
    import datetime as dt
    import tempfile
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from compliance.clock import FixedClock
    from compliance.loading.config import load_config
    from compliance.pipeline.run import run_once
    from tests.support.deployment import write_deployment

    head_revision()
    holidays.country_holidays("VN", years=[2023, 2024])
    with tempfile.TemporaryDirectory() as tmp:
        header = "period,agency,indicator,numerator,denominator,value,status,as_of"
        config_path = write_deployment(
            Path(tmp),
            database_url=f"sqlite:///{Path(tmp) / 'warm.db'}",
            config_extra='[engine]\nbackend = "python"\n',
            extra_files={"data/inbox/w.csv": f"{header}\n2023-01,so-a,online_payment,1,100,,,\n"},
        )
        config = load_config(config_path)
        at = dt.datetime(2023, 2, 6, 7, tzinfo=ZoneInfo(config.deployment.timezone))
        run_once(config, on=at.date(), clock=FixedClock(at))


_warm_up()


def run_cli(config: str, at: str, env: dict[str, str], out: str) -> None:
    """`compliance --config CONFIG run --once --at AT --json`, output to `out`, `env` as the environment."""
    for key in [k for k in os.environ if k.startswith("COMPLIANCE_")]:
        del os.environ[key]
    os.environ.update(env)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from compliance.cli import main

    main(["--config", config, "run", "--once", "--at", at, "--json"])
