"""What every command shares: the config (loaded once), the database (opened once), output helpers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

from compliance.model.config import Config

if TYPE_CHECKING:  # without importing storage at CLI start
    from compliance.storage.db import Database

__all__ = ["AppContext", "emit_json", "one_shot_process", "pass_app"]

F = TypeVar("F", bound=Callable[..., Any])


class AppContext:
    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._config: Config | None = None
        self._db: Database | None = None
        # Piped output (a file, a pager, CI) gets a width that fits the matrix, not rich's 80 columns.
        width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
        self.out = Console(highlight=False, soft_wrap=True, width=width)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True, width=width)

    @property
    def config(self) -> Config:
        if self._config is None:
            from compliance.loading.config import load_config

            self._config = load_config(self.config_path)
        return self._config

    @property
    def db(self) -> Database:
        if self._db is None:
            from compliance.loading.config import database_url
            from compliance.storage.db import open_database

            self._db = open_database(database_url(self.config), base_dir=self.config.base_dir)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
            self._db = None


pass_app = click.make_pass_decorator(AppContext)


def _default(obj: Any) -> Any:
    import datetime as dt
    from decimal import Decimal

    if isinstance(obj, dt.datetime):
        return obj.isoformat()
    if isinstance(obj, dt.date):
        return obj.isoformat()
    if isinstance(obj, Decimal):
        return float(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def emit_json(data: Any) -> None:
    """Machine-readable output on stdout: raw numbers, ISO dates, UTF-8."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=_default) + "\n")


def one_shot_process() -> None:
    """For commands whose process ends with them (evaluate, run --once): leave the cyclic garbage
    collector off until exit. An evaluation run pauses it anyway (compliance.gcpause); switching it back
    on would walk every object the run made (0.4 s at 10,000 agencies) just before the process exits.
    The CLI always runs in its own process (tests start it as a subprocess, as users do)."""
    import gc

    gc.disable()
